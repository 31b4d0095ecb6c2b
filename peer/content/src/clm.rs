//! Content Lifecycle (CLM) documents: a project exported from a node's Uyuni server as JSON,
//! stored as a blob, versioned on every save (`d/<zone>/<project>/<id>`); "apply" names the
//! version every node of the zone imports (`a/<zone>/<project>`), each through its own Node
//! Controller. A node that is down when the apply is written imports it when it returns.

use std::{collections::BTreeSet, sync::Arc};

use crdt_store::{
    ClmApplyRecord, ClmVersionRecord, Record, RecordKind, clm_version_key, valid_content_name,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::{Content, put};
use cluster_core::api_error::{ApiError, bad};
use cluster_core::now_ms;
use node_controller::{
    common_api::{self, Which},
    kinds::CommonKind,
    reconcile::CommonOp,
};

use crate::ContentCtx;
use axum::http::StatusCode;

/// Version of the document format.
pub const CLM_FORMAT: u32 = 1;

/// The serialised project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClmDocument {
    /// [`CLM_FORMAT`].
    pub format: u32,
    /// Always `contentproject`.
    pub kind: String,
    /// Project label.
    pub label: String,
    /// The project as the Node Controller replays it: label, name, description and its
    /// environments in promotion order.
    pub project: Json,
    /// Node whose server it was exported from.
    pub exported_from: String,
    /// Unix milliseconds.
    pub exported_at: u64,
}

impl ClmDocument {
    /// Decode and check.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let d: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if d.format != CLM_FORMAT || d.kind != "contentproject" {
            return Err(format!("unsupported CLM document {} v{}", d.kind, d.format));
        }
        if d.project.get("label").and_then(Json::as_str) != Some(d.label.as_str()) {
            return Err("document label and project label differ".into());
        }
        Ok(d)
    }
}

fn clm_tag(zone: &str, project: &str, id: &str) -> String {
    format!("clm/{zone}/{project}/{id}")
}

fn versions(store: &crdt_store::Store, zone: &str, project: &str) -> Vec<ClmVersionRecord> {
    let prefix = format!("d/{zone}/{project}/");
    let mut out: Vec<ClmVersionRecord> = store
        .records(RecordKind::ClmVersion)
        .into_iter()
        .filter_map(|r| match r {
            Record::ClmVersion(v)
                if clm_version_key(&v.zone, &v.project, &v.id()).starts_with(&prefix) =>
            {
                Some(v)
            }
            _ => None,
        })
        .collect();
    out.sort_by_key(|v| (v.version, v.saved_at, v.saved_by.clone()));
    out
}

fn applies(store: &crdt_store::Store) -> Vec<ClmApplyRecord> {
    store
        .records(RecordKind::ClmApply)
        .into_iter()
        .filter_map(|r| match r {
            Record::ClmApply(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn client(shared: &ContentCtx) -> Result<&uyuni_api::UyuniClient, ApiError> {
    shared.nc.as_ref().map(|h| h.client()).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "this peer has no Uyuni server ([uyuni] url): save on the peer beside the server the project was edited on",
        )
    })
}

/// Save: export `project` from this node's server as a new version.
pub async fn save(
    shared: &ContentCtx,
    content: &Content,
    project: &str,
) -> Result<ClmVersionRecord, ApiError> {
    if !valid_content_name(project) {
        return Err(bad(format!("bad project label {project:?}")));
    }
    let c = client(shared)?;
    let only: BTreeSet<String> = [project.to_string()].into();
    let found = common_api::fetch(c, CommonKind::ContentProject, Which::Only(&only))
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
    let data = found.get(project).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no content project {project:?} on this node's Uyuni server"),
        )
    })?;
    let doc = ClmDocument {
        format: CLM_FORMAT,
        kind: "contentproject".into(),
        label: project.to_string(),
        project: data,
        exported_from: shared.me.name.clone(),
        exported_at: now_ms(),
    };
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| bad(e.to_string()))?;
    let size = bytes.len() as u64;
    let tt = content
        .store
        .add_bytes(bytes)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let zone = &shared.me.zone;
    let next = versions(shared.replica.store(), zone, project)
        .last()
        .map_or(1, |v| v.version + 1);
    let rec = ClmVersionRecord {
        zone: zone.clone(),
        project: project.to_string(),
        version: next,
        saved_by: shared.me.name.clone(),
        hash: tt.hash().to_hex(),
        size,
        saved_at: now_ms(),
    };
    keep_doc(content, &rec).await?;
    put(shared, Record::ClmVersion(rec.clone())).await?;
    tracing::info!(project, version = next, hash = %rec.hash, "CLM project saved");
    Ok(rec)
}

