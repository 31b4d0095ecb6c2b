//! The cluster core's own endpoints: `GET /health`, `GET /cluster/status` and
//! `GET /cluster/members`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use crdt_store::Store;
use serde::{Deserialize, Serialize};

use crate::api_error::{ApiError, internal};
use crate::members::Members;
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

/// The core's admin routes: `/cluster/status`, `/cluster/members`.
pub fn routes(view: ClusterView) -> Router {
    Router::new()
        .route("/cluster/status", get(status))
        .route("/cluster/members", get(members))
        .with_state(view)
}

async fn health(State(s): State<ClusterView>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "name": s.me.name }))
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
}

async fn members(State(s): State<ClusterView>) -> Json<Vec<MemberView>> {
    let now = Instant::now();
    let mut out = vec![MemberView {
        name: s.me.name.clone(),
        zone: s.me.zone.clone(),
        status: "alive".into(),
        role: s.me.role.clone(),
        peer_id: s.me.peer_id.to_string(),
        http: Some(s.me.http.clone()),
        last_heard_ms: 0,
        phi: 0.0,
        is_self: true,
    }];
    let table = s.members.lock();
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
    }));
    out.sort_by(|a, b| (&a.zone, &a.name).cmp(&(&b.zone, &b.name)));
    Json(out)
}
