//! The scheduling calls of `system.*` (each answers its new action's id; see
//! [`super::schedule`]) and the systems' custom values.

use std::collections::BTreeMap;

use uyuni_api::value::{ArgError, int, string};
use uyuni_api::{Fault, Value};

use super::schedule::schedule;
use super::{args, ok1, server};
use crate::standin::dispatch::{Ctx, Reply};

/// The system ids of parameter `i`: one id or an array of them (the two overloads).
fn sids(method: &'static str, p: &[Value], i: usize) -> Result<Vec<i64>, Fault> {
    let (a, e) = args(method, p);
    match p.get(i) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                uyuni_api::value::as_i64(v).ok_or_else(|| {
                    e(ArgError {
                        index: i,
                        expected: "int",
                        got: uyuni_api::value::type_name(v),
                    })
                })
            })
            .collect(),
        _ => Ok(vec![a.int(i).map_err(e)?]),
    }
}

/// The earliest occurrence at parameter `i` (now when absent), Unix ms.
fn earliest(ctx: &Ctx<'_>, p: &[Value], i: usize) -> u64 {
    match p.get(i) {
        Some(Value::DateTime(d)) => uyuni_api::value::ms_of(d),
        _ => ctx.now,
    }
}

fn one(
    ctx: &mut Ctx<'_>,
    method: &'static str,
    label: &str,
    name: &str,
    p: &[Value],
    at: usize,
) -> Reply {
    let sids = sids(method, p, 0)?;
    let when = earliest(ctx, p, at);
    schedule(ctx, label, name, &sids, when, None).map(int)
}

pub(crate) fn schedule_reboot(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    one(
        ctx,
        "system.scheduleReboot",
        "reboot.reboot",
        "System reboot scheduled by admin",
        p,
        1,
    )
}

pub(crate) fn schedule_hardware_refresh(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    one(
        ctx,
        "system.scheduleHardwareRefresh",
        "hardware.refresh_list",
        "Hardware List Refresh scheduled by admin",
        p,
        1,
    )
}

pub(crate) fn schedule_package_refresh(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    one(
        ctx,
        "system.schedulePackageRefresh",
        "packages.refresh_list",
        "Package List Refresh scheduled by admin",
        p,
        1,
    )
}

/// Package installs and removals complete at once: the known packages are (un)installed.
fn packages(
    ctx: &mut Ctx<'_>,
    method: &'static str,
    (label, name): (&str, &str),
    p: &[Value],
    install: bool,
) -> Reply {
    let action = one(ctx, method, label, name, p, 2)?;
    let (a, e) = args(method, p);
    let pkgs: Vec<i64> = a
        .array(1)
        .map_err(e)?
        .iter()
        .filter_map(uyuni_api::value::as_i64)
        .collect();
    for sid in sids(method, p, 0)? {
        super::system_hw::set_installed(ctx, sid, &pkgs, install);
    }
    Ok(action)
}

pub(crate) fn schedule_package_install(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let what = ("packages.update", "Package Install scheduled by admin");
    packages(ctx, "system.schedulePackageInstall", what, p, true)
}

pub(crate) fn schedule_package_remove(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let what = ("packages.remove", "Package Removal scheduled by admin");
    packages(ctx, "system.schedulePackageRemove", what, p, false)
}

/// `scheduleApplyErrata(sids, errataIds[, earliest])`: one action per system, their ids.
pub(crate) fn schedule_apply_errata(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sids = sids("system.scheduleApplyErrata", p, 0)?;
    let when = earliest(ctx, p, 2);
    let mut ids = Vec::new();
    for sid in sids {
        let id = schedule(
            ctx,
            "errata.update",
            "Patch Update scheduled by admin",
            &[sid],
            when,
            None,
        )?;
        ids.push(int(id));
    }
    Ok(Value::Array(ids))
}

/// `scheduleScriptRun([label,] sids, username, groupname, timeout, script, earliest)`.
pub(crate) fn schedule_script_run(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let labelled = matches!(p.first(), Some(Value::String(_)));
    let at = usize::from(labelled);
    let method = "system.scheduleScriptRun";
    let sids = sids(method, p, at)?;
    let (a, e) = args(method, p);
    let script = a.str(at + 4).map_err(e)?;
    let name = if labelled {
        a.str(0).unwrap_or_default()
    } else {
        "Run an arbitrary script scheduled by admin".into()
    };
    let when = earliest(ctx, p, at + 5);
    schedule(ctx, "script.run", &name, &sids, when, Some(script)).map(int)
}

fn custom(ctx: &Ctx<'_>, sid: i64) -> BTreeMap<String, String> {
    ctx.model
        .custom_values
        .get(&sid)
        .cloned()
        .unwrap_or_default()
}

/// `system.getCustomValues(sid)`: key label → value.
pub(crate) fn get_custom_values(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.getCustomValues", p);
    let sid = a.int(0).map_err(e)?;
    server(ctx.model, sid)?;
    Ok(Value::Struct(
        custom(ctx, sid)
            .into_iter()
            .map(|(k, v)| (k, string(v)))
            .collect(),
    ))
}

/// `system.setCustomValues(sid, {label: value})`.
pub(crate) fn set_custom_values(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.setCustomValues", p);
    let sid = a.int(0).map_err(&e)?;
    let values = a.strukt(1).map_err(&e)?.clone();
    server(ctx.model, sid)?;
    let entry = ctx.model.custom_values.entry(sid).or_default();
    for (k, v) in values {
        let text = match v {
            Value::String(s) => s,
            other => uyuni_api::json::to_json(&other).to_string(),
        };
        entry.insert(k, text);
    }
    ok1()
}

/// `system.deleteCustomValues(sid, [label])`.
pub(crate) fn delete_custom_values(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.deleteCustomValues", p);
    let sid = a.int(0).map_err(&e)?;
    let keys = a.array(1).map_err(&e)?;
    server(ctx.model, sid)?;
    if let Some(m) = ctx.model.custom_values.get_mut(&sid) {
        for k in keys {
            if let Value::String(k) = k {
                m.remove(&k);
            }
        }
    }
    ok1()
}
