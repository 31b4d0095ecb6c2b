//! HTTP API of content sync (docs/API.md, "Content"): imports, status, repositories,
//! subscriptions, verify, garbage collection, the local repository and CLM documents.

use std::collections::HashSet;

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::{delete, get, post},
};
use crdt_store::{Record, RepoRecord, SubscriptionRecord, repo_key, valid_content_name};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ContentCtx;
use crate::{import, plan, repo};
use axum::http::StatusCode;
use cluster_core::api_error::{ApiError, bad};
use cluster_core::now_ms;

/// The content routes.
pub fn routes(ctx: ContentCtx) -> Router {
    Router::new()
        .route("/content/import", post(import_start))
        .route("/content/jobs/{id}", get(job))
        .route("/content/status", get(status))
        .route("/content/repos", get(repos))
        .route("/content/repos/{zone}/{name}", delete(remove))
        .route("/content/subscriptions", post(subscribe))
        .route("/content/verify", post(verify))
        .route("/content/gc", post(gc))
        .route("/repo/{zone}/{name}/{*path}", get(repo::get_file))
        .route("/clm", get(clm_list))
        .route("/clm/{project}/save", post(clm_save))
        .route("/clm/{project}/apply", post(clm_apply))
        .with_state(ctx)
}

async fn import_start(
    State(s): State<ContentCtx>,
    Json(req): Json<import::ImportRequest>,
) -> Result<Json<import::Job>, ApiError> {
    let c = repo::content(&s)?;
    Ok(Json(import::start(&s, c, req)?))
}

async fn job(
    State(s): State<ContentCtx>,
    Path(id): Path<u64>,
) -> Result<Json<import::Job>, ApiError> {
    let c = repo::content(&s)?;
    c.jobs
        .get(id)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no import job {id}")))
}

async fn status(State(s): State<ContentCtx>) -> Result<Json<serde_json::Value>, ApiError> {
    use std::sync::atomic::Ordering::Relaxed;
    let c = repo::content(&s)?;
    let stored = c.store.list().await.map(|l| l.len()).unwrap_or(0);
    let st = c.state();
    let mut repos: Vec<serde_json::Value> = st
        .loaded
        .iter()
        .map(|(id, l)| {
            let p = st.progress.get(id).cloned().unwrap_or_default();
            json!({
                "repo": id,
                "version": l.record.version,
                "manifest": l.record.manifest,
                "files": l.manifest.files.len(),
                "bytes": l.manifest.bytes(),
                "complete": st.complete.get(id) == Some(&l.record.manifest),
                "files_present": p.files_present,
                "bytes_present": p.bytes_present,
                "fetching": p.fetching,
                "last_error": p.last_error,
            })
        })
        .collect();
    repos.sort_by(|a, b| a["repo"].as_str().cmp(&b["repo"].as_str()));
    Ok(Json(json!({
        "node": s.me.name,
        "zone": s.me.zone,
        "endpoint": c.endpoint_hex(),
        "addrs": c.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "mode": c.cfg.mode,
        "repos": repos,
        "clm": st.clm,
        "stored_blobs": stored,
        "fetched_bytes": c.fetcher.stats.bytes.load(Relaxed),
        "fetched_blobs": c.fetcher.stats.blobs.load(Relaxed),
        "fetch_failures": c.fetcher.stats.failures.load(Relaxed),
        "served_requests": c.ep.stats.served_requests.load(Relaxed),
        "refused_connections": c.ep.stats.refused_connections.load(Relaxed),
        "refused_requests": c.ep.stats.refused_requests.load(Relaxed),
        "busy_refusals": c.ep.stats.busy_refusals.load(Relaxed),
        "uploaded_bytes": c.ep.stats.uploaded_bytes.load(Relaxed),
        "have_answers": c.ep.stats.have_answers.load(Relaxed),
        "have_polls": c.fetcher.stats.have_polls.load(Relaxed),
        "news_sent": c.ep.stats.news_sent.load(Relaxed),
        "news_received": c.fetcher.stats.news.load(Relaxed),
        "asks_unlisted": c.fetcher.stats.asks_unlisted.load(Relaxed),
        "split_blobs": c.fetcher.stats.split_blobs.load(Relaxed),
        "range_requests": c.fetcher.stats.range_requests.load(Relaxed),
        "repairs": c.fetcher.stats.repairs.load(Relaxed),
    })))
}

