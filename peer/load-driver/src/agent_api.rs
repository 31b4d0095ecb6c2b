//! The agent protocol, version 2 (docs/AGENT-PROTOCOL.md): what client agents knock on.
//! Answered from this peer's own replica; never forwarded.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/system/status?fp=FP` + token | one byte: `n` new, `o` onboarded, `r` orphan, `d` deleted, `u` unknown |
//! | POST | `/system/register` (signed) | the system record and a token (idempotent; unknown systems start `new`) |
//! | GET | `/system/orphan?fp=FP` + token | `200` the node's address, `204` not yet, `404` unknown, `410` deleted |
//!
//! Every request first takes one unit of its client address's budget; registrations must be
//! signed with the minion's key, and status and orphan queries must show the token a
//! registration got ([`crate::agent_door`]). `401` without them, `429` over a budget.

use std::net::IpAddr;

use agent_proto::TOKEN_HEADER;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use crdt_store::{SystemRecord, SystemStatus};
use serde::Deserialize;

use cluster_core::api_error::{ApiError, bad};
use cluster_core::now_ms;
use cluster_core::remote_addr::RemoteAddr;

use crate::LoadCtx;
use crate::agent_door::Refusal;
use crate::systems_api::{RegisterBody, check_fingerprint, check_identity, get_system, submit};
use crate::write_batcher::Decision;

/// Protocol version announced in `X-Uyuni-Agent-Protocol`.
pub const PROTOCOL_VERSION: &str = "2";
/// Other peers listed in `X-Uyuni-Peers`.
const PEERS_LISTED: usize = 5;

/// The agent routes (merged into the peer's router), bodies limited to `body_limit` bytes.
pub fn routes(body_limit: usize) -> Router<LoadCtx> {
    Router::new()
        .route("/system/status", get(status))
        .route("/system/orphan", get(orphan))
        .route("/system/register", post(register))
        .layer(DefaultBodyLimit::max(body_limit))
}

/// The client's address, when the server recorded it.
type Remote = Option<Extension<RemoteAddr>>;

fn client_ip(r: &Remote) -> Option<IpAddr> {
    r.as_ref().map(|Extension(RemoteAddr(a))| a.ip())
}

fn token(h: &HeaderMap) -> Option<&str> {
    h.get(TOKEN_HEADER).and_then(|v| v.to_str().ok())
}

/// Check the query's token for `fp`.
fn admit(s: &LoadCtx, headers: &HeaderMap, fp: &str) -> Result<(), Refusal> {
    s.door.check_token(token(headers), fp, now_ms() / 1000)
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
    let hints = s.load.hints(&s.members, &s.me);
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
    if let Some(n) = s.load.hints(&s.members, &s.me).nodes.get(node) {
        return Some((n.fqdn.clone(), n.http.clone()));
    }
    s.load
        .index()
        .nodes()
        .get(node)
        .map(|n| (n.master_address().to_string(), n.http.clone()))
}

/// Every agent answer, errors included, carries the protocol headers.
fn with_hints(s: &LoadCtx, res: Result<Response, Refusal>) -> Response {
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
    remote: Remote,
    headers: HeaderMap,
    q: Result<Query<FpQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let res = status_inner(&s, &remote, &headers, q).await;
    with_hints(&s, res)
}

async fn status_inner(
    s: &LoadCtx,
    remote: &Remote,
    headers: &HeaderMap,
    q: Result<Query<FpQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    s.door.admit_client(client_ip(remote), now_ms())?;
    let fp = fp_of(q)?;
    admit(s, headers, &fp)?;
    // The hot path (every agent, every heartbeat): read inline unless the shard is busy.
    let rec = match s.replica.store().try_get_system(&fp) {
        Some(r) => r.map_err(ApiError::from)?,
        None => get_system(s, &fp).await?,
    };
    if let Some(r) = &rec {
        s.load.online.seen(&fp, assigned_node(r), now_ms());
    }
    cluster_core::metrics::metrics().agent_heartbeats.inc();
    Ok((hints(s, rec.as_ref()), status_byte(rec.as_ref())).into_response())
}

async fn orphan(
    State(s): State<LoadCtx>,
    remote: Remote,
    headers: HeaderMap,
    q: Result<Query<FpQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let res = orphan_inner(&s, &remote, &headers, q).await;
    with_hints(&s, res)
}

async fn orphan_inner(
    s: &LoadCtx,
    remote: &Remote,
    headers: &HeaderMap,
    q: Result<Query<FpQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    s.door.admit_client(client_ip(remote), now_ms())?;
    let fp = fp_of(q)?;
    admit(s, headers, &fp)?;
    let Some(rec) = get_system(s, &fp).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown system {fp}: register first"),
        )
        .into());
    };
    if rec.banned || rec.status == SystemStatus::Deleted {
        return Err(ApiError::new(StatusCode::GONE, format!("system {fp} is deleted")).into());
    }
    let headers = hints(s, Some(&rec));
    let node = assigned_node(&rec).and_then(|n| {
        s.load
            .hints(&s.members, &s.me)
            .nodes
            .get(n)
            .map(|h| h.fqdn.clone())
    });
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
    remote: Remote,
    body: Result<Json<RegisterBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let res = register_inner(&s, &remote, body).await;
    with_hints(&s, res)
}

/// The answer to a registration: the record, the hints and the token.
fn registered(s: &LoadCtx, rec: SystemRecord, now_ms: u64) -> Response {
    cluster_core::metrics::metrics().registrations.inc();
    let mut headers = hints(s, Some(&rec));
    if let Some(v) = header(&s.door.issue_token(&rec.fingerprint, now_ms / 1000)) {
        headers.insert(HeaderName::from_static(TOKEN_HEADER), v);
    }
    (headers, Json(rec)).into_response()
}

async fn register_inner(
    s: &LoadCtx,
    remote: &Remote,
    body: Result<Json<RegisterBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Refusal> {
    let started = now_ms();
    s.door.admit_client(client_ip(remote), started)?;
    let Json(body) = body.map_err(|e| match e {
        axum::extract::rejection::JsonRejection::BytesRejection(b) => {
            ApiError::new(b.status(), b.body_text())
        }
        e => bad(e.body_text()),
    })?;
    check_fingerprint(&body.fingerprint)?;
    check_identity(&body.minion_id, &body.hostname)?;
    s.door.check_registration(&body, started / 1000)?;
    let current = match s.replica.store().try_get_system(&body.fingerprint) {
        Some(r) => r.map_err(ApiError::from)?,
        None => get_system(s, &body.fingerprint).await?,
    };
    match current {
        // A fast path for the common repeat: a known system re-registering unchanged.
        Some(existing) if unchanged(&existing, &body) => {
            return Ok(registered(s, existing, started));
        }
        Some(_) => {}
        // A newcomer: the onboarding budget, apart from every known system's.
        None => {
            let pool = s.load.index().new_count();
            s.door.admit_newcomer(pool, started)?;
        }
    }
    let zone = s.me.zone.clone();
    let auto_accept = s.load.cfg.auto_accept.clone();
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
            None => {
                let mut rec = SystemRecord::new(body.fingerprint, body.minion_id, now)
                    .with_hostname(&body.hostname)
                    .with_zone(&zone);
                auto_accept.apply(&mut rec);
                rec
            }
        })
    })
    .await?
    .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "registration lost"))?;
    Ok(registered(s, rec, started))
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
