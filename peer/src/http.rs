//! The peer's HTTP API (JSON), used by the CLI, the simulated and real agents, and tests.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/health` | liveness of this peer |
//! | GET | `/cluster/status` | this peer, its store figures and root digest |
//! | GET | `/cluster/members` | the membership table, this peer included |
//! | GET | `/cluster/load` | per node: capacity, liveness, fault, assigned, online; per zone: mode, leader |
//! | POST | `/zones/{zone}/mode` | set a zone's Load Driver mode (`production`, `disaster-recovery`) |
//! | GET | `/systems` | list systems (`status`, `node`, `zone`, `tag`, `group`, `limit`) |
//! | GET | `/systems/{fingerprint}` | one system |
//! | POST | `/systems/{fingerprint}/accept` | accept a `new` (or rejected) system: it becomes an orphan the Load Driver places |
//! | POST | `/systems/{fingerprint}/reject` | reject a `new` system: `deleted`, but it may register again |
//! | POST | `/systems/{fingerprint}/unregister` | take a system off its node: `orphan` (re-placed), not deleted |
//! | POST | `/systems/{fingerprint}/ban` | ban: `deleted`, never assigned again |
//! | POST | `/systems/{fingerprint}/tags` | add and remove tags ([`crate::search_api`]) |
//! | GET | `/search` | compound query over every system, paged ([`crate::search_api`]) |
//! | POST | `/search/bulk` | one action on every system a query matches ([`crate::search_api`]) |
//!
//! The agent endpoints (`/system/...`) are in [`crate::agent_api`].
//!
//! Errors are `{"error": "..."}` with a 4xx/5xx status.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use crdt_store::{SystemFilter, SystemRecord};
use serde::{Deserialize, Serialize};
use std::time::Instant;

use crate::node::{Shared, now_ms};
use crate::system_actions::{self, Action, Refused};
use crate::write_batcher::{Decision, Failure};

/// An API error: status code plus message.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    /// An error with this status.
    pub fn new(code: StatusCode, msg: impl Into<String>) -> Self {
        Self(code, msg.into())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<crdt_store::StoreError> for ApiError {
    fn from(e: crdt_store::StoreError) -> Self {
        let code = if e.is_io() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self(code, e.to_string())
    }
}

pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// Build the router.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/cluster/status", get(status))
        .route("/cluster/members", get(members))
        .route("/cluster/load", get(crate::load_api::load))
        .route("/zones/{zone}/mode", post(crate::load_api::set_mode))
        .route("/systems", get(list_systems))
        .route("/systems/{fingerprint}", get(show_system))
        .route("/systems/{fingerprint}/accept", post(accept))
        .route("/systems/{fingerprint}/reject", post(reject))
        .route("/systems/{fingerprint}/unregister", post(unregister))
        .route("/systems/{fingerprint}/ban", post(ban))
        .merge(crate::search_api::routes())
        .merge(crate::agent_api::routes())
        .merge(crate::node_controller_api::routes())
        .merge(crate::content::api::routes())
        .with_state(shared)
}

async fn health(State(s): State<Shared>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "name": s.me.name }))
}

async fn status(State(s): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = s.store.clone();
    let stats = tokio::task::spawn_blocking(move || store.stats())
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
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

async fn members(State(s): State<Shared>) -> Json<Vec<MemberView>> {
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
    let table = s.members();
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

/// Body of `POST /system/register`.
#[derive(Debug, Deserialize)]
pub struct RegisterBody {
    /// Key fingerprint (`salt-key -F` form).
    pub fingerprint: String,
    /// Salt minion id.
    pub minion_id: String,
    /// Host name.
    #[serde(default)]
    pub hostname: String,
    /// The minion's public key (PEM). Checked for presence only; not replicated.
    #[serde(default)]
    pub public_key: String,
}

pub(crate) fn check_fingerprint(fp: &str) -> Result<(), ApiError> {
    if fp.is_empty()
        || fp.chars().count() > 256
        || fp.chars().any(|c| c.is_whitespace() || c == '/')
    {
        return Err(bad(
            "fingerprint must be 1-256 characters without spaces or '/'",
        ));
    }
    Ok(())
}

pub(crate) async fn get_system(s: &Shared, fp: &str) -> Result<Option<SystemRecord>, ApiError> {
    let (store, fp) = (s.store.clone(), fp.to_string());
    Ok(tokio::task::spawn_blocking(move || store.get_system(&fp))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??)
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

async fn list_systems(
    State(s): State<Shared>,
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
    let store = s.store.clone();
    let list = tokio::task::spawn_blocking(move || store.systems(&filter))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(list))
}

async fn show_system(
    State(s): State<Shared>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    existing(&s, &fp).await.map(Json)
}

/// The system with this fingerprint, or a 404.
async fn existing(s: &Shared, fp: &str) -> Result<SystemRecord, ApiError> {
    get_system(s, fp)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no system {fp}")))
}

/// Read-modify-write one system through the group-committing write batcher; `f` returns
/// whether it changed the record.
async fn modify(
    s: &Shared,
    fp: &str,
    f: impl FnOnce(&mut SystemRecord) -> Result<bool, ApiError> + Send + 'static,
) -> Result<SystemRecord, ApiError> {
    let fp_owned = fp.to_string();
    let rec = submit(s, fp, move |cur| {
        let Some(mut rec) = cur else {
            return Decision::Fail(ApiError(
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
    rec.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no system {fp}")))
}

/// Submit a read-modify-write to the write batcher and map its failures to API errors.
pub(crate) async fn submit(
    s: &Shared,
    fp: &str,
    op: impl FnOnce(Option<SystemRecord>) -> Decision<ApiError> + Send + 'static,
) -> Result<Option<SystemRecord>, ApiError> {
    s.writes.submit(fp, op).await.map_err(|f| match f {
        Failure::Refused(e) => e,
        Failure::Store { message, io } => ApiError(
            if io {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            },
            message,
        ),
        Failure::Unavailable => ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the peer is shutting down".into(),
        ),
    })
}

impl From<Refused> for ApiError {
    fn from(e: Refused) -> Self {
        ApiError(StatusCode::CONFLICT, e.to_string())
    }
}

/// Apply an administrator's action to one system through the write batcher.
pub(crate) async fn act(s: &Shared, fp: &str, action: Action) -> Result<SystemRecord, ApiError> {
    modify(s, fp, move |rec| Ok(system_actions::apply(&action, rec)?)).await
}

async fn accept(
    State(s): State<Shared>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    act(&s, &fp, Action::Accept).await.map(Json)
}

async fn reject(
    State(s): State<Shared>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    act(&s, &fp, Action::Reject).await.map(Json)
}

async fn unregister(
    State(s): State<Shared>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    act(&s, &fp, Action::Unregister).await.map(Json)
}

async fn ban(
    State(s): State<Shared>,
    Path(fp): Path<String>,
) -> Result<Json<SystemRecord>, ApiError> {
    act(&s, &fp, Action::Ban).await.map(Json)
}