/// One row of `GET /content/repos`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RepoView {
    /// The record.
    #[serde(flatten)]
    pub record: RepoRecord,
    /// Zones subscribed to it.
    pub subscribers: Vec<String>,
    /// Nodes holding this version completely.
    pub complete_on: Vec<String>,
}

async fn repos(State(s): State<ContentCtx>) -> Result<Json<Vec<RepoView>>, ApiError> {
    Ok(Json(repo_views(s.replica.store())))
}

/// Every repository in the metastore with its subscribers and the nodes holding its current
/// version (`GET /content/repos`; the gateway's `GET /api/v1/content/repos`).
pub fn repo_views(store: &crdt_store::Store) -> Vec<RepoView> {
    let (repos, subs) = super::replicate::repos_and_subs(store);
    let holdings = super::holdings(store);
    {
        repos
            .into_iter()
            .map(|r| {
                let id = plan::repo_id(&r.zone, &r.name);
                RepoView {
                    subscribers: subs
                        .iter()
                        .filter(|u| !u.deleted && u.zone == r.zone && u.name == r.name)
                        .map(|u| u.subscriber.clone())
                        .collect(),
                    complete_on: holdings
                        .iter()
                        .filter(|h| h.repos.get(&id) == Some(&r.manifest))
                        .map(|h| h.node.clone())
                        .collect(),
                    record: r,
                }
            })
            .collect()
    }
}

async fn remove(
    State(s): State<ContentCtx>,
    Path((zone, name)): Path<(String, String)>,
) -> Result<Json<RepoRecord>, ApiError> {
    let _guard = s.replica.write_lock().await;
    let Ok(Some(Record::Repo(r))) = s.replica.store().get(&repo_key(&zone, &name)) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no repository {zone}/{name}"),
        ));
    };
    let rec = RepoRecord {
        manifest: String::new(),
        files: 0,
        bytes: 0,
        version: r.version + 1,
        deleted: true,
        imported_by: s.me.name.clone(),
        updated_at: now_ms().max(r.updated_at + 1),
        ..r
    };
    super::put(&s, Record::Repo(rec.clone())).await?;
    if let Some(c) = &s.content {
        c.wake.notify_one();
    }
    Ok(Json(rec))
}

/// `POST /content/subscriptions`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SubscribeRequest {
    /// Zone owning the repository.
    pub zone: String,
    /// Repository name.
    pub name: String,
    /// Zone that receives it (default: this peer's zone).
    #[serde(default)]
    pub subscriber: Option<String>,
    /// Remove the subscription instead.
    #[serde(default)]
    pub unsubscribe: bool,
}

async fn subscribe(
    State(s): State<ContentCtx>,
    Json(req): Json<SubscribeRequest>,
) -> Result<Json<SubscriptionRecord>, ApiError> {
    let subscriber = req.subscriber.unwrap_or_else(|| s.me.zone.clone());
    if !valid_content_name(&req.name) || req.zone.contains('/') || subscriber.contains('/') {
        return Err(bad("bad zone or repository name"));
    }
    if subscriber == req.zone {
        return Err(bad("a zone always holds its own repositories"));
    }
    let rec = SubscriptionRecord {
        subscriber,
        zone: req.zone,
        name: req.name,
        deleted: req.unsubscribe,
        updated_at: now_ms(),
    };
    super::put(&s, Record::Subscription(rec.clone())).await?;
    if let Some(c) = &s.content {
        c.wake.notify_one();
    }
    Ok(Json(rec))
}

/// `POST /content/verify`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// Fetch missing and replace corrupt files (default true).
    #[serde(default = "yes")]
    pub repair: bool,
}

fn yes() -> bool {
    true
}

