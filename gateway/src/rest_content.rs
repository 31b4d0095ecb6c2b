//! The REST routes of the Cluster UI's Content and CLM page: what each node's content store
//! holds (with progress), a node's content verification, imports, and the zones' Content
//! Lifecycle projects (save a version from a node, apply one to a zone). Every action runs on
//! a node's own peer (its content API, docs/API.md "Content"), which the gateway calls on its
//! admin door with its peer certificate ([`Metastore::node_call`]); the gateway checks the
//! session, the role (actions: `satellite_admin`) and its input, and audits every action.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::metastore::{ClmProjectView, NodeAnswer, NodeView};
use crate::rest::{ErrorBody, authorized, error};
use crate::rest_cluster::{audit, refusal};
use crate::{Gateway, Metastore};

/// How long a node may take to report its content.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a verification may take (it reads and hashes every file the node holds).
const VERIFY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the other content calls may take (an import answers once its job started; a CLM
/// save exports one project from the node's Uyuni server).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// One node's content store as its peer reports it (`GET /content/status`).
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeContent {
    /// Node name.
    pub node: String,
    /// Its zone.
    pub zone: String,
    /// Membership status (`alive`, `suspect`, `down`, `left`).
    pub status: String,
    /// Per repository the node should hold: `repo` (`zone/name`), `version`, `files`, `bytes`,
    /// `complete`, `files_present`, `bytes_present`, `fetching`, `last_error`.
    #[schema(value_type = Vec<Object>)]
    pub repos: Vec<serde_json::Value>,
    /// CLM projects imported into its Uyuni server: `zone/project` → version id.
    #[schema(value_type = Object)]
    pub clm: serde_json::Value,
    /// Why the node did not report (down, no answer, no content sync).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What each node's content store holds, with progress per repository, asked of every node at
/// once (down nodes are not asked: their row says so).
#[utoipa::path(get, path = "/api/v1/content/nodes", tag = "content",
    responses((status = 200, body = Vec<NodeContent>), (status = 401, body = ErrorBody)))]
pub(crate) async fn nodes<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&gw, &headers).await {
        return r;
    }
    let asks = gw.meta.nodes().into_iter().map(|n| {
        let gw = gw.clone();
        async move {
            let mut row = NodeContent {
                node: n.name.clone(),
                zone: n.zone.clone(),
                status: n.status.clone(),
                repos: Vec::new(),
                clm: serde_json::Value::Object(Default::default()),
                error: None,
            };
            if !n.healthy() {
                row.error = Some(format!("{} is {}: not asked", n.name, n.status));
                return row;
            }
            match gw
                .meta
                .node_call(&n.name, "GET", "/content/status", None, STATUS_TIMEOUT)
                .await
            {
                Ok(a) if a.status == 200 => {
                    row.repos = a.body["repos"].as_array().cloned().unwrap_or_default();
                    row.clm = a.body["clm"].clone();
                }
                Ok(a) => row.error = Some(why(&n.name, &a)),
                Err(e) => row.error = Some(format!("{}: {e}", n.name)),
            }
            row
        }
    });
    Json(futures::future::join_all(asks).await).into_response()
}

/// A node's content verification.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// The node whose content store is checked.
    pub node: String,
    /// Fetch missing files and replace corrupt ones (default false: report only).
    #[serde(default)]
    pub repair: bool,
}

/// What a verification found.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyAnswer {
    /// The node checked.
    pub node: String,
    /// Its report: `repos`, `files`, `manifests`, `bytes`, `ok`, `drift` (`[{repo, path,
    /// problem, action}]`, `problem` ∈ `missing`, `partial`, `corrupt`).
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

/// Verify a node's content against its zone's indexes, optionally repairing it (SUSE Manager
/// administrators only; audited).
#[utoipa::path(post, path = "/api/v1/content/verify", tag = "content", request_body = VerifyRequest,
    responses((status = 200, body = VerifyAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn verify<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    crate::rest_body::JsonBody(req): crate::rest_body::JsonBody<VerifyRequest>,
) -> Response {
    let detail = format!("{} repair={}", req.node, req.repair);
    node_action(
        &gw,
        &headers,
        "verify a node's content",
        "content verify",
        detail,
        || async {
            let node = known_node(&gw, &req.node)?;
            let body = serde_json::json!({ "repair": req.repair });
            let a = call(
                &gw,
                &node.name,
                "POST",
                "/content/verify",
                Some(body),
                VERIFY_TIMEOUT,
            )
            .await?;
            Ok(Json(VerifyAnswer {
                node: node.name,
                report: a,
            })
            .into_response())
        },
    )
    .await
}

/// An import of a package tree on a node's host into its zone.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportRequest {
    /// The node whose host holds the tree.
    pub node: String,
    /// Absolute directory on that host, under one of its `content.import_roots`.
    pub path: String,
    /// Repository name (`[A-Za-z0-9._-]+`).
    pub name: String,
}

