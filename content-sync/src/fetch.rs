//! Fetching blobs from other members: verified (BLAKE3 via bao, checked every 16 KiB), resumed
//! from what is already stored (a cut transfer asks only for the missing ranges), paced by a
//! download limit, over one pooled connection per provider. A large blob can be fetched as
//! byte ranges from several providers at once ([`Fetcher::fetch_split`]), and a corrupt copy
//! is repaired by streaming a verified copy over it ([`Fetcher::repair`]), paced the same way.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use bao_tree::io::BaoContentItem;
use futures::StreamExt as _;
use iroh::{EndpointAddr, EndpointId, TransportAddr, endpoint::Connection};
use iroh_blobs::{
    Hash,
    api::remote::GetProgressItem,
    get::request::GetBlobItem,
    protocol::{ChunkRanges, ChunkRangesExt as _, GetRequest},
};

use crate::{
    BlobState, BlobStore, ContentEndpoint, ContentError,
    have::{HAVE_ALPN, HaveAnswer, parse_response},
    rate::TokenBucket,
};

/// Chunks (1 KiB) per chunk group (16 KiB, the unit iroh-blobs verifies and stores): range
/// boundaries fall on groups.
const GROUP_CHUNKS: u64 = 16;

/// A member that may hold a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Its endpoint id.
    pub id: EndpointId,
    /// Its UDP addresses.
    pub addrs: Vec<SocketAddr>,
}

/// Pooled connections by provider and ALPN (blobs, holdings maps).
type Pool = HashMap<(EndpointId, &'static [u8]), Connection>;

/// Counters of the fetching side.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Payload bytes received since start.
    pub bytes: AtomicU64,
    /// Blobs completed since start.
    pub blobs: AtomicU64,
    /// Fetch attempts that failed (the next provider was tried).
    pub failures: AtomicU64,
    /// Byte-range requests of blobs fetched from several providers at once.
    pub range_requests: AtomicU64,
    /// Blobs fetched from several providers at once.
    pub split_blobs: AtomicU64,
    /// Corrupt local copies repaired (streamed from a provider).
    pub repairs: AtomicU64,
    /// Holdings questions asked ([`crate::have`]).
    pub have_polls: AtomicU64,
    /// Holders learnt from a seed's hints (a file it handed to a node; [`crate::seed`]).
    pub hints: AtomicU64,
    /// Requests sent to a provider whose last known holdings did not list the file (the
    /// swarm planner never does; kept to show it).
    pub asks_unlisted: AtomicU64,
    /// News of holdings received from providers this node asked ([`crate::news`]).
    pub news: AtomicU64,
}

/// Fetches blobs into the store.
#[derive(Debug, Clone)]
pub struct Fetcher {
    ep: ContentEndpoint,
    store: BlobStore,
    conns: Arc<tokio::sync::Mutex<Pool>>,
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

    /// The endpoint fetched into.
    pub fn endpoint(&self) -> &ContentEndpoint {
        &self.ep
    }

    /// The store fetched into.
    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    async fn connection(&self, p: &Provider) -> Result<Connection, String> {
        self.connection_for(p, iroh_blobs::ALPN).await
    }

    async fn connection_for(
        &self,
        p: &Provider,
        alpn: &'static [u8],
    ) -> Result<Connection, String> {
        if let Some(c) = self.conns.lock().await.get(&(p.id, alpn))
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        self.ep.learn(p.id, &p.addrs);
        let addr = EndpointAddr::from_parts(p.id, p.addrs.iter().copied().map(TransportAddr::Ip));
        let conn =
            tokio::time::timeout(self.connect_timeout, self.ep.endpoint().connect(addr, alpn))
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
        self.conns.lock().await.insert((p.id, alpn), conn.clone());
        if alpn == HAVE_ALPN {
            self.read_news(conn.clone(), p.id);
        }
        Ok(conn)
    }

    /// Ask `p` which files of the repository version `manifest` it holds completely.
    pub async fn have(&self, p: &Provider, manifest: Hash) -> Result<HaveAnswer, String> {
        self.stats.have_polls.fetch_add(1, Relaxed);
        let conn = self.connection_for(p, HAVE_ALPN).await?;
        let ask = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
            send.write_all(manifest.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            send.finish().map_err(|e| e.to_string())?;
            let resp = recv
                .read_to_end(5 + (crate::have::MAX_BITS as usize).div_ceil(8))
                .await
                .map_err(|e| e.to_string())?;
            parse_response(&resp).ok_or_else(|| "malformed holdings answer".to_string())
        };
        tokio::time::timeout(self.connect_timeout, ask)
            .await
            .map_err(|_| "holdings question timed out".to_string())?
    }

