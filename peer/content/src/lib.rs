//! # content-peer — the peer side of content sync
//!
//! Content sync in the peer (docs/CONTENT.md): the node's blob store and iroh endpoint, the
//! replication round that makes it hold what its zone's repositories list, imports, the local
//! repository `reposync` reads, integrity checks and CLM documents.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod clm;
pub mod config;
pub mod gate;
pub mod import;
pub mod import_roots;
pub mod plan;
pub mod replicate;
pub mod repo;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use content_sync::{
    BlobStore, ContentEndpoint, ContentError, Fetcher, Hash, Manifest, Provider, parse_hash,
};
use crdt_store::{HoldingsRecord, Record, RecordKind, RepoRecord};

use cluster_core::{Members, Replica, SelfInfo};
pub use config::{ContentConfig, ContentMode};
pub use import_roots::{ImportRefused, ProtectedPath};

/// What content sync and its endpoints work with.
#[derive(Debug, Clone)]
pub struct ContentCtx {
    /// The metastore replica.
    pub replica: Replica,
    /// The membership table (providers that are down are skipped).
    pub members: Members,
    /// This peer.
    pub me: Arc<SelfInfo>,
    /// Content sync itself (`None` with `[content] enabled = false`, or on a gateway).
    pub content: Option<Arc<Content>>,
    /// The Node Controller (CLM documents go through its server's API).
    pub nc: Option<node_controller::Handle>,
}

/// A repository whose manifest this node holds.
#[derive(Debug)]
pub struct Loaded {
    /// Its record (the version loaded).
    pub record: RepoRecord,
    /// Its index.
    pub manifest: Manifest,
    /// Path → (hash, size).
    pub by_path: HashMap<String, (Hash, u64)>,
}

/// Progress of a repository's replication on this node.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepoProgress {
    /// Files the manifest lists.
    pub files: u64,
    /// Files stored completely.
    pub files_present: u64,
    /// Bytes listed.
    pub bytes: u64,
    /// Bytes of the files stored completely.
    pub bytes_present: u64,
    /// A fetch is running.
    pub fetching: bool,
    /// The last fetch's error, if it failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// `<zone>/<name>` → loaded manifest.
    pub(crate) loaded: HashMap<String, Arc<Loaded>>,
    /// `<zone>/<name>` → manifest held completely.
    pub(crate) complete: BTreeMap<String, String>,
    /// `<zone>/<project>` → CLM version imported into the local server.
    pub(crate) clm: BTreeMap<String, String>,
    /// Replication progress by repository.
    pub(crate) progress: HashMap<String, RepoProgress>,
    /// Repositories and CLM projects with a task running (`import/<id>`: an import).
    pub(crate) busy: HashSet<String>,
    /// Repositories and CLM projects whose last try failed: retry not before, failures in a row.
    pub(crate) retry: HashMap<String, (std::time::Instant, u32)>,
    /// The last holdings record written.
    pub(crate) written: Option<HoldingsRecord>,
    /// CLM documents this node keeps: tag → (zone, hash).
    pub(crate) clm_docs: BTreeMap<String, (String, Hash)>,
    /// Signature of the inputs of the access table, to rebuild it only on change.
    pub(crate) access_sig: Vec<(String, String, Vec<String>)>,
    /// The end of this node's last re-provisioning (its integrity record's
    /// `reprovisioned_at`) whose content this peer verified; `None` until the first round.
    pub(crate) reprovision_seen: Option<Option<u64>>,
}

/// The content service of one peer.
#[derive(Debug)]
pub struct Content {
    /// Configuration.
    pub cfg: ContentConfig,
    /// The blob store.
    pub store: BlobStore,
    /// The iroh endpoint.
    pub ep: ContentEndpoint,
    /// Fetches from other members.
    pub fetcher: Fetcher,
    /// Access checks of the serving side.
    pub gate: Arc<gate::PeerGate>,
    /// Announced UDP addresses.
    pub addrs: Vec<SocketAddr>,
    pub(crate) state: Mutex<State>,
    /// Wakes the replication round early.
    pub(crate) wake: tokio::sync::Notify,
    pub(crate) jobs: import::Jobs,
}

/// Tag keeping a repository's blobs.
pub(crate) fn repo_tag(id: &str) -> String {
    format!("repo/{id}")
}

