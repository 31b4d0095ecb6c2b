//! `system.*` and `system.search.*`.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};
use uyuni_api::value::{StructBuilder, date_ms, int, string, strings};
use uyuni_api::{Fault, Value};

use super::{args, channel_struct, ok1, server, server_struct};
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{ORG_ID, Server};
use crate::standin::store_pg::{q, ts};

fn overview(s: &Server) -> Value {
    StructBuilder::new()
        .field("id", int(s.id))
        .field("name", string(&s.name))
        .field("last_checkin", date_ms(s.checkin))
        .field("created", date_ms(s.created))
        .field("last_boot", date_ms(s.created))
        .field("extra_pkg_count", int(0))
        .field("outdated_pkg_count", int(0))
        .build()
}

/// Register a Salt minion as a system (what Uyuni does on the minion's first start event):
/// `rhnServer`, `rhnServerInfo` and `suseMinionInfo` rows. Returns the new system id.
pub(crate) fn onboard_minion(ctx: &mut Ctx<'_>, minion_id: &str) -> i64 {
    if let Some(s) = ctx.model.server_by_minion(minion_id) {
        return s.id;
    }
    let id = ctx.model.next_server_id();
    let secret = hex::encode(&Sha256::digest(format!("{id}:{minion_id}:{}", ctx.now))[..16]);
    let machine_id = hex::encode(&Sha256::digest(minion_id.as_bytes())[..16]);
    let s = Server {
        id,
        name: minion_id.to_string(),
        hostname: minion_id.to_string(),
        description: format!(
            "Initial Registration Parameters:\nOS: unknown\nMinion ID: {minion_id}"
        ),
        os: "unknown".into(),
        release: "unknown".into(),
        secret,
        auto_update: false,
        machine_id,
        created: ctx.now,
        checkin: ctx.now,
        minion_id: Some(minion_id.to_string()),
    };
    ctx.exec(format!(
        "INSERT INTO rhnServer (id, org_id, digital_server_id, os, release, name, description, secret, auto_update, hostname, machine_id, created, modified) \
         VALUES ({id}, {ORG_ID}, {}, {}, {}, {}, {}, {}, 'N', {}, {}, {}, {})",
        q(&format!("ID-{id}")),
        q(&s.os),
        q(&s.release),
        q(&s.name),
        q(&s.description),
        q(&s.secret),
        q(&s.hostname),
        q(&s.machine_id),
        ts(ctx.now),
        ts(ctx.now)
    ));
    ctx.exec(format!(
        "INSERT INTO rhnServerInfo (server_id, checkin, checkin_counter) VALUES ({id}, {}, 0)",
        ts(ctx.now)
    ));
    ctx.exec(format!(
        "INSERT INTO suseMinionInfo (server_id, minion_id, os_family, created, modified) VALUES ({id}, {}, NULL, {}, {})",
        q(minion_id),
        ts(ctx.now),
        ts(ctx.now)
    ));
    ctx.model.servers.insert(id, s);
    id
}

/// Delete a system and everything that hangs off it (explicit deletes, so triggers on each
/// table see them; the foreign keys cascade as well).
pub(crate) fn remove_server(ctx: &mut Ctx<'_>, sid: i64) {
    let Some(s) = ctx.model.servers.remove(&sid) else {
        return;
    };
    ctx.model.group_members.retain(|(_, x)| *x != sid);
    ctx.model.server_channels.retain(|(x, _)| *x != sid);
    for t in [
        "rhnServerGroupMembers",
        "rhnServerChannel",
        "suseMinionInfo",
        "rhnServerInfo",
    ] {
        ctx.exec(format!("DELETE FROM {t} WHERE server_id = {sid}"));
    }
    ctx.exec(format!("DELETE FROM rhnServer WHERE id = {sid}"));
    if let Some(minion) = s.minion_id {
        super::saltkey::forget_key(ctx, &minion);
    }
}

pub(crate) fn list_systems(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(Value::Array(
        ctx.model.servers.values().map(overview).collect(),
    ))
}

fn sid_arg(method: &'static str, p: &[Value]) -> Result<i64, Fault> {
    let (a, e) = args(method, p);
    a.int(0).map_err(e)
}

pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getDetails", p)?;
    let s = server(ctx.model, sid)?;
    Ok(server_struct(ctx, s))
}

pub(crate) fn get_name(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getName", p)?;
    let s = server(ctx.model, sid)?;
    Ok(StructBuilder::new()
        .field("id", int(s.id))
        .field("name", string(&s.name))
        .field("last_checkin", date_ms(s.checkin))
        .build())
}

