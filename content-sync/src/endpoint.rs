//! The node's iroh endpoint on a closed network, serving its blob store to cluster members.
//!
//! Closed means (p2p-notes §3): the `Minimal` preset (ring, no lookup services), relays off,
//! no port mapping, no net-report probes, one UDP socket on the configured address, peers'
//! addresses given by the cluster's own membership (never pkarr or DNS), and
//! `Endpoint::online` never called (it waits for a relay forever).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
    time::Instant,
};

use iroh::{
    Endpoint, EndpointAddr, EndpointId, RelayMode, SecretKey, TransportAddr,
    address_lookup::memory::MemoryLookup,
    endpoint::{Connection, NetReportConfig, PortmapperConfig, presets},
    protocol::{AcceptError, ProtocolHandler, Router},
};
use iroh_blobs::{
    BlobsProtocol, Hash,
    provider::events::{
        AbortReason, ConnectMode, EventMask, EventSender, ObserveMode, ProviderMessage,
        RequestMode, RequestUpdate, ThrottleMode,
    },
};

use crate::{
    BlobStore, ContentError,
    announce::Announcer,
    have::{HAVE_ALPN, HaveTable, REFUSED, UNKNOWN, known, response},
    news::WatchOptions,
    rate::TokenBucket,
    seed::{SeedOptions, Sent},
};

/// Decides who may fetch what (implemented by the peer over its membership and manifests).
pub trait Gate: Send + Sync + std::fmt::Debug + 'static {
    /// The zone of the cluster member whose endpoint id this is; `None`: not a member.
    fn member_zone(&self, id: &EndpointId) -> Option<String>;
    /// May a member of `zone` fetch `hash`?
    fn may_fetch(&self, zone: &str, hash: &Hash) -> bool;
}

/// Counters of the serving side.
#[derive(Debug, Default)]
pub struct ServeStats {
    /// Connections refused: not a cluster member.
    pub refused_connections: std::sync::atomic::AtomicU64,
    /// Requests refused: blob not shared with the requester's zone, or not a plain blob
    /// request.
    pub refused_requests: std::sync::atomic::AtomicU64,
    /// Requests served.
    pub served_requests: std::sync::atomic::AtomicU64,
    /// Requests turned away because every upload slot was busy (the requester asks another
    /// holder or comes back later).
    pub busy_refusals: AtomicU64,
    /// Requests turned away by super-seeding: the file was handed out already
    /// ([`crate::seed`]).
    pub seed_refusals: AtomicU64,
    /// Payload bytes sent.
    pub uploaded_bytes: AtomicU64,
    /// Holdings questions answered ([`crate::have`]).
    pub have_answers: AtomicU64,
    /// News of holdings sent to recent askers ([`crate::news`]).
    pub news_sent: AtomicU64,
}

/// How the endpoint serves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Super-seeding of the versions this node holds completely ([`crate::seed`]; off by
    /// default).
    pub seed: SeedOptions,
    /// Bytes per second for everything this node serves; `None`: no limit.
    pub upload_limit: Option<u64>,
    /// Blob requests served at once; more are refused as busy (`0`: no limit). A node with a
    /// thin link serves a few transfers at full speed rather than many at a crawl, so copies
    /// complete (and can be served onwards) early.
    pub upload_slots: usize,
    /// Whom news of this node's holdings goes to ([`crate::news`]).
    pub watch: WatchOptions,
}

/// The endpoint, its protocol router and its static address book.
#[derive(Debug, Clone)]
pub struct ContentEndpoint {
    endpoint: Endpoint,
    router: Router,
    lookup: MemoryLookup,
    /// Serving counters.
    pub stats: Arc<ServeStats>,
    /// What this node holds, per repository version (answered over [`HAVE_ALPN`]).
    pub have: HaveTable,
    announcer: Announcer,
}