impl Content {
    /// Open the store under `dir`, bind the endpoint with the node's ed25519 `secret`.
    /// `advertise_ips`: where other members reach this host (used when bound to 0.0.0.0).
    pub async fn start(
        cfg: ContentConfig,
        dir: &std::path::Path,
        secret: [u8; 32],
        bind: SocketAddr,
        advertise_ips: &[std::net::IpAddr],
        store: crdt_store::Store,
    ) -> Result<Arc<Self>, ContentError> {
        let blobs = BlobStore::open(dir, Some(cfg.gc_interval)).await?;
        let gate = Arc::new(gate::PeerGate::new(store));
        let kib = |k: u64| (k > 0).then_some(k * 1024);
        let ep = ContentEndpoint::bind(
            secret,
            bind,
            &blobs,
            gate.clone(),
            content_sync::ServeOptions {
                upload_limit: kib(cfg.max_upload_kib_s),
                upload_slots: cfg.upload_slots,
                seed: content_sync::SeedOptions {
                    copies: cfg.super_seed_copies,
                    hold: cfg.super_seed_hold,
                },
                watch: content_sync::WatchOptions::default(),
            },
        )
        .await?;
        let mut addrs = Vec::new();
        for a in ep.addrs() {
            if a.ip().is_unspecified() {
                addrs.extend(
                    advertise_ips
                        .iter()
                        .map(|ip| SocketAddr::new(*ip, a.port())),
                );
            } else {
                addrs.push(a);
            }
        }
        let fetcher = Fetcher::new(ep.clone(), blobs.clone(), kib(cfg.max_download_kib_s));
        tracing::info!(endpoint = %ep.id().fmt_short(), ?addrs, mode = ?cfg.mode, "content sync up");
        Ok(Arc::new(Self {
            cfg,
            store: blobs,
            ep,
            fetcher,
            gate,
            addrs,
            state: Mutex::new(State::default()),
            wake: tokio::sync::Notify::new(),
            jobs: import::Jobs::default(),
        }))
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Close the endpoint and flush the store.
    pub async fn shutdown(&self) {
        self.ep.shutdown().await;
        self.store.shutdown().await;
    }

    /// The endpoint id as hex.
    pub fn endpoint_hex(&self) -> String {
        hex::encode(self.ep.id().as_bytes())
    }

    /// How a repository is fetched from many providers (from the configuration).
    pub(crate) fn swarm_options(&self) -> content_sync::SwarmOptions {
        content_sync::SwarmOptions {
            parallel: self.cfg.parallel_fetches,
            per_provider: self.cfg.fetches_per_provider,
            split_threshold: self.cfg.split_threshold_mib.saturating_mul(1 << 20),
            max_split: self.cfg.max_split,
            poll_interval: self.cfg.have_poll_interval,
            ..content_sync::SwarmOptions::default()
        }
    }

    /// Providers for a repository as this node sees them, with whether their holdings
    /// record says they hold this version completely.
    pub(crate) fn swarm_providers(
        &self,
        shared: &ContentCtx,
        repo_zone: &str,
        repo: &str,
        manifest: &str,
    ) -> Vec<content_sync::SwarmProvider> {
        let holdings = holdings(shared.replica.store());
        let down = down_nodes(shared);
        plan::providers(
            &shared.me.name,
            &shared.me.zone,
            repo_zone,
            repo,
            manifest,
            &holdings,
            &down,
        )
        .into_iter()
        .filter_map(|h| {
            Some(content_sync::SwarmProvider {
                provider: provider_of(h)?,
                complete: h.repos.get(repo).is_some_and(|m| m == manifest),
            })
        })
        .collect()
    }

    /// Providers for a repository of `repo_zone` as this node sees them.
    pub(crate) fn providers(
        &self,
        shared: &ContentCtx,
        repo_zone: &str,
        repo: &str,
        manifest: &str,
    ) -> Vec<Provider> {
        let holdings = holdings(shared.replica.store());
        let down = down_nodes(shared);
        plan::providers(
            &shared.me.name,
            &shared.me.zone,
            repo_zone,
            repo,
            manifest,
            &holdings,
            &down,
        )
        .into_iter()
        .filter_map(provider_of)
        .collect()
    }
}

/// The metastore's holdings records.
pub(crate) fn holdings(store: &crdt_store::Store) -> Vec<HoldingsRecord> {
    store
        .records(RecordKind::Holdings)
        .into_iter()
        .filter_map(|r| match r {
            Record::Holdings(h) => Some(h),
            _ => None,
        })
        .collect()
}

/// Nodes the membership sees as down or gone.
pub(crate) fn down_nodes(shared: &ContentCtx) -> BTreeSet<String> {
    use cluster_core::membership::MemberStatus;
    let names: HashMap<String, String> = shared
        .replica
        .store()
        .nodes()
        .into_iter()
        .map(|n| (n.peer_id, n.name))
        .collect();
    shared
        .members
        .lock()
        .members()
        .filter(|m| matches!(m.status, MemberStatus::Down | MemberStatus::Left))
        .filter_map(|m| names.get(&m.peer_id).cloned())
        .collect()
}

/// A holdings record as a [`Provider`].
pub(crate) fn provider_of(h: &HoldingsRecord) -> Option<Provider> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(&h.endpoint, &mut id).ok()?;
    let id = content_sync::EndpointId::from_bytes(&id).ok()?;
    let addrs = h.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    Some(Provider { id, addrs })
}

/// Store a record and broadcast it.
pub(crate) async fn put(shared: &ContentCtx, rec: Record) -> Result<(), cluster_core::ApiError> {
    Ok(shared.replica.put_batch(vec![rec]).await?)
}

/// Parse a record's hex hash.
pub(crate) fn hash_of(hex: &str) -> Result<Hash, ContentError> {
    parse_hash(hex)
}
