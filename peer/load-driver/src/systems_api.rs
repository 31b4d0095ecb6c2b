//! The Load Driver's administrative endpoints over systems: list and show, accept, reject,
//! unregister and ban (each a read-modify-write through the group-committing
//! [`crate::write_batcher`]).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cluster_core::api_error::{ApiError, bad, internal};
use cluster_core::now_ms;
use crdt_store::{SystemFilter, SystemRecord};
use serde::Deserialize;

use crate::LoadCtx;
use crate::system_actions::{self, Action, Refused};
use crate::write_batcher::{Decision, Failure, WriteBatcher};

/// Body of `POST /system/register`: the signed registration of agent protocol 2 (the public
/// key proves the fingerprint and is not replicated).
pub type RegisterBody = agent_proto::Registration;

/// Longest minion id stored (bytes).
pub const MAX_MINION_ID: usize = 256;
/// Longest host name stored (bytes; a DNS name is at most 253).
pub const MAX_HOSTNAME: usize = 253;

/// Refuse an empty fingerprint, one over 256 characters, or one with spaces, control
/// characters (NUL, escape sequences: they would reach the CLI's tables) or `/`.
pub fn check_fingerprint(fp: &str) -> Result<(), ApiError> {
    if fp.is_empty()
        || fp.chars().count() > 256
        || fp
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(bad(
            "fingerprint must be 1-256 characters without spaces, control characters or '/'",
        ));
    }
    Ok(())
}

/// The length and character rule of the identity fields a registration stores: a minion id of
/// 1-[`MAX_MINION_ID`] bytes and a host name of at most [`MAX_HOSTNAME`] bytes (empty: not
/// given), neither with control characters, the host name without spaces either. Without it a
/// registration could store megabytes per system on every replica.
pub fn check_identity(minion_id: &str, hostname: &str) -> Result<(), ApiError> {
    if minion_id.is_empty()
        || minion_id.len() > MAX_MINION_ID
        || minion_id.chars().any(char::is_control)
    {
        return Err(bad(format!(
            "minion_id must be 1-{MAX_MINION_ID} bytes without control characters"
        )));
    }
    if hostname.len() > MAX_HOSTNAME
        || hostname
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(bad(format!(
            "hostname must be at most {MAX_HOSTNAME} bytes without spaces or control characters"
        )));
    }
    Ok(())
}

/// The system with this fingerprint, read on a blocking thread.
pub async fn get_system(s: &LoadCtx, fp: &str) -> Result<Option<SystemRecord>, ApiError> {
    let (store, fp) = (s.replica.store().clone(), fp.to_string());
    Ok(tokio::task::spawn_blocking(move || store.get_system(&fp))
        .await
        .map_err(internal)??)
}

/// Query of `GET /systems`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    node: Option<String>,
    zone: Option<String>,
    /// Comma-separated; all must match.
    tag: Option<String>,
    /// Comma-separated; all must match.
    group: Option<String>,
    limit: Option<usize>,
}