pub(crate) fn get_id(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.getId", p);
    let name = a.str(0).map_err(e)?;
    Ok(Value::Array(
        ctx.model
            .servers
            .values()
            .filter(|s| s.name == name)
            .map(|s| {
                StructBuilder::new()
                    .field("id", int(s.id))
                    .field("name", string(&s.name))
                    .field("last_checkin", date_ms(s.checkin))
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn get_minion_id_map(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    let map: BTreeMap<String, Value> = ctx
        .model
        .servers
        .values()
        .filter_map(|s| Some((s.minion_id.clone()?, int(s.id))))
        .collect();
    Ok(Value::Struct(map))
}

pub(crate) fn get_network(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getNetwork", p)?;
    let s = server(ctx.model, sid)?;
    Ok(StructBuilder::new()
        .field("ip", string(""))
        .field("ip6", string(""))
        .field("hostname", string(&s.hostname))
        .build())
}

pub(crate) fn list_groups(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.listGroups", p)?;
    server(ctx.model, sid)?;
    let mine: Vec<i64> = ctx.model.groups_of(sid).iter().map(|g| g.id).collect();
    Ok(Value::Array(
        ctx.model
            .groups
            .values()
            .map(|g| {
                StructBuilder::new()
                    .field("id", int(g.id))
                    .field("sgid", int(g.id))
                    .field("system_group_name", string(&g.name))
                    .field("subscribed", int(i64::from(mine.contains(&g.id))))
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn get_registration_date(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getRegistrationDate", p)?;
    Ok(date_ms(server(ctx.model, sid)?.created))
}

pub(crate) fn get_uuid(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getUuid", p)?;
    server(ctx.model, sid)?;
    Ok(string(""))
}

pub(crate) fn get_base_channel(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getSubscribedBaseChannel", p)?;
    server(ctx.model, sid)?;
    let base = ctx
        .model
        .channels_of(sid)
        .into_iter()
        .find(|c| c.parent.is_none());
    Ok(match base {
        Some(c) => channel_struct(ctx.model, c),
        None => StructBuilder::new().build(),
    })
}

pub(crate) fn list_child_channels(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.listSubscribedChildChannels", p)?;
    server(ctx.model, sid)?;
    Ok(Value::Array(
        ctx.model
            .channels_of(sid)
            .into_iter()
            .filter(|c| c.parent.is_some())
            .map(|c| channel_struct(ctx.model, c))
            .collect(),
    ))
}

pub(crate) fn get_entitlements(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getEntitlements", p)?;
    server(ctx.model, sid)?;
    Ok(strings(["salt_entitled"]))
}

pub(crate) fn delete_system(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.deleteSystem", p)?;
    server(ctx.model, sid)?;
    remove_server(ctx, sid);
    ok1()
}

pub(crate) fn delete_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.deleteSystems", p);
    let sids = a.array(0).map_err(&e)?;
    let mut ids = Vec::new();
    for v in &sids {
        let sid = uyuni_api::value::as_i64(v).ok_or_else(|| {
            e(uyuni_api::value::ArgError {
                index: 0,
                expected: "int",
                got: uyuni_api::value::type_name(v),
            })
        })?;
        server(ctx.model, sid)?;
        ids.push(sid);
    }
    for sid in ids {
        remove_server(ctx, sid);
    }
    ok1()
}

fn search(
    ctx: &mut Ctx<'_>,
    method: &'static str,
    p: &[Value],
    field: fn(&Server) -> String,
) -> Reply {
    let (a, e) = args(method, p);
    let term = a.str(0).map_err(e)?.to_lowercase();
    Ok(Value::Array(
        ctx.model
            .servers
            .values()
            .filter(|s| field(s).to_lowercase().contains(&term))
            .map(|s| {
                StructBuilder::new()
                    .field("id", int(s.id))
                    .field("name", string(&s.name))
                    .field("last_checkin", date_ms(s.checkin))
                    .field("hostname", string(&s.hostname))
                    .field("ip", string(""))
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn search_name(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    search(ctx, "system.search.nameAndDescription", p, |s| {
        format!("{}\n{}", s.name, s.description)
    })
}

pub(crate) fn search_hostname(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    search(ctx, "system.search.hostname", p, |s| s.hostname.clone())
}

pub(crate) fn search_ip(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    // The stand-in knows no addresses: nothing matches.
    search(ctx, "system.search.ip", p, |_| String::from("\u{0}"))
}
