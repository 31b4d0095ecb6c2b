//! `schedule.*` and the scheduling calls of `system.*`: actions as `rhnAction` rows with one
//! `rhnServerAction` per system. The stand-in runs nothing: an action is done the moment it
//! is scheduled (status Completed, result code 0), except a script run whose script contains
//! `exit 1`, which fails (code 1), so that every list and follow-up has something to show.
//! Script texts and outputs are kept in memory only (Uyuni's `rhnActionScript` tables are not
//! part of the stand-in's schema).

use uyuni_api::value::{StructBuilder, date_ms, int, string};
use uyuni_api::{Fault, Value};

use super::{args, ok1, server};
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{Action, ORG_ID, ServerAction};
use crate::standin::store_pg::{q, ts};

/// Uyuni's `NoSuchActionException` (2700).
pub(crate) fn no_such_action(id: i64) -> Fault {
    Fault::xmlrpc(2700, format!("No such action - id = {id}"))
}

/// Status names of `rhnActionStatus`.
fn status_name(s: i64) -> &'static str {
    match s {
        0 => "Queued",
        1 => "Picked Up",
        2 => "Completed",
        _ => "Failed",
    }
}

/// The action type's display name (`rhnActionType` as netsim-tests/sql/standin.sql seeds it).
fn type_name(label: &str) -> &'static str {
    match label {
        "packages.refresh_list" => "Package List Refresh",
        "hardware.refresh_list" => "Hardware List Refresh",
        "packages.update" => "Package Install",
        "packages.remove" => "Package Removal",
        "errata.update" => "Patch Update",
        "reboot.reboot" => "System reboot",
        "script.run" => "Run an arbitrary script",
        _ => "Apply states",
    }
}

/// Schedule one action of `type_label` on `sids` (checked to exist) at `earliest` (Unix ms),
/// done at once (see the module documentation). Returns its id.
pub(crate) fn schedule(
    ctx: &mut Ctx<'_>,
    type_label: &str,
    name: &str,
    sids: &[i64],
    earliest: u64,
    script: Option<String>,
) -> Result<i64, Fault> {
    for sid in sids {
        server(ctx.model, *sid)?;
    }
    let id = ctx.model.next_action_id();
    let scheduler = ctx
        .session
        .as_ref()
        .map(|s| s.user.clone())
        .unwrap_or_default();
    let fails = script.as_deref().is_some_and(|s| s.contains("exit 1"));
    let action = Action {
        id,
        type_label: type_label.to_string(),
        type_name: type_name(type_label).to_string(),
        name: name.to_string(),
        scheduler: scheduler.clone(),
        earliest,
        created: ctx.now,
        archived: false,
        script,
    };
    ctx.exec(format!(
        "INSERT INTO rhnAction (id, org_id, action_type, name, scheduler, earliest_action, created, modified) \
         VALUES ({id}, {ORG_ID}, (SELECT id FROM rhnActionType WHERE label = {}), {}, \
         (SELECT id FROM web_contact WHERE login = {}), {}, {}, {})",
        q(type_label),
        q(name),
        q(&scheduler),
        ts(earliest),
        ts(ctx.now),
        ts(ctx.now)
    ));
    ctx.model.actions.insert(id, action);
    for sid in sids {
        let sa = ServerAction {
            status: if fails { 3 } else { 2 },
            result_code: Some(i64::from(fails)),
            result_msg: if fails {
                "script failed: exit 1".into()
            } else {
                format!("{} completed", type_name(type_label))
            },
            completed: Some(ctx.now),
        };
        ctx.exec(format!(
            "INSERT INTO rhnServerAction (server_id, action_id, status, result_code, result_msg, pickup_time, completion_time, created, modified) \
             VALUES ({sid}, {id}, {}, {}, {}, {}, {}, {}, {})",
            sa.status,
            sa.result_code.unwrap_or_default(),
            q(&sa.result_msg),
            ts(ctx.now),
            ts(ctx.now),
            ts(ctx.now),
            ts(ctx.now)
        ));
        ctx.model.server_actions.insert((id, *sid), sa);
    }
    Ok(id)
}