fn split(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

pub(crate) async fn list_systems(
    State(s): State<LoadCtx>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SystemRecord>>, ApiError> {
    let Query(q) = q.map_err(|e| bad(e.body_text()))?;
    let filter = SystemFilter {
        status: q.status.map(|s| s.parse()).transpose().map_err(bad)?,
        node: q.node,
        zone: q.zone,
        tags: split(q.tag),
        groups: split(q.group),
        limit: Some(q.limit.unwrap_or(10_000)),
    };
    let store = s.replica.store().clone();
    let list = tokio::task::spawn_blocking(move || store.systems(&filter))
        .await
        .map_err(internal)?;
    Ok(Json(list))
}

pub(crate) async fn show_system(
    State(s): State<LoadCtx>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    existing(&s, &fp).await.map(Json)
}

/// The system with this fingerprint, or a 404.
async fn existing(s: &LoadCtx, fp: &str) -> Result<SystemRecord, ApiError> {
    get_system(s, fp)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no system {fp}")))
}

/// Read-modify-write one system through the group-committing write batcher; `f` returns
/// whether it changed the record.
async fn modify(
    writes: &WriteBatcher<ApiError>,
    fp: &str,
    f: impl FnOnce(&mut SystemRecord) -> Result<bool, ApiError> + Send + 'static,
) -> Result<SystemRecord, ApiError> {
    let fp_owned = fp.to_string();
    let rec = submit(writes, fp, move |cur| {
        let Some(mut rec) = cur else {
            return Decision::Fail(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no system {fp_owned}"),
            ));
        };
        match f(&mut rec) {
            Err(e) => Decision::Fail(e),
            Ok(false) => Decision::Keep(Some(rec)),
            Ok(true) => {
                system_actions::touch(&mut rec, now_ms());
                Decision::Write(rec)
            }
        }
    })
    .await?;
    rec.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no system {fp}")))
}

/// Submit a read-modify-write to the write batcher and map its failures to API errors.
pub async fn submit(
    writes: &WriteBatcher<ApiError>,
    fp: &str,
    op: impl FnOnce(Option<SystemRecord>) -> Decision<ApiError> + Send + 'static,
) -> Result<Option<SystemRecord>, ApiError> {
    writes.submit(fp, op).await.map_err(|f| match f {
        Failure::Refused(e) => e,
        Failure::Store { message, io } => ApiError::new(
            if io {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            },
            message,
        ),
        Failure::Unavailable => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the peer is shutting down")
        }
    })
}

impl From<Refused> for ApiError {
    fn from(e: Refused) -> Self {
        ApiError::new(StatusCode::CONFLICT, e.to_string())
    }
}

/// Apply an administrator's action to one system through the write batcher.
pub async fn act(
    writes: &WriteBatcher<ApiError>,
    fp: &str,
    action: Action,
) -> Result<SystemRecord, ApiError> {
    let accept = matches!(action, Action::Accept);
    let rec = modify(writes, fp, move |rec| {
        Ok(system_actions::apply(&action, rec)?)
    })
    .await?;
    if accept {
        cluster_core::metrics::metrics().accepts.inc();
    }
    Ok(rec)
}

pub(crate) async fn accept(
    State(s): State<LoadCtx>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    act(&s.writes, &fp, Action::Accept).await.map(Json)
}

pub(crate) async fn reject(
    State(s): State<LoadCtx>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    act(&s.writes, &fp, Action::Reject).await.map(Json)
}

pub(crate) async fn unregister(
    State(s): State<LoadCtx>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    act(&s.writes, &fp, Action::Unregister).await.map(Json)
}

pub(crate) async fn ban(
    State(s): State<LoadCtx>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    act(&s.writes, &fp, Action::Ban).await.map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_refuse_what_could_break_paths_or_terminals() {
        assert!(check_fingerprint("ab:cd:ef").is_ok());
        for bad_fp in ["", "a b", "a/b", "a\0b", "a\u{1b}[31mb", "a\u{7f}"] {
            let e = check_fingerprint(bad_fp).expect_err(bad_fp);
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{bad_fp:?}");
        }
        assert!(check_fingerprint(&"a".repeat(257)).is_err());
    }

    #[test]
    fn identity_fields_have_a_length_and_character_rule() {
        assert!(check_identity("web1", "web1.example.org").is_ok());
        assert!(
            check_identity("web1", "").is_ok(),
            "a host name is optional"
        );
        assert!(check_identity("", "h").is_err());
        assert!(check_identity(&"m".repeat(MAX_MINION_ID), "h").is_ok());
        assert!(check_identity(&"m".repeat(MAX_MINION_ID + 1), "h").is_err());
        assert!(check_identity("m", &"h".repeat(MAX_HOSTNAME)).is_ok());
        assert!(check_identity("m", &"h".repeat(2 * 1024 * 1024)).is_err());
        assert!(check_identity("m\0", "h").is_err());
        assert!(check_identity("m", "h\u{1b}[2J").is_err());
        assert!(check_identity("m", "two words").is_err());
    }
}
