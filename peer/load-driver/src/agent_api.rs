//! The agent protocol, version 1 (docs/AGENT-PROTOCOL.md): what client agents knock on.
//! Answered from this peer's own replica; never forwarded.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/system/status?fp=FP` | one byte: `n` new, `o` onboarded, `r` orphan, `d` deleted, `u` unknown |
//! | POST | `/system/register` | the system record (idempotent; unknown systems start `new`) |
//! | GET | `/system/orphan?fp=FP` | `200` the node's address, `204` not yet, `404` unknown, `410` deleted |

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crdt_store::{SystemRecord, SystemStatus};
use serde::Deserialize;

use cluster_core::api_error::{ApiError, bad};
use cluster_core::now_ms;

use crate::LoadCtx;
use crate::systems_api::{RegisterBody, check_fingerprint, check_identity, get_system, submit};
use crate::write_batcher::Decision;

/// Protocol version announced in `X-Uyuni-Agent-Protocol`.
pub const PROTOCOL_VERSION: &str = "1";
/// Other peers listed in `X-Uyuni-Peers`.
const PEERS_LISTED: usize = 5;

/// The agent routes (merged into the peer's router).
pub fn routes() -> Router<LoadCtx> {
    Router::new()
        .route("/system/status", get(status))
        .route("/system/orphan", get(orphan))
        .route("/system/register", post(register))
}

/// `?fp=FP`
#[derive(Debug, Deserialize)]
pub struct FpQuery {
    fp: Option<String>,
}

fn fp_of(
    q: Result<Query<FpQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<String, ApiError> {
    let Query(q) = q.map_err(|e| bad(e.body_text()))?;
    let fp = q.fp.ok_or_else(|| bad("missing query parameter fp"))?;
    check_fingerprint(&fp)?;
    Ok(fp)
}

fn header(v: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(v).ok()
}

/// The headers every agent answer carries.
fn hints(s: &LoadCtx, rec: Option<&SystemRecord>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        HeaderName::from_static("x-uyuni-agent-protocol"),
        HeaderValue::from_static(PROTOCOL_VERSION),
    );
    if let Some(v) = header(&s.load.cfg.agent_heartbeat_s.to_string()) {
        h.insert(HeaderName::from_static("x-uyuni-heartbeat"), v);
    }
    let hints = s.load.hints();
    let zone = rec
        .and_then(|r| r.zone.as_deref())
        .unwrap_or(s.me.zone.as_str());
    let peers = hints.peers_for(Some(zone), PEERS_LISTED);
    if let Some(v) = header(&peers.join(",")) {
        h.insert(HeaderName::from_static("x-uyuni-peers"), v);
    }
    if let Some((fqdn, http)) = rec.and_then(assigned_node).and_then(|n| node_address(s, n)) {
        if let Some(v) = header(&fqdn) {
            h.insert(HeaderName::from_static("x-uyuni-node"), v);
        }
        if let Some(v) = http.as_deref().and_then(header) {
            h.insert(HeaderName::from_static("x-uyuni-node-peer"), v);
        }
    }
    h
}

/// A node's salt master address and peer HTTP address: from the hints, or (for a node
/// that joined since they were built) from the index.
fn node_address(s: &LoadCtx, node: &str) -> Option<(String, Option<String>)> {
    if let Some(n) = s.load.hints().nodes.get(node) {
        return Some((n.fqdn.clone(), n.http.clone()));
    }
    s.load
        .index()
        .nodes()
        .get(node)
        .map(|n| (n.master_address().to_string(), n.http.clone()))
}

/// Every agent answer, errors included, carries the protocol headers.
fn with_hints(s: &LoadCtx, res: Result<Response, ApiError>) -> Response {
    match res {
        Ok(r) => r,
        Err(e) => (hints(s, None), e).into_response(),
    }
}

/// The node a system must use now, if any.
fn assigned_node(r: &SystemRecord) -> Option<&str> {
    if r.status == SystemStatus::Onboarded && !r.banned {
        r.node.as_deref()
    } else {
        None
    }
}

/// The one-byte status of a system.
pub fn status_byte(r: Option<&SystemRecord>) -> &'static str {
    match r {
        None => "u",
        Some(r) if r.banned => "d",
        Some(r) => match r.status {
            SystemStatus::New => "n",
            // Onboarded without a node cannot be written by this code; treat it as orphan.
            SystemStatus::Onboarded if r.node.is_some() => "o",
            SystemStatus::Onboarded | SystemStatus::Orphan => "r",
            SystemStatus::Deleted => "d",
        },
    }
}

async fn status(
    State(s): State<LoadCtx>,
    q: Result<Query<FpQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let res = status_inner(&s, q).await;
    with_hints(&s, res)
}

