//! The node's iroh endpoint on a closed network, serving its blob store to cluster members.
//!
//! Closed means (p2p-notes §3): the `Minimal` preset (ring, no lookup services), relays off,
//! no port mapping, no net-report probes, one UDP socket on the configured address, peers'
//! addresses given by the cluster's own membership (never pkarr or DNS), and
//! `Endpoint::online` never called (it waits for a relay forever).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use iroh::{
    Endpoint, EndpointAddr, EndpointId, RelayMode, SecretKey, TransportAddr,
    address_lookup::memory::MemoryLookup,
    endpoint::{NetReportConfig, PortmapperConfig, presets},
    protocol::Router,
};
use iroh_blobs::{
    BlobsProtocol, Hash,
    provider::events::{
        AbortReason, ConnectMode, EventMask, EventSender, ObserveMode, ProviderMessage,
        RequestMode, ThrottleMode,
    },
};

use crate::{BlobStore, ContentError, rate::TokenBucket};

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
}

/// The endpoint, its protocol router and its static address book.
#[derive(Debug, Clone)]
pub struct ContentEndpoint {
    endpoint: Endpoint,
    router: Router,
    lookup: MemoryLookup,
    /// Serving counters.
    pub stats: Arc<ServeStats>,
}

impl ContentEndpoint {
    /// Bind on `bind` with the node's ed25519 secret (the libp2p identity's key, so the
    /// endpoint id is the peer's public key) and serve `store` through `gate`.
    /// `upload_limit`: bytes per second for everything this node serves.
    pub async fn bind(
        secret: [u8; 32],
        bind: SocketAddr,
        store: &BlobStore,
        gate: Arc<dyn Gate>,
        upload_limit: Option<u64>,
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
        let events = serve_events(gate, upload_limit, stats.clone());
        let router = Router::builder(endpoint.clone())
            .accept(
                iroh_blobs::ALPN,
                BlobsProtocol::new(store.api(), Some(events)),
            )
            .spawn();
        Ok(Self {
            endpoint,
            router,
            lookup,
            stats,
        })
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

/// The provider's event handler: members only, per-blob zone checks, upload pacing.
fn serve_events(
    gate: Arc<dyn Gate>,
    upload_limit: Option<u64>,
    stats: Arc<ServeStats>,
) -> EventSender {
    use std::sync::atomic::Ordering::Relaxed;
    let mask = EventMask {
        connected: ConnectMode::Intercept,
        get: RequestMode::Intercept,
        get_many: RequestMode::Disabled,
        push: RequestMode::Disabled,
        observe: ObserveMode::Intercept,
        throttle: if upload_limit.is_some() {
            ThrottleMode::Intercept
        } else {
            ThrottleMode::None
        },
    };
    let (tx, mut rx) = EventSender::channel(64, mask);
    let bucket = upload_limit.map(|l| Arc::new(Mutex::new(TokenBucket::new(l, Instant::now()))));
    tokio::spawn(async move {
        // Connection id → the member's zone.
        let mut zones: HashMap<u64, String> = HashMap::new();
        while let Some(msg) = rx.recv().await {
            match msg {
                ProviderMessage::ClientConnected(msg) => {
                    let zone = msg.endpoint_id.and_then(|id| gate.member_zone(&id));
                    let res = match zone {
                        Some(z) => {
                            zones.insert(msg.connection_id, z);
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
                }
                ProviderMessage::GetRequestReceived(msg) => {
                    let allowed = msg.request.ranges.is_blob()
                        && zones
                            .get(&msg.connection_id)
                            .is_some_and(|z| gate.may_fetch(z, &msg.request.hash));
                    let res = if allowed {
                        stats.served_requests.fetch_add(1, Relaxed);
                        Ok(())
                    } else {
                        stats.refused_requests.fetch_add(1, Relaxed);
                        tracing::debug!(hash = %msg.request.hash, "blob request refused");
                        Err(AbortReason::Permission)
                    };
                    msg.tx.send(res).await.ok();
                }
                ProviderMessage::ObserveRequestReceived(msg) => {
                    msg.tx.send(Err(AbortReason::Permission)).await.ok();
                }
                ProviderMessage::Throttle(msg) => {
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
