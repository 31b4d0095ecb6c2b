//! The replication round: hold what the zone's repositories list, drop what no longer is,
//! import applied CLM versions, announce holdings. Runs every `scan_interval` and at once
//! after an import or apply.

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use content_sync::{AccessTable, BlobState, Manifest};
use crdt_store::{HoldingsRecord, Record, RecordKind, RepoRecord, SubscriptionRecord};
use tokio_util::sync::CancellationToken;

use crate::ContentCtx;
use crate::{Content, ContentMode, Loaded, plan, repo_tag};
use cluster_core::now_ms;

/// Run rounds until `cancel`.
pub async fn run(shared: ContentCtx, content: Arc<Content>, cancel: CancellationToken) {
    loop {
        // A round may wait on transfers for long: shutdown does not wait for it.
        tokio::select! {
            () = cancel.cancelled() => break,
            r = round(&shared, &content) => if let Err(e) = r {
                tracing::warn!("content round: {e}");
            },
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(content.cfg.scan_interval) => {}
            () = content.wake.notified() => {}
        }
    }
    if tokio::time::timeout(SHUTDOWN_WITHIN, content.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "content sync: the blob endpoint and store did not close within {SHUTDOWN_WITHIN:?}"
        );
    }
}

/// How long closing the blob endpoint and flushing the store may take at shutdown.
const SHUTDOWN_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

fn records<T>(
    store: &crdt_store::Store,
    kind: RecordKind,
    f: impl Fn(Record) -> Option<T>,
) -> Vec<T> {
    store.records(kind).into_iter().filter_map(f).collect()
}

/// Repositories and subscriptions in the metastore.
pub(crate) fn repos_and_subs(
    store: &crdt_store::Store,
) -> (Vec<RepoRecord>, Vec<SubscriptionRecord>) {
    let repos = records(store, RecordKind::Repo, |r| match r {
        Record::Repo(r) => Some(r),
        _ => None,
    });
    let subs = records(store, RecordKind::Subscription, |r| match r {
        Record::Subscription(s) => Some(s),
        _ => None,
    });
    (repos, subs)
}

/// Integrity handling: after this node was re-provisioned (its Node Controller re-applied
/// the zone's common data and set `reprovisioned_at` in its integrity record), every file it
/// holds is checked once against the zone's indexes, and what is missing or corrupt is
/// fetched again. A re-provisioning that ended before this peer's first round (a restart) is
/// taken as verified.
async fn verify_after_reprovision(shared: &ContentCtx, content: &Arc<Content>) {
    let at = match shared
        .replica
        .store()
        .get(&crdt_store::integrity_key(&shared.me.name))
    {
        Ok(Some(Record::Integrity(i))) => i.reprovisioned_at,
        _ => None,
    };
    let seen = content.state().reprovision_seen.replace(at);
    if seen.is_none() || seen == Some(at) || at.is_none() {
        return;
    }
    let report = super::repo::verify(shared, content, true).await;
    tracing::warn!(
        repos = report.repos,
        files = report.files,
        ok = report.ok,
        repaired = report.drift.len(),
        "re-provisioning: content verified against the zone's indexes"
    );
}