async fn keep_doc(content: &Content, v: &ClmVersionRecord) -> Result<(), ApiError> {
    let hash = super::hash_of(&v.hash).map_err(|e| bad(e.to_string()))?;
    let tag = clm_tag(&v.zone, &v.project, &v.id());
    content
        .store
        .protect(&tag, &[hash])
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    content.state().clm_docs.insert(tag, (v.zone.clone(), hash));
    Ok(())
}

/// Apply: make `version` (default the latest) the one every node of the zone imports.
pub async fn apply(
    shared: &ContentCtx,
    content: &Content,
    project: &str,
    version: Option<u64>,
) -> Result<ClmApplyRecord, ApiError> {
    let all = versions(shared.replica.store(), &shared.me.zone, project);
    let v = match version {
        Some(n) => all.iter().rev().find(|v| v.version == n),
        None => all.last(),
    }
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no saved version {version:?} of {project:?} in zone {}",
                shared.me.zone
            ),
        )
    })?;
    let rec = ClmApplyRecord {
        zone: v.zone.clone(),
        project: project.to_string(),
        version_id: v.id(),
        hash: v.hash.clone(),
        applied_by: shared.me.name.clone(),
        applied_at: now_ms(),
    };
    put(shared, Record::ClmApply(rec.clone())).await?;
    content.wake.notify_one();
    tracing::info!(project, version = %rec.version_id, "CLM version applied to the zone");
    Ok(rec)
}

/// One zone's CLM project as the metastore holds it (`GET /clm`, the gateway's
/// `GET /api/v1/clm`).
#[derive(Debug, Clone, Serialize)]
pub struct ProjectState {
    /// Zone.
    pub zone: String,
    /// Project label.
    pub project: String,
    /// Saved versions, oldest first.
    pub versions: Vec<ClmVersionRecord>,
    /// The version every node of the zone imports.
    pub applied: Option<ClmApplyRecord>,
    /// Node of the zone → the version id it imported.
    pub imported: std::collections::BTreeMap<String, String>,
}

/// The CLM projects of `zone` (every zone: `None`), by zone and label.
pub fn projects(store: &crdt_store::Store, zone: Option<&str>) -> Vec<ProjectState> {
    let applied = applies(store);
    let holdings = super::holdings(store);
    let in_zone = |z: &str| zone.is_none_or(|want| want == z);
    let mut keys: BTreeSet<(String, String)> = store
        .records(RecordKind::ClmVersion)
        .into_iter()
        .filter_map(|r| match r {
            Record::ClmVersion(v) if in_zone(&v.zone) => Some((v.zone, v.project)),
            _ => None,
        })
        .collect();
    keys.extend(
        applied
            .iter()
            .filter(|a| in_zone(&a.zone))
            .map(|a| (a.zone.clone(), a.project.clone())),
    );
    keys.into_iter()
        .map(|(z, p)| {
            let key = format!("{z}/{p}");
            let imported = holdings
                .iter()
                .filter(|h| h.zone == z)
                .filter_map(|h| h.clm.get(&key).map(|v| (h.node.clone(), v.clone())))
                .collect();
            ProjectState {
                versions: versions(store, &z, &p),
                applied: applied
                    .iter()
                    .find(|a| a.zone == z && a.project == p)
                    .cloned(),
                imported,
                zone: z,
                project: p,
            }
        })
        .collect()
}

