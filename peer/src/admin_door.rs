//! The admin door: every route of the peer's API but the agent protocol and `/health` needs a
//! client certificate from the cluster CA (over TLS), and every change is audited.
//!
//! | caller | GET, HEAD | anything else |
//! |---|---|---|
//! | no certificate (over TLS) | 401 | 401 |
//! | `reader` certificate | yes | 403 |
//! | `operator` or `peer` certificate | yes | yes, audited |
//! | plain HTTP (`--dev-plain-http`, loopback only) | yes | yes, audited as `dev` |
//!
//! A change's request body is read here (at most [`MAX_ADMIN_BODY`]) so the audit entry can
//! name what it acted on, then handed on unchanged.

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cluster_core::audit::{AuditEntry, AuditLog};
use cluster_core::serve::ConnInfo;
use cluster_core::{ApiError, now_ms};
use serde::Deserialize;

/// Largest request body of an admin change (a CLM document is the largest). 16 MiB.
pub const MAX_ADMIN_BODY: usize = 16 << 20;

/// What the door knows.
#[derive(Debug, Clone)]
pub struct Door {
    /// Where changes are recorded.
    pub audit: AuditLog,
    /// Whether the listener is TLS (else development mode: no authentication).
    pub tls: bool,
}

/// Who is calling, and may they change things.
fn caller(door: &Door, info: Option<&ConnInfo>) -> Result<(String, bool), ApiError> {
    match info.and_then(|i| i.client.as_ref()) {
        Some(id) => Ok((format!("cert:{}", id.name), id.role.may_write())),
        None if !door.tls => Ok(("dev".into(), true)),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this endpoint needs a client certificate from the cluster CA \
             (uyuni-cluster ca issue --client; --cert/--key or UYUNI_CLUSTER_CERT/UYUNI_CLUSTER_KEY)",
        )),
    }
}

/// The middleware: authenticate, authorise, and audit changes.
pub async fn gate(State(door): State<Door>, req: Request, next: Next) -> Response {
    let (who, may_write) = match caller(&door, req.extensions().get::<ConnInfo>()) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    if !may_write {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{who} may read only; changes need an operator certificate"),
        )
        .into_response();
    }
    let action = format!(
        "{} {}",
        req.method(),
        req.uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_string(), |p| p.to_string())
    );
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ADMIN_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("request body not read (at most {MAX_ADMIN_BODY} bytes, in time): {e}"),
            )
            .into_response();
        }
    };
    let detail = String::from_utf8_lossy(&bytes).into_owned();
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let entry = AuditEntry {
        at_ms: now_ms(),
        who,
        action,
        detail,
        status: res.status().as_u16(),
    };
    let audit = door.audit.clone();
    let recorded = tokio::task::spawn_blocking(move || audit.record(entry)).await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "audit entry not written"),
        Err(e) => tracing::error!(error = %e, "audit task failed"),
    }
    res
}

/// `?since_ms=&limit=`
#[derive(Debug, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    since_ms: u64,
    limit: Option<usize>,
}

/// `GET /audit`: this peer's audit entries, oldest first (default the last 1000).
async fn read_audit(
    State(door): State<Door>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(1000).min(100_000);
    let audit = door.audit.clone();
    let entries = tokio::task::spawn_blocking(move || audit.read(q.since_ms, limit))
        .await
        .map_err(cluster_core::api_error::internal)?
        .map_err(cluster_core::api_error::internal)?;
    Ok(Json(entries))
}

/// The door's own route: `GET /audit`.
pub fn routes(door: Door) -> Router {
    Router::new()
        .route("/audit", get(read_audit))
        .with_state(door)
}