/// An import job on a node.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobAnswer {
    /// The node running it.
    pub node: String,
    /// The job: `id`, `name`, `state` (`scanning`, `importing`, `done`, `failed`),
    /// `files_total`, `files_done`, `bytes_total`, `bytes_done`, `error`, `repo`.
    #[schema(value_type = Object)]
    pub job: serde_json::Value,
}

/// Start an import on a node (SUSE Manager administrators only; audited). The node's peer
/// checks the path against its `content.import_roots` (docs/CONTENT.md).
#[utoipa::path(post, path = "/api/v1/content/import", tag = "content", request_body = ImportRequest,
    responses((status = 200, body = JobAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn import<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    crate::rest_body::JsonBody(req): crate::rest_body::JsonBody<ImportRequest>,
) -> Response {
    let detail = format!("{} {} {}", req.node, req.name, req.path);
    node_action(
        &gw,
        &headers,
        "import content",
        "content import",
        detail,
        || async {
            let node = known_node(&gw, &req.node)?;
            if !crdt_store::valid_content_name(&req.name) {
                return Err(Refusal(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "bad repository name {:?}: letters, digits, '.', '_', '-'",
                        req.name
                    ),
                ));
            }
            let body = serde_json::json!({ "path": req.path, "name": req.name });
            let job = call(
                &gw,
                &node.name,
                "POST",
                "/content/import",
                Some(body),
                CALL_TIMEOUT,
            )
            .await?;
            Ok(Json(JobAnswer {
                node: node.name,
                job,
            })
            .into_response())
        },
    )
    .await
}

/// An import job's progress.
#[utoipa::path(get, path = "/api/v1/content/jobs/{node}/{id}", tag = "content",
    params(("node" = String, Path, description = "the node running it"),
        ("id" = u64, Path, description = "job id")),
    responses((status = 200, body = JobAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn job<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path((node, id)): Path<(String, u64)>,
) -> Response {
    if let Err(r) = authorized(&gw, &headers).await {
        return r;
    }
    let out = async {
        let node = known_node(&gw, &node)?;
        let path = format!("/content/jobs/{id}");
        let job = call(&gw, &node.name, "GET", &path, None, STATUS_TIMEOUT).await?;
        Ok::<_, Refusal>(Json(JobAnswer {
            node: node.name,
            job,
        }))
    };
    match out.await {
        Ok(j) => j.into_response(),
        Err(r) => r.into_response(),
    }
}

/// Every zone's Content Lifecycle projects: saved versions, the applied one, and which
/// version each node imported into its Uyuni server.
#[utoipa::path(get, path = "/api/v1/clm", tag = "content",
    responses((status = 200, body = Vec<ClmProjectView>), (status = 401, body = ErrorBody)))]
pub(crate) async fn clm<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&gw, &headers).await {
        return r;
    }
    Json(gw.meta.clm()).into_response()
}

/// Where a CLM version is saved from.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClmSaveRequest {
    /// The node of the zone whose Uyuni server holds the project.
    pub node: String,
}

/// Save a new version of a zone's CLM project, exported from a node's Uyuni server (SUSE
/// Manager administrators only; audited). Answers the version record.
#[utoipa::path(post, path = "/api/v1/clm/{zone}/{project}/save", tag = "content",
    params(("zone" = String, Path, description = "zone"),
        ("project" = String, Path, description = "project label")),
    request_body = ClmSaveRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn clm_save<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path((zone, project)): Path<(String, String)>,
    crate::rest_body::JsonBody(req): crate::rest_body::JsonBody<ClmSaveRequest>,
) -> Response {
    let detail = format!("{zone}/{project} from {}", req.node);
    node_action(
        &gw,
        &headers,
        "save a CLM project",
        "clm save",
        detail,
        || async {
            valid_project(&project)?;
            let node = known_node(&gw, &req.node)?;
            if node.zone != zone {
                return Err(Refusal(
                    StatusCode::BAD_REQUEST,
                    format!("{} is in zone {}, not {zone}", node.name, node.zone),
                ));
            }
            let path = format!("/clm/{project}/save");
            let v = call(
                &gw,
                &node.name,
                "POST",
                &path,
                Some(serde_json::json!({})),
                CALL_TIMEOUT,
            )
            .await?;
            Ok(Json(v).into_response())
        },
    )
    .await
}

/// Which CLM version to apply.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ClmApplyRequest {
    /// Version number (default: the latest saved).
    #[serde(default)]
    pub version: Option<u64>,
}

