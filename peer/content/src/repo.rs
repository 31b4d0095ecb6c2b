//! The local repository (`GET /repo/<zone>/<name>/<path>`): the zone's content by path, as
//! `reposync` and package managers read a yum repository. A file not stored yet (lazy mode,
//! or replication still running) is fetched first; a file whose local bytes fail their hash
//! is repaired from a provider before it is sent. Also the integrity check (`content verify`).

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use content_sync::{BlobState, ContentError, Hash};
use serde::Serialize;

use crate::ContentCtx;
use crate::{Content, Loaded, plan};
use cluster_core::ApiError;

fn content_of(shared: &ContentCtx) -> Result<&Arc<Content>, ApiError> {
    shared.content.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "content sync is disabled on this peer ([content] enabled = false)",
        )
    })
}

pub(crate) fn content(shared: &ContentCtx) -> Result<&Arc<Content>, ApiError> {
    content_of(shared)
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("xml") => "application/xml",
        Some("gz") => "application/gzip",
        Some("bz2") => "application/x-bzip2",
        Some("xz") => "application/x-xz",
        Some("zst") => "application/zstd",
        Some("rpm") => "application/x-rpm",
        Some("asc") | Some("key") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// Make `hash` complete and correct locally: fetch it if missing, repair it if corrupt.
pub(crate) async fn ensure(
    shared: &ContentCtx,
    content: &Content,
    l: &Loaded,
    hash: Hash,
) -> Result<Outcome, ContentError> {
    let id = plan::repo_id(&l.record.zone, &l.record.name);
    let providers = || content.providers(shared, &l.record.zone, &id, &l.record.manifest);
    match content.store.state(hash).await? {
        BlobState::Complete(_) => {
            if content.store.verify(hash).await? {
                return Ok(Outcome::Ok);
            }
            tracing::warn!(%hash, repo = %id, "stored blob fails its hash: repairing");
            // Streamed over the damaged file and paced like any download.
            content.fetcher.repair(hash, &providers()).await?;
            Ok(Outcome::Repaired)
        }
        BlobState::Missing | BlobState::Partial => {
            content.fetcher.fetch(hash, &providers()).await?;
            Ok(Outcome::Fetched)
        }
    }
}

/// What [`ensure`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Present and correct.
    Ok,
    /// Was missing or partial.
    Fetched,
    /// Was corrupt.
    Repaired,
}

/// `GET /repo/{zone}/{name}/{*path}`.
pub async fn get_file(
    State(s): State<ContentCtx>,
    Path((zone, name, path)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let content = content_of(&s)?;
    let id = plan::repo_id(&zone, &name);
    let loaded = content.state().loaded.get(&id).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("repository {id} is not shared with zone {}", s.me.zone),
        )
    })?;
    let Some(&(hash, size)) = loaded.by_path.get(path.as_str()) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{path} is not in repository {id}"),
        ));
    };
    let unavailable = |e: ContentError| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string());
    // Small files: read whole and checked (a corrupt read repairs and reads again).
    if size <= content.cfg.max_buffered_mib * 1024 * 1024 {
        let bytes = match content.store.read(hash).await {
            Ok(b) => b,
            Err(_) => {
                ensure(&s, content, &loaded, hash)
                    .await
                    .map_err(unavailable)?;
                content.store.read(hash).await.map_err(unavailable)?
            }
        };
        return Ok(respond(&path, size, Body::from(bytes)));
    }
    // Large files: checked in a first pass, then streamed.
    ensure(&s, content, &loaded, hash)
        .await
        .map_err(unavailable)?;
    Ok(respond(
        &path,
        size,
        Body::from_stream(content.store.stream(hash)),
    ))
}

fn respond(path: &str, size: u64, body: Body) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(path)));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    r
}

/// One problem `content verify` found.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Drift {
    /// `<zone>/<name>`.
    pub repo: String,
    /// File path (`(manifest)` for the index itself).
    pub path: String,
    /// `missing`, `partial` or `corrupt`.
    pub problem: String,
    /// `repaired`, `failed: ...` or `reported` (without `repair`).
    pub action: String,
}

/// The result of `content verify`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct VerifyReport {
    /// Repositories checked.
    pub repos: u64,
    /// Files checked (as `content list` counts them: the manifests are not among them).
    pub files: u64,
    /// Repository manifests checked (one per repository).
    #[serde(default)]
    pub manifests: u64,
    /// Bytes read and hashed.
    pub bytes: u64,
    /// Files present and correct.
    pub ok: u64,
    /// Everything that differed from the zone's index.
    pub drift: Vec<Drift>,
}

/// Compare this node's content with its zone's indexes; with `repair`, fetch what is missing
/// and replace what is corrupt.
pub async fn verify(shared: &ContentCtx, content: &Content, repair: bool) -> VerifyReport {
    let mut report = VerifyReport::default();
    let loaded: Vec<Arc<Loaded>> = content.state().loaded.values().cloned().collect();
    for l in loaded {
        report.repos += 1;
        let id = plan::repo_id(&l.record.zone, &l.record.name);
        let mut items: Vec<(String, Hash, u64)> = Vec::new();
        if let Ok(m) = super::hash_of(&l.record.manifest) {
            items.push(("(manifest)".into(), m, 0));
        }
        let mut paths: Vec<(&String, &(Hash, u64))> = l.by_path.iter().collect();
        paths.sort();
        items.extend(paths.into_iter().map(|(p, (h, s))| (p.clone(), *h, *s)));
        for (path, hash, size) in items {
            if path == "(manifest)" {
                report.manifests += 1;
            } else {
                report.files += 1;
            }
            let problem = match content.store.state(hash).await {
                Ok(BlobState::Complete(n)) => {
                    report.bytes += n;
                    match content.store.verify(hash).await {
                        Ok(true) => None,
                        _ => Some("corrupt"),
                    }
                }
                Ok(BlobState::Partial) => Some("partial"),
                Ok(BlobState::Missing) => Some("missing"),
                Err(_) => Some("unreadable"),
            };
            let Some(problem) = problem else {
                report.ok += 1;
                continue;
            };
            // Lazy mode fetches on demand: a missing file there is not drift.
            if problem == "missing" && content.cfg.mode == super::ContentMode::Lazy {
                report.ok += 1;
                continue;
            }
            let action = if repair {
                match ensure(shared, content, &l, hash).await {
                    Ok(_) => "repaired".to_string(),
                    Err(e) => format!("failed: {e}"),
                }
            } else {
                "reported".into()
            };
            tracing::info!(repo = %id, path, problem, action, size, "content drift");
            report.drift.push(Drift {
                repo: id.clone(),
                path,
                problem: problem.into(),
                action,
            });
        }
    }
    if repair && !report.drift.is_empty() {
        content.wake.notify_one();
    }
    report
}
