//! HTTP API of the Node Controller and the Leader Node lease.
//!
//! | Route | What |
//! |---|---|
//! | `GET /node-controller` | the controller's status (`{"configured": false}` without `[uyuni]`) |
//! | `GET /zones/{zone}/lease` | the zone's lease (`null` if never claimed) |
//! | `POST /zones/{zone}/lease` | claim or renew it for this peer's node: `{"ttl_ms", "auto_publish", "force"}` |
//! | `DELETE /zones/{zone}/lease?force=true` | release it |
//! | `POST /zones/{zone}/publish` | "apply cluster update": `{"all": false}` |
//! | `GET /zones/{zone}/common` | the zone's published common data |
//!
//! The lease is claimed for the node beside the peer that receives the call, and publishing
//! reads that node's Uyuni server, so both go to the Leader Node's own peer.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use crdt_store::{CommonRecord, LeaseRecord, Record, RecordKind};
use serde::Deserialize;

use cluster_core::api_error::{ApiError, bad};

use crate as node_controller;
use crate::{NcCtx, NcError, PublishReport};

/// The routes.
pub fn routes(ctx: NcCtx) -> axum::Router {
    axum::Router::new()
        .route("/node-controller", get(status))
        .route(
            "/zones/{zone}/lease",
            get(show_lease).post(claim).delete(release),
        )
        .route("/zones/{zone}/publish", post(publish))
        .route("/zones/{zone}/common", get(common))
        .with_state(ctx)
}

impl From<NcError> for ApiError {
    fn from(e: NcError) -> Self {
        let code = match &e {
            NcError::Lease(_) => StatusCode::CONFLICT,
            NcError::Api(a) if a.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            NcError::Api(_) => StatusCode::BAD_GATEWAY,
            NcError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            NcError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(code, e.to_string())
    }
}

fn own_zone(s: &NcCtx, zone: &str) -> Result<(), ApiError> {
    if zone == s.me.zone {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "this peer's node {} is in zone {}, not {zone}: call a peer of zone {zone}",
                s.me.name, s.me.zone
            ),
        ))
    }
}

async fn status(State(s): State<NcCtx>) -> Json<serde_json::Value> {
    Json(match &s.nc {
        Some(h) => {
            let mut v = serde_json::to_value(h.status()).unwrap_or_default();
            if let Some(m) = v.as_object_mut() {
                m.insert("configured".into(), true.into());
                m.insert("node".into(), s.me.name.clone().into());
            }
            v
        }
        None => serde_json::json!({"configured": false, "node": s.me.name}),
    })
}

async fn show_lease(
    State(s): State<NcCtx>,
    Path(zone): Path<String>,
) -> Result<Json<Option<LeaseRecord>>, ApiError> {
    match s
        .replica
        .store()
        .get(&format!("{}{zone}", RecordKind::Lease.prefix()))?
    {
        Some(Record::Lease(l)) => Ok(Json(Some(l))),
        _ => Ok(Json(None)),
    }
}

/// Body of `POST /zones/{zone}/lease`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimBody {
    /// Lease length; default `[uyuni] lease_ttl_ms`.
    pub ttl_ms: Option<u64>,
    /// Publish every captured change at once.
    pub auto_publish: bool,
    /// Take over a lease another node holds.
    pub force: bool,
}

async fn claim(
    State(s): State<NcCtx>,
    Path(zone): Path<String>,
    body: Option<Json<ClaimBody>>,
) -> Result<Json<LeaseRecord>, ApiError> {
    own_zone(&s, &zone)?;
    let Some(h) = &s.nc else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "node {} has no Node Controller ([uyuni] url): it cannot lead common data",
                s.me.name
            ),
        ));
    };
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let ttl = body
        .ttl_ms
        .map(Duration::from_millis)
        .unwrap_or(h.lease_ttl());
    if ttl.is_zero() {
        return Err(bad("ttl_ms must be > 0"));
    }
    Ok(Json(
        node_controller::claim_lease(&s, ttl, body.auto_publish, body.force).await?,
    ))
}

/// Query of `DELETE /zones/{zone}/lease`.
#[derive(Debug, Default, Deserialize)]
pub struct ReleaseQuery {
    /// Release even if another node holds it.
    #[serde(default)]
    pub force: bool,
}

async fn release(
    State(s): State<NcCtx>,
    Path(zone): Path<String>,
    Query(q): Query<ReleaseQuery>,
) -> Result<Json<Option<LeaseRecord>>, ApiError> {
    own_zone(&s, &zone)?;
    Ok(Json(node_controller::release_lease(&s, q.force).await?))
}

/// Body of `POST /zones/{zone}/publish`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishBody {
    /// Publish every common object of the node, not only the captured change set (the first
    /// publication of a zone, or after the outbox was unavailable).
    pub all: bool,
}

async fn publish(
    State(s): State<NcCtx>,
    Path(zone): Path<String>,
    body: Option<Json<PublishBody>>,
) -> Result<Json<PublishReport>, ApiError> {
    own_zone(&s, &zone)?;
    let Some(h) = &s.nc else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this peer has no Node Controller ([uyuni] url)",
        ));
    };
    let all = body.map(|Json(b)| b.all).unwrap_or(false);
    Ok(Json(h.publish(all).await?))
}

async fn common(State(s): State<NcCtx>, Path(zone): Path<String>) -> Json<Vec<CommonRecord>> {
    let mut out: Vec<CommonRecord> = s
        .replica
        .store()
        .records(RecordKind::Common)
        .into_iter()
        .filter_map(|r| match r {
            Record::Common(c) if c.zone == zone => Some(c),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
    Json(out)
}
