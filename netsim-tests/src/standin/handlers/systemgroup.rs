//! `systemgroup.*` (ServerGroupHandler).

use uyuni_api::value::{StructBuilder, int, string};
use uyuni_api::{Fault, Value};

use super::{args, ok1, server, server_struct};
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{Group, Model, ORG_ID};
use crate::standin::store_pg::q;

/// LookupServerGroupException (2201). The message text is unverified.
fn no_such_group(name: &str) -> Fault {
    Fault::xmlrpc(
        2201,
        format!("Unable to locate or access server group: {name}"),
    )
}

pub(crate) fn group_struct(m: &Model, g: &Group) -> Value {
    StructBuilder::new()
        .field("id", int(g.id))
        .field("name", string(&g.name))
        .field("description", string(&g.description))
        .field("org_id", int(ORG_ID))
        .field("system_count", int(m.members_of(g.id).len() as i64))
        .build()
}

/// A group by name, or by id when given an int (getDetails has both overloads).
fn lookup<'a>(m: &'a Model, v: Option<&Value>) -> Result<&'a Group, Fault> {
    match v {
        Some(Value::Integer(_) | Value::Long(_)) => {
            let id = v.and_then(uyuni_api::value::as_i64).unwrap_or(0);
            m.groups
                .get(&id)
                .ok_or_else(|| no_such_group(&id.to_string()))
        }
        Some(Value::String(name)) => m.group_by_name(name).ok_or_else(|| no_such_group(name)),
        _ => Err(no_such_group("")),
    }
}

fn update_count(ctx: &mut Ctx<'_>, gid: i64) {
    let n = ctx.model.members_of(gid).len();
    ctx.exec(format!(
        "UPDATE rhnServerGroup SET current_members = {n}, modified = now() WHERE id = {gid}"
    ));
}

pub(crate) fn list_all_groups(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(Value::Array(
        ctx.model
            .groups
            .values()
            .map(|g| group_struct(ctx.model, g))
            .collect(),
    ))
}

pub(crate) fn list_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let g = lookup(ctx.model, p.first())?;
    Ok(Value::Array(
        ctx.model
            .members_of(g.id)
            .into_iter()
            .map(|s| server_struct(ctx, s))
            .collect(),
    ))
}

pub(crate) fn create(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("systemgroup.create", p);
    let name = a.str(0).map_err(&e)?;
    let description = a.str(1).map_err(&e)?;
    if ctx.model.group_by_name(&name).is_some() {
        // Unverified: the real server fails in ServerGroupManager.create.
        return Err(Fault::internal(format!(
            "A system group with the name {name} already exists"
        )));
    }
    if name.trim().is_empty() {
        return Err(Fault::internal("Group name must not be empty"));
    }
    let id = ctx.model.next_group_id();
    ctx.exec(format!(
        "INSERT INTO rhnServerGroup (id, name, description, current_members, group_type, org_id) VALUES ({id}, {}, {}, 0, NULL, {ORG_ID})",
        q(&name),
        q(&description)
    ));
    let g = Group {
        id,
        name,
        description,
    };
    ctx.model.groups.insert(id, g.clone());
    Ok(group_struct(ctx.model, &g))
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let id = lookup(ctx.model, p.first())?.id;
    ctx.model.groups.remove(&id);
    ctx.model.group_members.retain(|(g, _)| *g != id);
    for k in ctx.model.keys.values_mut() {
        k.groups.remove(&id);
    }
    ctx.exec(format!(
        "DELETE FROM rhnServerGroupMembers WHERE server_group_id = {id}"
    ));
    ctx.exec(format!(
        "DELETE FROM rhnRegTokenGroups WHERE server_group_id = {id}"
    ));
    ctx.exec(format!("DELETE FROM rhnServerGroup WHERE id = {id}"));
    ok1()
}

pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let g = lookup(ctx.model, p.first())?;
    Ok(group_struct(ctx.model, g))
}

pub(crate) fn update(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("systemgroup.update", p);
    let description = a.str(1).map_err(e)?;
    let id = lookup(ctx.model, p.first())?.id;
    ctx.exec(format!(
        "UPDATE rhnServerGroup SET description = {}, modified = now() WHERE id = {id}",
        q(&description)
    ));
    let g = ctx
        .model
        .groups
        .get_mut(&id)
        .ok_or_else(|| no_such_group(&id.to_string()))?;
    g.description = description;
    let g = g.clone();
    Ok(group_struct(ctx.model, &g))
}

pub(crate) fn add_or_remove_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("systemgroup.addOrRemoveSystems", p);
    let ids = a.array(1).map_err(&e)?;
    let add = a.bool(2).map_err(&e)?;
    let gid = lookup(ctx.model, p.first())?.id;
    let mut sids = Vec::new();
    for v in &ids {
        let sid = uyuni_api::value::as_i64(v).unwrap_or(-1);
        server(ctx.model, sid)?;
        sids.push(sid);
    }
    for sid in sids {
        let member = ctx.model.group_members.contains(&(gid, sid));
        if add && !member {
            ctx.model.group_members.insert((gid, sid));
            ctx.exec(format!(
                "INSERT INTO rhnServerGroupMembers (server_id, server_group_id) VALUES ({sid}, {gid})"
            ));
        } else if !add && member {
            ctx.model.group_members.remove(&(gid, sid));
            ctx.exec(format!(
                "DELETE FROM rhnServerGroupMembers WHERE server_id = {sid} AND server_group_id = {gid}"
            ));
        }
    }
    update_count(ctx, gid);
    ok1()
}
