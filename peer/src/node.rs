//! A running peer: opens the store, starts the network and HTTP tasks, and runs the
//! controller loop that ties membership, replication and timers together.
//!
//! ```text
//!   Node::start ─┬─ EventLoop task (owns the Swarm)
//!                ├─ HTTP task (axum router on the accept loop of `serve`: TLS or dev plain)
//!                └─ controller task: heartbeats, failure detection, dialing, anti-entropy,
//!                   compaction; spawns short jobs (sync sessions, request answers) into a
//!                   JoinSet that is drained on shutdown
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crdt_store::{NodeRecord, Record, Store, StoreOptions, ZoneRecord};
use libp2p::{Multiaddr, PeerId};
use rand::seq::IndexedRandom;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::PeerConfig;
use crate::membership::{AdvertisedAddrs, Heartbeat, MemberStatus, Membership, MembershipEvent};
use crate::net::wire::{Gossip, TOPIC_CHANGES, TOPIC_MEMBERS};
use crate::net::{self, NetClient, NetEvent};
use crate::replication::Replicator;
use crate::{cluster_key, http, identity, serve, tls};

/// Why a peer could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The cluster key is missing or invalid.
    #[error(transparent)]
    Key(#[from] cluster_key::KeyError),
    /// The HTTP API's certificate or key is unusable.
    #[error("HTTP API TLS")]
    Tls(#[from] tls::TlsError),
    /// The node identity is unreadable.
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    /// The store could not be opened.
    #[error("opening the metastore: {0}")]
    Store(#[from] crdt_store::StoreError),
    /// The network could not start.
    #[error(transparent)]
    Net(#[from] net::NetError),
    /// An address does not parse.
    #[error("invalid address {addr:?}: {reason}")]
    Address {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A start-up task failed (panicked or was cancelled).
    #[error("start-up task failed: {0}")]
    Task(String),
    /// The HTTP listener could not be bound.
    #[error("HTTP listen on {addr}: {source}")]
    Http {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Who this peer is, as announced to others.
#[derive(Debug, Clone)]
pub struct SelfInfo {
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// Role.
    pub role: String,
    /// libp2p peer id.
    pub peer_id: PeerId,
    /// Start time of this process (Unix ms).
    pub incarnation: u64,
    /// HTTP API address.
    pub http: String,
    /// Advertised addresses.
    pub addrs: AdvertisedAddrs,
    /// Salt master address of the Uyuni server beside this peer (`None`: the name).
    pub fqdn: Option<String>,
    /// Relative capacity for the Load Driver.
    pub capacity: f64,
    /// A Node Controller runs beside this peer (`[uyuni] url` set): the Load Driver gives
    /// the node systems only once it holds its zone's common data.
    pub node_controller: bool,
    /// The Uyuni API as the API gateway reaches it (`[uyuni] public_url`, else `url`).
    pub uyuni_api: Option<String>,
}

/// State shared by the HTTP handlers and the controller.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The metastore.
    pub store: Store,
    /// The network.
    pub net: NetClient,
    /// Replication.
    pub repl: Replicator,
    /// Membership table.
    pub members: Arc<Mutex<Membership>>,
    /// This peer.
    pub me: Arc<SelfInfo>,
    /// Serialises read-modify-write operations on records from this peer's API.
    pub write_lock: Arc<tokio::sync::Mutex<()>>,
    /// The Load Driver's index, hints and heartbeat statistics.
    pub load: Arc<crate::load_driver::LoadState>,
    /// Group commit of the API's writes to systems.
    pub writes: crate::write_batcher::WriteBatcher<crate::http::ApiError>,
    /// The Node Controller, when `[uyuni]` is configured.
    pub nc: Option<crate::node_controller::Handle>,
    /// The search index over every system.
    pub search: Arc<crate::search::SearchState>,
    /// Content sync (`None` with `[content] enabled = false`).
    pub content: Option<Arc<crate::content::Content>>,
}

impl Shared {
    /// Lock the membership table (short critical sections only).
    pub fn members(&self) -> std::sync::MutexGuard<'_, Membership> {
        self.members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn parse_addr(s: &str) -> Result<Multiaddr, StartError> {
    s.parse()
        .map_err(|e: libp2p::multiaddr::Error| StartError::Address {
            addr: s.to_string(),
            reason: e.to_string(),
        })
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// Build the advertised addresses from `--advertise` entries and the actual listen addresses.
fn advertised(cfg: &PeerConfig, listen: &[Multiaddr]) -> Result<AdvertisedAddrs, StartError> {
    let mut out = AdvertisedAddrs::default();
    for entry in &cfg.advertise {
        match entry.split_once('=') {
            Some((zone, addr)) => {
                parse_addr(addr)?;
                out.per_zone
                    .entry(zone.to_string())
                    .or_default()
                    .push(addr.to_string());
            }
            None => {
                parse_addr(entry)?;
                out.default.push(entry.clone());
            }
        }
    }
    if out.default.is_empty() {
        out.default = listen.iter().map(ToString::to_string).collect();
    }
    Ok(out)
}

/// A started peer.
#[derive(Debug)]
pub struct Node {
    /// Shared state (for embedding and tests).
    pub shared: Shared,
    /// Where the HTTP API listens.
    pub http_addr: std::net::SocketAddr,
    /// Whether the HTTP API speaks TLS (false only with `dev_plain_http`).
    pub http_tls: bool,
    /// Where the API gateway listens, and whether over TLS (`[gateway] listen`).
    pub gateway: Option<(std::net::SocketAddr, bool)>,
    cancel: CancellationToken,
    net_cancel: CancellationToken,
    controller: Option<tokio::task::JoinHandle<()>>,
    tasks: JoinSet<()>,
}

impl Node {
    /// Open everything and start the tasks. Returns once the peer is listening.
    pub async fn start(cfg: PeerConfig, cancel: CancellationToken) -> Result<Self, StartError> {
        cfg.validate()?;
        // Load the certificate first: a bad one should fail the start before anything opens.
        let serve_opts = serve::ServeOptions {
            tls: match (&cfg.tls.cert_file, &cfg.tls.key_file) {
                (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
                _ => None,
            },
            handshake_timeout: cfg.tls.handshake_timeout,
        };
        let psk = cluster_key::load(&cfg.cluster_key)?;
        let key = identity::load_or_create(&cfg.data_dir)?;
        let span = tracing::info_span!(
            "node",
            name = %cfg.name,
            id = %short(&key.public().to_peer_id())
        );
        Self::start_in(cfg, cancel, psk, key, serve_opts, span.clone())
            .instrument(span)
            .await
    }

    async fn start_in(
        cfg: PeerConfig,
        cancel: CancellationToken,
        psk: libp2p::pnet::PreSharedKey,
        key: libp2p::identity::Keypair,
        serve_opts: serve::ServeOptions,
        span: tracing::Span,
    ) -> Result<Self, StartError> {
        let peer_id = key.public().to_peer_id();
        // The blob endpoint's identity is the same ed25519 key (docs/CONTENT.md).
        let key_secret: [u8; 32] = key
            .clone()
            .try_into_ed25519()
            .map_err(|e| StartError::Task(format!("identity is not ed25519: {e}")))?
            .secret()
            .as_ref()
            .try_into()
            .map_err(|_| StartError::Task("ed25519 secret is not 32 bytes".into()))?;

        let store_opts = StoreOptions {
            shard_count: cfg.store.shard_count,
            compact_wal_bytes: cfg.store.compact_wal_mib * 1024 * 1024,
            ..StoreOptions::default()
        };
        let store_dir = cfg.data_dir.join("store");
        let (store, report) =
            tokio::task::spawn_blocking(move || Store::open(&store_dir, store_opts))
                .await
                .map_err(|e| StartError::Task(e.to_string()))??;
        for issue in &report.issues {
            tracing::error!("store: {issue}");
        }
        tracing::info!(
            snapshots = report.snapshots_loaded,
            wal_frames = report.wal_frames,
            damaged = report.damaged_shards.len(),
            "metastore open"
        );

        let listen = parse_addr(&cfg.p2p_listen)?;
        let (net, events, event_loop) = net::new(key, psk, &listen, &cfg.network)?;
        let mut tasks = JoinSet::new();
        // The swarm outlives the controller on shutdown (the goodbye must still go out), so
        // it has a token of its own, cancelled by `shutdown` once the controller is done.
        let net_cancel = CancellationToken::new();
        tasks.spawn(event_loop.run(net_cancel.clone()).instrument(span.clone()));
        // Wait for the swarm to bind, so a port of 0 is resolved before it is advertised.
        let listen_addrs = net
            .wait_listening(Duration::from_secs(10))
            .await
            .ok_or_else(|| {
                StartError::Net(net::NetError::Listen {
                    addr: cfg.p2p_listen.clone(),
                    reason: "no listen address came up within 10 s".into(),
                })
            })?;

        let http_listener = tokio::net::TcpListener::bind(&cfg.http_listen)
            .await
            .map_err(|source| StartError::Http {
                addr: cfg.http_listen.clone(),
                source,
            })?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|source| StartError::Http {
                addr: cfg.http_listen.clone(),
                source,
            })?;

        let me = Arc::new(SelfInfo {
            name: cfg.name.clone(),
            zone: cfg.zone.clone(),
            role: cfg.role.clone(),
            peer_id,
            incarnation: identity::next_incarnation(&cfg.data_dir, now_ms())?,
            http: http_addr.to_string(),
            addrs: advertised(&cfg, &listen_addrs)?,
            fqdn: cfg.fqdn.clone(),
            capacity: cfg.capacity,
            node_controller: cfg.uyuni.url.is_some(),
            uyuni_api: cfg
                .uyuni
                .public_url
                .clone()
                .or_else(|| cfg.uyuni.url.clone()),
        });
        {
            let (store, me) = (store.clone(), me.clone());
            tokio::task::spawn_blocking(move || register_self(&store, &me))
                .await
                .map_err(|e| StartError::Task(e.to_string()))??;
        }

        let mut membership = Membership::new(
            peer_id.to_string(),
            cfg.zone.clone(),
            cfg.membership.lan,
            cfg.membership.wan,
        )
        .with_forget_after(cfg.membership.forget_after);
        let start = Instant::now();
        for n in store.nodes() {
            membership.add_known(n.peer_id.clone(), known_heartbeat(&n), start);
        }
        let repl = Replicator::new(store.clone(), net.clone(), cfg.replication.clone());
        let (writes, write_queue) = crate::write_batcher::WriteBatcher::new();
        let nc = crate::node_controller::prepare(&cfg.uyuni)
            .map_err(|e| StartError::Task(format!("Node Controller: {e}")))?;
        let (nc_handle, nc_prepared) = match nc {
            Some((h, p)) => (Some(h), Some(p)),
            None => (None, None),
        };
        // Content is for the Uyuni servers: a gateway member holds no packages.
        let content = if cfg.content.enabled && cfg.role == "server" {
            Some(start_content(&cfg, &key_secret, &me, &listen_addrs, &store).await?)
        } else {
            None
        };
        let shared = Shared {
            content,
            store,
            net,
            repl,
            members: Arc::new(Mutex::new(membership)),
            me,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            writes: writes.clone(),
            nc: nc_handle,
            search: Arc::new(crate::search::SearchState::new()),
            load: Arc::new(crate::load_driver::LoadState::new(
                cfg.load.clone(),
                cfg.membership.heartbeat_interval * 3 + cfg.replication.anti_entropy_interval * 2,
            )),
        };
        tasks.spawn(
            crate::load_driver::run(shared.clone(), cancel.child_token()).instrument(span.clone()),
        );
        tasks.spawn(
            crate::search::run(
                shared.store.clone(),
                shared.search.clone(),
                cancel.child_token(),
            )
            .instrument(span.clone()),
        );
        tasks.spawn(
            crate::write_batcher::run(shared.clone(), write_queue, cancel.child_token())
                .instrument(span.clone()),
        );
        if let Some(c) = &shared.content {
            tasks.spawn(
                crate::content::replicate::run(shared.clone(), c.clone(), cancel.child_token())
                    .instrument(span.clone()),
            );
        }
        if let Some(p) = nc_prepared {
            tasks.spawn(
                crate::node_controller::run(p, shared.clone(), cancel.child_token())
                    .instrument(span.clone()),
            );
        }

        let gateway = match &cfg.gateway.listen {
            Some(listen) => {
                Some(start_gateway(&cfg, listen, &shared, &mut tasks, &cancel, &span).await?)
            }
            None => None,
        };
        let router = http::router(shared.clone());
        let http_tls = serve_opts.tls.is_some();
        if http_tls {
            tracing::info!(addr = %http_addr, "HTTP API over TLS");
        } else {
            tracing::warn!(addr = %http_addr, "HTTP API in plain HTTP (--dev-plain-http): development only");
        }
        tasks.spawn(
            serve::serve(http_listener, router, serve_opts, cancel.child_token())
                .instrument(span.clone()),
        );
        let controller = Controller {
            shared: shared.clone(),
            cfg,
            join: Vec::new(),
            seq: 0,
            ae_round: 0,
        };
        let controller = tokio::spawn(
            controller
                .run(events, cancel.child_token())
                .instrument(span.clone()),
        );
        Ok(Self {
            shared,
            http_addr,
            http_tls,
            gateway,
            cancel,
            net_cancel,
            controller: Some(controller),
            tasks,
        })
    }

    /// Stop: announce the leave, stop every task and wait for them.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(c) = self.controller.take()
            && let Err(e) = c.await
        {
            tracing::error!("controller: {e}");
        }
        self.net_cancel.cancel();
        while let Some(res) = self.tasks.join_next().await {
            if let Err(e) = res
                && e.is_panic()
            {
                tracing::error!("task panicked: {e}");
            }
        }
    }

    /// Wait until a task ends on its own (which only happens on failure or cancellation).
    pub async fn wait(&mut self) {
        let controller = async {
            match self.controller.as_mut() {
                Some(c) => {
                    let res = c.await;
                    self.controller = None;
                    res
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(Err(e)) = self.tasks.join_next() => tracing::error!("task ended: {e}"),
            Err(e) = controller => tracing::error!("controller ended: {e}"),
            else => {}
        }
    }
}

fn short(p: &PeerId) -> String {
    let s = p.to_string();
    s[s.len().saturating_sub(8)..].to_string()
}

fn known_heartbeat(n: &NodeRecord) -> Heartbeat {
    let mut addrs = AdvertisedAddrs::default();
    for (zone, list) in &n.addresses {
        if zone == "*" {
            addrs.default = list.clone();
        } else {
            addrs.per_zone.insert(zone.clone(), list.clone());
        }
    }
    Heartbeat {
        name: n.name.clone(),
        zone: n.zone.clone(),
        role: n.role.clone(),
        incarnation: 0,
        seq: 0,
        interval_ms: 1000,
        addrs,
        http: n.http.clone(),
        root: String::new(),
        leaving: false,
        online: BTreeMap::new(),
    }
}

/// Bind and serve the API gateway (`[gateway]`) on this peer's replica. TLS with the
/// gateway's own certificate, else the peer's, else a self-signed one (`self_signed`), else
/// plain HTTP when `dev_plain_http` allows it.
async fn start_gateway(
    cfg: &PeerConfig,
    listen: &str,
    shared: &Shared,
    tasks: &mut JoinSet<()>,
    cancel: &CancellationToken,
    span: &tracing::Span,
) -> Result<(std::net::SocketAddr, bool), StartError> {
    let g = &cfg.gateway;
    let tls = match (
        g.cert_file.as_ref().or(cfg.tls.cert_file.as_ref()),
        g.key_file.as_ref().or(cfg.tls.key_file.as_ref()),
    ) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ if g.self_signed => Some(tls::self_signed_config(&tls::default_sans(&cfg.name))?),
        _ if g.dev_plain_http || cfg.tls.dev_plain_http => None,
        _ => {
            return Err(StartError::Config(crate::config::ConfigError::Invalid(
                "[gateway] needs a certificate (cert_file and key_file, or the peer's [tls]), \
                 self_signed = true, or dev_plain_http = true"
                    .into(),
            )));
        }
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Http {
            addr: listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Http {
        addr: listen.to_string(),
        source,
    })?;
    let key = std::fs::read(&cfg.cluster_key)
        .map_err(|e| StartError::Task(format!("reading {}: {e}", cfg.cluster_key.display())))?;
    let gw = std::sync::Arc::new(gateway::Gateway::new(
        std::sync::Arc::new(crate::gateway_meta::PeerMetastore::new(shared.clone())),
        g.clone(),
        &key,
    ));
    let over_tls = tls.is_some();
    tracing::info!(%addr, tls = over_tls, "API gateway");
    tasks.spawn(
        crate::gateway_meta::sweep_sessions(
            shared.clone(),
            Duration::from_secs(60),
            cancel.child_token(),
        )
        .instrument(span.clone()),
    );
    tasks.spawn(
        serve::serve(
            listener,
            gateway::router(gw),
            serve::ServeOptions {
                tls,
                handshake_timeout: cfg.tls.handshake_timeout,
            },
            cancel.child_token(),
        )
        .instrument(span.clone()),
    );
    Ok((addr, over_tls))
}

/// Open the blob store and bind the blob endpoint: `[content] listen`, else the IP of the
/// libp2p listen address with any free UDP port.
async fn start_content(
    cfg: &PeerConfig,
    secret: &[u8; 32],
    me: &SelfInfo,
    listen: &[Multiaddr],
    store: &Store,
) -> Result<Arc<crate::content::Content>, StartError> {
    let ip_of = |a: &str| -> Option<std::net::IpAddr> {
        a.parse::<Multiaddr>().ok()?.iter().find_map(|p| match p {
            libp2p::multiaddr::Protocol::Ip4(ip) => Some(std::net::IpAddr::V4(ip)),
            libp2p::multiaddr::Protocol::Ip6(ip) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        })
    };
    let bind: std::net::SocketAddr = match &cfg.content.listen {
        Some(l) => l
            .parse()
            .map_err(|e| StartError::Task(format!("content.listen {l:?}: {e}")))?,
        None => {
            let ip = listen
                .iter()
                .find_map(|a| ip_of(&a.to_string()))
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            std::net::SocketAddr::new(ip, 0)
        }
    };
    let mut ips: Vec<std::net::IpAddr> = me
        .addrs
        .default
        .iter()
        .filter_map(|a| ip_of(a))
        .filter(|ip| !ip.is_unspecified())
        .collect();
    ips.dedup();
    let mut content_cfg = cfg.content.clone();
    content_cfg.protected = [
        Some(cfg.data_dir.clone()),
        Some(cfg.cluster_key.clone()),
        cfg.tls.key_file.clone(),
    ]
    .into_iter()
    .flatten()
    .filter(|p| !p.as_os_str().is_empty())
    .collect();
    crate::content::Content::start(
        content_cfg,
        &cfg.data_dir.join("content"),
        *secret,
        bind,
        &ips,
        store.clone(),
    )
    .await
    .map_err(|e| StartError::Task(format!("content sync: {e}")))
}

/// Write (or refresh) this node's and zone's records.
fn register_self(store: &Store, me: &SelfInfo) -> Result<(), crdt_store::StoreError> {
    let now = now_ms();
    let existing = match store.get(&format!("n/{}", me.name))? {
        Some(Record::Node(n)) => Some(n),
        _ => None,
    };
    let mut addresses = BTreeMap::new();
    addresses.insert("*".to_string(), me.addrs.default.clone());
    for (z, a) in &me.addrs.per_zone {
        addresses.insert(z.clone(), a.clone());
    }
    let node = NodeRecord {
        name: me.name.clone(),
        zone: me.zone.clone(),
        peer_id: me.peer_id.to_string(),
        role: me.role.clone(),
        addresses,
        http: Some(me.http.clone()),
        fqdn: me.fqdn.clone(),
        capacity: me.capacity,
        joined_at: existing.as_ref().map_or(now, |n| n.joined_at),
        // Until its controller has compared the zone's common data with its server (after
        // every start: the server may have been restored, or the node moved zone), the node
        // counts as holding none.
        common_generation: me.node_controller.then_some(0),
        // The slot is the Node Controller's to claim; a restart keeps it.
        slot: existing.as_ref().and_then(|n| n.slot),
        uyuni_api: me.uyuni_api.clone(),
    };
    let mut recs = vec![Record::Node(node)];
    if store.get(&format!("z/{}", me.zone))?.is_none() {
        recs.push(Record::Zone(ZoneRecord {
            name: me.zone.clone(),
            created_at: now,
        }));
    }
    store.put_batch(&recs)?;
    Ok(())
}

struct Controller {
    shared: Shared,
    cfg: PeerConfig,
    join: Vec<Multiaddr>,
    seq: u64,
    ae_round: u64,
}

impl Controller {
    async fn run(mut self, mut events: mpsc::Receiver<NetEvent>, cancel: CancellationToken) {
        self.join = self
            .cfg
            .join
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        let hb_every = self.cfg.membership.heartbeat_interval;
        let mut hb_tick = tokio::time::interval(hb_every);
        let mut detect_tick = tokio::time::interval((hb_every / 4).max(Duration::from_millis(20)));
        let mut ae_tick = tokio::time::interval(self.cfg.replication.anti_entropy_interval);
        let mut dial_tick = tokio::time::interval(self.cfg.network.dial_interval);
        let mut compact_tick = tokio::time::interval(self.cfg.store.compact_check_interval);
        for t in [
            &mut hb_tick,
            &mut detect_tick,
            &mut ae_tick,
            &mut dial_tick,
            &mut compact_tick,
        ] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut jobs: JoinSet<()> = JoinSet::new();
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(res) = jobs.join_next() => {
                    if let Err(e) = res && e.is_panic() {
                        tracing::error!("job panicked: {e}");
                    }
                }
                ev = events.recv() => match ev {
                    Some(ev) => self.on_event(ev, &mut jobs),
                    None => break,
                },
                _ = hb_tick.tick() => self.heartbeat(false, &mut jobs),
                _ = detect_tick.tick() => {
                    let evs = self.shared.members().tick(Instant::now());
                    log_events(&evs);
                }
                _ = ae_tick.tick() => self.anti_entropy(&mut jobs),
                _ = dial_tick.tick() => self.dial(&mut jobs),
                _ = compact_tick.tick() => {
                    let store = self.shared.store.clone();
                    if store.needs_compaction() {
                        spawn_job(&mut jobs, async move {
                            match tokio::task::spawn_blocking(move || store.compact()).await {
                                Ok(Ok(n)) => tracing::info!(shards = n, "compacted"),
                                Ok(Err(e)) => tracing::error!("compaction: {e}"),
                                Err(e) => tracing::error!("compaction task: {e}"),
                            }
                        });
                    }
                }
            }
        }
        // Planned leave: tell the others, so they mark us `left` instead of suspecting us.
        let leave = self.make_heartbeat(true);
        let _ = self.shared.net.publish(TOPIC_MEMBERS, leave.encode()).await;
        // Give the swarm a moment to put the goodbye on the wire before it is cancelled.
        tokio::time::sleep(Duration::from_millis(200)).await;
        jobs.shutdown().await;
    }

    fn make_heartbeat(&mut self, leaving: bool) -> Gossip {
        self.seq += 1;
        let me = &self.shared.me;
        Gossip::Heartbeat(Heartbeat {
            name: me.name.clone(),
            zone: me.zone.clone(),
            role: me.role.clone(),
            incarnation: me.incarnation,
            seq: self.seq,
            interval_ms: self.cfg.membership.heartbeat_interval.as_millis() as u64,
            addrs: me.addrs.clone(),
            http: Some(me.http.clone()),
            root: self.shared.store.digest().root(),
            leaving,
            online: self.shared.load.own_online(),
        })
    }

    fn heartbeat(&mut self, leaving: bool, jobs: &mut JoinSet<()>) {
        let msg = self.make_heartbeat(leaving).encode();
        let net = self.shared.net.clone();
        spawn_job(jobs, async move {
            if let Err(e) = net.publish(TOPIC_MEMBERS, msg).await {
                tracing::debug!("heartbeat: {e}");
            }
        });
    }

    fn on_event(&mut self, ev: NetEvent, jobs: &mut JoinSet<()>) {
        match ev {
            NetEvent::Gossip {
                source,
                topic,
                data,
            } => {
                let msg = match Gossip::decode(&data) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(%source, "{e}");
                        return;
                    }
                };
                match (topic.as_str(), msg) {
                    (TOPIC_MEMBERS, Gossip::Heartbeat(hb)) => {
                        let evs = self.shared.members().on_heartbeat(
                            &source.to_string(),
                            hb,
                            Instant::now(),
                        );
                        log_events(&evs);
                    }
                    (
                        TOPIC_CHANGES,
                        Gossip::Change {
                            shard,
                            heads,
                            chunk,
                        },
                    ) => {
                        let repl = self.shared.repl.clone();
                        spawn_job(jobs, async move {
                            if repl.on_change(source, shard, heads, chunk).await
                                && let Err(e) = repl.sync_with(source, Some(vec![shard])).await
                            {
                                tracing::debug!(%source, shard, "pull after gossip: {e}");
                            }
                        });
                    }
                    (t, _) => tracing::warn!(%source, topic = t, "message of the wrong kind"),
                }
            }
            NetEvent::InboundRequest {
                peer,
                request,
                channel,
            } => {
                let (repl, net) = (self.shared.repl.clone(), self.shared.net.clone());
                spawn_job(jobs, async move {
                    let response = repl.serve(peer, request).await;
                    let _ = net.respond(channel, response).await;
                });
            }
            NetEvent::Connected(peer) => {
                tracing::debug!(%peer, "connected");
                // Catch up at once: this is how a restarted or partitioned peer converges.
                let repl = self.shared.repl.clone();
                spawn_job(jobs, async move {
                    if let Err(e) = repl.sync_with(peer, None).await {
                        tracing::debug!(%peer, "sync on connect: {e}");
                    }
                });
            }
            NetEvent::Disconnected(peer) => {
                tracing::debug!(%peer, "disconnected");
                self.shared.repl.forget(&peer);
            }
        }
    }

    fn anti_entropy(&mut self, jobs: &mut JoinSet<()>) {
        self.ae_round += 1;
        let connected = self.shared.net.connected();
        if connected.is_empty() {
            return;
        }
        let root = self.shared.store.digest().root();
        let candidates: Vec<PeerId> = {
            let members = self.shared.members();
            let differing: Vec<PeerId> = members
                .members()
                .filter(|m| m.status == MemberStatus::Alive && m.info.root != root)
                .filter_map(|m| m.peer_id.parse().ok())
                .filter(|p| connected.contains(p))
                .collect();
            // Every fifth round, pick among all connected peers even if roots look equal.
            if differing.is_empty() && self.ae_round.is_multiple_of(5) {
                connected.iter().copied().collect()
            } else {
                differing
            }
        };
        if let Some(&peer) = candidates.choose(&mut rand::rng()) {
            let repl = self.shared.repl.clone();
            spawn_job(jobs, async move {
                match repl.sync_with(peer, None).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(%peer, shards = n, "anti-entropy pulled changes"),
                    Err(e) => tracing::debug!(%peer, "anti-entropy: {e}"),
                }
            });
        }
    }

    fn dial(&mut self, jobs: &mut JoinSet<()>) {
        let connected = self.shared.net.connected();
        let my_zone = self.shared.me.zone.clone();
        let mut dials: Vec<(Option<PeerId>, Vec<Multiaddr>)> = Vec::new();
        {
            let members = self.shared.members();
            for m in members.members() {
                if m.status == MemberStatus::Left {
                    continue;
                }
                let Ok(pid) = m.peer_id.parse::<PeerId>() else {
                    continue;
                };
                if connected.contains(&pid) {
                    continue;
                }
                let addrs: Vec<Multiaddr> = m
                    .info
                    .addrs
                    .for_zone(&my_zone)
                    .iter()
                    .filter_map(|a| a.parse().ok())
                    .collect();
                if !addrs.is_empty() {
                    dials.push((Some(pid), addrs));
                }
            }
        }
        if connected.is_empty() {
            for a in &self.join {
                // A known member's stored addresses may be stale (it restarted on another
                // port): try the join address in the same dial, first. A separate dial to the
                // same peer would be refused while the stale one is in flight, every round.
                let peer = peer_of(a);
                match dials.iter_mut().find(|(p, _)| peer.is_some() && *p == peer) {
                    Some((_, addrs)) => addrs.insert(0, a.clone()),
                    None => dials.push((peer, vec![a.clone()])),
                }
            }
        }
        if dials.is_empty() {
            return;
        }
        let net = self.shared.net.clone();
        spawn_job(jobs, async move {
            for (peer, addrs) in dials {
                if net.dial(peer, addrs).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn log_events(evs: &[MembershipEvent]) {
    for ev in evs {
        match ev {
            MembershipEvent::Status {
                peer_id,
                name,
                from,
                to,
            } => tracing::info!(
                member = %name,
                peer = %peer_id,
                from = from.map_or("unknown", |f| f.as_str()),
                to = to.as_str(),
                "membership"
            ),
            MembershipEvent::Forgotten { peer_id, name } => {
                tracing::info!(member = %name, peer = %peer_id, "membership: forgotten")
            }
        }
    }
}

/// Spawn a controller job inside the current span (the node's), so its logs carry the node id.
fn spawn_job(jobs: &mut JoinSet<()>, job: impl std::future::Future<Output = ()> + Send + 'static) {
    jobs.spawn(job.in_current_span());
}