    /// Read the news `from` sends on the holdings connection we asked it on, into the
    /// endpoint's holdings table (where the swarm fetch of that version takes it), until the
    /// connection closes.
    fn read_news(&self, conn: Connection, from: EndpointId) {
        let (have, stats) = (self.ep.have.clone(), self.stats.clone());
        tokio::spawn(async move {
            while let Ok(mut recv) = conn.accept_uni().await {
                let Ok(b) = recv.read_to_end(crate::news::MAX_NEWS).await else {
                    continue;
                };
                match crate::news::decode(&b) {
                    Some((manifest, answer)) => {
                        stats.news.fetch_add(1, Relaxed);
                        have.put_news(manifest, from, answer);
                    }
                    None => tracing::debug!(from = %from.fmt_short(), "malformed news dropped"),
                }
            }
        });
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

    /// Drop the pooled blob connection to `id` if it is closed (a refused request, e.g. a
    /// busy provider, leaves the connection usable).
    async fn forget(&self, id: &EndpointId) {
        let mut conns = self.conns.lock().await;
        if conns
            .get(&(*id, iroh_blobs::ALPN))
            .is_some_and(|c| c.close_reason().is_some())
        {
            conns.remove(&(*id, iroh_blobs::ALPN));
        }
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
                Ok(n) => return Ok(n),
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

    /// Fetch `hash` from `p` alone (what the store lacks of it). Returns the payload bytes
    /// received; an error if `p` did not deliver it complete.
    pub async fn fetch_from(&self, hash: Hash, p: &Provider) -> Result<u64, String> {
        let conn = self.connection(p).await?;
        let progress = self.store.api().remote().fetch(conn, hash);
        let got = self.drive(progress, p).await?;
        match self.store.state(hash).await {
            Ok(BlobState::Complete(_)) => {
                self.stats.blobs.fetch_add(1, Relaxed);
                Ok(got)
            }
            Ok(_) => Err("provider does not have it complete".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Fetch `ranges` (chunks) of `hash` from `p` into the store.
    async fn fetch_ranges(
        &self,
        hash: Hash,
        ranges: ChunkRanges,
        p: &Provider,
    ) -> Result<u64, String> {
        self.stats.range_requests.fetch_add(1, Relaxed);
        let conn = self.connection(p).await?;
        let progress = self
            .store
            .api()
            .remote()
            .execute_get(conn, GetRequest::blob_ranges(hash, ranges));
        self.drive(progress, p).await
    }

    /// Make `hash` (of `size` bytes) complete by fetching the ranges the store lacks from
    /// several `providers` at once: the blob is cut into one part per provider (chunk-group
    /// aligned), each part asked as a range request (bao-verified like any fetch) and paced
    /// by the same download limit. A part whose provider fails stays missing (an error; the
    /// next call asks only for what is still missing). Resumable like any fetch.
    pub async fn fetch_split(
        &self,
        hash: Hash,
        size: u64,
        providers: &[Provider],
    ) -> Result<u64, ContentError> {
        if providers.len() < 2 {
            return self.fetch(hash, providers).await;
        }
        if let BlobState::Complete(_) = self.store.state(hash).await? {
            return Ok(0);
        }
        let have = self
            .store
            .api()
            .observe(hash)
            .await
            .map_err(ContentError::store)?;
        let parts = split_ranges(size, &have.ranges, providers.len());
        self.stats.split_blobs.fetch_add(1, Relaxed);
        let providers = self.reachable_first(providers);
        // Each part from its own provider, once: a busy or failing one leaves its part
        // missing, and the caller plans it again (other holders, what is still missing).
        let results = futures::future::join_all(parts.into_iter().enumerate().map(|(k, part)| {
            let p = &providers[k % providers.len()];
            async move {
                self.fetch_ranges(hash, part, p).await.map_err(|e| {
                    self.stats.failures.fetch_add(1, Relaxed);
                    format!("{}: {e}", p.id.fmt_short())
                })
            }
        }))
        .await;
        let mut got = 0;
        let mut last = None;
        for r in results {
            match r {
                Ok(n) => got += n,
                Err(e) => last = Some(e),
            }
        }
        match self.store.state(hash).await? {
            BlobState::Complete(_) => {
                self.stats.blobs.fetch_add(1, Relaxed);
                Ok(got)
            }
            _ => Err(ContentError::Unavailable {
                hash: hash.to_hex(),
                reason: last.unwrap_or_else(|| "ranges incomplete".into()),
            }),
        }
    }

    /// Run a get to its end, pacing it by the download limit. Returns the payload bytes.
    async fn drive(
        &self,
        progress: iroh_blobs::api::remote::GetProgress,
        p: &Provider,
    ) -> Result<u64, String> {
        let mut got = 0u64;
        let mut stream = std::pin::pin!(progress.stream());
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
        Ok(got)
    }

    /// Repair a corrupt local copy of `hash`: a verified copy is streamed from a provider
    /// and written over the damaged data file piece by piece (never held whole in memory),
    /// paced by the download limit like any fetch, then the whole file is checked again.
    pub async fn repair(&self, hash: Hash, providers: &[Provider]) -> Result<u64, ContentError> {
        let mut last = "no provider".to_string();
        for p in &self.reachable_first(providers) {
            match self.repair_from(hash, p).await {
                Ok(n) => {
                    self.stats.repairs.fetch_add(1, Relaxed);
                    return Ok(n);
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Relaxed);
                    last = format!("{}: {e}", p.id.fmt_short());
                }
            }
        }
        Err(ContentError::Unavailable {
            hash: hash.to_hex(),
            reason: last,
        })
    }

    async fn repair_from(&self, hash: Hash, p: &Provider) -> Result<u64, String> {
        let conn = self.connection(p).await?;
        let mut writer = self.store.repair_writer(hash).map_err(|e| e.to_string())?;
        let mut got = 0u64;
        let mut stream = iroh_blobs::get::request::get_blob(conn, hash);
        while let Some(item) = stream.next().await {
            match item {
                GetBlobItem::Item(BaoContentItem::Leaf(leaf)) => {
                    let n = leaf.data.len() as u64;
                    writer
                        .write_at(leaf.offset, leaf.data)
                        .await
                        .map_err(|e| e.to_string())?;
                    got += n;
                    self.stats.bytes.fetch_add(n, Relaxed);
                    self.pace(n).await;
                }
                GetBlobItem::Item(_) => {}
                GetBlobItem::Done(_) => break,
                GetBlobItem::Error(e) => {
                    self.forget(&p.id).await;
                    return Err(e.to_string());
                }
            }
        }
        writer.finish().await.map_err(|e| e.to_string())?;
        if self.store.verify(hash).await.map_err(|e| e.to_string())? {
            Ok(got)
        } else {
            Err("repaired copy still fails its hash".into())
        }
    }
}

/// Cut the chunks of a `size`-byte blob that `have` lacks into at most `parts` range sets of
/// about equal length, on chunk-group boundaries. Empty parts are left out.
pub(crate) fn split_ranges(size: u64, have: &ChunkRanges, parts: usize) -> Vec<ChunkRanges> {
    let chunks = size.div_ceil(1024).max(1);
    let groups = chunks.div_ceil(GROUP_CHUNKS);
    let parts = (parts.max(1) as u64).min(groups);
    let mut out = Vec::new();
    for k in 0..parts {
        let a = groups * k / parts * GROUP_CHUNKS;
        let b = (groups * (k + 1) / parts * GROUP_CHUNKS).min(chunks);
        // The last part is open-ended so it carries the size proof of the last chunk.
        let mut r = if k + 1 == parts {
            ChunkRanges::chunks(a..)
        } else {
            ChunkRanges::chunks(a..b)
        };
        r.difference_with(have);
        if !r.is_empty() {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_missing_chunks_on_group_boundaries() {
        let none = ChunkRanges::empty();
        // 1 MiB = 1024 chunks = 64 groups, 4 parts of 16 groups.
        let parts = split_ranges(1 << 20, &none, 4);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0], ChunkRanges::chunks(0..256));
        assert_eq!(parts[1], ChunkRanges::chunks(256..512));
        assert_eq!(parts[3], ChunkRanges::chunks(768..));
        // What is stored is not asked for again.
        let have = ChunkRanges::chunks(0..300);
        let parts = split_ranges(1 << 20, &have, 4);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], ChunkRanges::chunks(300..512));
        // A tiny blob is one part, however many providers.
        assert_eq!(split_ranges(5000, &none, 8), [ChunkRanges::chunks(0..)]);
        assert!(split_ranges(1 << 20, &ChunkRanges::all(), 4).is_empty());
    }
}