async fn status_inner(
    s: &LoadCtx,
    q: Result<Query<FpQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let fp = fp_of(q)?;
    // The hot path (every agent, every heartbeat): read inline unless the shard is busy.
    let rec = match s.replica.store().try_get_system(&fp) {
        Some(r) => r?,
        None => get_system(s, &fp).await?,
    };
    if let Some(r) = &rec {
        s.load.online.seen(&fp, assigned_node(r), now_ms());
    }
    Ok((hints(s, rec.as_ref()), status_byte(rec.as_ref())).into_response())
}

async fn orphan(
    State(s): State<LoadCtx>,
    q: Result<Query<FpQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let res = orphan_inner(&s, q).await;
    with_hints(&s, res)
}

async fn orphan_inner(
    s: &LoadCtx,
    q: Result<Query<FpQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let fp = fp_of(q)?;
    let Some(rec) = get_system(s, &fp).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown system {fp}: register first"),
        ));
    };
    if rec.banned || rec.status == SystemStatus::Deleted {
        return Err(ApiError::new(
            StatusCode::GONE,
            format!("system {fp} is deleted"),
        ));
    }
    let headers = hints(s, Some(&rec));
    let node =
        assigned_node(&rec).and_then(|n| s.load.hints().nodes.get(n).map(|h| h.fqdn.clone()));
    Ok(match node {
        Some(addr) => (StatusCode::OK, headers, addr).into_response(),
        None => {
            if rec.status == SystemStatus::Orphan {
                // Make sure the zone's leader looks at it soon (it may be this peer).
                s.load.wake.notify_one();
            }
            let retry = (s.load.cfg.agent_heartbeat_s / 6).clamp(1, 10).to_string();
            let mut headers = headers;
            if let Some(v) = header(&retry) {
                headers.insert(axum::http::header::RETRY_AFTER, v);
            }
            (StatusCode::NO_CONTENT, headers).into_response()
        }
    })
}

async fn register(
    State(s): State<LoadCtx>,
    body: Result<Json<RegisterBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let res = register_inner(&s, body).await;
    with_hints(&s, res)
}

async fn register_inner(
    s: &LoadCtx,
    body: Result<Json<RegisterBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| bad(e.body_text()))?;
    check_fingerprint(&body.fingerprint)?;
    check_identity(&body.minion_id, &body.hostname)?;
    // A fast path for the common repeat: a known system re-registering unchanged.
    if let Some(Ok(Some(existing))) = s.replica.store().try_get_system(&body.fingerprint)
        && unchanged(&existing, &body)
    {
        return Ok((hints(s, Some(&existing)), Json(existing)).into_response());
    }
    let zone = s.me.zone.clone();
    let fp = body.fingerprint.clone();
    let rec = submit(&s.writes, &fp, move |current| {
        let now = now_ms();
        Decision::Write(match current {
            Some(existing) if unchanged(&existing, &body) => {
                return Decision::Keep(Some(existing));
            }
            Some(mut existing) => {
                // Idempotent: a known system keeps its status (a banned one stays banned, a
                // rejected one starts over as new); changed identity fields are updated.
                if existing.status == SystemStatus::Deleted && !existing.banned {
                    existing.status = SystemStatus::New;
                }
                existing.minion_id = body.minion_id;
                if !body.hostname.is_empty() {
                    existing.hostname = body.hostname;
                }
                existing.updated_at = now.max(existing.updated_at.saturating_add(1));
                existing
            }
            None => SystemRecord::new(body.fingerprint, body.minion_id, now)
                .with_hostname(&body.hostname)
                .with_zone(&zone),
        })
    })
    .await?
    .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "registration lost"))?;
    Ok((hints(s, Some(&rec)), Json(rec)).into_response())
}

/// A known system registering again with the same identity (and not rejected).
fn unchanged(existing: &SystemRecord, body: &RegisterBody) -> bool {
    let rejected = existing.status == SystemStatus::Deleted && !existing.banned;
    !rejected
        && existing.minion_id == body.minion_id
        && (body.hostname.is_empty() || existing.hostname == body.hostname)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bytes_cover_every_state() {
        let mut r = SystemRecord::new("f", "m", 0);
        assert_eq!(status_byte(None), "u");
        assert_eq!(status_byte(Some(&r)), "n");
        r.status = SystemStatus::Orphan;
        assert_eq!(status_byte(Some(&r)), "r");
        r.status = SystemStatus::Onboarded;
        assert_eq!(status_byte(Some(&r)), "r", "onboarded without a node");
        r.node = Some("n1".into());
        assert_eq!(status_byte(Some(&r)), "o");
        r.banned = true;
        assert_eq!(status_byte(Some(&r)), "d");
        r.banned = false;
        r.status = SystemStatus::Deleted;
        assert_eq!(status_byte(Some(&r)), "d");
    }
}
