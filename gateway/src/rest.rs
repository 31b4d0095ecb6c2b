//! The cluster's own REST API under `/api/v1`, its OpenAPI 3 document (generated from this
//! code) at `/api/v1/openapi.json`, and Swagger UI at `/swagger-ui/` (its assets are compiled
//! into the binary: nothing is fetched at build or run time).
//!
//! Every route but login needs a gateway session: the `pxt-session-cookie` cookie (as the JSON
//! API sets it), `Authorization: Bearer <key>`, or `X-Uyuni-Session: <key>`. Without one: 401.
//! What a session may do follows the user's Uyuni roles ([`crate::access`]): a right it lacks
//! is 403, and every bulk action (done or refused) goes to the audit log.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;
use uyuni_api::Value;

use crate::access::{self, Scope};
use crate::metastore::{
    AuditRecord, BulkReport, BulkRequest, CommonView, MetastoreError, NodeView, RepoStatus,
    SearchPage, ZoneView,
};
use crate::pool::Credentials;
use crate::rest_cluster as rc;
use crate::rest_content as rcn;
use crate::sessions::Session;
use crate::watch::{ClusterEvent, NodeHistory, Sample};
use crate::{Gateway, Metastore};

/// The OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Uyuni cluster gateway",
        description = "The cluster's own API. Uyuni's XML-RPC API is at /rpc/api and its JSON API at /rhn/manager/api/<ns>/<method>, both answered for the whole cluster (docs/GATEWAY.md)."
    ),
    paths(login, nodes, search, system, bulk, audit, rc::session, rc::logout, rc::zones,
        rc::set_mode, rc::events, rc::history, rc::facets, rc::node_link, rc::repos, rc::common, rc::claim_lease,
        rc::release_lease, rc::publish, rcn::nodes, rcn::verify, rcn::import, rcn::job, rcn::clm,
        rcn::clm_save, rcn::clm_apply),
    components(schemas(LoginRequest, LoginAnswer, NodeView, SearchPage, BulkRequest, BulkReport,
        AuditRecord, ErrorBody, ZoneView, crate::PublishedView, RepoStatus, CommonView, rc::LeaseRequest, rc::SessionInfo, rc::ModeRequest, rc::Facets,
        rc::FacetCount, rc::NodeLink, ClusterEvent, NodeHistory, Sample, rcn::NodeContent,
        rcn::VerifyRequest, rcn::VerifyAnswer, rcn::ImportRequest, rcn::JobAnswer,
        rcn::ClmSaveRequest, rcn::ClmApplyRequest, crate::ClmProjectView, crate::ClmVersionView,
        crate::ClmAppliedView)),
    modifiers(&SessionAuth),
    security(("session" = [])),
    tags((name = "cluster", description = "Nodes, client systems, search and bulk operations; the audit log"),
        (name = "content", description = "Content on the nodes (progress, verify, import) and Content Lifecycle projects (save, apply)"))
)]
pub struct ApiDoc;

/// The gateway session as the document's security scheme: Swagger UI's "Authorize" takes the
/// key `POST /api/v1/login` returns (login itself needs none).
#[derive(Debug)]
struct SessionAuth;

impl Modify for SessionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The session key POST /api/v1/login returns (also an XML-RPC session key)",
                    ))
                    .build(),
            ),
        );
        if let Some(login) = openapi.paths.paths.get_mut("/api/v1/login")
            && let Some(op) = login.post.as_mut()
        {
            op.security = Some(vec![SecurityRequirement::default()]);
        }
    }
}

/// An error answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

pub(crate) fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(ErrorBody { error: msg.into() })).into_response()
}

