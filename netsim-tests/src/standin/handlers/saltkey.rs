//! `saltkey.*`: keys in a real salt-master pki directory (`--salt-pki-dir`), or in the
//! `standin_salt_key` table. Accepting a key also registers the system, since the stand-in has
//! no Salt event bus to do it later.

use std::path::PathBuf;

use uyuni_api::value::strings;
use uyuni_api::{Fault, Value};

use super::args;
use super::system::{onboard_minion, remove_server};
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{KeyState, SaltKey};
use crate::standin::store_pg::q;

fn pki(ctx: &Ctx<'_>) -> Option<PathBuf> {
    ctx.cfg.salt_pki_dir.clone()
}

/// Minion ids in a state, sorted.
pub(crate) fn list(ctx: &Ctx<'_>, state: KeyState) -> Vec<String> {
    match pki(ctx) {
        Some(dir) => {
            let mut out: Vec<String> = std::fs::read_dir(dir.join(state.dir()))
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .filter(|e| e.path().is_file())
                        .filter_map(|e| e.file_name().to_str().map(str::to_string))
                        .filter(|n| !n.starts_with('.'))
                        .collect()
                })
                .unwrap_or_default();
            out.sort();
            out
        }
        None => ctx
            .model
            .salt_keys
            .iter()
            .filter(|(_, k)| k.state == state)
            .map(|(id, _)| id.clone())
            .collect(),
    }
}

/// The state of a minion's key.
pub(crate) fn state_of(ctx: &Ctx<'_>, minion: &str) -> Option<KeyState> {
    match pki(ctx) {
        Some(dir) => KeyState::ALL
            .into_iter()
            .find(|s| valid_id(minion) && dir.join(s.dir()).join(minion).is_file()),
        None => ctx.model.salt_keys.get(minion).map(|k| k.state),
    }
}

/// A minion id that is safe as a file name.
fn valid_id(minion: &str) -> bool {
    !minion.is_empty()
        && minion != "."
        && minion != ".."
        && !minion.contains('/')
        && !minion.contains('\0')
}

fn move_key(ctx: &mut Ctx<'_>, minion: &str, from: KeyState, to: KeyState) -> Result<(), Fault> {
    match pki(ctx) {
        Some(dir) => {
            std::fs::create_dir_all(dir.join(to.dir()))
                .and_then(|_| {
                    std::fs::rename(
                        dir.join(from.dir()).join(minion),
                        dir.join(to.dir()).join(minion),
                    )
                })
                .map_err(|e| Fault::internal(format!("moving the key of {minion}: {e}")))?;
        }
        None => {
            if let Some(k) = ctx.model.salt_keys.get_mut(minion) {
                k.state = to;
            }
            ctx.exec(format!(
                "UPDATE standin_salt_key SET state = '{}', modified = now() WHERE minion_id = {}",
                to.as_str(),
                q(minion)
            ));
        }
    }
    Ok(())
}

/// Remove a key wherever it is (no error when there is none).
pub(crate) fn forget_key(ctx: &mut Ctx<'_>, minion: &str) {
    match pki(ctx) {
        Some(dir) => {
            if valid_id(minion) {
                for s in KeyState::ALL {
                    let _ = std::fs::remove_file(dir.join(s.dir()).join(minion));
                }
            }
        }
        None => {
            if ctx.model.salt_keys.remove(minion).is_some() {
                ctx.exec(format!(
                    "DELETE FROM standin_salt_key WHERE minion_id = {}",
                    q(minion)
                ));
            }
        }
    }
}

/// Add a pending key (the test hook `POST /standin/minions`). Returns false if the minion
/// already has a key.
pub(crate) fn add_pending(
    ctx: &mut Ctx<'_>,
    minion: &str,
    fingerprint: &str,
) -> Result<bool, Fault> {
    if !valid_id(minion) {
        return Err(Fault::internal(format!("invalid minion id: {minion:?}")));
    }
    if state_of(ctx, minion).is_some() {
        return Ok(false);
    }
    match pki(ctx) {
        Some(dir) => {
            let pre = dir.join(KeyState::Pending.dir());
            std::fs::create_dir_all(&pre)
                .and_then(|_| {
                    std::fs::write(
                        pre.join(minion),
                        format!(
                            "-----BEGIN PUBLIC KEY-----\n{fingerprint}\n-----END PUBLIC KEY-----\n"
                        ),
                    )
                })
                .map_err(|e| Fault::internal(format!("writing the key of {minion}: {e}")))?;
        }
        None => {
            ctx.model.salt_keys.insert(
                minion.to_string(),
                SaltKey {
                    fingerprint: fingerprint.to_string(),
                    state: KeyState::Pending,
                },
            );
            ctx.exec(format!(
                "INSERT INTO standin_salt_key (minion_id, fingerprint, state) VALUES ({}, {}, 'pending')",
                q(minion),
                q(fingerprint)
            ));
        }
    }
    Ok(true)
}

/// `Key for minionID [X] is not pending` (SaltKeyUtils' IllegalArgumentException, rethrown as
/// UnsupportedOperationException: not a FaultException, so -1 "unhandled internal exception").
fn not_pending(minion: &str) -> Fault {
    Fault::internal(format!("Key for minionID [{minion}] is not pending"))
}

pub(crate) fn accepted_list(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(strings(list(ctx, KeyState::Accepted)))
}
pub(crate) fn pending_list(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(strings(list(ctx, KeyState::Pending)))
}
pub(crate) fn rejected_list(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(strings(list(ctx, KeyState::Rejected)))
}
pub(crate) fn denied_list(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(strings(list(ctx, KeyState::Denied)))
}

pub(crate) fn accept(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("saltkey.accept", p);
    let minion = a.str(0).map_err(e)?;
    if state_of(ctx, &minion) != Some(KeyState::Pending) {
        return Err(not_pending(&minion));
    }
    move_key(ctx, &minion, KeyState::Pending, KeyState::Accepted)?;
    onboard_minion(ctx, &minion);
    Ok(Value::Integer(1))
}

pub(crate) fn reject(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("saltkey.reject", p);
    let minion = a.str(0).map_err(e)?;
    if state_of(ctx, &minion) != Some(KeyState::Pending) {
        return Err(not_pending(&minion));
    }
    move_key(ctx, &minion, KeyState::Pending, KeyState::Rejected)?;
    Ok(Value::Integer(1))
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("saltkey.delete", p);
    let minion = a.str(0).map_err(e)?;
    if state_of(ctx, &minion).is_none() {
        return Err(Fault::internal(format!(
            "No key found for minionID [{minion}]"
        )));
    }
    forget_key(ctx, &minion);
    if let Some(sid) = ctx.model.server_by_minion(&minion).map(|s| s.id) {
        remove_server(ctx, sid);
    }
    Ok(Value::Integer(1))
}
