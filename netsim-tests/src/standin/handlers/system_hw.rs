//! A system's hardware (`system.getCpu`, `getMemory`, `getDmi`, `getDevices`,
//! `getNetworkDevices`: placeholders, the stand-in has no hardware profile) and its installed
//! packages (`system.listPackages`: `rhnServerPackage`, filled by package installs).

use uyuni_api::Value;
use uyuni_api::value::{StructBuilder, date_ms, int, string};

use super::{args, server};
use crate::standin::dispatch::{Ctx, Reply};

fn sid(ctx: &Ctx<'_>, method: &'static str, p: &[Value]) -> Result<i64, uyuni_api::Fault> {
    let (a, e) = args(method, p);
    let sid = a.int(0).map_err(e)?;
    server(ctx.model, sid)?;
    Ok(sid)
}

pub(crate) fn get_cpu(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    sid(ctx, "system.getCpu", p)?;
    Ok(StructBuilder::new()
        .field("cache", string("512 KB"))
        .field("family", string("6"))
        .field("mhz", string("2400"))
        .field("flags", string("fpu sse2"))
        .field("model", string("Stand-in CPU"))
        .field("vendor", string("GenuineIntel"))
        .field("arch", string("x86_64"))
        .field("stepping", string("1"))
        .field("count", string("2"))
        .field("socket_count", int(1))
        .build())
}

pub(crate) fn get_memory(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    sid(ctx, "system.getMemory", p)?;
    Ok(StructBuilder::new()
        .field("ram", int(2048))
        .field("swap", int(1024))
        .build())
}

pub(crate) fn get_dmi(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    sid(ctx, "system.getDmi", p)?;
    Ok(StructBuilder::new()
        .field("vendor", string("Stand-in"))
        .field("system", string("Stand-in Virtual Machine"))
        .field("product", string("Stand-in"))
        .field("asset", string(""))
        .field("board", string(""))
        .field("bios_release", string("1.0"))
        .field("bios_vendor", string("Stand-in"))
        .field("bios_version", string("1.0"))
        .build())
}

pub(crate) fn get_devices(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    sid(ctx, "system.getDevices", p)?;
    Ok(Value::Array(vec![]))
}

pub(crate) fn get_network_devices(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid(ctx, "system.getNetworkDevices", p)?;
    let _ = sid;
    Ok(Value::Array(vec![
        StructBuilder::new()
            .field("interface", string("eth0"))
            .field("ip", string(""))
            .field("netmask", string(""))
            .field("broadcast", string(""))
            .field("hardware_address", string("00:00:00:00:00:00"))
            .field("module", string("virtio_net"))
            .field("ipv6", Value::Array(vec![]))
            .build(),
    ]))
}

/// `system.listPackages(sid)`: the installed packages, by name.
pub(crate) fn list_packages(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid(ctx, "system.listPackages", p)?;
    let mut out: Vec<(String, Value)> = ctx
        .model
        .installed
        .iter()
        .filter(|(s, _)| *s == sid)
        .filter_map(|(_, pid)| ctx.model.packages.get(pid))
        .map(|pk| {
            (
                pk.name.clone(),
                StructBuilder::new()
                    .field("id", int(pk.id))
                    .field("name", string(&pk.name))
                    .field("epoch", string(&pk.epoch))
                    .field("version", string(&pk.version))
                    .field("release", string(&pk.release))
                    .field("arch", string(&pk.arch))
                    .field("installtime", date_ms(pk.last_modified))
                    .build(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Value::Array(out.into_iter().map(|(_, v)| v).collect()))
}

/// Install (or remove) the known packages `ids` on `sid`: `rhnServerPackage` rows.
pub(crate) fn set_installed(ctx: &mut Ctx<'_>, sid: i64, ids: &[i64], install: bool) {
    for pid in ids {
        if !ctx.model.packages.contains_key(pid) {
            continue;
        }
        if install {
            if ctx.model.installed.insert((sid, *pid)) {
                ctx.exec(format!(
                    "INSERT INTO rhnServerPackage (server_id, name_id, evr_id, package_arch_id, installtime) \
                     SELECT {sid}, name_id, evr_id, package_arch_id, current_timestamp FROM rhnPackage WHERE id = {pid}"
                ));
            }
        } else if ctx.model.installed.remove(&(sid, *pid)) {
            ctx.exec(format!(
                "DELETE FROM rhnServerPackage sp USING rhnPackage p WHERE sp.server_id = {sid} AND p.id = {pid} \
                 AND sp.name_id = p.name_id AND sp.evr_id = p.evr_id AND sp.package_arch_id = p.package_arch_id"
            ));
        }
    }
}