/// The REST routes, the OpenAPI document and Swagger UI.
pub fn routes<M: Metastore>(gw: Arc<Gateway<M>>) -> Router {
    let api = Router::new()
        .route("/api/v1/login", post(login::<M>))
        .route("/api/v1/nodes", get(nodes::<M>))
        .route("/api/v1/systems", get(search::<M>))
        .route("/api/v1/systems/bulk", post(bulk::<M>))
        .route("/api/v1/systems/{fingerprint}", get(system::<M>))
        .route("/api/v1/audit", get(audit::<M>))
        .route("/api/v1/session", get(rc::session::<M>))
        .route("/api/v1/logout", post(rc::logout::<M>))
        .route("/api/v1/zones", get(rc::zones::<M>))
        .route("/api/v1/content/repos", get(rc::repos::<M>))
        .route("/api/v1/content/nodes", get(rcn::nodes::<M>))
        .route("/api/v1/content/verify", post(rcn::verify::<M>))
        .route("/api/v1/content/import", post(rcn::import::<M>))
        .route("/api/v1/content/jobs/{node}/{id}", get(rcn::job::<M>))
        .route("/api/v1/clm", get(rcn::clm::<M>))
        .route(
            "/api/v1/clm/{zone}/{project}/save",
            post(rcn::clm_save::<M>),
        )
        .route(
            "/api/v1/clm/{zone}/{project}/apply",
            post(rcn::clm_apply::<M>),
        )
        .route("/api/v1/zones/{zone}/common", get(rc::common::<M>))
        .route(
            "/api/v1/zones/{zone}/lease",
            post(rc::claim_lease::<M>).delete(rc::release_lease::<M>),
        )
        .route("/api/v1/zones/{zone}/mode", post(rc::set_mode::<M>))
        .route("/api/v1/zones/{zone}/publish", post(rc::publish::<M>))
        .route("/api/v1/events", get(rc::events::<M>))
        .route("/api/v1/history", get(rc::history::<M>))
        .route("/api/v1/systems/facets", get(rc::facets::<M>))
        .route(
            "/api/v1/systems/{fingerprint}/node-link",
            get(rc::node_link::<M>),
        )
        .with_state(gw);
    let ui = SwaggerUi::new("/swagger-ui").url("/api/v1/openapi.json", ApiDoc::openapi());
    api.merge(Router::from(ui))
}

/// The session key of a REST request.
pub(crate) fn session_key(headers: &HeaderMap) -> Option<String> {
    if let Some(k) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(k.trim().to_string());
    }
    if let Some(k) = headers.get("x-uyuni-session").and_then(|v| v.to_str().ok()) {
        return Some(k.trim().to_string());
    }
    uyuni_api::json::session_cookie(headers)
}

/// The session of a REST request (401 without a valid one).
pub(crate) async fn authorized<M: Metastore>(
    gw: &Gateway<M>,
    headers: &HeaderMap,
) -> Result<(Session, Credentials), Response> {
    let Some(key) = session_key(headers) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "log in first: POST /api/v1/login, then send the session as a bearer token",
        ));
    };
    gw.session(&key)
        .await
        .map_err(|f| error(StatusCode::UNAUTHORIZED, f.message()))
}

/// The session of a REST request and the systems its user may see ([`authorized`], then
/// [`access::scope`]): 401 without a session, the node's fault if the roles cannot be read.
pub(crate) async fn authorized_scope<M: Metastore>(
    gw: &Gateway<M>,
    headers: &HeaderMap,
) -> Result<(Credentials, access::Scope), Response> {
    let (session, cred) = authorized(gw, headers).await?;
    let scope = access::scope(gw, &session, &cred).await?;
    Ok((cred, scope))
}

/// Credentials of a Uyuni user (the same on every node).
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A new gateway session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    /// The session key: send it as `Authorization: Bearer <key>` (it is also an XML-RPC
    /// session key).
    pub session: String,
}

/// Log in (the same as XML-RPC `auth.login`).
#[utoipa::path(post, path = "/api/v1/login", tag = "cluster", request_body = LoginRequest,
    responses((status = 200, body = LoginAnswer), (status = 401, body = ErrorBody)))]
async fn login<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    crate::rest_body::JsonBody(req): crate::rest_body::JsonBody<LoginRequest>,
) -> Response {
    let out = gw
        .call(
            "auth.login",
            vec![Value::String(req.username), Value::String(req.password)],
            false,
        )
        .await;
    match out.result {
        Ok(Value::String(session)) => Json(LoginAnswer { session }).into_response(),
        Ok(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "login gave no session"),
        Err(f) => error(StatusCode::UNAUTHORIZED, f.message()),
    }
}

