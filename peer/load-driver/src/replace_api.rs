//! `POST /nodes/{old}/replace` and `GET /nodes/{old}/replace`: node replacement for a major
//! upgrade (a fresh node takes over). The request is a [`ReplacementRecord`]; the fresh
//! node's own Load Driver carries it out once it holds its zone's common data and content
//! (see [`crate::load_plan::Step::TakeOver`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_store::{Record, ReplacementRecord};
use serde::{Deserialize, Serialize};

use cluster_core::api_error::{ApiError, bad};
use cluster_core::change_feed::blocking;
use cluster_core::now_ms;

use crate::LoadCtx;
use crate::load_driver::content_missing_on;

/// Body of `POST /nodes/{old}/replace`.
#[derive(Debug, Deserialize)]
pub struct ReplaceBody {
    /// The fresh node taking over (it may not have joined yet).
    pub with: String,
}

/// `GET /nodes/{old}/replace`: the request and how far the fresh node is.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplaceView {
    /// The request.
    pub replacement: ReplacementRecord,
    /// The fresh node has joined (its node record is known).
    pub joined: bool,
    /// It holds its zone's common data.
    pub common_ready: bool,
    /// Repositories of its zone it does not hold completely yet (`<zone>/<name>`).
    pub content_missing: Vec<String>,
    /// Systems onboarded on the replaced node now.
    pub old_assigned: u64,
    /// Systems onboarded on the fresh node now.
    pub new_assigned: u64,
    /// `waiting` (for the fresh node), `done` or `cancelled`.
    pub phase: String,
}

fn conflict(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, msg.into())
}

/// `POST /nodes/{old}/replace`
pub async fn request(
    State(s): State<LoadCtx>,
    Path(old): Path<String>,
    body: Result<Json<ReplaceBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ReplaceView>, ApiError> {
    let Json(body) = body.map_err(|e| bad(e.body_text()))?;
    let new = body.with.trim().to_string();
    if new.is_empty() || new.contains('/') {
        return Err(bad("node names are non-empty and contain no '/'"));
    }
    if new == old {
        return Err(bad("a node cannot replace itself"));
    }
    let done = s
        .load
        .index()
        .replacements()
        .get(&old)
        .filter(|x| x.done_at.is_some() && x.new == new)
        .cloned();
    if let Some(x) = done {
        // Already carried out (the CLI asked again after the takeover).
        return view(&s, x).await.map(Json);
    }
    let (rec, fresh) = {
        let ix = s.load.index();
        let Some(o) = ix.nodes().get(&old) else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no node {old:?} (uyuni-cluster members lists them)"),
            ));
        };
        if ix.retired(&old) {
            return Err(conflict(format!("{old} is already retired")));
        }
        if let Some(n) = ix.nodes().get(&new) {
            if n.zone != o.zone {
                return Err(bad(format!(
                    "{new} is in zone {}, {old} in {}: a replacement stays in its zone",
                    n.zone, o.zone
                )));
            }
            if ix.retired(&new) {
                return Err(conflict(format!("{new} is retired")));
            }
        }
        if let Some(x) = ix.replacements().get(&old) {
            if x.pending() && x.new == new {
                // Asked again (the CLI waiting once more): the same request.
                (x.clone(), false)
            } else if x.pending() {
                return Err(conflict(format!(
                    "{old} is already being replaced by {}",
                    x.new
                )));
            } else {
                (new_request(&ix, &old, new, &o.zone)?, true)
            }
        } else {
            (new_request(&ix, &old, new, &o.zone)?, true)
        }
    };
    if !fresh {
        return view(&s, rec).await.map(Json);
    }
    put(&s, Record::Replacement(rec.clone())).await?;
    tracing::warn!(old = %rec.old, new = %rec.new, "node replacement requested");
    view(&s, rec).await.map(Json)
}

fn new_request(
    ix: &crate::load_index::LoadIndex,
    old: &str,
    new: String,
    zone: &str,
) -> Result<ReplacementRecord, ApiError> {
    if let Some(x) = ix.replacing(&new) {
        return Err(conflict(format!("{new} already replaces {}", x.old)));
    }
    if ix
        .replacements()
        .values()
        .any(|x| x.pending() && x.new == old)
    {
        return Err(conflict(format!(
            "{old} is itself the fresh node of a replacement"
        )));
    }
    let now = now_ms();
    Ok(ReplacementRecord {
        old: old.to_string(),
        new,
        zone: zone.to_string(),
        requested_at: now,
        done_at: None,
        moved: 0,
        cancelled: false,
        updated_at: now,
    })
}

/// `POST /nodes/{old}/replace/cancel`: withdraw a pending replacement (the fresh node becomes
/// an ordinary node of its zone).
pub async fn cancel(
    State(s): State<LoadCtx>,
    Path(old): Path<String>,
) -> Result<Json<ReplaceView>, ApiError> {
    let Some(mut x) = s.load.index().replacements().get(&old).cloned() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no replacement of {old}"),
        ));
    };
    if !x.pending() {
        return Err(conflict(format!(
            "the replacement of {old} is no longer pending"
        )));
    }
    x.cancelled = true;
    x.updated_at = now_ms();
    put(&s, Record::Replacement(x.clone())).await?;
    view(&s, x).await.map(Json)
}

/// `GET /nodes/{old}/replace`
pub async fn show(
    State(s): State<LoadCtx>,
    Path(old): Path<String>,
) -> Result<Json<ReplaceView>, ApiError> {
    let Some(x) = s.load.index().replacements().get(&old).cloned() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no replacement of {old}"),
        ));
    };
    view(&s, x).await.map(Json)
}

async fn view(s: &LoadCtx, x: ReplacementRecord) -> Result<ReplaceView, ApiError> {
    let (joined, common_ready, old_assigned, new_assigned) = {
        let ix = s.load.index();
        let n = ix.nodes().get(&x.new);
        (
            n.is_some(),
            n.is_some_and(|n| ix.common_ready(n)),
            ix.assigned(&x.old),
            ix.assigned(&x.new),
        )
    };
    let (store, zone, new) = (s.replica.store().clone(), x.zone.clone(), x.new.clone());
    let content_missing = blocking(move || content_missing_on(&store, &zone, &new))
        .await
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store read failed"))?;
    let phase = if x.cancelled {
        "cancelled"
    } else if x.done_at.is_some() {
        "done"
    } else {
        "waiting"
    };
    Ok(ReplaceView {
        phase: phase.into(),
        replacement: x,
        joined,
        common_ready,
        content_missing,
        old_assigned,
        new_assigned,
    })
}

async fn put(s: &LoadCtx, rec: Record) -> Result<(), ApiError> {
    let _w = s.replica.write_lock().await;
    let store = s.replica.store().clone();
    let frames = tokio::task::spawn_blocking(move || store.put(&rec))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    s.replica.broadcast(frames).await;
    s.load.wake.notify_one();
    Ok(())
}
