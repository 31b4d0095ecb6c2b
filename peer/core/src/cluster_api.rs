//! The cluster core's own endpoints: `GET /health`, `GET /cluster/status` and
//! `GET /cluster/members`. A metastore that stopped taking writes (a failed fsync or WAL
//! write) shows in both: `/health` answers 503 naming the failure, and `/cluster/status`
//! carries it as `store.write_failure`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use crdt_store::Store;
use serde::{Deserialize, Serialize};

use crate::api_error::{ApiError, internal};
use crate::members::Members;
use crate::membership::Membership;
use crate::net::NetClient;
use crate::self_info::SelfInfo;

/// What the core's endpoints read.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// The swarm's handle (listen addresses, connected peers).
    pub net: NetClient,
    /// The membership table.
    pub members: Members,
    /// The metastore (figures).
    pub store: Store,
    /// This peer.
    pub me: Arc<SelfInfo>,
}

/// The core's public route: `/health` (no authentication: load balancers and probes).
pub fn public_routes(view: ClusterView) -> Router {
    Router::new().route("/health", get(health)).with_state(view)
}

/// The core's admin routes: `/cluster/status`, `/cluster/members`, `POST /cluster/backup`.
pub fn routes(view: ClusterView) -> Router {
    Router::new()
        .route("/cluster/status", get(status))
        .route("/cluster/members", get(members))
        .route(
            "/cluster/backup",
            axum::routing::post(crate::backup_api::backup),
        )
        .with_state(view)
}

async fn health(State(s): State<ClusterView>) -> (StatusCode, Json<serde_json::Value>) {
    health_answer(&s.me.name, s.store.write_failure())
}

/// `GET /health`: 200 `{"status": "ok"}`, or 503 `{"status": "store_stopped", "error": ..}`
/// once the metastore has stopped taking writes after a failed write or fsync (the peer
/// still answers reads, but a load balancer or a monitor must see it is not well).
pub fn health_answer(
    name: &str,
    store_failure: Option<String>,
) -> (StatusCode, Json<serde_json::Value>) {
    match store_failure {
        None => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ok", "name": name })),
        ),
        Some(cause) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "store_stopped",
                "name": name,
                "error": format!(
                    "the metastore takes no more writes since a disk operation failed: {cause}"
                ),
            })),
        ),
    }
}

async fn status(State(s): State<ClusterView>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = s.store.clone();
    let stats = tokio::task::spawn_blocking(move || store.stats())
        .await
        .map_err(internal)?;
    Ok(Json(serde_json::json!({
        "name": s.me.name,
        "zone": s.me.zone,
        "role": s.me.role,
        "peer_id": s.me.peer_id.to_string(),
        "incarnation": s.me.incarnation,
        "http": s.me.http,
        "p2p": s.net.listen_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "connected_peers": s.net.connected().len(),
        "store": stats,
    })))
}

/// One row of `GET /cluster/members`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberView {
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// `alive`, `suspect`, `down` or `left`.
    pub status: String,
    /// Role.
    pub role: String,
    /// libp2p peer id.
    pub peer_id: String,
    /// HTTP API address.
    pub http: Option<String>,
    /// Milliseconds since the last heartbeat (0 for this peer).
    pub last_heard_ms: u64,
    /// Current phi of the failure detector (0 for this peer).
    pub phi: f64,
    /// True for the peer answering.
    #[serde(rename = "self")]
    pub is_self: bool,
    /// Its wire protocol (docs/UPGRADE.md).
    #[serde(default = "crate::net::wire::v1")]
    pub protocol: u32,
    /// Why it was refused (status `incompatible`): it speaks a wire protocol this peer does not
    /// work beside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

async fn members(State(s): State<ClusterView>) -> Json<Vec<MemberView>> {
    Json(member_views(&s.me, &s.members.lock(), Instant::now()))
}

/// The rows of `GET /cluster/members` at `now`: this peer first, then every member and every
/// refused peer, sorted by zone and name. Also read in memory by the WAN bed, whose hundreds
/// of peers share one process (polling each over HTTP cost more CPU than the peers).
pub fn member_views(me: &SelfInfo, table: &Membership, now: Instant) -> Vec<MemberView> {
    let mut out = vec![MemberView {
        name: me.name.clone(),
        zone: me.zone.clone(),
        status: "alive".into(),
        role: me.role.clone(),
        peer_id: me.peer_id.to_string(),
        http: Some(me.http.clone()),
        last_heard_ms: 0,
        phi: 0.0,
        is_self: true,
        protocol: crate::net::wire::spoken().0,
        refused: None,
    }];
    out.extend(table.members().map(|m| MemberView {
        name: m.info.name.clone(),
        zone: m.info.zone.clone(),
        status: m.status.as_str().into(),
        role: m.info.role.clone(),
        peer_id: m.peer_id.clone(),
        http: m.info.http.clone(),
        last_heard_ms: now.saturating_duration_since(m.last_heard).as_millis() as u64,
        phi: (m.phi(now) * 100.0).round() / 100.0,
        is_self: false,
        protocol: m.info.protocol,
        refused: None,
    }));
    out.extend(table.refused().map(|(peer_id, r)| MemberView {
        name: r.info.name.clone(),
        zone: r.info.zone.clone(),
        status: "incompatible".into(),
        role: r.info.role.clone(),
        peer_id: peer_id.clone(),
        http: r.info.http.clone(),
        last_heard_ms: now.saturating_duration_since(r.last_heard).as_millis() as u64,
        phi: 0.0,
        is_self: false,
        protocol: r.info.protocol,
        refused: Some(r.reason.clone()),
    }));
    out.sort_by(|a, b| (&a.zone, &a.name).cmp(&(&b.zone, &b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdt_store::{FaultInjector, Record, StoreOptions, SystemRecord};

    #[test]
    fn health_and_status_say_when_the_store_stopped_taking_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = FaultInjector::new();
        let opts = StoreOptions {
            shard_count: 4,
            faults: Some(faults.clone()),
            ..StoreOptions::default()
        };
        let (store, _) = Store::open(dir.path(), opts).expect("open");
        let (code, Json(body)) = health_answer("p1", store.write_failure());
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body["status"], "ok");
        faults.fail_fsync(true);
        let rec = Record::System(SystemRecord::new("fp", "m", 0));
        assert!(store.put(&rec).is_err());
        let (code, Json(body)) = health_answer("p1", store.write_failure());
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "store_stopped");
        let msg = body["error"].as_str().expect("message");
        assert!(msg.contains("Input/output error"), "{msg}");
        let status = serde_json::to_value(store.stats()).expect("json");
        let failure = status["write_failure"].as_str().expect("in the figures");
        assert!(failure.contains("os error 5"), "{failure}");
    }
}
