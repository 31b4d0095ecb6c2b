//! The Metastore: sharded automerge documents, a write-ahead log and snapshots.
//!
//! Locking: each shard has its own `std::sync::Mutex`; the WAL has one. **Lock order: a shard,
//! then the WAL** (a change's frame is written to the WAL while its shard is locked, so the log
//! keeps causal order). Never take a shard lock while holding the WAL lock, and never hold two
//! shard locks at once. The fsync runs under the WAL lock only. Compaction rotates the WAL, then
//! snapshots dirty shards one at a time, then removes old segments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::ActorId;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::disk::{Disk, FaultInjector};
use crate::error::StoreError;
use crate::query::SystemFilter;
use crate::record::system_sets::{self, Sets};
use crate::record::{
    CodecError, FaultRecord, NodeRecord, Record, RecordKind, SystemRecord, ZonePolicy, ZoneRecord,
    system_key,
};
use crate::shard::{Shard, ShardId, shard_of};
use crate::snapshot;
use crate::wal::{self, Wal, WalPos};

mod remote;
pub use remote::{BatchApplied, RemoteChange};

/// Tunables of a store. Every default is in the field's doc.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Shards of a *new* store (default 1024; an existing store keeps the count it was created
    /// with). All peers of a cluster must use the same count.
    pub shard_count: u32,
    /// [`Store::needs_compaction`] turns true when the WAL exceeds this many bytes
    /// (default 64 MiB).
    pub compact_wal_bytes: u64,
    /// Capacity of the change-subscription channel (default 4096 events).
    pub change_channel: usize,
    /// Disk faults to inject, for tests of a failing disk (default none; a production store
    /// never has one).
    pub faults: Option<FaultInjector>,
    /// Write records as version 1 did (**tests only**, `test_wire_protocol = 1`): a rewrite
    /// drops the fields this version does not know and JSON records carry no `_v`. Default
    /// false: unknown fields are kept (`compat.rs`).
    pub legacy_v1: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            shard_count: 1024,
            compact_wal_bytes: 64 * 1024 * 1024,
            change_channel: 4096,
            faults: None,
            legacy_v1: false,
        }
    }
}

/// Change chunks to gossip, one per shard touched by a write.
pub type Frames = Vec<(ShardId, Vec<u8>)>;

/// Keys changed by one write or one merge.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    /// Keys whose value changed (or was deleted).
    pub keys: Vec<String>,
    /// True when the change came from another peer.
    pub remote: bool,
}

/// What opening a store found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpenReport {
    /// Shards that had a snapshot.
    pub snapshots_loaded: u32,
    /// WAL frames replayed.
    pub wal_frames: usize,
    /// Shards whose snapshot was corrupt (quarantined; they recover from peers).
    pub damaged_shards: Vec<ShardId>,
    /// Human-readable account of every problem found.
    pub issues: Vec<String>,
}

/// Figures about a store.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStats {
    /// Number of shards.
    pub shard_count: u32,
    /// Records over all shards.
    pub records: usize,
    /// Bytes in the active WAL segment.
    pub wal_bytes: u64,
    /// Shards still waiting for peers after a corrupt snapshot.
    pub damaged_shards: Vec<ShardId>,
    /// Hash over every shard digest: equal on two peers means equal stores.
    pub root_digest: String,
    /// Why the store takes no more writes (the first failed write or fsync), if it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_failure: Option<String>,
}

/// A compact digest of the whole store: one `u64` per shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest(pub Vec<u64>);

impl Digest {
    /// Shards whose digest differs between `self` and `other` (all shards if the counts differ).
    pub fn differing(&self, other: &Digest) -> Vec<ShardId> {
        if self.0.len() != other.0.len() {
            return (0..self.0.len() as ShardId).collect();
        }
        (0..self.0.len())
            .filter(|&i| self.0[i] != other.0[i])
            .map(|i| i as ShardId)
            .collect()
    }

    /// One hash over all shard digests, hex, 16 characters.
    pub fn root(&self) -> String {
        let mut h = blake3::Hasher::new();
        for d in &self.0 {
            h.update(&d.to_le_bytes());
        }
        hex::encode(&h.finalize().as_bytes()[..8])
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    shard_count: u32,
}

const META_FILE: &str = "store.json";
const FORMAT: u32 = 1;

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    shards_dir: PathBuf,
    shard_count: u32,
    shards: Vec<Mutex<Shard>>,
    wal: Mutex<Wal>,
    /// Every write and fsync of the store's files; stops the store at the first failure.
    disk: Arc<Disk>,
    compacting: Mutex<()>,
    changes: broadcast::Sender<ChangeEvent>,
    opts: StoreOptions,
}

