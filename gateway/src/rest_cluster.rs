//! The REST routes the Cluster UI needs beside search and bulk ([`crate::rest`]): the
//! session (who, roles, expiry) and logout, the zones (mode, Leader Node lease, captured
//! changes) and the mode switch, recent changes and the per-node history for the charts,
//! search facets, and where a system lives on its node ("Open on node"). Same rules as the
//! rest of `/api/v1`: a gateway session, Uyuni's roles.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uyuni_api::Value;

use crate::access::{self, Scope};
use crate::ids::{IdKind, from_gateway};
use crate::metastore::{AuditRecord, CommonView, MetastoreError, RepoStatus, ZoneView};
use crate::rest::{ErrorBody, authorized, authorized_scope, error, meta_error, session_key};
use crate::sessions::Session;
use crate::watch::{ClusterEvent, NodeHistory};
use crate::{Gateway, Metastore};

/// The session a request carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// Uyuni login.
    pub user: String,
    /// Uyuni roles (`satellite_admin`, `org_admin`, …).
    pub roles: Vec<String>,
    /// The session ends here (Unix ms).
    pub expires_ms: u64,
}

/// Who is logged in, with which roles, until when.
#[utoipa::path(get, path = "/api/v1/session", tag = "cluster",
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
pub(crate) async fn session<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
) -> Response {
    match authorized(&gw, &headers).await {
        Ok((s, _)) => Json(SessionInfo {
            user: s.user,
            roles: s.roles.roles.into_iter().collect(),
            expires_ms: s.expires_at,
        })
        .into_response(),
        Err(r) => r,
    }
}

/// Log out (the same as XML-RPC `auth.logout`): the session ends on the gateway and nodes.
#[utoipa::path(post, path = "/api/v1/logout", tag = "cluster",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub(crate) async fn logout<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
) -> Response {
    let Some(key) = session_key(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "no session to log out of");
    };
    let out = gw
        .call("auth.logout", vec![Value::String(key)], false)
        .await;
    match out.result {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(f) => error(StatusCode::UNAUTHORIZED, f.message()),
    }
}

/// The zones: distribution mode, Leader Node lease, changes captured since the last
/// publication, orphans waiting for a node.
#[utoipa::path(get, path = "/api/v1/zones", tag = "cluster",
    responses((status = 200, body = Vec<ZoneView>), (status = 401, body = ErrorBody)))]
pub(crate) async fn zones<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&gw, &headers).await {
        return r;
    }
    Json(gw.meta.zones()).into_response()
}

/// Content repositories: per repository its zone, version, files, size, subscribing zones and
/// the nodes holding its current version completely.
#[utoipa::path(get, path = "/api/v1/content/repos", tag = "cluster",
    responses((status = 200, body = Vec<RepoStatus>), (status = 401, body = ErrorBody)))]
pub(crate) async fn repos<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&gw, &headers).await {
        return r;
    }
    Json(gw.meta.repos()).into_response()
}

/// A zone's new distribution mode.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ModeRequest {
    /// `production` or `disaster-recovery`.
    pub mode: String,
}

/// Switch a zone's distribution mode (SUSE Manager administrators only; audited).
#[utoipa::path(post, path = "/api/v1/zones/{zone}/mode", tag = "cluster",
    params(("zone" = String, Path, description = "zone name")), request_body = ModeRequest,
    responses((status = 200, body = ZoneView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn set_mode<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
    crate::rest_body::JsonBody(req): crate::rest_body::JsonBody<ModeRequest>,
) -> Response {
    let (session, _) = match authorized(&gw, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let answer = if session.roles.is_satellite_admin() {
        match gw.meta.set_zone_mode(&zone, &req.mode).await {
            Ok(z) => Json(z).into_response(),
            Err(e) => meta_error(e),
        }
    } else {
        error(
            StatusCode::FORBIDDEN,
            format!(
                "{} may not switch a zone's mode: that needs the satellite_admin role",
                session.user
            ),
        )
    };
    audit(
        &gw,
        &session,
        "zone mode",
        format!("{zone} {}", req.mode),
        answer,
    )
}

/// A zone's published common data: what every node of the zone copies.
#[utoipa::path(get, path = "/api/v1/zones/{zone}/common", tag = "cluster",
    params(("zone" = String, Path, description = "zone name")),
    responses((status = 200, body = Vec<CommonView>), (status = 401, body = ErrorBody)))]