/// Drop every action row of system `sid` (the system is being deleted).
pub(crate) fn forget_server(ctx: &mut Ctx<'_>, sid: i64) {
    ctx.model.server_actions.retain(|(_, s), _| *s != sid);
    ctx.exec(format!(
        "DELETE FROM rhnServerAction WHERE server_id = {sid}"
    ));
}

fn counts(ctx: &Ctx<'_>, id: i64) -> (i64, i64, i64) {
    let mut c = (0, 0, 0);
    for ((a, _), sa) in &ctx.model.server_actions {
        if *a == id {
            match sa.status {
                2 => c.0 += 1,
                3 => c.1 += 1,
                _ => c.2 += 1,
            }
        }
    }
    c
}

fn action_struct(ctx: &Ctx<'_>, a: &Action) -> Value {
    let (completed, failed, in_progress) = counts(ctx, a.id);
    StructBuilder::new()
        .field("id", int(a.id))
        .field("name", string(&a.name))
        .field("type", string(&a.type_name))
        .field("scheduler", string(&a.scheduler))
        .field("earliest", date_ms(a.earliest))
        .field("completedSystems", int(completed))
        .field("failedSystems", int(failed))
        .field("inProgressSystems", int(in_progress))
        .build()
}

/// The actions `keep` selects, newest first (as Uyuni lists them).
fn list(ctx: &Ctx<'_>, keep: impl Fn(&Action, (i64, i64, i64)) -> bool) -> Reply {
    Ok(Value::Array(
        ctx.model
            .actions
            .values()
            .rev()
            .filter(|a| keep(a, counts(ctx, a.id)))
            .map(|a| action_struct(ctx, a))
            .collect(),
    ))
}

pub(crate) fn list_all(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    list(ctx, |a, _| !a.archived)
}

pub(crate) fn list_in_progress(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    list(ctx, |a, c| !a.archived && c.2 > 0)
}

pub(crate) fn list_completed(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    list(ctx, |a, c| !a.archived && c.0 > 0)
}

pub(crate) fn list_failed(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    list(ctx, |a, c| !a.archived && c.1 > 0)
}

pub(crate) fn list_archived(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    list(ctx, |a, _| a.archived)
}

fn action_arg(ctx: &Ctx<'_>, method: &'static str, p: &[Value]) -> Result<i64, Fault> {
    let (a, e) = args(method, p);
    let id = a.int(0).map_err(e)?;
    if ctx.model.actions.contains_key(&id) {
        Ok(id)
    } else {
        Err(no_such_action(id))
    }
}

fn systems_with(ctx: &Ctx<'_>, id: i64, status: &[i64]) -> Reply {
    Ok(Value::Array(
        ctx.model
            .server_actions
            .iter()
            .filter(|((a, _), sa)| *a == id && status.contains(&sa.status))
            .filter_map(|((_, sid), sa)| {
                let s = ctx.model.servers.get(sid)?;
                Some(
                    StructBuilder::new()
                        .field("server_id", int(*sid))
                        .field("server_name", string(&s.name))
                        .field("base_channel", string(""))
                        .field("timestamp", date_ms(sa.completed.unwrap_or(ctx.now)))
                        .field("message", string(&sa.result_msg))
                        .build(),
                )
            })
            .collect(),
    ))
}

pub(crate) fn list_completed_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let id = action_arg(ctx, "schedule.listCompletedSystems", p)?;
    systems_with(ctx, id, &[2])
}

pub(crate) fn list_failed_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let id = action_arg(ctx, "schedule.listFailedSystems", p)?;
    systems_with(ctx, id, &[3])
}

pub(crate) fn list_in_progress_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let id = action_arg(ctx, "schedule.listInProgressSystems", p)?;
    systems_with(ctx, id, &[0, 1])
}

/// The action ids of parameter 0, each checked to exist.
fn action_ids(ctx: &Ctx<'_>, method: &'static str, p: &[Value]) -> Result<Vec<i64>, Fault> {
    let (a, e) = args(method, p);
    let mut out = Vec::new();
    for v in a.array(0).map_err(&e)? {
        let id = uyuni_api::value::as_i64(&v)
            .ok_or_else(|| super::super::dispatch::no_method(method, p))?;
        if !ctx.model.actions.contains_key(&id) {
            return Err(no_such_action(id));
        }
        out.push(id);
    }
    Ok(out)
}

