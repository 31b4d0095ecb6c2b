//! The Node Controller: the bridge between this peer and the Uyuni server beside it.
//!
//! * **Out of Uyuni**: the outbox reader ([`crate::outbox`]) delivers the server's row
//!   changes; [`kinds::classify`] says what each means. Common-data changes on the zone's
//!   Leader Node join the lease's change set (published at once with `auto_publish`); a
//!   system removed on the node by an administrator is marked deleted in the cluster.
//! * **Into Uyuni**: every `reconcile_interval` the controller makes the server hold the
//!   zone's published common data ([`reconcile`]) and exactly the systems assigned to it
//!   ([`systems`]), through the server's XML-RPC API ([`common_api`], `uyuni_api`).
//! * **Leader Node**: [`lease`] holds the rules; "apply cluster update" is
//!   [`Handle::publish`].
//!
//! One task owns the API client and the outbox channel; the HTTP API talks to it through
//! [`Handle`] (a bounded command channel and a status snapshot).

pub mod common_api;
pub mod config;
pub mod kinds;
pub mod lease;
pub mod reconcile;
pub mod slot;
pub mod systems;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crdt_store::{CommonRecord, LeaseRecord, Record, RecordKind, SystemStatus};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uyuni_api::{ApiError, ClientConfig, UyuniClient};

use common_api::Which;
pub use config::UyuniConfig;
use kinds::{Change, CommonKind};
use lease::LeaseError;
use systems::{LocalSystems, SystemOp};

use crate::node::{Shared, now_ms};
use crate::outbox::{OutboxBatch, OutboxConfig};

/// How long a change this controller made itself is not counted as drift, and a system it
/// removed itself is not taken for an administrator's removal.
const OWN_CHANGE_MEMORY: Duration = Duration::from_secs(600);

/// What the Node Controller is doing, for `GET /node-controller`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The Uyuni API endpoint.
    pub uyuni_url: String,
    /// Whether events are read from the database outbox.
    pub outbox: bool,
    /// The last API call succeeded.
    pub reachable: bool,
    /// The last error, if the last round failed.
    pub last_error: Option<String>,
    /// Outbox events received.
    pub outbox_events: u64,
    /// Highest outbox id acknowledged.
    pub last_outbox_id: Option<i64>,
    /// Common-data changes added to the Leader Node change set.
    pub captured: u64,
    /// Common-data changes made on this node outside a lease it holds (not replicated).
    pub drift: u64,
    /// Package content changes seen (content sync acts on them).
    pub content_events: u64,
    /// Systems an administrator removed on this node, marked deleted in the cluster.
    pub removed_on_node: u64,
    /// Salt keys accepted for systems assigned here.
    pub keys_accepted: u64,
    /// Systems removed from this node because the cluster moved or deleted them.
    pub systems_removed: u64,
    /// Common-data operations applied to this node.
    pub common_ops: u64,
    /// Zone common-data generation this node holds.
    pub common_generation: Option<u64>,
    /// Minions on this node the cluster does not know.
    pub unmanaged_systems: usize,
    /// Systems assigned here whose minion has not connected yet.
    pub awaiting_minion: usize,
    /// End of the last complete reconcile (Unix ms).
    pub last_reconcile_ms: Option<u64>,
    /// Published objects this node's server refused (`<kind>/<key>: fault`): left out, the
    /// rest of the generation is applied. Cleared by the next successful comparison.
    pub common_failures: Vec<String>,
    /// The zone's newest generation is not complete in this replica yet (its records are
    /// still arriving).
    pub waiting_for_records: bool,
}

/// Errors of Node Controller operations.
#[derive(Debug, thiserror::Error)]
pub enum NcError {
    /// The Uyuni API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The lease forbids it.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The metastore failed.
    #[error("metastore: {0}")]
    Store(String),
    /// The controller is stopped.
    #[error("the Node Controller is not running")]
    Unavailable,
}

/// What a publication wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// Zone.
    pub zone: String,
    /// The zone's generation after it.
    pub generation: u64,
    /// `<kind>/<key>` written (`-<kind>/<key>` for removals).
    pub published: Vec<String>,
}

enum Command {
    Publish {
        all: bool,
        reply: oneshot::Sender<Result<PublishReport, NcError>>,
    },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Publish { all, .. } => f.debug_struct("Publish").field("all", all).finish(),
        }
    }
}