pub(crate) async fn common<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
) -> Response {
    if let Err(r) = authorized(&gw, &headers).await {
        return r;
    }
    Json(gw.meta.common(&zone)).into_response()
}

/// Who is to lead a zone's common data, and for how long.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LeaseRequest {
    /// The node (a Uyuni node of the zone holding its published common data).
    pub node: String,
    /// Lease length in ms (default 30 min, at most 24 h).
    pub ttl_ms: Option<u64>,
}

/// Default lease the UI claims.
const LEASE_TTL_MS: u64 = 30 * 60 * 1000;
/// Longest lease the REST API gives.
const LEASE_MAX_MS: u64 = 24 * 60 * 60 * 1000;

/// Claim (or renew) a zone's Leader Node lease for a node: its Uyuni server becomes the
/// pattern the zone's other nodes copy once its changes are published (SUSE Manager
/// administrators only; audited).
#[utoipa::path(post, path = "/api/v1/zones/{zone}/lease", tag = "cluster",
    params(("zone" = String, Path, description = "zone name")), request_body = LeaseRequest,
    responses((status = 200, body = ZoneView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn claim_lease<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
    crate::rest_body::JsonBody(req): crate::rest_body::JsonBody<LeaseRequest>,
) -> Response {
    let ttl = req
        .ttl_ms
        .unwrap_or(LEASE_TTL_MS)
        .clamp(1_000, LEASE_MAX_MS);
    let detail = format!("{zone} {}", req.node);
    admin_action(
        &gw,
        &headers,
        "claim a zone's lease",
        "lease claim",
        detail,
        || gw.meta.claim_lease(&zone, &req.node, ttl),
    )
    .await
}

/// Release a zone's Leader Node lease: its captured, unpublished changes are dropped
/// (SUSE Manager administrators only; audited).
#[utoipa::path(delete, path = "/api/v1/zones/{zone}/lease", tag = "cluster",
    params(("zone" = String, Path, description = "zone name")),
    responses((status = 200, body = ZoneView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn release_lease<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
) -> Response {
    let detail = zone.clone();
    admin_action(
        &gw,
        &headers,
        "release a zone's lease",
        "lease release",
        detail,
        || gw.meta.release_lease(&zone),
    )
    .await
}

/// "Apply cluster update": the zone's Leader Node publishes the changes captured on its Uyuni
/// server to every node of the zone (SUSE Manager administrators only; audited).
#[utoipa::path(post, path = "/api/v1/zones/{zone}/publish", tag = "cluster",
    params(("zone" = String, Path, description = "zone name")),
    responses((status = 200, body = crate::PublishedView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn publish<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
) -> Response {
    let detail = zone.clone();
    admin_action(
        &gw,
        &headers,
        "apply a cluster update",
        "cluster update",
        detail,
        || gw.meta.publish_zone(&zone),
    )
    .await
}

/// An action on the cluster's own settings: the session must be valid (401) and a SUSE
/// Manager administrator's (403, naming `what`); `act` answers as JSON; the answer, done or
/// refused, is audited as `action` with `detail`.
async fn admin_action<M, T, Fut>(
    gw: &Gateway<M>,
    headers: &HeaderMap,
    what: &str,
    action: &str,
    detail: String,
    act: impl FnOnce() -> Fut,
) -> Response
where
    M: Metastore,
    T: Serialize,
    Fut: std::future::Future<Output = Result<T, crate::MetastoreError>>,
{
    let (session, _) = match authorized(gw, headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let answer = match refusal(&session, what) {
        Some(r) => r,
        None => match act().await {
            Ok(v) => Json(v).into_response(),
            Err(e) => meta_error(e),
        },
    };
    audit(gw, &session, action, detail, answer)
}

/// The 403 answer, unless the session is a SUSE Manager administrator's.
pub(crate) fn refusal(session: &Session, what: &str) -> Option<Response> {
    (!session.roles.is_satellite_admin()).then(|| {
        error(
            StatusCode::FORBIDDEN,
            format!(
                "{} may not {what}: that needs the satellite_admin role",
                session.user
            ),
        )
    })
}

/// Record `action` in the audit log with the answer's status; an unrecorded success is 503.
pub(crate) fn audit<M: Metastore>(
    gw: &Gateway<M>,
    session: &Session,
    action: &str,
    detail: String,
    answer: Response,
) -> Response {
    let status = answer.status();
    let entry = AuditRecord {
        at_ms: crate::dispatch::now_ms(),
        who: format!("user:{}", session.user),
        action: action.to_string(),
        detail,
        status: status.as_u16(),
    };
    match gw.meta.audit(entry) {
        Err(e) if status.is_success() => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("done, but it could not be audited: {e}"),
        ),
        _ => answer,
    }
}

/// Recent changes parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EventParams {
    /// Changes at or after this time (Unix ms). Default 0.
    #[serde(default)]
    pub since_ms: u64,
}

/// What changed recently (nodes changing liveness or marked faulty, zone modes, Leader Node
/// leases, publications), newest first, as this gateway saw it (kept in memory: at most 200).
#[utoipa::path(get, path = "/api/v1/events", tag = "cluster", params(EventParams),
    responses((status = 200, body = Vec<ClusterEvent>), (status = 401, body = ErrorBody)))]
