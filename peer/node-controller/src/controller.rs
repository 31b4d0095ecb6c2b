//! The controller task: one owner of the Uyuni API client and the outbox channel. This file
//! holds its state, its loop and the way in (outbox events, store changes); the rounds that
//! push the cluster's state into Uyuni are in [`rounds`].

mod integrity;
mod rounds;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_core::now_ms;
use crdt_store::{CommonRecord, LeaseRecord, Record, RecordKind, SystemStatus};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uyuni_api::UyuniClient;

use crate::kinds::{self, Change};
use crate::lease;
use crate::outbox::{OutboxBatch, OutboxConfig};
use crate::{Command, NcCtx, NcError, Prepared, Status, UyuniConfig, lock};

/// How long a change this controller made itself is not counted as drift, and a system it
/// removed itself is not taken for an administrator's removal.
const OWN_CHANGE_MEMORY: Duration = Duration::from_secs(600);

struct Controller {
    shared: NcCtx,
    cfg: UyuniConfig,
    client: UyuniClient,
    status: Arc<Mutex<Status>>,
    started: Instant,
    applied: Option<u64>,
    last_full: Option<Instant>,
    /// The re-provisioning request (its fault's `since`) this controller carried out last.
    reprovisioned_for: Option<u64>,
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
    /// Minions on the server that no cached record names.
    fn unknown_here(&self) -> BTreeSet<String> {
        let known: BTreeSet<&String> = self.by_key.values().map(|r| &r.minion_id).collect();
        self.here
            .iter()
            .filter(|m| !known.contains(m))
            .cloned()
            .collect()
    }

    fn relevant(&self, r: &crdt_store::SystemRecord, me: &str) -> bool {
        r.node.as_deref() == Some(me)
            || r.previous_node.as_deref() == Some(me)
            || self.here.contains(&r.minion_id)
    }
}

/// Run the controller until `cancel`.
pub async fn run(p: Prepared, shared: NcCtx, cancel: CancellationToken) {
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
                tls: cfg.db_tls(),
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
        reprovisioned_for: None,
        own_changes: HashMap::new(),
        own_removals: HashMap::new(),
        cache: SystemsCache {
            stale: true,
            ..SystemsCache::default()
        },
    };
    let mut changes = c.shared.replica.store().subscribe();
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
                    changes = c.shared.replica.store().subscribe();
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
        match self.shared.replica.store().get(&format!(
            "{}{}",
            RecordKind::Lease.prefix(),
            self.zone()
        )) {
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
        let store = self.shared.replica.store().clone();
        let frames = tokio::task::spawn_blocking(move || store.put_batch(&records))
            .await
            .map_err(|e| NcError::Store(e.to_string()))?
            .map_err(|e| NcError::Store(e.to_string()))?;
        self.shared.replica.broadcast(frames).await;
        Ok(())
    }

    async fn zone_records(&self) -> Result<Vec<CommonRecord>, NcError> {
        let zone = self.zone().to_string();
        let store = self.shared.replica.store().clone();
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
        let m = cluster_core::metrics::metrics();
        match result {
            Ok(auto) => {
                m.outbox_events.inc_by(events.len() as u64);
                if let Some(last) = events.last() {
                    let lag_ms = cluster_core::now_ms().saturating_sub(last.at_ms);
                    m.outbox_lag_seconds.set(lag_ms as f64 / 1000.0);
                }
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
                m.outbox_failures.inc();
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
        let _w = self.shared.replica.write_lock().await;
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
        let store = self.shared.replica.store().clone();
        let n = fps.len() as u64;
        // Read-modify-write like the API's: under the write lock.
        let _w = self.shared.replica.write_lock().await;
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
        self.shared.replica.broadcast(frames).await;
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
        let store = self.shared.replica.store().clone();
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
        let store = self.shared.replica.store().clone();
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
        self.cache.unknown = self.cache.unknown_here();
        self.cache.stale = false;
        self.cache.built_at = Some(Instant::now());
        Ok(())
    }
}