/// The HTTP API's handle on the controller.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    status: Arc<Mutex<Status>>,
    lease_ttl: Duration,
    client: UyuniClient,
}

impl Handle {
    /// The Uyuni API client of this node's server (CLM documents export and import through it).
    pub fn client(&self) -> &UyuniClient {
        &self.client
    }

    /// Default lease length (`[uyuni] lease_ttl_ms`).
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// A snapshot of the status.
    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// "Apply cluster update": publish this node's change set (or, with `all`, every common
    /// object it has) to its zone. This node must hold the zone's lease.
    pub async fn publish(&self, all: bool) -> Result<PublishReport, NcError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Publish { all, reply })
            .await
            .map_err(|_| NcError::Unavailable)?;
        rx.await.map_err(|_| NcError::Unavailable)?
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The controller before it runs (made before [`Shared`], which holds its [`Handle`]).
#[derive(Debug)]
pub struct Prepared {
    cfg: UyuniConfig,
    client: UyuniClient,
    cmds: mpsc::Receiver<Command>,
    status: Arc<Mutex<Status>>,
}

/// Set up the controller for `cfg` (`None` when `[uyuni] url` is not set).
pub fn prepare(cfg: &UyuniConfig) -> Result<Option<(Handle, Prepared)>, NcError> {
    let Some(url) = &cfg.url else { return Ok(None) };
    let password = cfg
        .password()
        .map_err(|e| NcError::Api(ApiError::Config(e.to_string())))?;
    let mut cc = ClientConfig::new(url, &cfg.user, &password);
    cc.ca_file = cfg.ca_file.clone();
    cc.timeout = cfg.request_timeout;
    cc.retries = cfg.retries;
    let client = UyuniClient::new(cc)?;
    let (tx, cmds) = mpsc::channel(8);
    let status = Arc::new(Mutex::new(Status {
        uyuni_url: url.clone(),
        outbox: cfg.db.is_some(),
        ..Status::default()
    }));
    Ok(Some((
        Handle {
            tx,
            status: status.clone(),
            lease_ttl: cfg.lease_ttl,
            client: client.clone(),
        },
        Prepared {
            cfg: cfg.clone(),
            client,
            cmds,
            status,
        },
    )))
}

struct Controller {
    shared: Shared,
    cfg: UyuniConfig,
    client: UyuniClient,
    status: Arc<Mutex<Status>>,
    started: Instant,
    applied: Option<u64>,
    last_full: Option<Instant>,
    /// `<kind>/<key>` this controller changed itself, and when.
    own_changes: HashMap<String, Instant>,
    /// Minions this controller removed itself, and when.
    own_removals: HashMap<String, Instant>,
    /// The cluster's records of the systems that matter to this node.
    cache: SystemsCache,
}

/// The cluster's records of the systems that matter to this node (assigned here, assigned
/// here before, or present on its server), kept current from the store's change events so
/// that a round does not scan every system of the cluster. A full scan happens at start,
/// after the change stream lagged, and when a minion the cache does not know appears on the
/// server.
#[derive(Debug, Default)]
struct SystemsCache {
    /// Record by store key.
    by_key: HashMap<String, crdt_store::SystemRecord>,
    /// A full scan is needed.
    stale: bool,
    /// Minions on the server at the last round.
    here: BTreeSet<String>,
    /// Minions on the server that no record matched at the last full scan.
    unknown: BTreeSet<String>,
    /// When the last full scan ran (one runs every `resync_interval_ms` too).
    built_at: Option<Instant>,
}

impl SystemsCache {
    fn relevant(&self, r: &crdt_store::SystemRecord, me: &str) -> bool {
        r.node.as_deref() == Some(me)
            || r.previous_node.as_deref() == Some(me)
            || self.here.contains(&r.minion_id)
    }
}