async fn round(shared: &ContentCtx, content: &Arc<Content>) -> Result<(), String> {
    verify_after_reprovision(shared, content).await;
    if content.state().written.is_none() {
        // After a restart: what this node imported into its server is in its own record.
        let me = crdt_store::holdings_key(&shared.me.name);
        if let Ok(Some(Record::Holdings(h))) = shared.replica.store().get(&me) {
            content.state().clm = h.clm;
        }
    }
    let store = shared.replica.store().clone();
    let (repos, subs) = tokio::task::spawn_blocking(move || repos_and_subs(&store))
        .await
        .map_err(|e| e.to_string())?;
    for h in super::holdings(shared.replica.store()) {
        if h.node != shared.me.name
            && let Some(p) = super::provider_of(&h)
        {
            content.ep.learn(p.id, &p.addrs);
        }
    }
    let wanted: Vec<RepoRecord> = plan::wanted(&shared.me.zone, &repos, &subs)
        .into_iter()
        .cloned()
        .collect();
    let wanted_ids: BTreeSet<String> = wanted
        .iter()
        .map(|r| plan::repo_id(&r.zone, &r.name))
        .collect();

    // Drop repositories no longer wanted: their tag goes, garbage collection does the rest.
    let gone: Vec<String> = {
        let st = content.state();
        st.loaded
            .keys()
            .filter(|k| !wanted_ids.contains(*k) && !st.busy.contains(&import_key(k)))
            .cloned()
            .collect()
    };
    for id in gone {
        content
            .store
            .unprotect(&repo_tag(&id))
            .await
            .map_err(|e| e.to_string())?;
        let mut st = content.state();
        st.loaded.remove(&id);
        st.complete.remove(&id);
        st.progress.remove(&id);
        tracing::info!(repo = %id, "content no longer wanted here: released");
    }
    // Tags of repositories this process has not loaded (after a restart) that are not wanted;
    // and loaded repositories whose tag is missing get it back.
    let tags = content
        .store
        .tags("repo/")
        .await
        .map_err(|e| e.to_string())?;
    for tag in &tags {
        let Some(id) = tag.strip_prefix("repo/") else {
            continue;
        };
        let importing = content.state().busy.contains(&import_key(id));
        if !wanted_ids.contains(id) && !importing {
            content
                .store
                .unprotect(tag)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    // Holdings maps are answered for loaded repositories only.
    let keep: std::collections::HashSet<content_sync::Hash> = content
        .state()
        .loaded
        .values()
        .filter_map(|l| super::hash_of(&l.record.manifest).ok())
        .collect();
    content.ep.have.retain(&keep);
    // A repository held completely (imported here, or fetched before) answers a full map;
    // one still fetching has its map from `sync_repo`, updated file by file.
    let full: Vec<(content_sync::Hash, Vec<content_sync::Hash>)> = {
        let st = content.state();
        st.loaded
            .iter()
            .filter(|(id, l)| st.complete.get(*id) == Some(&l.record.manifest))
            .filter_map(|(_, l)| {
                Some((
                    super::hash_of(&l.record.manifest).ok()?,
                    l.manifest
                        .files
                        .iter()
                        .map(|f| super::hash_of(&f.hash))
                        .collect::<Result<Vec<_>, _>>()
                        .ok()?,
                ))
            })
            .collect()
    };
    for (m, hashes) in full {
        if !content.ep.have.get(&m).is_some_and(|b| b.is_full()) {
            // With the files' hashes: super-seeding (when on) needs them.
            let n = hashes.len();
            content
                .ep
                .have
                .put_files(m, content_sync::Bitmap::full(n), hashes);
        }
    }
    let untagged: Vec<Arc<Loaded>> = {
        let st = content.state();
        st.loaded
            .iter()
            .filter(|(id, _)| !tags.contains(&repo_tag(id)) && !st.busy.contains(&import_key(id)))
            .map(|(_, l)| l.clone())
            .collect()
    };
    for l in untagged {
        let id = plan::repo_id(&l.record.zone, &l.record.name);
        let mut hashes: Vec<content_sync::Hash> = super::hash_of(&l.record.manifest)
            .ok()
            .into_iter()
            .collect();
        hashes.extend(l.by_path.values().map(|(h, _)| *h));
        content
            .store
            .protect(&repo_tag(&id), &hashes)
            .await
            .map_err(|e| e.to_string())?;
    }

    let now = Instant::now();
    for r in &wanted {
        let id = plan::repo_id(&r.zone, &r.name);
        // One task per repository at a time (it loads the index, then fetches the files), none
        // while this peer imports it, none before its back-off after a failure ends.
        let start = {
            let mut st = content.state();
            let current = st.loaded.get(&id);
            // A record older than what is loaded (read before an import finished) is stale.
            let stale = current.is_some_and(|l| l.record.version > r.version);
            let need_index = current.is_none_or(|l| l.record.manifest != r.manifest);
            let need_files =
                content.cfg.mode == ContentMode::Eager && st.complete.get(&id) != Some(&r.manifest);
            let waiting = st.retry.get(&id).is_some_and(|(at, _)| now < *at);
            !stale
                && (need_index || need_files)
                && !waiting
                && !st.busy.contains(&import_key(&id))
                && st.busy.insert(id.clone())
        };
        if !start {
            continue;
        }
        let (shared, content, id, r) = (shared.clone(), content.clone(), id.clone(), r.clone());
        tokio::spawn(async move {
            let res = replicate_repo(&shared, &content, &id, &r).await;
            let mut st = content.state();
            st.busy.remove(&id);
            if let Some(p) = st.progress.get_mut(&id) {
                p.fetching = false;
                p.last_error = res.as_ref().err().cloned();
            }
            match &res {
                Ok(()) => {
                    st.retry.remove(&id);
                }
                Err(e) => {
                    let failures = st.retry.get(&id).map_or(0, |(_, n)| *n) + 1;
                    let wait = backoff(failures);
                    tracing::debug!(repo = %id, ?wait, "replication failed, retried later: {e}");
                    st.retry
                        .insert(id.clone(), (Instant::now() + wait, failures));
                }
            }
            drop(st);
            if res.is_ok() {
                content.wake.notify_one();
            }
        });
    }
    update_access(content, &repos, &subs);
    super::clm::round(shared, content).await;
    write_holdings(shared, content).await
}

/// The busy key of an import of repository `id` (the round leaves its tag and index alone).
pub(crate) fn import_key(id: &str) -> String {
    format!("import/{id}")
}

/// Wait after the `n`-th failure in a row: 1 s, doubling, at most 60 s.
pub(crate) fn backoff(n: u32) -> Duration {
    Duration::from_secs(1u64 << n.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// Load the index of `r` if it is not loaded, then (eager mode) fetch its files.
async fn replicate_repo(
    shared: &ContentCtx,
    content: &Arc<Content>,
    id: &str,
    r: &RepoRecord,
) -> Result<(), String> {
    let loaded = content.state().loaded.get(id).cloned();
    if loaded.is_none_or(|l| l.record.manifest != r.manifest) {
        let l = load_manifest(shared, content, r).await?;
        let mut st = content.state();
        if st.busy.contains(&import_key(id)) {
            return Ok(());
        }
        st.complete.remove(id);
        st.loaded.insert(id.to_string(), l);
    }
    if content.cfg.mode == ContentMode::Eager {
        sync_repo(shared, content, id).await?;
    }
    Ok(())
}

/// Fetch (if needed), check and load a repository's manifest, and tag everything it lists.
async fn load_manifest(
    shared: &ContentCtx,
    content: &Content,
    r: &RepoRecord,
) -> Result<Arc<Loaded>, String> {
    let id = plan::repo_id(&r.zone, &r.name);
    let hash = super::hash_of(&r.manifest).map_err(|e| e.to_string())?;
    if !matches!(content.store.state(hash).await, Ok(BlobState::Complete(_))) {
        let providers = content.providers(shared, &r.zone, &id, &r.manifest);
        content
            .fetcher
            .fetch(hash, &providers)
            .await
            .map_err(|e| e.to_string())?;
    }
    let bytes = content.store.read(hash).await.map_err(|e| e.to_string())?;
    let manifest = Manifest::decode(&bytes).map_err(|e| e.to_string())?;
    let mut hashes = vec![hash];
    let mut by_path = std::collections::HashMap::with_capacity(manifest.files.len());
    for f in &manifest.files {
        let h = super::hash_of(&f.hash).map_err(|e| e.to_string())?;
        hashes.push(h);
        by_path.insert(f.path.clone(), (h, f.size));
    }
    content
        .store
        .protect(&repo_tag(&id), &hashes)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(repo = %id, version = r.version, files = manifest.files.len(), "repository index loaded");
    Ok(Arc::new(Loaded {
        record: r.clone(),
        manifest,
        by_path,
    }))
}

/// Fetch every file of a loaded repository this node lacks: rarest first over the
/// providers' holdings maps, `parallel_fetches` at a time (`content_sync::swarm`). What this
/// node holds is answered to other fetchers from its holdings table, updated file by file.
async fn sync_repo(shared: &ContentCtx, content: &Arc<Content>, id: &str) -> Result<(), String> {
    let Some(loaded) = content.state().loaded.get(id).cloned() else {
        return Ok(());
    };
    let r = &loaded.record;
    let manifest = super::hash_of(&r.manifest).map_err(|e| e.to_string())?;
    let mut files = Vec::with_capacity(loaded.manifest.files.len());
    let mut local = content_sync::Bitmap::new(loaded.manifest.files.len());
    let (mut present, mut present_bytes) = (0u64, 0u64);
    for (i, f) in loaded.manifest.files.iter().enumerate() {
        let h = super::hash_of(&f.hash).map_err(|e| e.to_string())?;
        if let BlobState::Complete(_) = content.store.state(h).await.map_err(|e| e.to_string())? {
            present += 1;
            present_bytes += f.size;
            local.set(i);
        }
        files.push(content_sync::SwarmFile {
            hash: h,
            size: f.size,
        });
    }
    content.ep.have.put_files(
        manifest,
        local.clone(),
        files.iter().map(|f| f.hash).collect(),
    );
    set_progress(content, id, &loaded, present, present_bytes, true);
    if !local.is_full() {
        let providers = content.swarm_providers(shared, &r.zone, id, &r.manifest);
        if providers.is_empty() {
            return Err("no provider for this repository is reachable".into());
        }
        tracing::info!(
            repo = %id,
            files = local.len() - local.count(),
            providers = providers.len(),
            "fetching"
        );
        let on_file = |_i: usize, size: u64| {
            let mut st = content.state();
            let p = st.progress.entry(id.to_string()).or_default();
            p.files = loaded.manifest.files.len() as u64;
            p.files_present += 1;
            p.bytes_present += size;
        };
        content_sync::fetch_repository(
            &content.fetcher,
            &shared.me.name,
            manifest,
            &files,
            local,
            providers,
            content.swarm_options(),
            on_file,
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    let mut st = content.state();
    if st
        .loaded
        .get(id)
        .is_some_and(|l| l.record.manifest == r.manifest)
    {
        st.complete.insert(id.to_string(), r.manifest.clone());
        tracing::info!(repo = %id, version = r.version, "repository complete");
    }
    Ok(())
}

fn set_progress(content: &Content, id: &str, l: &Loaded, files: u64, bytes: u64, fetching: bool) {
    let mut st = content.state();
    let p = st.progress.entry(id.to_string()).or_default();
    p.files = l.manifest.files.len() as u64;
    p.bytes = l.manifest.bytes();
    p.files_present = files;
    p.bytes_present = bytes;
    p.fetching = fetching;
}

/// Rebuild the serving side's blob → zones table when repositories, manifests or
/// subscriptions changed.
fn update_access(content: &Content, repos: &[RepoRecord], subs: &[SubscriptionRecord]) {
    let aud = plan::audiences(repos, subs);
    let mut st = content.state();
    let mut sig: Vec<(String, String, Vec<String>)> = st
        .loaded
        .iter()
        .map(|(id, l)| {
            (
                id.clone(),
                l.record.manifest.clone(),
                aud.get(id)
                    .map(|z| z.iter().cloned().collect())
                    .unwrap_or_default(),
            )
        })
        .collect();
    for (tag, (zone, hash)) in &st.clm_docs {
        sig.push((tag.clone(), hash.to_hex(), vec![zone.clone()]));
    }
    sig.sort();
    if sig == st.access_sig {
        return;
    }
    let mut t = AccessTable::default();
    for (id, l) in &st.loaded {
        let Some(zones) = aud.get(id) else { continue };
        let hashes = std::iter::once(super::hash_of(&l.record.manifest).ok())
            .chain(l.by_path.values().map(|(h, _)| Some(*h)))
            .flatten();
        t.allow(hashes, zones.iter().map(String::as_str));
    }
    for (zone, hash) in st.clm_docs.values() {
        t.allow([*hash], [zone.as_str()]);
    }
    content.gate.set_access(t);
    st.access_sig = sig;
}

/// Announce what this node holds (only when it changed).
async fn write_holdings(shared: &ContentCtx, content: &Content) -> Result<(), String> {
    let rec = {
        let st = content.state();
        HoldingsRecord {
            node: shared.me.name.clone(),
            zone: shared.me.zone.clone(),
            endpoint: content.endpoint_hex(),
            addrs: content.addrs.iter().map(ToString::to_string).collect(),
            repos: st.complete.clone(),
            clm: st.clm.clone(),
            updated_at: 0,
        }
    };
    let same = content.state().written.as_ref().is_some_and(|w| {
        HoldingsRecord {
            updated_at: 0,
            ..w.clone()
        } == rec
    });
    if same {
        return Ok(());
    }
    let rec = HoldingsRecord {
        updated_at: now_ms(),
        ..rec
    };
    super::put(shared, Record::Holdings(rec.clone()))
        .await
        .map_err(|e| e.message().to_string())?;
    content.state().written = Some(rec);
    Ok(())
}