/// This zone's CLM projects (`GET /clm`).
pub fn list(shared: &ContentCtx) -> Json {
    serde_json::to_value(projects(shared.replica.store(), Some(&shared.me.zone)))
        .unwrap_or(Json::Null)
}

pub(crate) async fn round(shared: &ContentCtx, content: &Arc<Content>) {
    // Keep every saved version's document of this zone (small; the history is the point).
    for r in shared.replica.store().records(RecordKind::ClmVersion) {
        if let Record::ClmVersion(v) = r
            && v.zone == shared.me.zone
        {
            let tag = clm_tag(&v.zone, &v.project, &v.id());
            let known = content.state().clm_docs.contains_key(&tag);
            if !known && let Err(e) = keep_doc(content, &v).await {
                tracing::debug!("CLM document {tag}: {}", e.message());
            }
        }
    }
    if shared.nc.is_none() {
        return;
    }
    for a in applies(shared.replica.store()) {
        if a.zone != shared.me.zone {
            continue;
        }
        let key = format!("{}/{}", a.zone, a.project);
        let busy = format!("clm/{key}");
        let start = {
            let mut st = content.state();
            let waiting = st
                .retry
                .get(&busy)
                .is_some_and(|(at, _)| std::time::Instant::now() < *at);
            st.clm.get(&key) != Some(&a.version_id) && !waiting && st.busy.insert(busy.clone())
        };
        if !start {
            continue;
        }
        let (shared, content) = (shared.clone(), content.clone());
        tokio::spawn(async move {
            let res = import(&shared, &content, &a).await;
            let mut st = content.state();
            st.busy.remove(&busy);
            match res {
                Ok(()) => {
                    st.retry.remove(&busy);
                    st.clm.insert(key, a.version_id.clone());
                    drop(st);
                    tracing::info!(project = %a.project, version = %a.version_id, "CLM version imported");
                    content.wake.notify_one();
                }
                Err(e) => {
                    let failures = st.retry.get(&busy).map_or(0, |(_, n)| *n) + 1;
                    let wait = super::replicate::backoff(failures);
                    st.retry
                        .insert(busy, (std::time::Instant::now() + wait, failures));
                    tracing::warn!(project = %a.project, version = %a.version_id, ?wait, "CLM import failed (retried): {e}")
                }
            }
        });
    }
}

/// Fetch the applied document and make the local server's project equal to it.
async fn import(shared: &ContentCtx, content: &Content, a: &ClmApplyRecord) -> Result<(), String> {
    let hash = super::hash_of(&a.hash).map_err(|e| e.to_string())?;
    let providers: Vec<content_sync::Provider> = super::holdings(shared.replica.store())
        .iter()
        .filter(|h| h.zone == shared.me.zone && h.node != shared.me.name)
        .filter_map(super::provider_of)
        .collect();
    content
        .fetcher
        .fetch(hash, &providers)
        .await
        .map_err(|e| e.to_string())?;
    let doc = ClmDocument::decode(&content.store.read(hash).await.map_err(|e| e.to_string())?)?;
    let c = client(shared).map_err(|e| e.message().to_string())?;
    let only: BTreeSet<String> = [doc.label.clone()].into();
    let current = common_api::fetch(c, CommonKind::ContentProject, Which::Only(&only))
        .await
        .map_err(|e| e.to_string())?;
    let kind = CommonKind::ContentProject;
    let (key, data) = (doc.label.clone(), doc.project.clone());
    let op = match current.get(&doc.label) {
        None => CommonOp::Create { kind, key, data },
        Some(cur) if cur != &doc.project => CommonOp::Update {
            kind,
            key,
            data,
            current: cur.clone(),
        },
        Some(_) => return Ok(()),
    };
    common_api::apply(c, &op).await.map_err(|e| e.to_string())
}
