//! `POST /cluster/backup`: a consistent backup of this peer's metastore while it runs
//! (issue 16; format and guarantees in `crdt_store::backup`). A POST, so that the admin door
//! asks for an operator certificate and audits it: the file holds every record of the cluster.

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api_error::{ApiError, internal};
use crate::cluster_api::ClusterView;
use crate::now_ms;

/// Header naming the backup's root digest (what `uyuni-cluster backup` prints).
pub const ROOT_HEADER: &str = "x-uyuni-backup-root";
/// Header with the number of records in the backup.
pub const RECORDS_HEADER: &str = "x-uyuni-backup-records";

/// `POST /cluster/backup`
pub async fn backup(State(s): State<ClusterView>) -> Result<Response, ApiError> {
    let (store, name) = (s.store.clone(), s.me.name.clone());
    let (bytes, info) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        store
            .backup(&mut out, now_ms(), &name)
            .map(|info| (out, info))
    })
    .await
    .map_err(internal)?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    tracing::info!(
        root = %info.root,
        records = info.records,
        bytes = bytes.len(),
        "backup taken"
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static(ROOT_HEADER),
                info.root.clone(),
            ),
            (
                header::HeaderName::from_static(RECORDS_HEADER),
                info.records.to_string(),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}
