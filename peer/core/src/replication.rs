//! Replication of the metastore between peers.
//!
//! Three paths, fastest first:
//! 1. **Broadcast.** A local write publishes its automerge change chunk on the changes topic;
//!    receivers apply it directly ([`Replicator::on_change`]). If the chunk depends on changes
//!    the receiver lacks (it missed an earlier one), the receiver pulls the shard from the
//!    sender at once.
//! 2. **Pull.** [`Replicator::sync_with`] runs the automerge sync protocol for a set of shards
//!    with one peer over request-response, `shards_per_request` shards per request and
//!    `batches_in_flight` requests at once (a WAN round trip is paid once per wave).
//! 3. **Anti-entropy.** Every interval the controller picks a random connected member whose
//!    heartbeat announced a different root digest (or, every few rounds, any member), fetches
//!    its per-shard digest and pulls the shards that differ. This is what brings back a peer
//!    that was down or partitioned, without a full resync.
//!
//! Store work (automerge, fsync) runs on blocking threads; the async side only carries bytes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crdt_store::{Digest, ShardId, Store, SyncSession};
use futures::StreamExt;
use libp2p::PeerId;
use tokio::sync::Semaphore;

use crate::config::ReplicationConfig;
use crate::net::wire::{ChangeItem, Gossip, Request, Response, SyncItem, TOPIC_CHANGES};
use crate::net::{NetClient, NetError};

/// A boxed future, for the object-safe [`Transport`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What replication needs of the network: publish a gossip message, send one request to a
/// peer and await its answer. The swarm's [`NetClient`] is the real one; unit tests wire
/// replicators to each other in memory.
pub trait Transport: Send + Sync + std::fmt::Debug + 'static {
    /// Publish `data` on `topic`.
    fn publish(&self, topic: &'static str, data: Vec<u8>) -> BoxFuture<'_, Result<(), NetError>>;
    /// Send `request` to `peer` and wait for its response.
    fn request(&self, peer: PeerId, request: Request) -> BoxFuture<'_, Result<Response, NetError>>;
}

impl Transport for NetClient {
    fn publish(&self, topic: &'static str, data: Vec<u8>) -> BoxFuture<'_, Result<(), NetError>> {
        Box::pin(NetClient::publish(self, topic, data))
    }

    fn request(&self, peer: PeerId, request: Request) -> BoxFuture<'_, Result<Response, NetError>> {
        Box::pin(NetClient::request(self, peer, request))
    }
}

/// Bytes one batched gossip message carries at most, chunks and heads as [`pack`] counts
/// them (gossipsub's cap is 256 KiB). A larger write batch goes out as several messages.
pub const BATCH_BYTES: usize = 160 * 1024;

/// Most rounds of one sync session before giving up (the protocol needs 2-4).
const MAX_ROUNDS: usize = 32;

/// Errors of a sync session.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The network failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The store refused something.
    #[error(transparent)]
    Store(#[from] crdt_store::StoreError),
    /// The remote refused or answered nonsense.
    #[error("peer {peer}: {reason}")]
    Protocol {
        /// The remote.
        peer: PeerId,
        /// What it said or did.
        reason: String,
    },
    /// A blocking task panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
}

#[derive(Debug)]
struct Inner {
    store: Store,
    net: Arc<dyn Transport>,
    cfg: ReplicationConfig,
    /// Peers we are syncing with right now (one session per peer at a time), with the shards
    /// asked for meanwhile: the running session picks them up before it ends.
    busy: Mutex<HashMap<PeerId, HashSet<ShardId>>>,
    limit: Semaphore,
    /// Responder-side sync states, per requesting peer; each peer has its own lock so one
    /// slow requester does not hold up the others.
    serving: Mutex<HashMap<PeerId, Arc<Mutex<SyncSession>>>>,
    /// Whether every member reads batched changes ([`Gossip::Changes`], wire protocol 3):
    /// set by the controller from the membership table; off until it says so.
    batching: AtomicBool,
}

/// Replication engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct Replicator {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SyncError::Task(e.to_string()))
}

impl Replicator {
    /// A replicator over `store`, talking through `net`.
    pub fn new(store: Store, net: Arc<dyn Transport>, cfg: ReplicationConfig) -> Self {
        let limit = Semaphore::new(cfg.max_concurrent_syncs);
        Self {
            inner: Arc::new(Inner {
                store,
                net,
                cfg,
                busy: Mutex::new(HashMap::new()),
                limit,
                serving: Mutex::new(HashMap::new()),
                batching: AtomicBool::new(false),
            }),
        }
    }

