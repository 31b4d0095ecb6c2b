//! `uyuni-cluster content import`: a package tree on this peer's host becomes a repository of
//! its zone. Runs as a job; the CLI polls its progress.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use content_sync::{FileEntry, Manifest, tree};
use crdt_store::{Record, RepoRecord, repo_key, valid_content_name};
use serde::{Deserialize, Serialize};

use crate::ContentCtx;
use crate::{Content, Loaded, plan, repo_tag};
use cluster_core::api_error::{ApiError, bad};
use cluster_core::now_ms;

/// `POST /content/import`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRequest {
    /// Directory on the peer's host: a yum repository or Uyuni's package store.
    pub path: PathBuf,
    /// Repository name (`[A-Za-z0-9._-]+`).
    pub name: String,
}

/// An import's progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Job {
    /// Job id.
    pub id: u64,
    /// Repository name.
    pub name: String,
    /// `scanning`, `importing`, `done` or `failed`.
    pub state: String,
    /// Files found.
    pub files_total: u64,
    /// Files stored so far.
    pub files_done: u64,
    /// Bytes found.
    pub bytes_total: u64,
    /// Bytes stored so far.
    pub bytes_done: u64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The repository record written, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<RepoRecord>,
}

/// The peer's import jobs (kept for the process's lifetime; a handful per day).
#[derive(Debug, Default)]
pub struct Jobs {
    next: Mutex<u64>,
    jobs: Mutex<BTreeMap<u64, Job>>,
}

impl Jobs {
    fn update(&self, id: u64, f: impl FnOnce(&mut Job)) {
        if let Some(j) = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(&id)
        {
            f(j);
        }
    }

    /// A job by id.
    pub fn get(&self, id: u64) -> Option<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
    }
}

/// Start an import; returns the job at once.
pub fn start(
    shared: &ContentCtx,
    content: &Arc<Content>,
    mut req: ImportRequest,
) -> Result<Job, ApiError> {
    if !valid_content_name(&req.name) {
        return Err(bad(format!(
            "bad repository name {:?}: use letters, digits, '.', '_' and '-'",
            req.name
        )));
    }
    // Only under content.import_roots, never the peer's own files; the job reads the
    // directory with every symbolic link resolved (docs/CONTENT.md, "Imports").
    req.path =
        crate::import_roots::check(&content.cfg.import_roots, &content.cfg.protected, &req.path)?;
    // While it runs, the replication round leaves this repository's tag and index alone.
    let busy = super::replicate::import_key(&plan::repo_id(&shared.me.zone, &req.name));
    if !content.state().busy.insert(busy.clone()) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("{} is being imported already", req.name),
        ));
    }
    let id = {
        let mut n = content
            .jobs
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *n += 1;
        *n
    };
    let job = Job {
        id,
        name: req.name.clone(),
        state: "scanning".into(),
        ..Job::default()
    };
    content
        .jobs
        .jobs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id, job.clone());
    let (shared, content) = (shared.clone(), content.clone());
    tokio::spawn(async move {
        let res = run(&shared, &content, id, req).await;
        content.state().busy.remove(&busy);
        if let Err(e) = res {
            tracing::warn!("import {id} failed: {e}");
            content.jobs.update(id, |j| {
                j.state = "failed".into();
                j.error = Some(e);
            });
        }
    });
    Ok(job)
}

async fn run(
    shared: &ContentCtx,
    content: &Arc<Content>,
    id: u64,
    req: ImportRequest,
) -> Result<(), String> {
    let path = req.path.clone();
    let (layout, files) = tokio::task::spawn_blocking(move || tree::scan(&path))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    content.jobs.update(id, |j| {
        j.state = "importing".into();
        j.files_total = files.len() as u64;
        j.bytes_total = total;
    });
    tracing::info!(repo = %req.name, files = files.len(), bytes = total, ?layout, "import started");
    // Temp tags keep the new blobs until the repository's tag does.
    let mut keep = Vec::with_capacity(files.len());
    let mut entries = Vec::with_capacity(files.len());
    for f in &files {
        let tt = content
            .store
            .add_file(&f.abs)
            .await
            .map_err(|e| e.to_string())?;
        // The size of what was stored (a file still being written may have changed since
        // the scan).
        let size = match content
            .store
            .state(tt.hash())
            .await
            .map_err(|e| e.to_string())?
        {
            content_sync::BlobState::Complete(n) => n,
            other => return Err(format!("{}: stored as {other:?}", f.abs.display())),
        };
        entries.push(FileEntry {
            path: f.rel.clone(),
            hash: tt.hash().to_hex(),
            size,
        });
        keep.push(tt);
        content.jobs.update(id, |j| {
            j.files_done += 1;
            j.bytes_done += size;
        });
    }
    let manifest = Manifest::new(&req.name, layout, entries).map_err(|e| e.to_string())?;
    let mtt = content
        .store
        .add_bytes(manifest.encode())
        .await
        .map_err(|e| e.to_string())?;
    let zone = shared.me.zone.clone();
    let rid = plan::repo_id(&zone, &req.name);
    let mut hashes = vec![mtt.hash()];
    hashes.extend(keep.iter().map(|t| t.hash()));
    content
        .store
        .protect(&repo_tag(&rid), &hashes)
        .await
        .map_err(|e| e.to_string())?;
    let version = match shared.replica.store().get(&repo_key(&zone, &req.name)) {
        Ok(Some(Record::Repo(r))) => r.version + 1,
        _ => 1,
    };
    let rec = RepoRecord {
        zone,
        name: req.name.clone(),
        manifest: mtt.hash().to_hex(),
        files: manifest.files.len() as u64,
        bytes: manifest.bytes(),
        version,
        deleted: false,
        imported_by: shared.me.name.clone(),
        updated_at: now_ms(),
    };
    let by_path = manifest
        .files
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                (super::hash_of(&f.hash).unwrap_or(mtt.hash()), f.size),
            )
        })
        .collect();
    {
        let mut st = content.state();
        st.loaded.insert(
            rid.clone(),
            Arc::new(Loaded {
                record: rec.clone(),
                manifest,
                by_path,
            }),
        );
        st.complete.insert(rid.clone(), rec.manifest.clone());
    }
    super::put(shared, Record::Repo(rec.clone()))
        .await
        .map_err(|e| e.message().to_string())?;
    tracing::info!(repo = %rid, version, manifest = %rec.manifest, "import done");
    content.jobs.update(id, |j| {
        j.state = "done".into();
        j.repo = Some(rec);
    });
    content.wake.notify_one();
    Ok(())
}