/// The cluster's Uyuni nodes: zone, membership status, id slot, systems assigned.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "cluster",
    responses((status = 200, body = Vec<NodeView>), (status = 401, body = ErrorBody)))]
async fn nodes<M: Metastore>(State(gw): State<Arc<Gateway<M>>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&gw, &headers).await {
        return r;
    }
    Json(gw.meta.nodes()).into_response()
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    /// Query (docs/SEARCH.md): `tag:db`, `group:ubuntu-18-lts`, `web*.acme.org`, `zone:`,
    /// `node:`, `status:`, combined with `and`, `or`, `not` and parentheses. Empty: all.
    #[serde(default)]
    pub q: String,
    /// Page size (default 100, at most 10 000).
    pub limit: Option<usize>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
}

/// Search the cluster's client systems (paginated): those Uyuni shows the user (a SUSE
/// Manager administrator sees all; an org admin also the systems not yet on any node).
#[utoipa::path(get, path = "/api/v1/systems", tag = "cluster", params(SearchParams),
    responses((status = 200, body = SearchPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn search<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Query(p): Query<SearchParams>,
) -> Response {
    let limit = p.limit.unwrap_or(100).clamp(1, 10_000);
    let (_, scope) = match authorized_scope(&gw, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let page = match scope {
        Scope::All => gw.meta.search(&p.q, limit, p.cursor).await,
        scope => access::search_within(&gw, &scope, &p.q, limit, p.cursor.as_deref()).await,
    };
    match page {
        Ok(page) => Json(page).into_response(),
        Err(e) => meta_error(e),
    }
}

pub(crate) fn meta_error(e: MetastoreError) -> Response {
    match e {
        MetastoreError::BadQuery(e) => error(StatusCode::BAD_REQUEST, e),
        e => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// One client system by key fingerprint.
#[utoipa::path(get, path = "/api/v1/systems/{fingerprint}", tag = "cluster",
    params(("fingerprint" = String, Path, description = "salt key fingerprint")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn system<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path(fp): Path<String>,
) -> Response {
    let (_, scope) = match authorized_scope(&gw, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // A system the user may not see is as unknown as one that does not exist (as in Uyuni).
    match gw.meta.system(&fp).filter(|s| scope.shows(s)) {
        Some(s) => Json(s).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no system {fp}")),
    }
}

/// Apply an action (`tag`, `untag`, `accept`, `reject`, `ban`, `unregister`) to every system
/// a query matches.
/// An org admin may act on the systems of their organisation (the query must match no other);
/// a SUSE Manager administrator on any; other users on none (403). Done or refused, the
/// action goes to the audit log.
#[utoipa::path(post, path = "/api/v1/systems/bulk", tag = "cluster", request_body = BulkRequest,
    responses((status = 200, body = BulkReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn bulk<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    crate::rest_body::JsonBody(req): crate::rest_body::JsonBody<BulkRequest>,
) -> Response {
    let (session, cred) = match authorized(&gw, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    access::bulk(&gw, &session, &cred, req).await
}

/// Audit log parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Entries at or after this time (Unix ms). Default 0.
    #[serde(default)]
    pub since_ms: u64,
    /// At most this many (the newest; default 1000, at most 100 000).
    pub limit: Option<usize>,
}

/// The audit log of this gateway's peer: every bulk action done or refused for a user
/// (who, what, which systems, status), oldest first. Administrators only.
#[utoipa::path(get, path = "/api/v1/audit", tag = "cluster", params(AuditParams),
    responses((status = 200, body = Vec<AuditRecord>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn audit<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Query(p): Query<AuditParams>,
) -> Response {
    let (session, _) = match authorized(&gw, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !session.roles.is_admin() {
        return error(
            StatusCode::FORBIDDEN,
            "reading the audit log needs the org_admin or satellite_admin role",
        );
    }
    let limit = p.limit.unwrap_or(1000).clamp(1, 100_000);
    match gw.meta.audit_log(p.since_ms, limit) {
        Ok(entries) => Json(entries).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