async fn verify(
    State(s): State<ContentCtx>,
    body: Option<Json<VerifyRequest>>,
) -> Result<Json<repo::VerifyReport>, ApiError> {
    let c = repo::content(&s)?.clone();
    let repair = body.is_none_or(|Json(b)| b.repair);
    Ok(Json(repo::verify(&s, &c, repair).await))
}

async fn gc(State(s): State<ContentCtx>) -> Result<Json<serde_json::Value>, ApiError> {
    let c = repo::content(&s)?;
    let unavailable = |e: content_sync::ContentError| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    };
    let stored = c.store.list().await.map_err(unavailable)?;
    let roots = c.store.tag_roots("").await.map_err(unavailable)?;
    let mut live: HashSet<content_sync::Hash> = roots.iter().map(|(_, h)| *h).collect();
    {
        let st = c.state();
        for l in st.loaded.values() {
            live.extend(super::hash_of(&l.record.manifest).ok());
            live.extend(l.by_path.values().map(|(h, _)| *h));
        }
        live.extend(st.clm_docs.values().map(|(_, h)| *h));
    }
    let unreferenced = stored.iter().filter(|h| !live.contains(*h)).count();
    Ok(Json(json!({
        "stored_blobs": stored.len(),
        "tags": roots.len(),
        "unreferenced_blobs": unreferenced,
        "gc_interval_ms": c.cfg.gc_interval.as_millis() as u64,
        "note": "unreferenced blobs are deleted by the store's next garbage collection",
    })))
}

async fn clm_list(State(s): State<ContentCtx>) -> Json<serde_json::Value> {
    Json(super::clm::list(&s))
}

async fn clm_save(
    State(s): State<ContentCtx>,
    Path(project): Path<String>,
) -> Result<Json<crdt_store::ClmVersionRecord>, ApiError> {
    let c = repo::content(&s)?.clone();
    Ok(Json(super::clm::save(&s, &c, &project).await?))
}

/// `POST /clm/{project}/apply`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// Version number (default: the latest saved).
    #[serde(default)]
    pub version: Option<u64>,
}

async fn clm_apply(
    State(s): State<ContentCtx>,
    Path(project): Path<String>,
    body: Option<Json<ApplyRequest>>,
) -> Result<Json<crdt_store::ClmApplyRecord>, ApiError> {
    let c = repo::content(&s)?.clone();
    let version = body.and_then(|Json(b)| b.version);
    Ok(Json(super::clm::apply(&s, &c, &project, version).await?))
}

/// Content figures for `/metrics`, aggregated over every repository this node holds (no repo
/// names: the endpoint is open). `None` without content sync (disabled, or a gateway).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ContentFigures {
    /// Repositories whose manifest this node holds.
    pub repos: u64,
    /// Of those, the ones complete here.
    pub repos_complete: u64,
    /// Bytes the held manifests name.
    pub bytes_expected: u64,
    /// Bytes present here of what they name.
    pub bytes_present: u64,
    /// Payload bytes fetched from other nodes since start.
    pub fetched_bytes: u64,
    /// Blob fetch attempts that failed since start.
    pub fetch_failures: u64,
    /// Blob requests served to other nodes since start.
    pub served_requests: u64,
}

/// The figures of [`ContentFigures`], read now (one lock of the content state, no I/O).
pub fn figures(s: &ContentCtx) -> Option<ContentFigures> {
    use std::sync::atomic::Ordering::Relaxed;
    let c = s.content.as_ref()?;
    let mut f = ContentFigures {
        fetched_bytes: c.fetcher.stats.bytes.load(Relaxed),
        fetch_failures: c.fetcher.stats.failures.load(Relaxed),
        served_requests: c.ep.stats.served_requests.load(Relaxed),
        ..ContentFigures::default()
    };
    let st = c.state();
    for (id, l) in &st.loaded {
        f.repos += 1;
        let complete = st.complete.get(id) == Some(&l.record.manifest);
        f.repos_complete += u64::from(complete);
        f.bytes_expected += l.manifest.bytes();
        f.bytes_present += if complete {
            l.manifest.bytes()
        } else {
            st.progress.get(id).map_or(0, |p| p.bytes_present)
        };
    }
    Some(f)
}
