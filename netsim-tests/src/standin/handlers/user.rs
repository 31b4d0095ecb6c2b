//! `user.getDetails`, `user.listRoles`, and what a user may see: the configured admin is an
//! org and SUSE Manager administrator of organisation 1; other users (test hook
//! `POST /standin/user`) have the roles and organisation they were made with. As in Uyuni, an
//! org admin sees every system of their organisation and a plain user the systems of the
//! groups assigned to them (the stand-in's systems are all in organisation 1).

use std::collections::BTreeSet;

use uyuni_api::value::{StructBuilder, int, string, strings};
use uyuni_api::{Fault, Value};

use super::args;
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{ORG_ID, User};

/// The configured admin as a [`User`].
fn admin(ctx: &Ctx<'_>) -> User {
    User {
        login: ctx.cfg.user.clone(),
        password: String::new(),
        org_id: ORG_ID,
        roles: vec!["org_admin".into(), "satellite_admin".into()],
        groups: Vec::new(),
    }
}

/// The user `login`, if known.
pub(crate) fn user(ctx: &Ctx<'_>, login: &str) -> Option<User> {
    if login == ctx.cfg.user {
        return Some(admin(ctx));
    }
    ctx.model.users.get(login).cloned()
}

/// The caller (the session's user).
fn caller(ctx: &Ctx<'_>) -> Option<User> {
    let login = ctx.session.as_ref()?.user.clone();
    user(ctx, &login)
}

/// Systems the caller may see: `None` for all of them.
pub(crate) fn visible_servers(ctx: &Ctx<'_>) -> Option<BTreeSet<i64>> {
    let Some(u) = caller(ctx) else {
        return Some(BTreeSet::new());
    };
    if u.org_id != ORG_ID {
        return Some(BTreeSet::new());
    }
    if u.roles.iter().any(|r| r == "org_admin") {
        return None;
    }
    let groups: BTreeSet<i64> = ctx
        .model
        .groups
        .values()
        .filter(|g| u.groups.contains(&g.name))
        .map(|g| g.id)
        .collect();
    Some(
        ctx.model
            .group_members
            .iter()
            .filter(|(g, _)| groups.contains(g))
            .map(|(_, s)| *s)
            .collect(),
    )
}

/// The target of a `user.*` call: oneself, or anyone of one's organisation for an org admin.
fn target(ctx: &Ctx<'_>, method: &'static str, p: &[Value]) -> Result<User, Fault> {
    let (a, e) = args(method, p);
    let login = a.str(0).map_err(e)?;
    let me = caller(ctx).ok_or_else(Fault::permission)?;
    let them = user(ctx, &login)
        .ok_or_else(|| Fault::new(-213, format!("Could not find user {login}")))?;
    if them.login == me.login
        || (me.roles.iter().any(|r| r == "org_admin") && me.org_id == them.org_id)
    {
        Ok(them)
    } else {
        Err(Fault::permission())
    }
}

pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let u = target(ctx, "user.getDetails", p)?;
    Ok(StructBuilder::new()
        .field("first_names", string(&u.login))
        .field("first_name", string(&u.login))
        .field("last_name", string("Stand-in"))
        .field("email", string(format!("{}@example.org", u.login)))
        .field("org_id", int(u.org_id))
        .field("org_name", string(format!("Org {}", u.org_id)))
        .field("prefix", string(""))
        .field("enabled", Value::Boolean(true))
        .field("use_pam", Value::Boolean(false))
        .field("read_only", Value::Boolean(false))
        .field("errata_notification", Value::Boolean(false))
        .build())
}

pub(crate) fn list_roles(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let u = target(ctx, "user.listRoles", p)?;
    Ok(strings(u.roles.iter().map(String::as_str)))
}

/// `user.listUsers`: the users of the caller's organisation (UserSerializer's list form).
pub(crate) fn list_users(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    let me = caller(ctx).ok_or_else(Fault::permission)?;
    let mut all = vec![admin(ctx)];
    all.extend(ctx.model.users.values().cloned());
    Ok(Value::Array(
        all.iter()
            .filter(|u| u.org_id == me.org_id)
            .enumerate()
            .map(|(i, u)| {
                StructBuilder::new()
                    .field("id", int(i as i64 + 1))
                    .field("login", string(&u.login))
                    .field("login_uc", string(u.login.to_uppercase()))
                    .field("enabled", Value::Boolean(true))
                    .build()
            })
            .collect(),
    ))
}

/// `user.listAssignedSystemGroups`: the groups assigned to the user, as group structs.
pub(crate) fn list_assigned_system_groups(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let u = target(ctx, "user.listAssignedSystemGroups", p)?;
    let m = &*ctx.model;
    Ok(Value::Array(
        m.groups
            .values()
            .filter(|g| u.groups.contains(&g.name))
            .map(|g| super::systemgroup::group_struct(m, g))
            .collect(),
    ))
}

/// `user.listDefaultSystemGroups`: the stand-in keeps no default groups (`[]`).
pub(crate) fn list_default_system_groups(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    target(ctx, "user.listDefaultSystemGroups", p)?;
    Ok(Value::Array(Vec::new()))
}