/// Run the controller until `cancel`.
pub async fn run(p: Prepared, shared: Shared, cancel: CancellationToken) {
    let Prepared {
        cfg,
        client,
        mut cmds,
        status,
    } = p;
    let (otx, mut orx) = mpsc::channel::<OutboxBatch>(4);
    let outbox_on = cfg.db.is_some();
    if let Some(dsn) = &cfg.db {
        let _reader = crate::outbox::spawn(
            OutboxConfig {
                dsn: dsn.clone(),
                batch: cfg.outbox_batch,
                reconnect_min: Duration::from_millis(100),
                reconnect_max: Duration::from_secs(5),
                watchdog: Duration::from_secs(30),
                poll: cfg.outbox_poll,
            },
            otx,
            cancel.child_token(),
        );
    } else {
        drop(otx);
    }
    let mut c = Controller {
        shared,
        cfg,
        client,
        status,
        started: Instant::now(),
        // Whatever the node record says, compare everything once after a start.
        applied: None,
        last_full: None,
        own_changes: HashMap::new(),
        own_removals: HashMap::new(),
        cache: SystemsCache {
            stale: true,
            ..SystemsCache::default()
        },
    };
    let mut changes = c.shared.store.subscribe();
    let mut tick = tokio::time::interval(c.cfg.reconcile_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(cmd) = cmds.recv() => match cmd {
                Command::Publish { all, reply } => {
                    let r = c.publish(all).await;
                    let _ = reply.send(r);
                }
            },
            Some(batch) = orx.recv(), if outbox_on => c.on_batch(batch).await,
            ev = changes.recv() => match ev {
                Ok(ev) => c.on_store_change(ev).await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => c.cache.stale = true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    changes = c.shared.store.subscribe();
                    c.cache.stale = true;
                }
            },
            _ = tick.tick() => c.on_tick().await,
        }
    }
    c.client.logout().await;
}

impl Controller {
    fn me(&self) -> &str {
        &self.shared.me.name
    }

    fn zone(&self) -> &str {
        &self.shared.me.zone
    }

    fn note<T>(&self, r: &Result<T, NcError>) {
        let mut s = lock(&self.status);
        match r {
            Ok(_) => {
                s.reachable = true;
                s.last_error = None;
            }
            Err(e) => {
                if let NcError::Api(a) = e {
                    s.reachable = !a.is_transient();
                }
                s.last_error = Some(e.to_string());
            }
        }
    }

    fn lease(&self) -> Option<LeaseRecord> {
        match self
            .shared
            .store
            .get(&format!("{}{}", RecordKind::Lease.prefix(), self.zone()))
        {
            Ok(Some(Record::Lease(l))) => Some(l),
            _ => None,
        }
    }

    /// This node is the lease's holder (also after it expired, until another node claims it).
    fn is_holder(&self) -> bool {
        self.lease()
            .is_some_and(|l| l.holder.as_deref() == Some(self.me()))
    }

    async fn write(&self, records: Vec<Record>) -> Result<(), NcError> {
        if records.is_empty() {
            return Ok(());
        }
        let store = self.shared.store.clone();
        let frames = tokio::task::spawn_blocking(move || store.put_batch(&records))
            .await
            .map_err(|e| NcError::Store(e.to_string()))?
            .map_err(|e| NcError::Store(e.to_string()))?;
        self.shared.repl.broadcast(frames).await;
        Ok(())
    }