pub(crate) async fn events<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Query(p): Query<EventParams>,
) -> Response {
    if let Err(r) = authorized(&gw, &headers).await {
        return r;
    }
    let out = gw
        .watch
        .lock()
        .map(|w| w.events(p.since_ms))
        .unwrap_or_default();
    Json(out).into_response()
}

/// Each node's systems assigned and liveness over the last hour (a sample every 10 s).
#[utoipa::path(get, path = "/api/v1/history", tag = "cluster",
    responses((status = 200, body = Vec<NodeHistory>), (status = 401, body = ErrorBody)))]
pub(crate) async fn history<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&gw, &headers).await {
        return r;
    }
    let out = gw.watch.lock().map(|w| w.history()).unwrap_or_default();
    Json(out).into_response()
}

/// Facet parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FacetParams {
    /// The search query (docs/SEARCH.md). Empty: all.
    #[serde(default)]
    pub q: String,
}

/// One facet value and how many of the query's matches have it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetCount {
    /// The value (`dc1`, `onboarded`, …).
    pub value: String,
    /// Matches with it.
    pub count: u64,
}

/// How a query's matches split by zone, node and status.
#[derive(Debug, Serialize, ToSchema)]
pub struct Facets {
    /// Systems the query matches in all.
    pub total: u64,
    /// By zone.
    pub zone: Vec<FacetCount>,
    /// By node.
    pub node: Vec<FacetCount>,
    /// By status.
    pub status: Vec<FacetCount>,
}

/// Statuses a system can be in (docs/SEARCH.md).
const STATUSES: [&str; 4] = ["new", "onboarded", "orphan", "deleted"];