    /// Send batched changes ([`Gossip::Changes`]) from now on (`true`: every member reads
    /// them) or one message per shard (`false`, the default: some member is older).
    /// Stays off when `[replication] batch_changes` is false.
    pub fn set_batching(&self, on: bool) {
        let on = on && self.inner.cfg.batch_changes;
        self.inner.batching.store(on, Ordering::Relaxed);
    }

    /// Whether changes go out batched.
    pub fn batching(&self) -> bool {
        self.inner.batching.load(Ordering::Relaxed)
    }

    /// Publish the change chunks a local write produced: one message per
    /// [`BATCH_BYTES`] of chunks while every member reads batches, else one per shard.
    pub async fn broadcast(&self, frames: Vec<(ShardId, Vec<u8>)>) {
        if frames.is_empty() {
            return;
        }
        let store = self.inner.store.clone();
        let ids: Vec<ShardId> = frames.iter().map(|(s, _)| *s).collect();
        // One hand-off to a blocking thread for all the heads, not one per shard.
        let heads = match blocking(move || store.heads_of(&ids)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                tracing::warn!("reading heads: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!("{e}");
                return;
            }
        };
        let max = self.inner.cfg.gossip_chunk_max;
        let items = frames
            .into_iter()
            .zip(heads)
            .map(|((shard, chunk), heads)| {
                // Too large for gossip: announce the heads only (receivers pull).
                let chunk = if chunk.len() <= max {
                    chunk
                } else {
                    Vec::new()
                };
                ChangeItem {
                    shard,
                    heads,
                    chunk,
                }
            });
        let (protocol, min_protocol) = crate::net::wire::spoken();
        if self.batching() && protocol >= crate::net::wire::BATCHED_CHANGES {
            for batch in pack(items, BATCH_BYTES) {
                let bytes: u64 = batch.iter().map(|i| i.chunk.len() as u64).sum();
                let msg = Gossip::Changes {
                    items: batch,
                    protocol,
                    min_protocol,
                };
                self.publish(msg, bytes).await;
            }
        } else {
            for item in items {
                let bytes = item.chunk.len() as u64;
                let msg = Gossip::Change {
                    shard: item.shard,
                    heads: item.heads,
                    chunk: item.chunk,
                    protocol,
                    min_protocol,
                };
                self.publish(msg, bytes).await;
            }
        }
    }

    async fn publish(&self, msg: Gossip, bytes: u64) {
        match self.inner.net.publish(TOPIC_CHANGES, msg.encode()).await {
            Ok(()) => {
                crate::metrics::metrics().gossip_sent_bytes.inc_by(bytes);
            }
            Err(e) => tracing::debug!("broadcast: {e}"),
        }
    }

    /// A batch of change chunks arrived by gossip from `source` ([`Gossip::Changes`]):
    /// applied with one fsync. Returns the shards that still lack something the sender has:
    /// the caller should [`Self::sync_with`] the sender for them.
    pub async fn on_changes(&self, source: PeerId, items: Vec<ChangeItem>) -> Vec<ShardId> {
        let bytes: u64 = items.iter().map(|i| i.chunk.len() as u64).sum();
        crate::metrics::metrics()
            .gossip_received_bytes
            .inc_by(bytes);
        let store = self.inner.store.clone();
        let shards: Vec<ShardId> = items.iter().map(|i| i.shard).collect();
        let res = blocking(move || {
            let changes: Vec<crdt_store::RemoteChange<'_>> = items
                .iter()
                .map(|i| crdt_store::RemoteChange {
                    shard: i.shard,
                    chunk: &i.chunk,
                    heads: &i.heads,
                })
                .collect();
            store.apply_remote_batch(&changes)
        })
        .await;
        match res {
            Ok(Ok(done)) => {
                if let Some(e) = done.refused {
                    tracing::warn!(%source, "rejected change chunk: {e}");
                }
                done.incomplete
            }
            Ok(Err(e)) => {
                tracing::warn!(%source, "applying a batch of changes: {e}");
                shards
            }
            Err(e) => {
                tracing::warn!("{e}");
                shards
            }
        }
    }

    /// A change chunk arrived by gossip from `source`. Returns `true` when the shard still
    /// lacks something the sender has: the caller should then [`Self::sync_with`] the sender.
    pub async fn on_change(
        &self,
        source: PeerId,
        shard: ShardId,
        heads: Vec<[u8; 32]>,
        chunk: Vec<u8>,
    ) -> bool {
        if chunk.is_empty() {
            return true;
        }
        crate::metrics::metrics()
            .gossip_received_bytes
            .inc_by(chunk.len() as u64);
        let store = self.inner.store.clone();
        match blocking(move || store.apply_remote(shard, &chunk, &heads)).await {
            Ok(Ok(complete)) => !complete,
            Ok(Err(e)) => {
                tracing::warn!(%source, shard, "rejected change chunk: {e}");
                true
            }
            Err(e) => {
                tracing::warn!("{e}");
                true
            }
        }
    }

