//! Fetching blobs from other members: verified (BLAKE3 via bao, checked every 16 KiB), resumed
//! from what is already stored (a cut transfer asks only for the missing ranges), paced by a
//! download limit, over one pooled connection per provider.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::StreamExt as _;
use iroh::{EndpointAddr, EndpointId, TransportAddr, endpoint::Connection};
use iroh_blobs::{Hash, api::remote::GetProgressItem};

use crate::{BlobState, BlobStore, ContentEndpoint, ContentError, rate::TokenBucket};

/// A member that may hold a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Its endpoint id.
    pub id: EndpointId,
    /// Its UDP addresses.
    pub addrs: Vec<SocketAddr>,
}

/// Counters of the fetching side.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Payload bytes received since start.
    pub bytes: AtomicU64,
    /// Blobs completed since start.
    pub blobs: AtomicU64,
    /// Fetch attempts that failed (the next provider was tried).
    pub failures: AtomicU64,
}

/// Fetches blobs into the store.
#[derive(Debug, Clone)]
pub struct Fetcher {
    ep: ContentEndpoint,
    store: BlobStore,
    conns: Arc<tokio::sync::Mutex<HashMap<EndpointId, Connection>>>,
    /// Providers whose last connection attempt failed, and when: tried last for a while.
    unreachable: Arc<Mutex<HashMap<EndpointId, Instant>>>,
    limit: Option<Arc<Mutex<TokenBucket>>>,
    connect_timeout: Duration,
    /// Counters.
    pub stats: Arc<FetchStats>,
}

impl Fetcher {
    /// A fetcher into `store` over `ep`; `download_limit` in bytes per second.
    pub fn new(ep: ContentEndpoint, store: BlobStore, download_limit: Option<u64>) -> Self {
        Self {
            ep,
            store,
            conns: Arc::default(),
            unreachable: Arc::default(),
            limit: download_limit
                .map(|l| Arc::new(Mutex::new(TokenBucket::new(l, Instant::now())))),
            connect_timeout: Duration::from_secs(5),
            stats: Arc::default(),
        }
    }

    async fn connection(&self, p: &Provider) -> Result<Connection, String> {
        if let Some(c) = self.conns.lock().await.get(&p.id)
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        self.ep.learn(p.id, &p.addrs);
        let addr = EndpointAddr::from_parts(p.id, p.addrs.iter().copied().map(TransportAddr::Ip));
        let conn = tokio::time::timeout(
            self.connect_timeout,
            self.ep.endpoint().connect(addr, iroh_blobs::ALPN),
        )
        .await
        .map_err(|_| "connect timed out".to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                self.unreachable_map().insert(p.id, Instant::now());
                return Err(e);
            }
        };
        self.unreachable_map().remove(&p.id);
        self.conns.lock().await.insert(p.id, conn.clone());
        Ok(conn)
    }

    fn unreachable_map(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, Instant>> {
        self.unreachable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `providers` with those that could not be reached in the last 30 s moved to the end.
    fn reachable_first(&self, providers: &[Provider]) -> Vec<Provider> {
        let recent = |id: &EndpointId| {
            self.unreachable_map()
                .get(id)
                .is_some_and(|t| t.elapsed() < Duration::from_secs(30))
        };
        let (bad, mut good): (Vec<Provider>, Vec<Provider>) =
            providers.iter().cloned().partition(|p| recent(&p.id));
        good.extend(bad);
        good
    }

    async fn forget(&self, id: &EndpointId) {
        self.conns.lock().await.remove(id);
    }

    async fn pace(&self, bytes: u64) {
        let wait = self.limit.as_ref().map(|b| {
            b.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(bytes, Instant::now())
        });
        if let Some(w) = wait.filter(|w| !w.is_zero()) {
            tokio::time::sleep(w).await;
        }
    }

    /// Make `hash` complete in the store, trying `providers` in order. Returns the payload
    /// bytes received (0 when it was already complete).
    pub async fn fetch(&self, hash: Hash, providers: &[Provider]) -> Result<u64, ContentError> {
        if let BlobState::Complete(_) = self.store.state(hash).await? {
            return Ok(0);
        }
        let mut last = "no provider".to_string();
        for p in &self.reachable_first(providers) {
            match self.fetch_from(hash, p).await {
                Ok(n) => {
                    self.stats.blobs.fetch_add(1, Relaxed);
                    return Ok(n);
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Relaxed);
                    tracing::debug!(%hash, provider = %p.id.fmt_short(), "fetch failed: {e}");
                    last = format!("{}: {e}", p.id.fmt_short());
                }
            }
        }
        Err(ContentError::Unavailable {
            hash: hash.to_hex(),
            reason: last,
        })
    }

    async fn fetch_from(&self, hash: Hash, p: &Provider) -> Result<u64, String> {
        let conn = self.connection(p).await?;
        let mut got = 0u64;
        let mut stream = std::pin::pin!(self.store.api().remote().fetch(conn, hash).stream());
        while let Some(item) = stream.next().await {
            match item {
                GetProgressItem::Progress(total) => {
                    let delta = total.saturating_sub(got);
                    got = total;
                    self.stats.bytes.fetch_add(delta, Relaxed);
                    // Not polling the transfer while waiting holds it back (bounded channel,
                    // QUIC flow control): the limit applies on the wire.
                    self.pace(delta).await;
                }
                GetProgressItem::Done(_) => break,
                GetProgressItem::Error(e) => {
                    self.forget(&p.id).await;
                    return Err(e.to_string());
                }
            }
        }
        match self.store.state(hash).await {
            Ok(BlobState::Complete(_)) => Ok(got),
            Ok(_) => Err("provider does not have it complete".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Fetch a verified copy of `hash` into memory without touching the store (to repair a
    /// corrupted local copy).
    pub async fn fetch_copy(
        &self,
        hash: Hash,
        providers: &[Provider],
    ) -> Result<Bytes, ContentError> {
        let mut last = "no provider".to_string();
        for p in &self.reachable_first(providers) {
            let conn = match self.connection(p).await {
                Ok(c) => c,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let mem = iroh_blobs::store::mem::MemStore::new();
            match mem.remote().fetch(conn, hash).complete().await {
                Ok(_) => match mem.get_bytes(hash).await {
                    Ok(b) => {
                        self.stats.bytes.fetch_add(b.len() as u64, Relaxed);
                        return Ok(b);
                    }
                    Err(e) => last = e.to_string(),
                },
                Err(e) => {
                    self.forget(&p.id).await;
                    last = e.to_string();
                }
            }
        }
        Err(ContentError::Unavailable {
            hash: hash.to_hex(),
            reason: last,
        })
    }
}