pub(crate) fn archive_actions(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    for id in action_ids(ctx, "schedule.archiveActions", p)? {
        if let Some(a) = ctx.model.actions.get_mut(&id) {
            a.archived = true;
        }
        ctx.exec(format!("UPDATE rhnAction SET archived = 1 WHERE id = {id}"));
    }
    ok1()
}

pub(crate) fn delete_actions(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    for id in action_ids(ctx, "schedule.deleteActions", p)? {
        ctx.model.actions.remove(&id);
        ctx.model.server_actions.retain(|(a, _), _| *a != id);
        ctx.exec(format!(
            "DELETE FROM rhnServerAction WHERE action_id = {id}"
        ));
        ctx.exec(format!("DELETE FROM rhnAction WHERE id = {id}"));
    }
    ok1()
}

pub(crate) fn cancel_actions(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    for id in action_ids(ctx, "schedule.cancelActions", p)? {
        ctx.model
            .server_actions
            .retain(|(a, _), sa| *a != id || sa.status >= 2);
        ctx.exec(format!(
            "DELETE FROM rhnServerAction WHERE action_id = {id} AND status IN (0, 1)"
        ));
    }
    ok1()
}

/// `rescheduleActions(ids, onlyFailed)`: the failed (or all) systems of each action queued
/// again; the stand-in completes them at once.
pub(crate) fn reschedule_actions(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("schedule.rescheduleActions", p);
    let only_failed = a.bool(1).map_err(e)?;
    for id in action_ids(ctx, "schedule.rescheduleActions", p)? {
        let now = ctx.now;
        let mut changed = 0;
        for ((aid, _), sa) in ctx.model.server_actions.iter_mut() {
            if *aid == id && (!only_failed || sa.status == 3) {
                *sa = ServerAction {
                    status: 2,
                    result_code: Some(0),
                    result_msg: "rescheduled, completed".into(),
                    completed: Some(now),
                };
                changed += 1;
            }
        }
        if changed > 0 {
            ctx.exec(format!(
                "UPDATE rhnServerAction SET status = 2, result_code = 0, result_msg = 'rescheduled, completed', \
                 completion_time = {} WHERE action_id = {id}{}",
                ts(now),
                if only_failed { " AND status = 3" } else { "" }
            ));
        }
    }
    ok1()
}

/// `failSystemAction(sid, actionId[, message])`.
pub(crate) fn fail_system_action(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("schedule.failSystemAction", p);
    let sid = a.int(0).map_err(&e)?;
    let id = a.int(1).map_err(&e)?;
    let message = a.str(2).unwrap_or_else(|_| "Failed by the API".into());
    server(ctx.model, sid)?;
    let Some(sa) = ctx.model.server_actions.get_mut(&(id, sid)) else {
        return Err(no_such_action(id));
    };
    sa.status = 3;
    sa.result_msg = message.clone();
    ctx.exec(format!(
        "UPDATE rhnServerAction SET status = 3, result_msg = {} WHERE action_id = {id} AND server_id = {sid}",
        q(&message)
    ));
    ok1()
}

/// `system.getScriptResults(actionId)`: one result per system of a script run (none for other
/// actions).
pub(crate) fn get_script_results(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let id = action_arg(ctx, "system.getScriptResults", p)?;
    let Some(action) = ctx.model.actions.get(&id) else {
        return Err(no_such_action(id));
    };
    if action.type_label != "script.run" {
        return Ok(Value::Array(vec![]));
    }
    let script = action.script.clone().unwrap_or_default();
    Ok(Value::Array(
        ctx.model
            .server_actions
            .iter()
            .filter(|((a, _), sa)| *a == id && sa.status >= 2)
            .map(|((_, sid), sa)| {
                let at = sa.completed.unwrap_or(ctx.now);
                StructBuilder::new()
                    .field("serverId", int(*sid))
                    .field("startDate", date_ms(at))
                    .field("stopDate", date_ms(at))
                    .field("returnCode", int(sa.result_code.unwrap_or_default()))
                    .field("output", string(format!("ran: {}", script.trim())))
                    .field("output_enc64", Value::Boolean(false))
                    .build()
            })
            .collect(),
    ))
}