    /// Reconcile with `peer`: the given shards, or (with `None`) every shard whose digest
    /// differs. Returns the number of shards that changed locally. A session already running
    /// with the same peer makes this a no-op.
    pub async fn sync_with(
        &self,
        peer: PeerId,
        shards: Option<Vec<ShardId>>,
    ) -> Result<usize, SyncError> {
        {
            let mut busy = lock(&self.inner.busy);
            if let Some(pending) = busy.get_mut(&peer) {
                // A session with this peer is running: hand it the shards (all of them means a
                // digest comparison, which the running session may already be doing).
                if let Some(s) = &shards {
                    pending.extend(s.iter().copied());
                }
                return Ok(0);
            }
            busy.insert(peer, HashSet::new());
        }
        let _busy = BusyGuard {
            inner: self.inner.clone(),
            peer,
        };
        let m = crate::metrics::metrics();
        match self.session(peer, shards).await {
            Ok(changed) => {
                m.sync_rounds.inc();
                m.sync_shards.inc_by(changed as u64);
                Ok(changed)
            }
            Err(e) => {
                m.sync_failures.inc();
                Err(e)
            }
        }
    }

    /// One sync session with `peer` (the caller holds its busy mark).
    async fn session(
        &self,
        peer: PeerId,
        shards: Option<Vec<ShardId>>,
    ) -> Result<usize, SyncError> {
        let _permit = self
            .inner
            .limit
            .acquire()
            .await
            .map_err(|e| SyncError::Task(e.to_string()))?;
        let shards = match shards {
            Some(s) => s,
            None => {
                let theirs = match self.inner.net.request(peer, Request::Digest).await? {
                    Response::Digest {
                        shard_count,
                        digest,
                    } => {
                        self.check_count(peer, shard_count)?;
                        Digest(digest)
                    }
                    other => return Err(unexpected(peer, &other)),
                };
                self.inner.store.digest().differing(&theirs)
            }
        };
        // Batches are independent: keep several in flight, so a WAN round trip is paid once
        // per wave rather than once per batch.
        let batches: Vec<Vec<ShardId>> = shards
            .chunks(self.inner.cfg.shards_per_request)
            .map(<[ShardId]>::to_vec)
            .collect();
        let mut results = futures::stream::iter(batches)
            .map(|batch| self.sync_batch(peer, batch))
            .buffer_unordered(self.inner.cfg.batches_in_flight.max(1));
        let mut changed = 0;
        while let Some(r) = results.next().await {
            changed += r?;
        }
        drop(results);
        // Shards requested while this session ran (e.g. a gossip chunk with a missing
        // dependency): reconcile them now, still as the one session with this peer.
        loop {
            let pending: Vec<ShardId> = lock(&self.inner.busy)
                .get_mut(&peer)
                .map(|p| p.drain().collect())
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            changed += self.sync_batch(peer, pending).await?;
        }
        Ok(changed)
    }

    fn check_count(&self, peer: PeerId, theirs: u32) -> Result<(), SyncError> {
        let ours = self.inner.store.shard_count();
        if theirs != ours {
            return Err(SyncError::Protocol {
                peer,
                reason: format!("its store has {theirs} shards, ours {ours}: refusing to sync"),
            });
        }
        Ok(())
    }

    async fn sync_batch(&self, peer: PeerId, shards: Vec<ShardId>) -> Result<usize, SyncError> {
        let session = Arc::new(Mutex::new(SyncSession::new()));
        let mut active = shards;
        let mut changed = 0;
        for round in 0.. {
            if round == MAX_ROUNDS {
                return Err(SyncError::Protocol {
                    peer,
                    reason: format!(
                        "sync of shards {active:?} did not settle in {MAX_ROUNDS} rounds"
                    ),
                });
            }
            let (store, sess, act) = (self.inner.store.clone(), session.clone(), active.clone());
            let out = blocking(move || store.sync_generate(&mut lock(&sess), &act)).await??;
            if out.is_empty() && round > 0 {
                break;
            }
            let sent: HashSet<ShardId> = out.iter().map(|(s, _)| *s).collect();
            let items = out
                .into_iter()
                .map(|(shard, msg)| SyncItem {
                    shard,
                    reset: round == 0,
                    msg,
                })
                .collect();
            let (protocol, min_protocol) = crate::net::wire::spoken();
            let request = Request::Sync {
                shard_count: self.inner.store.shard_count(),
                items,
                protocol,
                min_protocol,
            };
            let reply = match self.inner.net.request(peer, request).await? {
                Response::Sync {
                    items,
                    protocol,
                    min_protocol,
                } => {
                    if let Err(e) = crate::net::wire::compatible(
                        crate::net::wire::spoken(),
                        (protocol, min_protocol),
                    ) {
                        return Err(unexpected(
                            peer,
                            &Response::Error {
                                message: format!("incompatible peer: {e}"),
                            },
                        ));
                    }
                    items
                }
                other => return Err(unexpected(peer, &other)),
            };
            let received: Vec<(ShardId, Vec<u8>)> = reply
                .into_iter()
                .filter(|i| !i.msg.is_empty())
                .map(|i| (i.shard, i.msg))
                .collect();
            if received.is_empty() && sent.is_empty() {
                break;
            }
            let mut next: HashSet<ShardId> = sent;
            next.extend(received.iter().map(|(s, _)| *s));
            let (store, sess) = (self.inner.store.clone(), session.clone());
            changed += blocking(move || store.sync_receive(&mut lock(&sess), &received)).await??;
            active = next.into_iter().collect();
            active.sort_unstable();
        }
        Ok(changed)
    }