    async fn zone_records(&self) -> Result<Vec<CommonRecord>, NcError> {
        let zone = self.zone().to_string();
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || {
            store
                .records(RecordKind::Common)
                .into_iter()
                .filter_map(|r| match r {
                    Record::Common(c) if c.zone == zone => Some(c),
                    _ => None,
                })
                .collect()
        })
        .await
        .map_err(|e| NcError::Store(e.to_string()))
    }

    fn forget_old(&mut self) {
        let now = Instant::now();
        self.own_changes
            .retain(|_, t| now.duration_since(*t) < OWN_CHANGE_MEMORY);
        self.own_removals
            .retain(|_, t| now.duration_since(*t) < OWN_CHANGE_MEMORY);
    }

    // ---- events out of Uyuni ----

    async fn on_batch(&mut self, batch: OutboxBatch) {
        let OutboxBatch { events, ack } = batch;
        let mut entries = BTreeSet::new();
        let mut removed = BTreeSet::new();
        let (mut content, mut drift) = (0u64, 0u64);
        let holder = self.is_holder();
        self.forget_old();
        for ev in &events {
            let change = kinds::classify(ev);
            match &change {
                Change::Common { .. } => {
                    if let Some(entry) = change.pending_entry() {
                        if holder {
                            entries.insert(entry);
                        } else if !self.own_changes.contains_key(&entry) && !entry.ends_with("/*") {
                            drift += 1;
                        }
                    }
                }
                Change::SystemRemoved { minion_id, .. } => {
                    if !self.own_removals.contains_key(minion_id) {
                        removed.insert(minion_id.clone());
                    }
                }
                Change::Content { .. } => content += 1,
                Change::SystemAdded { .. } | Change::Ignored => {}
            }
        }
        let result = self.capture(entries).await;
        let result = match result {
            Ok(auto) => self.mark_removed(removed).await.map(|_| auto),
            Err(e) => Err(e),
        };
        match result {
            Ok(auto) => {
                {
                    let mut s = lock(&self.status);
                    s.outbox_events += events.len() as u64;
                    s.content_events += content;
                    s.drift += drift;
                    if let Some(last) = events.last() {
                        s.last_outbox_id = Some(last.id);
                    }
                }
                // Acknowledged only once the metastore holds the result: a crash before this
                // point redelivers the batch, and capturing it again changes nothing.
                let _ = ack.send(());
                if auto {
                    let r = self.publish(false).await;
                    if let Err(e) = &r {
                        tracing::warn!(error = %e, "automatic publication failed; the change set is kept");
                    }
                    self.note(&r);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox batch not processed; it will be delivered again");
                self.note::<()>(&Err(e));
                drop(ack);
            }
        }
    }

    /// Add captured changes to the change set; `Ok(true)` when they should be published at
    /// once (`auto_publish`).
    async fn capture(&mut self, entries: BTreeSet<String>) -> Result<bool, NcError> {
        if entries.is_empty() {
            return Ok(false);
        }
        let n = entries.len() as u64;
        let _w = self.shared.write_lock.lock().await;
        let current = self.lease();
        match lease::capture(current.as_ref(), self.me(), now_ms(), entries) {
            Some(next) => {
                let auto = next.auto_publish;
                self.write(vec![Record::Lease(next)]).await?;
                lock(&self.status).captured += n;
                Ok(auto)
            }
            None => Ok(current.is_some_and(|l| l.auto_publish && !l.pending.is_empty())),
        }
    }

    /// Systems an administrator removed on this node leave the cluster (status deleted).
    async fn mark_removed(&mut self, minions: BTreeSet<String>) -> Result<(), NcError> {
        if minions.is_empty() {
            return Ok(());
        }
        let me = self.me().to_string();
        // The systems assigned here are in the cache (no scan of the whole store).
        let fps: Vec<String> = self
            .cache
            .by_key
            .values()
            .filter(|s| {
                s.node.as_deref() == Some(me.as_str())
                    && s.status == SystemStatus::Onboarded
                    && minions.contains(&s.minion_id)
            })
            .map(|s| s.fingerprint.clone())
            .collect();
        if fps.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let store = self.shared.store.clone();
        let n = fps.len() as u64;
        // Read-modify-write like the API's: under the write lock.
        let _w = self.shared.write_lock.lock().await;
        let (frames, _) = tokio::task::spawn_blocking(move || {
            store.update_systems(&fps, |r| {
                if r.node.as_deref() != Some(me.as_str()) || r.status != SystemStatus::Onboarded {
                    return false;
                }
                r.status = SystemStatus::Deleted;
                r.node = None;
                r.previous_node = None;
                r.updated_at = now.max(r.updated_at + 1);
                true
            })
        })
        .await
        .map_err(|e| NcError::Store(e.to_string()))?
        .map_err(|e| NcError::Store(e.to_string()))?;
        self.shared.repl.broadcast(frames).await;
        tracing::info!(
            systems = n,
            "systems removed on this node: deleted in the cluster"
        );
        lock(&self.status).removed_on_node += n;
        Ok(())
    }

    /// Keep the systems cache current with the store's changes.
    async fn on_store_change(&mut self, ev: crdt_store::ChangeEvent) {
        let keys: Vec<String> = ev
            .keys
            .into_iter()
            .filter(|k| k.starts_with(RecordKind::System.prefix()))
            .collect();
        if keys.is_empty() || self.cache.stale {
            return;
        }
        let store = self.shared.store.clone();
        let Ok(recs) = tokio::task::spawn_blocking(move || {
            keys.into_iter()
                .map(|k| {
                    let r = match store.get(&k) {
                        Ok(Some(Record::System(s))) => Some(s),
                        _ => None,
                    };
                    (k, r)
                })
                .collect::<Vec<_>>()
        })
        .await
        else {
            self.cache.stale = true;
            return;
        };
        let me = self.shared.me.name.clone();
        for (k, r) in recs {
            match r {
                Some(r) if self.cache.by_key.contains_key(&k) || self.cache.relevant(&r, &me) => {
                    self.cache.by_key.insert(k, r);
                }
                Some(_) => {}
                None => {
                    self.cache.by_key.remove(&k);
                }
            }
        }
    }

    /// Scan every system once: the records that matter to this node.
    async fn rebuild_cache(&mut self) -> Result<(), NcError> {
        let me = self.me().to_string();
        let here = self.cache.here.clone();
        let store = self.shared.store.clone();
        let found = tokio::task::spawn_blocking(move || {
            store.systems_where(|s| {
                s.node.as_deref() == Some(me.as_str())
                    || s.previous_node.as_deref() == Some(me.as_str())
                    || here.contains(&s.minion_id)
            })
        })
        .await
        .map_err(|e| NcError::Store(e.to_string()))?;
        self.cache.by_key = found
            .into_iter()
            .map(|r| (crdt_store::system_key(&r.fingerprint), r))
            .collect();
        let known: BTreeSet<&String> = self.cache.by_key.values().map(|r| &r.minion_id).collect();
        self.cache.unknown = self
            .cache
            .here
            .iter()
            .filter(|m| !known.contains(m))
            .cloned()
            .collect();
        self.cache.stale = false;
        self.cache.built_at = Some(Instant::now());
        Ok(())
    }

    // ---- Leader Node publication ----

    async fn publish(&mut self, all: bool) -> Result<PublishReport, NcError> {
        let now = now_ms();
        let current = self.lease();
        let lease = match &current {
            Some(l) if l.holder_at(now) == Some(self.me()) => l.clone(),
            _ => {
                return Err(NcError::Lease(LeaseError::NotHolder {
                    zone: self.zone().to_string(),
                    node: self.me().to_string(),
                }));
            }
        };
        let kinds: Vec<CommonKind> = if all {
            CommonKind::ALL.to_vec()
        } else {
            CommonKind::ALL
                .into_iter()
                .filter(|k| {
                    let prefix = format!("{k}/");
                    lease.pending.iter().any(|p| p.starts_with(&prefix))
                })
                .collect()
        };
        let published_now = self.zone_records().await?;
        let mut changes = Vec::new();
        for kind in kinds {
            let prefix = format!("{kind}/");
            let named: BTreeSet<String> = lease
                .pending
                .iter()
                .filter_map(|p| p.strip_prefix(&prefix))
                .map(str::to_string)
                .collect();
            if all || named.contains("*") {
                // The whole kind: every object compared, vanished ones become tombstones.
                let local = common_api::fetch(&self.client, kind, Which::All).await?;
                let local = reconcile::Actual::from([(kind, local)]);
                changes.extend(reconcile::changes_to_publish(
                    &[kind],
                    &local,
                    &published_now,
                ));
            } else {
                // Only the objects the change set names.
                let local = common_api::fetch(&self.client, kind, Which::Only(&named)).await?;
                changes.extend(reconcile::changes_for_keys(
                    kind,
                    &named,
                    &local,
                    &published_now,
                ));
            }
        }
        let _w = self.shared.write_lock.lock().await;
        // The lease may have changed while the API was read.
        let latest = self.lease().unwrap_or(lease);
        if latest.holder_at(now_ms()) != Some(self.me()) {
            return Err(NcError::Lease(LeaseError::NotHolder {
                zone: self.zone().to_string(),
                node: self.me().to_string(),
            }));
        }
        let next = lease::published(&latest, now_ms(), changes.len() as u64);
        let mut published = Vec::new();
        let mut records = Vec::new();
        for (kind, key, data) in changes {
            published.push(match &data {
                Some(_) => format!("{kind}/{key}"),
                None => format!("-{kind}/{key}"),
            });
            records.push(Record::Common(CommonRecord {
                zone: self.zone().to_string(),
                kind: kind.as_str().to_string(),
                key,
                deleted: data.is_none(),
                data: data.unwrap_or(serde_json::Value::Null),
                generation: next.generation,
                published_by: self.me().to_string(),
                updated_at: next.updated_at,
            }));
        }
        let generation = next.generation;
        records.push(Record::Lease(next));
        self.write(records).await?;
        drop(_w);
        self.set_applied(generation).await;
        tracing::info!(
            generation,
            objects = published.len(),
            "published common data to the zone"
        );
        Ok(PublishReport {
            zone: self.zone().to_string(),
            generation,
            published,
        })
    }

    /// Claim (or re-claim after a conflict) this node's slot in the gateway's ids.
    async fn claim_slot(&mut self) {
        let nodes = self.shared.store.nodes();
        let Some(slot) = slot::wanted(self.me(), &nodes) else {
            return;
        };
        let Some(mut n) = nodes.into_iter().find(|n| n.name == self.me()) else {
            return;
        };
        tracing::info!(slot, previous = ?n.slot, "claiming the node's gateway id slot");
        n.slot = Some(slot);
        if let Err(e) = self.write(vec![Record::Node(n)]).await {
            tracing::warn!(error = %e, "could not record the gateway id slot");
        }
    }

    async fn set_applied(&mut self, generation: u64) {
        self.applied = Some(generation);
        lock(&self.status).common_generation = Some(generation);
        let key = format!("{}{}", RecordKind::Node.prefix(), self.me());
        let Ok(Some(Record::Node(mut n))) = self.shared.store.get(&key) else {
            return;
        };
        if n.common_generation == Some(generation) {
            return;
        }
        n.common_generation = Some(generation);
        if let Err(e) = self.write(vec![Record::Node(n)]).await {
            tracing::warn!(error = %e, "could not record the common-data generation");
        }
    }

    // ---- cluster decisions into Uyuni ----

    async fn on_tick(&mut self) {
        self.claim_slot().await;
        // A failed automatic publication is retried here, not only at the next change.
        if let Some(l) = self.lease()
            && l.auto_publish
            && !l.pending.is_empty()
            && l.holder_at(now_ms()) == Some(self.me())
        {
            let r = self.publish(false).await;
            self.note(&r);
        }
        let common = self.reconcile_common().await;
        self.note(&common);
        // Systems are handled whatever happened to common data.
        let systems = self.reconcile_systems().await;
        self.note(&systems);
        if common.is_ok() && systems.is_ok() {
            lock(&self.status).last_reconcile_ms = Some(now_ms());
        }
    }

    async fn reconcile_common(&mut self) -> Result<(), NcError> {
        // Right after a start this replica may be stale (an old tombstone): wait.
        if self.started.elapsed() < self.shared.load.startup_grace() {
            return Ok(());
        }
        let lease = self.lease();
        let generation = lease.as_ref().map_or(0, |l| l.generation);
        // The holder, even of an expired lease that nobody claimed since, keeps its edits.
        let holder = lease
            .as_ref()
            .is_some_and(|l| l.holder.as_deref() == Some(self.me()));
        let resync_due = self
            .last_full
            .is_none_or(|t| t.elapsed() >= self.cfg.resync_interval);
        if holder {
            // The Leader Node is the pattern: it is never made to copy anything.
            if self.applied.is_none() {
                self.set_applied(generation).await;
            }
            return Ok(());
        }
        if self.applied == Some(generation) && !resync_due {
            return Ok(());
        }
        let mut desired = self.zone_records().await?;
        // The newest generation's records may still be on their way (they sit in other
        // shards than the lease): hold it as applied only once they are all here.
        let expected = lease.as_ref().map_or(0, |l| l.published);
        let arrived = desired
            .iter()
            .filter(|r| r.generation == generation)
            .count() as u64;
        let complete = generation == 0 || arrived >= expected;
        lock(&self.status).waiting_for_records = !complete;
        // Moving forward from a generation this node holds: only what was published since
        // needs reading. Otherwise (first round, a resync, a generation that went back after a
        // partition healed) everything is compared.
        let since = match self.applied {
            Some(old) if generation > old && !resync_due => Some(old),
            _ => None,
        };
        if let Some(old) = since {
            desired.retain(|r| r.generation > old);
        }
        let mut actual = reconcile::Actual::new();
        for kind in CommonKind::ALL {
            let keys: BTreeSet<String> = desired
                .iter()
                .filter(|r| r.kind == kind.as_str())
                .map(|r| r.key.clone())
                .collect();
            if keys.is_empty() {
                continue;
            }
            let which = if since.is_some() {
                Which::Only(&keys)
            } else {
                Which::All
            };
            actual.insert(kind, common_api::fetch(&self.client, kind, which).await?);
        }
        let ops = reconcile::plan(&desired, &actual);
        let mut done = 0u64;
        let mut failures = Vec::new();
        for op in &ops {
            self.own_changes.insert(op.entry(), Instant::now());
            match common_api::apply(&self.client, op).await {
                Ok(()) => done += 1,
                // The server is away: try the whole generation again next round.
                Err(e) if e.is_transient() => return Err(e.into()),
                // Refused (a vendor channel, an arch this server lacks, ...): left out and
                // reported; the rest of the generation still applies.
                Err(e) => {
                    tracing::warn!(op = %op.entry(), error = %e, "this server refused published common data");
                    failures.push(format!("{}: {e}", op.entry()));
                }
            }
        }
        lock(&self.status).common_failures = failures;
        lock(&self.status).common_ops += done;
        if done > 0 {
            tracing::info!(ops = done, generation, "applied the zone's common data");
        }
        if since.is_none() {
            self.last_full = Some(Instant::now());
        }
        if complete {
            self.set_applied(generation).await;
        }
        Ok(())
    }

    async fn local_systems(&self) -> Result<LocalSystems, NcError> {
        let names = |v: uyuni_api::Value| -> BTreeSet<String> {
            match uyuni_api::json::to_json(&v) {
                serde_json::Value::Array(a) => a
                    .into_iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => BTreeSet::new(),
            }
        };
        let pending = names(self.client.call("saltkey.pendingList", vec![]).await?);
        let accepted = names(self.client.call("saltkey.acceptedList", vec![]).await?);
        let map =
            uyuni_api::json::to_json(&self.client.call("system.getMinionIdMap", vec![]).await?);
        let registered = map
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_i64().map(|sid| (k.clone(), sid)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(LocalSystems {
            pending,
            accepted,
            registered,
        })
    }

    async fn reconcile_systems(&mut self) -> Result<(), NcError> {
        let local = self.local_systems().await?;
        let me = self.me().to_string();
        self.cache.here = local
            .pending
            .iter()
            .chain(local.accepted.iter())
            .chain(local.registered.keys())
            .cloned()
            .collect();
        // Forget systems that no longer matter here (left this node and gone from its server).
        {
            let SystemsCache { by_key, here, .. } = &mut self.cache;
            by_key.retain(|_, r| {
                r.node.as_deref() == Some(me.as_str())
                    || r.previous_node.as_deref() == Some(me.as_str())
                    || here.contains(&r.minion_id)
            });
        }
        // A minion the cache has no record for appeared: it may be a system the cluster
        // assigned elsewhere (found only by a scan).
        let known: BTreeSet<&String> = self.cache.by_key.values().map(|r| &r.minion_id).collect();
        let unknown: BTreeSet<String> = self
            .cache
            .here
            .iter()
            .filter(|m| !known.contains(m))
            .cloned()
            .collect();
        let old = self
            .cache
            .built_at
            .is_none_or(|t| t.elapsed() >= self.cfg.resync_interval);
        if self.cache.stale || old || unknown != self.cache.unknown {
            self.rebuild_cache().await?;
        }
        let records: Vec<crdt_store::SystemRecord> = self.cache.by_key.values().cloned().collect();
        let records = systems::by_minion(records);
        let faulty = self
            .shared
            .store
            .get(&format!("{}{}", RecordKind::Fault.prefix(), me))
            .ok()
            .flatten()
            .is_some();
        // Right after a start this replica may be stale: accept keys, remove nothing yet.
        let settling = self.started.elapsed() < self.shared.load.startup_grace();
        // The zone's mode from the store itself (the Load Driver's index may not be built yet).
        let mode =
            match self
                .shared
                .store
                .get(&format!("{}{}", RecordKind::Policy.prefix(), self.zone()))
            {
                Ok(Some(Record::Policy(p))) => p.mode,
                _ => crdt_store::LoadMode::default(),
            };
        let plan = systems::plan(
            systems::View {
                me: &me,
                mode,
                faulty: faulty || settling,
            },
            &records,
            &local,
        );
        {
            let mut s = lock(&self.status);
            s.unmanaged_systems = plan.unmanaged;
            s.awaiting_minion = plan.awaiting_minion;
        }
        for op in plan.ops {
            let r = match &op {
                SystemOp::AcceptKey(m) => self
                    .client
                    .call("saltkey.accept", vec![uyuni_api::value::string(m)])
                    .await
                    .map(|_| lock(&self.status).keys_accepted += 1),
                SystemOp::DeleteSystem { minion, sid } => {
                    self.own_removals.insert(minion.clone(), Instant::now());
                    self.client
                        .call("system.deleteSystem", vec![uyuni_api::value::int(*sid)])
                        .await
                        .map(|_| lock(&self.status).systems_removed += 1)
                }
                SystemOp::DeleteKey(m) => {
                    self.own_removals.insert(m.clone(), Instant::now());
                    self.client
                        .call("saltkey.delete", vec![uyuni_api::value::string(m)])
                        .await
                        .map(|_| lock(&self.status).systems_removed += 1)
                }
            };
            match r {
                Ok(()) => tracing::info!(?op, "applied to the Uyuni server"),
                Err(e) if e.is_transient() => return Err(e.into()),
                // A key that vanished meanwhile, a system already gone: the next round sees
                // the new state.
                Err(e) => tracing::warn!(?op, error = %e, "Uyuni refused"),
            }
        }
        Ok(())
    }
}

/// Claim (or renew) the lease of this peer's zone for this node.
pub async fn claim_lease(
    shared: &Shared,
    ttl: Duration,
    auto_publish: bool,
    force: bool,
) -> Result<LeaseRecord, NcError> {
    let me = &shared.me;
    claim_lease_for(shared, &me.zone, &me.name, ttl, auto_publish, force).await
}

/// Claim (or renew) the lease of `zone` for node `node` (the API gateway names the node that
/// is to lead a common-data write).
pub async fn claim_lease_for(
    shared: &Shared,
    zone: &str,
    node: &str,
    ttl: Duration,
    auto_publish: bool,
    force: bool,
) -> Result<LeaseRecord, NcError> {
    let _w = shared.write_lock.lock().await;
    let key = format!("{}{zone}", RecordKind::Lease.prefix());
    let current = match shared.store.get(&key) {
        Ok(Some(Record::Lease(l))) => Some(l),
        _ => None,
    };
    let zone_generation = current.as_ref().map_or(0, |l| l.generation);
    let holds = match shared
        .store
        .get(&format!("{}{node}", RecordKind::Node.prefix()))
    {
        Ok(Some(Record::Node(n))) => n.common_generation.unwrap_or(0),
        _ => 0,
    };
    let renewal = current
        .as_ref()
        .is_some_and(|l| l.holder.as_deref() == Some(node));
    if !force && !renewal && holds < zone_generation {
        return Err(NcError::Lease(LeaseError::Behind {
            zone: zone.to_string(),
            node: node.to_string(),
            holds,
            zone_generation,
        }));
    }
    let next = lease::claim(
        current.as_ref(),
        zone,
        node,
        now_ms(),
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        auto_publish,
        force,
    )?;
    put(shared, Record::Lease(next.clone())).await?;
    Ok(next)
}

/// Release the lease of this peer's zone.
pub async fn release_lease(shared: &Shared, force: bool) -> Result<Option<LeaseRecord>, NcError> {
    let _w = shared.write_lock.lock().await;
    let key = format!("{}{}", RecordKind::Lease.prefix(), shared.me.zone);
    let current = match shared.store.get(&key) {
        Ok(Some(Record::Lease(l))) => Some(l),
        _ => None,
    };
    let next = lease::release(
        current.as_ref(),
        &shared.me.zone,
        &shared.me.name,
        now_ms(),
        force,
    )?;
    if let Some(n) = &next {
        put(shared, Record::Lease(n.clone())).await?;
    }
    Ok(next)
}

/// Write one record durably and send it to the other peers.
pub async fn put(shared: &Shared, rec: Record) -> Result<(), NcError> {
    let store = shared.store.clone();
    let frames = tokio::task::spawn_blocking(move || store.put(&rec))
        .await
        .map_err(|e| NcError::Store(e.to_string()))?
        .map_err(|e| NcError::Store(e.to_string()))?;
    shared.repl.broadcast(frames).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_url_means_no_controller() {
        assert!(prepare(&UyuniConfig::default()).expect("prepare").is_none());
        let cfg = UyuniConfig {
            url: Some("http://127.0.0.1:1/rpc/api".into()),
            password: Some("x".into()),
            ..UyuniConfig::default()
        };
        let (h, _p) = prepare(&cfg).expect("prepare").expect("configured");
        assert_eq!(h.status().uyuni_url, "http://127.0.0.1:1/rpc/api");
        assert!(!h.status().outbox);
    }
}