/// `system.getScriptActionDetails(actionId)`.
pub(crate) fn get_script_action_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let id = action_arg(ctx, "system.getScriptActionDetails", p)?;
    let results = get_script_results(ctx, p)?;
    let a = ctx
        .model
        .actions
        .get(&id)
        .ok_or_else(|| no_such_action(id))?;
    Ok(StructBuilder::new()
        .field("id", int(id))
        .field("content", string(a.script.clone().unwrap_or_default()))
        .field("username", string("root"))
        .field("groupname", string("root"))
        .field("timeout", int(600))
        .field("result", results)
        .build())
}

/// One system's events, newest first: `(action, server action)`.
fn events(ctx: &Ctx<'_>, sid: i64) -> Vec<(Action, ServerAction)> {
    let mut out: Vec<(Action, ServerAction)> = ctx
        .model
        .server_actions
        .iter()
        .filter(|((_, s), _)| *s == sid)
        .filter_map(|((a, _), sa)| Some((ctx.model.actions.get(a)?.clone(), sa.clone())))
        .collect();
    out.sort_by_key(|x| std::cmp::Reverse(x.0.id));
    out
}

/// `system.listSystemEvents(sid[, actionType[, earliestDate]])`.
pub(crate) fn list_system_events(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.listSystemEvents", p);
    let sid = a.int(0).map_err(&e)?;
    server(ctx.model, sid)?;
    let kind = a.str(1).ok();
    Ok(Value::Array(
        events(ctx, sid)
            .into_iter()
            .filter(|(ac, _)| kind.as_deref().is_none_or(|k| k == ac.type_name))
            .map(|(ac, sa)| {
                StructBuilder::new()
                    .field("id", int(ac.id))
                    .field("history_type", string(&ac.type_name))
                    .field("status", string(status_name(sa.status)))
                    .field("summary", string(&ac.name))
                    .field("created_date", date_ms(ac.created))
                    .field("earliest_action", date_ms(ac.earliest))
                    .field(
                        "completed_date",
                        date_ms(sa.completed.unwrap_or(ac.created)),
                    )
                    .field("result_msg", string(&sa.result_msg))
                    .field("result_code", int(sa.result_code.unwrap_or_default()))
                    .build()
            })
            .collect(),
    ))
}

fn event_struct(ac: &Action, sa: &ServerAction) -> Value {
    StructBuilder::new()
        .field("id", int(ac.id))
        .field("history_type", string(&ac.type_name))
        .field("status", string(status_name(sa.status)))
        .field("summary", string(&ac.name))
        .field("created", date_ms(ac.created))
        .field("picked_up", date_ms(sa.completed.unwrap_or(ac.created)))
        .field("completed", date_ms(sa.completed.unwrap_or(ac.created)))
        .build()
}

/// `system.getEventHistory(sid[, earliestDate, offset, limit])`.
pub(crate) fn get_event_history(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.getEventHistory", p);
    let sid = a.int(0).map_err(&e)?;
    server(ctx.model, sid)?;
    let offset = a.int(2).unwrap_or(0).max(0) as usize;
    let limit = a.int(3).ok().map_or(usize::MAX, |l| l.max(0) as usize);
    Ok(Value::Array(
        events(ctx, sid)
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(ac, sa)| event_struct(ac, sa))
            .collect(),
    ))
}

/// `system.getEventDetails(sid, eid)`.
pub(crate) fn get_event_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.getEventDetails", p);
    let sid = a.int(0).map_err(&e)?;
    let eid = a.int(1).map_err(&e)?;
    server(ctx.model, sid)?;
    let (ac, sa) = events(ctx, sid)
        .into_iter()
        .find(|(ac, _)| ac.id == eid)
        .ok_or_else(|| no_such_action(eid))?;
    let mut v = event_struct(&ac, &sa);
    if let Value::Struct(m) = &mut v {
        m.insert("result_msg".into(), string(&sa.result_msg));
        m.insert(
            "result_code".into(),
            int(sa.result_code.unwrap_or_default()),
        );
        m.insert("earliest_action".into(), date_ms(ac.earliest));
    }
    Ok(v)
}