    /// Answer a request from `peer` (runs the store work on a blocking thread).
    pub async fn serve(&self, peer: PeerId, request: Request) -> Response {
        crate::metrics::metrics().sync_requests_served.inc();
        let inner = self.inner.clone();
        let res = blocking(move || serve_blocking(&inner, peer, request)).await;
        match res {
            Ok(r) => r,
            Err(e) => Response::Error {
                message: e.to_string(),
            },
        }
    }

    /// Forget responder state for a peer that disconnected.
    pub fn forget(&self, peer: &PeerId) {
        lock(&self.inner.serving).remove(peer);
    }
}

fn serve_blocking(inner: &Inner, peer: PeerId, request: Request) -> Response {
    let store = &inner.store;
    match request {
        Request::Digest => Response::Digest {
            shard_count: store.shard_count(),
            digest: store.digest().0,
        },
        Request::Sync {
            shard_count,
            items,
            protocol,
            min_protocol,
        } => {
            if let Err(e) =
                crate::net::wire::compatible(crate::net::wire::spoken(), (protocol, min_protocol))
            {
                return Response::Error {
                    message: format!("sync refused, incompatible peer: {e}"),
                };
            }
            if shard_count != store.shard_count() {
                return Response::Error {
                    message: format!(
                        "shard count mismatch: ours {}, yours {shard_count}",
                        store.shard_count()
                    ),
                };
            }
            let session = lock(&inner.serving).entry(peer).or_default().clone();
            let mut session = lock(&session);
            let session = &mut *session;
            let mut incoming = Vec::new();
            let mut shards = Vec::new();
            for item in items {
                if item.reset {
                    session.reset(item.shard);
                }
                shards.push(item.shard);
                if !item.msg.is_empty() {
                    incoming.push((item.shard, item.msg));
                }
            }
            if let Err(e) = store.sync_receive(session, &incoming) {
                return Response::Error {
                    message: e.to_string(),
                };
            }
            let (protocol, min_protocol) = crate::net::wire::spoken();
            match store.sync_generate(session, &shards) {
                Ok(out) => Response::Sync {
                    protocol,
                    min_protocol,
                    items: out
                        .into_iter()
                        .map(|(shard, msg)| SyncItem {
                            shard,
                            reset: false,
                            msg,
                        })
                        .collect(),
                },
                Err(e) => Response::Error {
                    message: e.to_string(),
                },
            }
        }
    }
}

/// Split `items` into batches of at most `max_bytes` of chunks each (an item larger than
/// that travels alone); the order is kept.
pub fn pack(items: impl IntoIterator<Item = ChangeItem>, max_bytes: usize) -> Vec<Vec<ChangeItem>> {
    let mut out: Vec<Vec<ChangeItem>> = Vec::new();
    let mut size = 0;
    for item in items {
        // CBOR writes a head's 32 bytes as an array of small integers: up to 64 bytes.
        let n = item.chunk.len() + 64 * item.heads.len() + 16;
        match out.last_mut() {
            Some(last) if size + n <= max_bytes => last.push(item),
            _ => {
                out.push(vec![item]);
                size = 0;
            }
        }
        size += n;
    }
    out
}

fn unexpected(peer: PeerId, r: &Response) -> SyncError {
    SyncError::Protocol {
        peer,
        reason: match r {
            Response::Error { message } => message.clone(),
            _ => "unexpected response type".into(),
        },
    }
}

struct BusyGuard {
    inner: Arc<Inner>,
    peer: PeerId,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        lock(&self.inner.busy).remove(&self.peer);
    }
}

#[cfg(test)]
mod tests;