impl ContentEndpoint {
    /// Bind on `bind` with the node's ed25519 secret (the libp2p identity's key, so the
    /// endpoint id is the peer's public key) and serve `store` through `gate`.
    pub async fn bind(
        secret: [u8; 32],
        bind: SocketAddr,
        store: &BlobStore,
        gate: Arc<dyn Gate>,
        opts: ServeOptions,
    ) -> Result<Self, ContentError> {
        let bind_err = |reason: String| ContentError::Bind {
            addr: bind.to_string(),
            reason,
        };
        let lookup = MemoryLookup::new();
        let endpoint = Endpoint::builder(presets::Minimal)
            .relay_mode(RelayMode::Disabled)
            .portmapper_config(PortmapperConfig::Disabled)
            .net_report_config(NetReportConfig::minimal())
            .clear_ip_transports()
            .bind_addr(bind)
            .map_err(|e| bind_err(e.to_string()))?
            .address_lookup(lookup.clone())
            .secret_key(SecretKey::from_bytes(&secret))
            .bind()
            .await
            .map_err(|e| bind_err(e.to_string()))?;
        let stats = Arc::new(ServeStats::default());
        let have = HaveTable::with_seeding(opts.seed);
        let announcer = Announcer::new(have.clone(), stats.clone(), opts.watch);
        let events = serve_events(gate.clone(), opts, stats.clone(), announcer.clone());
        let router = Router::builder(endpoint.clone())
            .accept(
                iroh_blobs::ALPN,
                BlobsProtocol::new(store.api(), Some(events)),
            )
            .accept(
                HAVE_ALPN,
                HaveProtocol {
                    gate,
                    have: have.clone(),
                    stats: stats.clone(),
                    announcer: announcer.clone(),
                },
            )
            .spawn();
        Ok(Self {
            endpoint,
            router,
            lookup,
            stats,
            have,
            announcer,
        })
    }

    /// What this node holds of `manifest` changed (a file completed): tell the nodes that
    /// asked about it recently ([`crate::news`]).
    pub fn announce(&self, manifest: Hash) {
        self.announcer.announce(manifest);
    }

    /// The endpoint (for fetching).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// This node's endpoint id.
    pub fn id(&self) -> EndpointId {
        self.endpoint.id()
    }

    /// The UDP addresses the endpoint is bound to.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.endpoint.bound_sockets()
    }

    /// Record where a member's endpoint listens (from the metastore).
    pub fn learn(&self, id: EndpointId, addrs: &[SocketAddr]) {
        self.lookup.add_endpoint_info(EndpointAddr::from_parts(
            id,
            addrs.iter().copied().map(TransportAddr::Ip),
        ));
    }

    /// Close connections and stop serving.
    pub async fn shutdown(&self) {
        if let Err(e) = self.router.shutdown().await {
            tracing::warn!("blob endpoint shutdown: {e}");
        }
    }
}

/// Answers holdings questions: members only, and only about manifests shared with their zone.
#[derive(Debug, Clone)]
struct HaveProtocol {
    gate: Arc<dyn Gate>,
    have: HaveTable,
    stats: Arc<ServeStats>,
    announcer: Announcer,
}

impl ProtocolHandler for HaveProtocol {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let Some(zone) = self.gate.member_zone(&conn.remote_id()) else {
            self.stats.refused_connections.fetch_add(1, Relaxed);
            conn.close(1u32.into(), b"not a cluster member");
            return Ok(());
        };
        // One question per stream; the connection stays for the next poll.
        while let Ok((mut send, mut recv)) = conn.accept_bi().await {
            let mut req = [0u8; 32];
            if recv.read_exact(&mut req).await.is_err() {
                break;
            }
            let manifest = Hash::from_bytes(req);
            let resp = if !self.gate.may_fetch(&zone, &manifest) {
                self.stats.refused_requests.fetch_add(1, Relaxed);
                response(REFUSED, None)
            } else {
                let now = Instant::now();
                match self.have.answer(&manifest, Some(conn.remote_id()), now) {
                    Some((b, hints)) => {
                        // Asked about a version held here: told when that changes.
                        self.announcer.asked(manifest, &conn, now);
                        known(&b, &hints)
                    }
                    None => response(UNKNOWN, None),
                }
            };
            self.stats.have_answers.fetch_add(1, Relaxed);
            if send.write_all(&resp).await.is_err() || send.finish().is_err() {
                break;
            }
        }
        self.announcer.closed(&conn);
        Ok(())
    }
}