/// Handle to an open store. Cheap to clone; all clones share one store.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard lock leaves automerge state that is still consistent
    // (automerge applies changes atomically), so recover the guard instead of propagating.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_meta(dir: &Path, opts: &StoreOptions, disk: &Disk) -> Result<Meta, StoreError> {
    let path = dir.join(META_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let meta: Meta =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::InvalidMeta {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            if meta.format != FORMAT || meta.shard_count == 0 {
                return Err(StoreError::InvalidMeta {
                    path,
                    reason: format!(
                        "format {} with {} shards is not supported",
                        meta.format, meta.shard_count
                    ),
                });
            }
            Ok(meta)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let meta = Meta {
                format: FORMAT,
                shard_count: opts.shard_count.max(1),
            };
            let bytes = serde_json::to_vec(&meta).map_err(|e| StoreError::InvalidMeta {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let tmp = path.with_extension("json.tmp");
            let f = std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::File::open(&tmp))
                .map_err(|e| StoreError::io(&tmp, e))?;
            disk.sync_all(&f, &tmp)?;
            std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
            disk.sync_dir(dir)?;
            Ok(meta)
        }
        Err(e) => Err(StoreError::io(path, e)),
    }
}

impl Store {
    /// Open (or create) the store in `dir`: load every shard snapshot, replay the WAL.
    ///
    /// A corrupt snapshot does not fail the open: it is moved aside, the shard starts from
    /// what the WAL holds and is listed in [`OpenReport::damaged_shards`] until a peer sends
    /// it back through sync.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<(Self, OpenReport), StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let disk = Arc::new(Disk::new(opts.faults.clone()));
        let meta = read_meta(dir, &opts, &disk)?;
        let shards_dir = dir.join("shards");
        std::fs::create_dir_all(&shards_dir).map_err(|e| StoreError::io(&shards_dir, e))?;
        // A fresh actor per open: if a snapshot was lost, an actor reused from before could
        // emit sequence numbers that collide with changes peers already hold.
        let actor = ActorId::random();
        let mut report = OpenReport::default();
        let mut shards = Vec::with_capacity(meta.shard_count as usize);
        for id in 0..meta.shard_count {
            let shard = match snapshot::read(&shards_dir, id) {
                Ok(None) => Shard::new(id, actor.clone()),
                Ok(Some(bytes)) => match Shard::load(id, &bytes, actor.clone()) {
                    Ok(s) => {
                        report.snapshots_loaded += 1;
                        s
                    }
                    Err(e) => damaged(&shards_dir, id, &actor, e, &mut report)?,
                },
                Err(e @ StoreError::CorruptSnapshot { .. }) => {
                    damaged(&shards_dir, id, &actor, e, &mut report)?
                }
                Err(e) => return Err(e),
            };
            shards.push(shard);
        }
        let (wal, frames, issues) = Wal::open(&dir.join("wal"), disk.clone())?;
        for issue in issues {
            report.issues.push(format!(
                "WAL {} at byte {}: {}",
                issue.path.display(),
                issue.offset,
                issue.what
            ));
        }
        report.wal_frames = frames.len();
        for frame in frames {
            let Some(shard) = shards.get_mut(frame.shard as usize) else {
                report.issues.push(format!(
                    "WAL frame for shard {} ignored (store has {})",
                    frame.shard, meta.shard_count
                ));
                continue;
            };
            if let Err(e) = shard.load_incremental(&frame.payload) {
                report
                    .issues
                    .push(format!("WAL frame for shard {} rejected: {e}", frame.shard));
                shard.damaged = true;
            }
            // Replayed changes are not in a snapshot yet.
            shard.dirty = true;
        }
        for shard in &mut shards {
            // Mark everything loaded as already saved so save_incremental emits only new work.
            let _ = shard.doc.save_incremental();
            shard.refresh_digest();
            let missing = shard.doc.get_missing_deps(&[]);
            if !missing.is_empty() {
                report.issues.push(format!(
                    "shard {}: {} change(s) wait for missing dependencies; a peer will send them",
                    shard.id,
                    missing.len()
                ));
                shard.damaged = true;
            }
        }
        report.damaged_shards = shards.iter().filter(|s| s.damaged).map(|s| s.id).collect();
        let (changes, _) = broadcast::channel(opts.change_channel.max(1));
        let inner = Inner {
            dir: dir.to_path_buf(),
            shards_dir,
            shard_count: meta.shard_count,
            shards: shards.into_iter().map(Mutex::new).collect(),
            wal: Mutex::new(wal),
            disk,
            compacting: Mutex::new(()),
            changes,
            opts,
        };
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            report,
        ))
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Number of shards.
    pub fn shard_count(&self) -> u32 {
        self.inner.shard_count
    }

    /// Why the store takes no more writes, if a write or an fsync of its files failed (see
    /// [`StoreError::ReadOnly`]). Reads go on either way.
    pub fn write_failure(&self) -> Option<String> {
        self.inner.disk.failure().map(str::to_string)
    }

    /// `Err(ReadOnly)` once the store has stopped taking writes: every writing method checks
    /// it before it changes anything, in memory or on disk. A caller that answers a write
    /// request without writing (the value is already so) checks it too: after a failure the
    /// memory may hold changes that never reached the disk, and "already so" would
    /// acknowledge one of them.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.inner.disk.check()
    }

    /// Subscribe to changed keys, local and remote. A subscriber that falls more than
    /// [`StoreOptions::change_channel`] events behind gets `Lagged` and should rescan.
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.changes.subscribe()
    }

    fn shard(&self, id: ShardId) -> Result<MutexGuard<'_, Shard>, StoreError> {
        self.inner
            .shards
            .get(id as usize)
            .map(lock)
            .ok_or(StoreError::NoSuchShard {
                shard: id,
                count: self.inner.shard_count,
            })
    }

    /// Take the shard's new changes and write them to the WAL *while the shard lock is held*,
    /// so the log keeps the order automerge made them in (a change is never logged before one
    /// it depends on). Returns the chunk (for gossip) and the WAL position to sync to.
    fn log_changes(&self, shard: &mut Shard) -> Result<Option<(Vec<u8>, WalPos)>, StoreError> {
        let chunk = shard.take_changes();
        if chunk.is_empty() {
            return Ok(None);
        }
        let mut encoded = Vec::with_capacity(chunk.len() + 12);
        wal::encode_frame(&mut encoded, shard.id, &chunk);
        let pos = lock(&self.inner.wal).write(&encoded)?;
        Ok(Some((chunk, pos)))
    }

    /// fsync the WAL up to `pos` (after the shard locks are released: group commit).
    fn sync_wal(&self, pos: WalPos) -> Result<(), StoreError> {
        lock(&self.inner.wal).sync(pos)
    }

    fn notify(&self, keys: Vec<String>, remote: bool) {
        if !keys.is_empty() {
            // No subscriber is not an error.
            let _ = self.inner.changes.send(ChangeEvent { keys, remote });
        }
    }

    /// Write one record; returns once it is fsync'd. Returns the change chunk for gossip
    /// (empty when the record was already stored exactly so).
    pub fn put(&self, record: &Record) -> Result<Vec<(ShardId, Vec<u8>)>, StoreError> {
        self.put_batch(std::slice::from_ref(record))
    }

    /// Write many records with a single fsync. Returns the change chunk of each shard touched.
    pub fn put_batch(&self, records: &[Record]) -> Result<Vec<(ShardId, Vec<u8>)>, StoreError> {
        self.check_writable()?;
        let mut by_shard: BTreeMap<ShardId, Vec<(String, Pending<'_>)>> = BTreeMap::new();
        for r in records {
            let key = r.key();
            let pending = match r {
                Record::System(s) if !self.inner.opts.legacy_v1 => Pending::System(s),
                _ => {
                    let mut bytes = r.encode().map_err(|source| StoreError::Record {
                        key: key.clone(),
                        source,
                    })?;
                    if !self.inner.opts.legacy_v1 && !matches!(r, Record::System(_)) {
                        bytes = crate::compat::with_format(bytes);
                    }
                    Pending::Bytes(bytes)
                }
            };
            by_shard
                .entry(shard_of(&key, self.inner.shard_count))
                .or_default()
                .push((key, pending));
        }
        let mut frames = Vec::with_capacity(by_shard.len());
        let mut keys = Vec::new();
        let mut pos = WalPos::default();
        for (id, items) in by_shard {
            let mut shard = self.shard(id)?;
            for (key, pending) in items {
                let changed = match pending {
                    Pending::System(rec) => write_system(&mut shard, &key, rec)?,
                    Pending::Bytes(bytes) => {
                        let bytes = match shard.get(&key) {
                            Some(old) if !self.inner.opts.legacy_v1 => {
                                crate::compat::keep_unknown(&key, &old, bytes)
                            }
                            _ => bytes,
                        };
                        shard.put(&key, bytes)?
                    }
                };
                if changed {
                    keys.push(key);
                }
            }
            if let Some((chunk, p)) = self.log_changes(&mut shard)? {
                frames.push((id, chunk));
                pos = pos.max(p);
            }
        }
        self.sync_wal(pos)?;
        self.notify(keys, false);
        Ok(frames)
    }

    /// Read-modify-write many systems in one durable batch. For each fingerprint present,
    /// `f` may change the record and returns whether it did; the changed ones are written.
    /// Each shard is locked once, for its read and its write, so no other writer of this
    /// store slips in between; records are read once (no second read to skip unchanged
    /// values). Returns the change chunks for gossip and how many records were written.
    pub fn update_systems(
        &self,
        fingerprints: &[String],
        mut f: impl FnMut(&mut SystemRecord) -> bool,
    ) -> Result<(Frames, usize), StoreError> {
        self.check_writable()?;
        let mut by_shard: BTreeMap<ShardId, Vec<(String, &str)>> = BTreeMap::new();
        for fp in fingerprints {
            let key = system_key(fp);
            by_shard
                .entry(shard_of(&key, self.inner.shard_count))
                .or_default()
                .push((key, fp.as_str()));
        }
        let mut frames = Vec::with_capacity(by_shard.len());
        let mut keys = Vec::new();
        let mut pos = WalPos::default();
        for (id, items) in by_shard {
            let mut shard = self.shard(id)?;
            for (key, _) in items {
                let Ok(Some(mut rec)) = read_system(&shard, &key) else {
                    continue;
                };
                if !f(&mut rec) {
                    continue;
                }
                let changed = if self.inner.opts.legacy_v1 {
                    let value =
                        Record::System(rec)
                            .encode()
                            .map_err(|source| StoreError::Record {
                                key: key.clone(),
                                source,
                            })?;
                    shard.put(&key, value)?
                } else {
                    write_system(&mut shard, &key, &rec)?
                };
                if changed {
                    keys.push(key);
                }
            }
            if let Some((chunk, p)) = self.log_changes(&mut shard)? {
                frames.push((id, chunk));
                pos = pos.max(p);
            }
        }
        self.sync_wal(pos)?;
        let written = keys.len();
        self.notify(keys, false);
        Ok((frames, written))
    }

    /// Delete a record by key; durable on return. Returns the change chunk for gossip.
    pub fn delete(&self, key: &str) -> Result<Vec<(ShardId, Vec<u8>)>, StoreError> {
        self.check_writable()?;
        let id = shard_of(key, self.inner.shard_count);
        let logged = {
            let mut shard = self.shard(id)?;
            // A system's member keys go with it.
            let mut changed = false;
            if let Some(prefix) = system_sets::members_prefix(key) {
                for member in shard.keys(&prefix) {
                    changed |= shard.delete(&member)?;
                }
            }
            changed |= shard.delete(key)?;
            if !changed {
                return Ok(Vec::new());
            }
            self.log_changes(&mut shard)?
        };
        let Some((chunk, pos)) = logged else {
            return Ok(Vec::new());
        };
        self.sync_wal(pos)?;
        self.notify(vec![key.to_string()], false);
        Ok(vec![(id, chunk)])
    }

    fn get_raw(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let id = shard_of(key, self.inner.shard_count);
        if key.starts_with(RecordKind::System.prefix()) {
            let shard = self.shard(id)?;
            return read_system(&shard, key)
                .map(|r| r.map(Record::System))
                .map_err(|source| StoreError::Record {
                    key: key.to_string(),
                    source,
                });
        }
        let bytes = self.shard(id)?.get(key);
        match bytes {
            None => Ok(None),
            Some(b) => Record::decode(key, &b).map_err(|source| StoreError::Record {
                key: key.to_string(),
                source,
            }),
        }
    }

    /// The system with this fingerprint.
    pub fn get_system(&self, fingerprint: &str) -> Result<Option<SystemRecord>, StoreError> {
        Ok(match self.get_raw(&system_key(fingerprint))? {
            Some(Record::System(s)) => Some(s),
            _ => None,
        })
    }

    /// [`Self::get_system`] without waiting: `None` when the system's shard is locked at
    /// this moment (a writer, a merge or compaction holds it). For callers on an async worker,
    /// which must not block: they read inline when the shard is free, and hand the read to a
    /// blocking thread otherwise. A point read holds the lock for microseconds, while the hand-off
    /// costs two thread wake-ups; on a peer's heartbeat path that was half of its CPU.
    pub fn try_get_system(
        &self,
        fingerprint: &str,
    ) -> Option<Result<Option<SystemRecord>, StoreError>> {
        let key = system_key(fingerprint);
        let id = shard_of(&key, self.inner.shard_count);
        let Some(m) = self.inner.shards.get(id as usize) else {
            return Some(Err(StoreError::NoSuchShard {
                shard: id,
                count: self.inner.shard_count,
            }));
        };
        let read = match m.try_lock() {
            Ok(shard) => read_system(&shard, &key),
            Err(std::sync::TryLockError::Poisoned(p)) => read_system(&p.into_inner(), &key),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(read.map_err(|source| StoreError::Record { key, source }))
    }

    /// Any record by key.
    pub fn get(&self, key: &str) -> Result<Option<Record>, StoreError> {
        self.get_raw(key)
    }

    /// Visit every record of `kind`. Undecodable values are skipped (and logged): one bad
    /// record must not hide the others.
    fn scan(&self, kind: RecordKind, mut f: impl FnMut(Record) -> bool) {
        let prefix = kind.prefix();
        for m in &self.inner.shards {
            let shard = lock(m);
            let mut go_on = true;
            // Systems: their member keys, grouped once per shard (usually none).
            let members = if kind == RecordKind::System {
                let keys = shard.keys(system_sets::MEMBER_PREFIX);
                system_sets::group_members(keys.iter().map(String::as_str))
            } else {
                Default::default()
            };
            shard.scan(prefix, |key, bytes| {
                if !go_on {
                    return;
                }
                let decoded = if kind == RecordKind::System {
                    system_sets::decode_base(key, bytes).map(|base| {
                        let sets = system_sets::members_prefix(key).and_then(|p| members.get(&p));
                        Some(Record::System(system_sets::effective(base, sets)))
                    })
                } else {
                    Record::decode(key, bytes)
                };
                match decoded {
                    Ok(Some(r)) => go_on = f(r),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(key, "undecodable record skipped: {e}"),
                }
            });
            if !go_on {
                return;
            }
        }
    }

    /// Systems matching `filter`, in shard order.
    pub fn systems(&self, filter: &SystemFilter) -> Vec<SystemRecord> {
        let mut out = Vec::new();
        let limit = filter.limit.unwrap_or(usize::MAX);
        if limit == 0 {
            return out;
        }
        self.scan(RecordKind::System, |r| {
            if let Record::System(s) = r
                && filter.matches(&s)
            {
                out.push(s);
            }
            out.len() < limit
        });
        out
    }

    /// Systems for which `pred` holds (a full scan; for rare, whole-cluster decisions).
    pub fn systems_where(&self, mut pred: impl FnMut(&SystemRecord) -> bool) -> Vec<SystemRecord> {
        let mut out = Vec::new();
        self.scan(RecordKind::System, |r| {
            if let Record::System(s) = r
                && pred(&s)
            {
                out.push(s);
            }
            true
        });
        out
    }

    /// Every record of `kind` (systems included, so mind the size), in shard order.
    pub fn records(&self, kind: RecordKind) -> Vec<Record> {
        let mut out = Vec::new();
        self.scan(kind, |r| {
            out.push(r);
            true
        });
        out
    }

    /// Every fault record.
    pub fn faults(&self) -> Vec<FaultRecord> {
        let mut out = Vec::new();
        self.scan(RecordKind::Fault, |r| {
            if let Record::Fault(f) = r {
                out.push(f);
            }
            true
        });
        out.sort_by(|a, b| a.node.cmp(&b.node));
        out
    }

    /// Every zone policy.
    pub fn policies(&self) -> Vec<ZonePolicy> {
        let mut out = Vec::new();
        self.scan(RecordKind::Policy, |r| {
            if let Record::Policy(p) = r {
                out.push(p);
            }
            true
        });
        out.sort_by(|a, b| a.zone.cmp(&b.zone));
        out
    }

    /// Every node record.
    pub fn nodes(&self) -> Vec<NodeRecord> {
        let mut out = Vec::new();
        self.scan(RecordKind::Node, |r| {
            if let Record::Node(n) = r {
                out.push(n);
            }
            true
        });
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Every zone record.
    pub fn zones(&self) -> Vec<ZoneRecord> {
        let mut out = Vec::new();
        self.scan(RecordKind::Zone, |r| {
            if let Record::Zone(z) = r {
                out.push(z);
            }
            true
        });
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// One digest per shard.
    pub fn digest(&self) -> Digest {
        Digest(self.inner.shards.iter().map(|m| lock(m).digest).collect())
    }

    /// Whether the WAL has grown past [`StoreOptions::compact_wal_bytes`].
    /// Never after the store stopped taking writes.
    pub fn needs_compaction(&self) -> bool {
        self.inner.disk.failure().is_none()
            && lock(&self.inner.wal).total_bytes() >= self.inner.opts.compact_wal_bytes
    }

    /// Snapshot every dirty shard and drop the WAL segments they cover. Writers keep going
    /// meanwhile (they append to the new segment). Returns the number of shards written.
    pub fn compact(&self) -> Result<usize, StoreError> {
        let _one_at_a_time = lock(&self.inner.compacting);
        self.check_writable()?;
        let closed = lock(&self.inner.wal).rotate()?;
        // Every change in segments <= `closed` was applied in memory before it was appended,
        // so the snapshots taken from here on cover it.
        let mut written = 0;
        for m in &self.inner.shards {
            let (id, bytes) = {
                let mut shard = lock(m);
                if !shard.dirty {
                    continue;
                }
                shard.dirty = false;
                (shard.id, shard.doc.save())
            };
            if let Err(e) = snapshot::write(&self.inner.disk, &self.inner.shards_dir, id, &bytes) {
                lock(m).dirty = true;
                return Err(e);
            }
            written += 1;
        }
        self.inner.disk.sync_dir(&self.inner.shards_dir)?;
        lock(&self.inner.wal).remove_through(closed)?;
        Ok(written)
    }

    /// Every shard saved under all shard locks at once (one consistent cut), with the root
    /// digest and the record count of that cut. Used by [`Store::backup`].
    pub(crate) fn save_all(&self) -> (Vec<Vec<u8>>, String, u64) {
        let mut guards: Vec<_> = self.inner.shards.iter().map(lock).collect();
        let digest = Digest(guards.iter().map(|g| g.digest).collect());
        let records = guards.iter().map(|g| g.len() as u64).sum();
        let docs = guards.iter_mut().map(|g| g.doc.save()).collect();
        drop(guards);
        (docs, digest.root(), records)
    }

    /// Write a restored store into `dir` (see [`crate::restore_backup`]): its metadata and
    /// one snapshot per shard, durably.
    pub(crate) fn write_restored(dir: &Path, docs: &[Vec<u8>]) -> Result<(), StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let disk = Disk::new(None);
        let opts = StoreOptions {
            shard_count: docs.len() as u32,
            ..StoreOptions::default()
        };
        read_meta(dir, &opts, &disk)?;
        let shards_dir = dir.join("shards");
        std::fs::create_dir_all(&shards_dir).map_err(|e| StoreError::io(&shards_dir, e))?;
        for (id, doc) in docs.iter().enumerate() {
            if !doc.is_empty() {
                snapshot::write(&disk, &shards_dir, id as u32, doc)?;
            }
        }
        disk.sync_dir(&shards_dir)?;
        disk.sync_dir(dir)
    }

    /// Figures about the store.
    pub fn stats(&self) -> StoreStats {
        let mut records = 0;
        let mut damaged = Vec::new();
        for m in &self.inner.shards {
            let s = lock(m);
            records += s.len();
            if s.damaged {
                damaged.push(s.id);
            }
        }
        // Separate statements: a guard in a struct literal lives until the literal ends, and
        // holding the WAL lock while `digest` takes shard locks would invert the lock order.
        let wal_bytes = lock(&self.inner.wal).total_bytes();
        let root_digest = self.digest().root();
        StoreStats {
            shard_count: self.inner.shard_count,
            records,
            wal_bytes,
            damaged_shards: damaged,
            root_digest,
            write_failure: self.write_failure(),
        }
    }
}

/// A record about to be written by [`Store::put_batch`].
enum Pending<'a> {
    /// A system: its value and its member keys (`record/system_sets.rs`).
    System(&'a SystemRecord),
    /// Any other record, encoded.
    Bytes(Vec<u8>),
}

/// The member keys of the system stored under `key`, as sets.
fn members_of(shard: &Shard, key: &str) -> Sets {
    match system_sets::members_prefix(key) {
        Some(prefix) => Sets::from_elements(shard.members(&prefix).iter().map(String::as_str)),
        None => Sets::default(),
    }
}

/// The system stored under `key` in a locked shard: its value, and its tags and groups from
/// the member keys (`record/system_sets.rs`).
fn read_system(shard: &Shard, key: &str) -> Result<Option<SystemRecord>, CodecError> {
    let Some(bytes) = shard.get(key) else {
        return Ok(None);
    };
    let base = system_sets::decode_base(key, &bytes)?;
    Ok(Some(system_sets::effective(
        base,
        Some(&members_of(shard, key)),
    )))
}

/// Write a system into its locked shard: the value (keeping fields a newer version added)
/// and the member keys of its tags and groups. Returns whether anything changed.
fn write_system(shard: &mut Shard, key: &str, rec: &SystemRecord) -> Result<bool, StoreError> {
    let record_error = |source| StoreError::Record {
        key: key.to_string(),
        source,
    };
    let prefix = system_sets::members_prefix_of_system(key).map_err(record_error)?;
    let stored_bytes = shard.get(key);
    let stored = stored_bytes
        .as_deref()
        .and_then(|b| system_sets::decode_base(key, b).ok());
    let members = members_of(shard, key);
    let plan = system_sets::plan_write(&prefix, stored, &members, rec).map_err(record_error)?;
    let mut changed = false;
    for member in &plan.put {
        changed |= shard.put(member, Vec::new())?;
    }
    for member in &plan.delete {
        changed |= shard.delete(member)?;
    }
    if let Some(mut value) = plan.base {
        if let Some(old) = &stored_bytes {
            value = crate::compat::keep_unknown(key, old, value);
        }
        changed |= shard.put(key, value)?;
    }
    Ok(changed)
}

fn damaged(
    dir: &Path,
    id: ShardId,
    actor: &ActorId,
    err: StoreError,
    report: &mut OpenReport,
) -> Result<Shard, StoreError> {
    let aside = snapshot::quarantine(dir, id)?;
    tracing::error!(
        shard = id,
        "corrupt snapshot moved to {}: {err}",
        aside.display()
    );
    report
        .issues
        .push(format!("{err}; moved to {}", aside.display()));
    report.damaged_shards.push(id);
    let mut s = Shard::new(id, actor.clone());
    s.damaged = true;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(fp: &str) -> Record {
        Record::System(SystemRecord {
            uyuni_ids: Default::default(),
            fingerprint: fp.into(),
            minion_id: "m".into(),
            hostname: "m".into(),
            status: crate::SystemStatus::New,
            banned: false,
            node: None,
            previous_node: None,
            zone: None,
            tags: Default::default(),
            groups: Default::default(),
            channels: Default::default(),
            registered_at: 1,
            updated_at: 1,
        })
    }

    #[test]
    fn try_get_system_reads_a_free_shard_and_gives_up_on_a_locked_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path(), StoreOptions::default()).expect("open");
        store.put(&sys("fp1")).expect("put");
        let got = store
            .try_get_system("fp1")
            .expect("shard free")
            .expect("read");
        assert_eq!(got.map(|r| r.fingerprint).as_deref(), Some("fp1"));
        assert!(matches!(store.try_get_system("nope"), Some(Ok(None))));
        let id = shard_of(&system_key("fp1"), store.shard_count());
        let _held = lock(&store.inner.shards[id as usize]);
        assert!(
            store.try_get_system("fp1").is_none(),
            "locked shard: no wait"
        );
    }
}