/// How the systems a query matches (those the user may see) split by zone, node and status:
/// each count is the search index's total of `(q) and key:value`.
#[utoipa::path(get, path = "/api/v1/systems/facets", tag = "cluster", params(FacetParams),
    responses((status = 200, body = Facets), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(crate) async fn facets<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Query(p): Query<FacetParams>,
) -> Response {
    let (_, scope) = match authorized_scope(&gw, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = p.q.trim();
    let total = match count(&gw, &scope, q).await {
        Ok(n) => n,
        Err(e) => return meta_error(e),
    };
    let zones: Vec<String> = gw.meta.zones().into_iter().map(|z| z.name).collect();
    let nodes: Vec<String> = gw.meta.nodes().into_iter().map(|n| n.name).collect();
    let statuses: Vec<String> = STATUSES.iter().map(|s| s.to_string()).collect();
    let mut out = Facets {
        total,
        zone: Vec::new(),
        node: Vec::new(),
        status: Vec::new(),
    };
    for (key, values) in [("zone", zones), ("node", nodes), ("status", statuses)] {
        let counts = futures::future::join_all(values.iter().map(|v| {
            let term = format!("{key}:\"{v}\"");
            let sub = if q.is_empty() {
                term
            } else {
                format!("({q}) and {term}")
            };
            let (gw, scope) = (&gw, &scope);
            async move { count(gw, scope, &sub).await }
        }))
        .await;
        let mut list = Vec::new();
        for (value, c) in values.into_iter().zip(counts) {
            match c {
                Ok(0) => {}
                Ok(count) => list.push(FacetCount { value, count }),
                Err(e) => return meta_error(e),
            }
        }
        match key {
            "zone" => out.zone = list,
            "node" => out.node = list,
            _ => out.status = list,
        }
    }
    Json(out).into_response()
}

/// How many systems in `scope` match `q`.
async fn count<M: Metastore>(
    gw: &Gateway<M>,
    scope: &Scope,
    q: &str,
) -> Result<u64, MetastoreError> {
    let page = match scope {
        Scope::All => gw.meta.search(q, 1, None).await?,
        scope => access::search_within(gw, scope, q, 1, None).await?,
    };
    Ok(page.total)
}

/// Where a system lives on its node.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeLink {
    /// The node the system is assigned to.
    pub node: String,
    /// The node's Uyuni server.
    pub fqdn: String,
    /// The system's id on that node (its own, not the gateway's).
    pub sid: i64,
    /// The system's page in the node's own Uyuni UI.
    pub url: String,
}

/// The system's page in its node's own Uyuni UI ("Open on node"): the node's id of the
/// system, from the node's `system.getMinionIdMap`.
#[utoipa::path(get, path = "/api/v1/systems/{fingerprint}/node-link", tag = "cluster",
    params(("fingerprint" = String, Path, description = "salt key fingerprint")),
    responses((status = 200, body = NodeLink), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(crate) async fn node_link<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path(fp): Path<String>,
) -> Response {
    let (cred, scope) = match authorized_scope(&gw, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(sys) = gw.meta.system(&fp).filter(|s| scope.shows(s)) else {
        return error(StatusCode::NOT_FOUND, format!("no system {fp}"));
    };
    let Some(node) = sys.node.as_deref() else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "{} is on no node yet (status {})",
                sys.minion_id,
                sys.status.as_str()
            ),
        );
    };
    let Some(view) = gw.meta.nodes().into_iter().find(|n| n.name == node) else {
        return error(StatusCode::NOT_FOUND, format!("no node {node}"));
    };
    let out = gw
        .call(
            "system.getMinionIdMap",
            vec![Value::String(cred.key.clone())],
            false,
        )
        .await;
    let id = match out.result {
        Ok(Value::Struct(m)) => m
            .get(sys.minion_id.as_str())
            .and_then(uyuni_api::value::as_i64),
        Ok(_) => None,
        Err(f) => return error(StatusCode::SERVICE_UNAVAILABLE, f.message()),
    };
    let local = id
        .and_then(|id| from_gateway(IdKind::System, id))
        .filter(|(slot, _)| Some(*slot) == view.slot)
        .map(|(_, local)| local);
    match local {
        Some(sid) => Json(NodeLink {
            url: format!(
                "https://{}/rhn/systems/details/Overview.do?sid={sid}",
                view.fqdn
            ),
            node: view.name,
            fqdn: view.fqdn,
            sid,
        })
        .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!(
                "{node} has no Uyuni record of {} yet: its salt minion has not registered \
                 with the node (the sandbox's demo systems have no minion and never do)",
                sys.minion_id
            ),
        ),
    }
}