/// Apply a version of a zone's CLM project: every node of the zone imports it into its Uyuni
/// server, a node that is down when it returns (SUSE Manager administrators only; audited).
/// One node of the zone writes the apply (its Leader Node when it is up). Answers the apply
/// record `{zone, project, version_id, hash, applied_by, applied_at}`.
#[utoipa::path(post, path = "/api/v1/clm/{zone}/{project}/apply", tag = "content",
    params(("zone" = String, Path, description = "zone"),
        ("project" = String, Path, description = "project label")),
    request_body = ClmApplyRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn clm_apply<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    Path((zone, project)): Path<(String, String)>,
    crate::rest_body::JsonBody(req): crate::rest_body::JsonBody<ClmApplyRequest>,
) -> Response {
    let detail = match req.version {
        Some(v) => format!("{zone}/{project} version {v}"),
        None => format!("{zone}/{project} latest"),
    };
    node_action(
        &gw,
        &headers,
        "apply a CLM project",
        "clm apply",
        detail,
        || async {
            valid_project(&project)?;
            let node = zone_node(&gw, &zone)?;
            let path = format!("/clm/{project}/apply");
            let body = serde_json::json!({ "version": req.version });
            let a = call(&gw, &node, "POST", &path, Some(body), CALL_TIMEOUT).await?;
            Ok(Json(a).into_response())
        },
    )
    .await
}

/// A refusal of the gateway's own (its status and words), answered as an [`ErrorBody`].
#[derive(Debug)]
pub(crate) struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// An action on a node for a user: the session must be valid (401) and a SUSE Manager
/// administrator's (403, naming `what`); the answer, done or refused, is audited.
async fn node_action<M, Fut>(
    gw: &Gateway<M>,
    headers: &HeaderMap,
    what: &str,
    action: &str,
    detail: String,
    act: impl FnOnce() -> Fut,
) -> Response
where
    M: Metastore,
    Fut: std::future::Future<Output = Result<Response, Refusal>>,
{
    let (session, _) = match authorized(gw, headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let answer = match refusal(&session, what) {
        Some(r) => r,
        None => act().await.unwrap_or_else(IntoResponse::into_response),
    };
    audit(gw, &session, action, detail, answer)
}

/// The node named `name`, or a 400 naming the known ones.
fn known_node<M: Metastore>(gw: &Gateway<M>, name: &str) -> Result<NodeView, Refusal> {
    let nodes = gw.meta.nodes();
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    nodes.into_iter().find(|n| n.name == name).ok_or_else(|| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("no node {name:?} (nodes: {})", names.join(", ")),
        )
    })
}

/// The node of `zone` to act for it: its Leader Node when that is up, else its first node
/// that is alive or suspected.
fn zone_node<M: Metastore>(gw: &Gateway<M>, zone: &str) -> Result<String, Refusal> {
    let nodes: Vec<NodeView> = gw
        .meta
        .nodes()
        .into_iter()
        .filter(|n| n.zone == zone)
        .collect();
    if nodes.is_empty() {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!("zone {zone:?} has no node"),
        ));
    }
    let leader = gw
        .meta
        .zones()
        .into_iter()
        .find(|z| z.name == zone)
        .and_then(|z| z.leader);
    let up = |n: &&NodeView| n.healthy();
    nodes
        .iter()
        .filter(up)
        .find(|n| Some(&n.name) == leader.as_ref())
        .or_else(|| nodes.iter().find(up))
        .map(|n| n.name.clone())
        .ok_or_else(|| {
            Refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no node of zone {zone} is up"),
            )
        })
}

fn valid_project(project: &str) -> Result<(), Refusal> {
    if crdt_store::valid_content_name(project) {
        Ok(())
    } else {
        Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!("bad project label {project:?}: letters, digits, '.', '_', '-'"),
        ))
    }
}

/// Call `node`'s peer: its JSON answer on success, else the answer the user gets (the peer's
/// status and words, or 503 when it did not answer).
async fn call<M: Metastore>(
    gw: &Gateway<M>,
    node: &str,
    method: &'static str,
    path: &str,
    body: Option<serde_json::Value>,
    timeout: Duration,
) -> Result<serde_json::Value, Refusal> {
    match gw.meta.node_call(node, method, path, body, timeout).await {
        Ok(a) if (200..300).contains(&a.status) => Ok(a.body),
        Ok(a) => {
            let status = StatusCode::from_u16(a.status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                // The peer refusing the gateway is not the user's session ending.
                .filter(|s| *s != StatusCode::UNAUTHORIZED)
                .unwrap_or(StatusCode::BAD_GATEWAY);
            Err(Refusal(status, why(node, &a)))
        }
        Err(e) => Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{node}: {e}"),
        )),
    }
}

/// A peer's refusal in its own words, naming it.
fn why(node: &str, a: &NodeAnswer) -> String {
    let words = a.body["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("status {}", a.status));
    format!("{node}: {words}")
}
