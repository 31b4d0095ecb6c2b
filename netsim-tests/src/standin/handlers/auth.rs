//! `auth.*` and `user.listAssignableRoles` (the other `user.*` calls: [`super::user`]).

use sha2::{Digest as _, Sha256};
use uyuni_api::value::{string, strings};
use uyuni_api::{Fault, Value};

use super::{args, ok1};
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::Session;
use crate::standin::store_pg::{q, ts};

/// Session lifetime when `auth.login` gets no duration (Uyuni's default, seconds).
pub const DEFAULT_DURATION_S: i64 = 3600;

/// Create a session for `user` (shared by XML-RPC and the JSON API login).
pub(crate) fn new_session(ctx: &mut Ctx<'_>, user: &str, duration_s: i64) -> String {
    let id = ctx.model.next_session_id();
    let mut h = Sha256::new();
    h.update(rand::random::<[u8; 32]>());
    h.update(id.to_le_bytes());
    h.update(ctx.now.to_le_bytes());
    let key = format!("{id}x{}", hex::encode(h.finalize()));
    let expires = ctx
        .now
        .saturating_add(u64::try_from(duration_s.max(1)).unwrap_or(1) * 1000);
    ctx.exec(format!(
        "INSERT INTO standin_session (id, session_key, web_user, expires) VALUES ({id}, {}, {}, {})",
        q(&key),
        q(user),
        ts(expires)
    ));
    ctx.model.sessions.insert(
        id,
        Session {
            id,
            key: key.clone(),
            user: user.to_string(),
            expires,
        },
    );
    key
}

/// Check credentials.
pub(crate) fn credentials_ok(ctx: &Ctx<'_>, user: &str, password: &str) -> bool {
    (user == ctx.cfg.user && password == ctx.cfg.password)
        || ctx
            .model
            .users
            .get(user)
            .is_some_and(|u| u.password == password)
}

pub(crate) fn login(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("auth.login", p);
    let user = a.str(0).map_err(&e)?;
    let password = a.str(1).map_err(&e)?;
    let duration = if a.len() > 2 {
        a.int(2).map_err(&e)?
    } else {
        DEFAULT_DURATION_S
    };
    if !credentials_ok(ctx, &user, &password) {
        return Err(Fault::login_failed());
    }
    Ok(string(new_session(ctx, &user, duration)))
}

pub(crate) fn logout(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    if let Some(s) = ctx.session.clone() {
        ctx.model.sessions.remove(&s.id);
        ctx.exec(format!("DELETE FROM standin_session WHERE id = {}", s.id));
    }
    ok1()
}

pub(crate) fn list_assignable_roles(_: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(strings([
        "activation_key_admin",
        "channel_admin",
        "config_admin",
        "image_admin",
        "org_admin",
        "satellite_admin",
        "system_group_admin",
    ]))
}