/// The provider's event handler: members only, per-blob zone checks, upload slots and
/// pacing, upload counters.
fn serve_events(
    gate: Arc<dyn Gate>,
    opts: ServeOptions,
    stats: Arc<ServeStats>,
    announcer: Announcer,
) -> EventSender {
    let have = announcer.have().clone();
    let mask = EventMask {
        connected: ConnectMode::Intercept,
        // With transfer events: a slot is held until its transfer completes or aborts.
        get: RequestMode::InterceptLog,
        get_many: RequestMode::Disabled,
        push: RequestMode::Disabled,
        observe: ObserveMode::Intercept,
        // Always: the sent bytes are counted here (and paced when there is a limit).
        throttle: ThrottleMode::Intercept,
    };
    let (tx, mut rx) = EventSender::channel(64, mask);
    let bucket = opts
        .upload_limit
        .map(|l| Arc::new(Mutex::new(TokenBucket::new(l, Instant::now()))));
    let active = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        // Connection id → the member's zone.
        let mut zones: HashMap<u64, String> = HashMap::new();
        let mut ids: HashMap<u64, EndpointId> = HashMap::new();
        while let Some(msg) = rx.recv().await {
            match msg {
                ProviderMessage::ClientConnected(msg) => {
                    let zone = msg.endpoint_id.and_then(|id| gate.member_zone(&id));
                    let res = match zone {
                        Some(z) => {
                            zones.insert(msg.connection_id, z);
                            if let Some(id) = msg.endpoint_id {
                                ids.insert(msg.connection_id, id);
                            }
                            Ok(())
                        }
                        None => {
                            stats.refused_connections.fetch_add(1, Relaxed);
                            tracing::warn!(
                                peer = ?msg.endpoint_id,
                                "blob connection refused: not a cluster member"
                            );
                            Err(AbortReason::Permission)
                        }
                    };
                    msg.tx.send(res).await.ok();
                }
                ProviderMessage::ConnectionClosed(msg) => {
                    zones.remove(&msg.connection_id);
                    ids.remove(&msg.connection_id);
                }
                ProviderMessage::GetRequestReceived(mut msg) => {
                    let allowed = msg.request.ranges.is_blob()
                        && zones
                            .get(&msg.connection_id)
                            .is_some_and(|z| gate.may_fetch(z, &msg.request.hash));
                    let res = if !allowed {
                        stats.refused_requests.fetch_add(1, Relaxed);
                        tracing::debug!(hash = %msg.request.hash, "blob request refused");
                        Err(AbortReason::Permission)
                    } else if opts.upload_slots > 0 && active.load(Relaxed) >= opts.upload_slots {
                        stats.busy_refusals.fetch_add(1, Relaxed);
                        Err(AbortReason::RateLimited)
                    } else if !have.seed_start(msg.request.hash, Instant::now()) {
                        // Super-seeding: handed out already; the asker gets it elsewhere.
                        stats.seed_refusals.fetch_add(1, Relaxed);
                        Err(AbortReason::RateLimited)
                    } else {
                        stats.served_requests.fetch_add(1, Relaxed);
                        active.fetch_add(1, Relaxed);
                        let (active, announcer) = (active.clone(), announcer.clone());
                        let (hash, to) = (msg.request.hash, ids.get(&msg.connection_id).copied());
                        tokio::spawn(async move {
                            // The slot is free when the transfer ends (or its events stop).
                            let mut sent = Sent {
                                to,
                                bytes: 0,
                                size: u64::MAX,
                                complete: false,
                            };
                            while let Ok(Some(u)) = msg.rx.recv().await {
                                match u {
                                    RequestUpdate::Started(s) => sent.size = s.size,
                                    RequestUpdate::Progress(_) => {}
                                    RequestUpdate::Completed(c) => {
                                        sent.bytes = c.stats.payload_bytes_sent;
                                        sent.complete = true;
                                        break;
                                    }
                                    RequestUpdate::Aborted(a) => {
                                        sent.bytes = a.stats.payload_bytes_sent;
                                        break;
                                    }
                                }
                            }
                            active.fetch_sub(1, Relaxed);
                            if announcer.have().seed_finish(hash, sent, Instant::now()) {
                                // Held back now, perhaps with a recipient to name: news.
                                announcer.announce_file(&hash);
                            }
                        });
                        Ok(())
                    };
                    msg.tx.send(res).await.ok();
                }
                ProviderMessage::ObserveRequestReceived(msg) => {
                    msg.tx.send(Err(AbortReason::Permission)).await.ok();
                }
                ProviderMessage::Throttle(msg) => {
                    stats.uploaded_bytes.fetch_add(msg.size, Relaxed);
                    let wait = bucket.as_ref().map(|b| {
                        b.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .take(msg.size, Instant::now())
                    });
                    tokio::spawn(async move {
                        if let Some(w) = wait.filter(|w| !w.is_zero()) {
                            tokio::time::sleep(w).await;
                        }
                        msg.tx.send(Ok(())).await.ok();
                    });
                }
                _ => {}
            }
        }
    });
    tx
}
