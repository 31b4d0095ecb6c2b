//! The composition root: starting a peer opens the store, starts the network, builds each
//! component's narrow context from the parts it uses, and spawns the tasks. This is the
//! only place that knows every component.
//!
//! ```text
//!   Node::start ─┬─ EventLoop task (owns the Swarm)                       cluster-core
//!                ├─ cluster controller (heartbeats, detection, dialing,   cluster-core
//!                │  anti-entropy, compaction)
//!                ├─ Load Driver + write batcher                           load-driver
//!                ├─ search index follower                                 cluster-search
//!                ├─ Node Controller (with [uyuni] url)                    node-controller
//!                ├─ content replication (server role, [content] enabled)  content-peer
//!                ├─ HTTP task (the components' routes, merged)            crate::http
//!                └─ API gateway (with [gateway] listen)                   gateway
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_core::controller::{Controller, ControllerConfig, ControllerParts};
use cluster_core::membership::{AdvertisedAddrs, Heartbeat, Membership};
use cluster_core::net::{self, NetClient};
use cluster_core::replication::Replicator;
use cluster_core::{Members, Replica, SelfInfo, cluster_key, identity, now_ms, serve, tls};
use crdt_store::{NodeRecord, Record, Store, StoreOptions, ZoneRecord};
use libp2p::{Multiaddr, PeerId};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::PeerConfig;
use crate::http;

/// How long the tasks have to stop at shutdown before they are aborted.
pub const SHUTDOWN_WITHIN: Duration = Duration::from_secs(20);

/// Why a peer could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] cluster_core::config::ConfigError),
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

fn parse_addr(s: &str) -> Result<Multiaddr, StartError> {
    s.parse()
        .map_err(|e: libp2p::multiaddr::Error| StartError::Address {
            addr: s.to_string(),
            reason: e.to_string(),
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
    /// This peer.
    pub me: Arc<SelfInfo>,
    /// The swarm's handle.
    pub net: NetClient,
    /// The membership table (what `GET /cluster/members` shows; read in memory by the WAN
    /// bed, which runs hundreds of peers in one process).
    pub members: cluster_core::members::Members,
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
                (Some(cert), Some(key)) => Some(tls::server_config(
                    cert,
                    key,
                    cfg.tls.client_ca().as_deref(),
                )?),
                _ => None,
            },
            handshake_timeout: cfg.tls.handshake_timeout,
            limits: cfg.http.clone(),
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

        if let Some(p) = cfg.test_wire_protocol {
            cluster_core::net::wire::speak(p);
            tracing::warn!(
                protocol = p,
                "speaking another wire protocol (test_wire_protocol: tests only)"
            );
        }
        let store_opts = StoreOptions {
            shard_count: cfg.store.shard_count,
            compact_wal_bytes: cfg.store.compact_wal_mib * 1024 * 1024,
            legacy_v1: cfg.test_wire_protocol == Some(1),
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
        .with_swim(cfg.membership.swim())
        .with_incarnation(me.incarnation)
        .with_forget_after(cfg.membership.forget_after);
        let start = Instant::now();
        for n in store.nodes() {
            membership.add_known(n.peer_id.clone(), known_heartbeat(&n), start);
        }
        let repl = Replicator::new(
            store.clone(),
            Arc::new(net.clone()),
            cfg.replication.clone(),
        );
        let replica = Replica::new(store.clone(), Arc::new(repl.clone()));
        let members = Members::new(membership);
        let (writes, write_queue) = load_driver::write_batcher::WriteBatcher::new();
        let nc = node_controller::prepare(&cfg.uyuni)
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
        let startup_grace =
            cfg.membership.heartbeat_interval * 3 + cfg.replication.anti_entropy_interval * 2;
        let load = Arc::new(load_driver::LoadState::new(cfg.load.clone(), startup_grace));
        let search = Arc::new(cluster_search::SearchState::new());
        // Agent tokens are keyed from the cluster key file, so every peer checks every token.
        let cluster_key_bytes = std::fs::read(&cfg.cluster_key)
            .map_err(|e| StartError::Task(format!("reading {}: {e}", cfg.cluster_key.display())))?;
        let door = Arc::new(load_driver::agent_door::AgentDoor::new(
            cfg.agent_door.clone(),
            &cluster_key_bytes,
            now_ms(),
        ));
        let load_ctx = load_driver::LoadCtx {
            replica: replica.clone(),
            members: members.clone(),
            me: me.clone(),
            load: load.clone(),
            writes: writes.clone(),
            door,
        };
        let nc_ctx = node_controller::NcCtx {
            replica: replica.clone(),
            me: me.clone(),
            nc: nc_handle.clone(),
            startup_grace,
        };
        let search_ctx = cluster_search::SearchCtx {
            replica: replica.clone(),
            search: search.clone(),
            writes,
            wake_driver: load.wake.clone(),
            load: load.clone(),
        };
        let content_ctx = content_peer::ContentCtx {
            replica: replica.clone(),
            members: members.clone(),
            me: me.clone(),
            content,
            nc: nc_handle,
        };
        tasks.spawn(
            load_driver::load_driver::run(load_ctx.clone(), cancel.child_token())
                .instrument(span.clone()),
        );
        tasks.spawn(
            cluster_search::run(store.clone(), search, cancel.child_token())
                .instrument(span.clone()),
        );
        tasks.spawn(
            load_driver::write_batcher::run(
                replica.clone(),
                load.clone(),
                write_queue,
                cancel.child_token(),
            )
            .instrument(span.clone()),
        );
        if let Some(c) = &content_ctx.content {
            tasks.spawn(
                content_peer::replicate::run(content_ctx.clone(), c.clone(), cancel.child_token())
                    .instrument(span.clone()),
            );
        }
        if let Some(p) = nc_prepared {
            tasks.spawn(
                node_controller::run(p, nc_ctx.clone(), cancel.child_token())
                    .instrument(span.clone()),
            );
        }

        let audit = cluster_core::audit::AuditLog::in_dir(&cfg.data_dir);
        let (gateway, gateway_sessions, gateway_actions) = match &cfg.gateway.listen {
            Some(listen) => {
                let calls = crate::gateway_sessions::PeerCalls::new(
                    members.clone(),
                    me.clone(),
                    peer_tls_identity(&cfg),
                )?;
                let meta = crate::gateway_meta::PeerMetastore::new(
                    members.clone(),
                    load.clone(),
                    nc_ctx.clone(),
                    search_ctx.clone(),
                    audit.clone(),
                    Some(calls),
                );
                let (addr, over_tls, sessions, actions) =
                    start_gateway(&cfg, listen, meta, &mut tasks, &cancel, &span).await?;
                (Some((addr, over_tls)), Some(sessions), Some(actions))
            }
            None => (None, None, None),
        };
        let router = http::router(http::Routes {
            cluster: cluster_core::cluster_api::ClusterView {
                net: net.clone(),
                members: members.clone(),
                store: store.clone(),
                me: me.clone(),
            },
            load: load_ctx,
            nc: nc_ctx,
            search: search_ctx,
            content: content_ctx,
            sessions: crate::gateway_sessions::Sessions(gateway_sessions),
            actions: crate::gateway_actions::Actions(gateway_actions),
            door: crate::admin_door::Door {
                audit: audit.clone(),
                tls: serve_opts.tls.is_some(),
            },
        });
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
        let online_load = load.clone();
        let controller = Controller::new(
            ControllerParts {
                net: net.clone(),
                repl,
                members: members.clone(),
                store,
                me: me.clone(),
                online: Arc::new(move || online_load.own_online()),
            },
            ControllerConfig {
                join: cfg.join.iter().filter_map(|a| a.parse().ok()).collect(),
                heartbeat_interval: cfg.membership.heartbeat_interval,
                anti_entropy_interval: cfg.replication.anti_entropy_interval,
                dial_interval: cfg.network.dial_interval,
                compact_check_interval: cfg.store.compact_check_interval,
                probe: cfg.membership.probe(),
                summary_interval: cfg.membership.summary_interval,
                zones_pull_interval: cfg.membership.zones_pull_interval,
                dial_backoff_max: cfg.network.dial_backoff_max,
                cross_zone_links: cfg.network.cross_zone_links,
            },
        );
        let controller = tokio::spawn(
            controller
                .run(events, cancel.child_token())
                .instrument(span.clone()),
        );
        Ok(Self {
            me,
            net,
            members,
            http_addr,
            http_tls,
            gateway,
            cancel,
            net_cancel,
            controller: Some(controller),
            tasks,
        })
    }

    /// Stop: announce the leave, stop every task and wait for them (at most [`SHUTDOWN_WITHIN`]).
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(c) = self.controller.take()
            && let Err(e) = c.await
        {
            tracing::error!("controller: {e}");
        }
        self.net_cancel.cancel();
        let drained = tokio::time::timeout(SHUTDOWN_WITHIN, async {
            while let Some(res) = self.tasks.join_next().await {
                if let Err(e) = res
                    && e.is_panic()
                {
                    tracing::error!("task panicked: {e}");
                }
            }
        })
        .await;
        if drained.is_err() {
            // A task that ignores its cancellation must not keep the process (and a systemd
            // stop, or a test waiting for the exit) hanging: say so and drop it.
            tracing::error!(
                tasks = self.tasks.len(),
                "tasks did not stop within {SHUTDOWN_WITHIN:?} of the shutdown; aborted"
            );
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
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
        protocol: cluster_core::net::wire::spoken().0,
        min_protocol: cluster_core::net::wire::spoken().1,
        online: BTreeMap::new(),
        refutes: 0,
        suspects: Vec::new(),
        swim: false,
        legacy_copy: false,
    }
}

/// Bind and serve the API gateway (`[gateway]`) on this peer's replica. TLS with the
/// gateway's own certificate, else the peer's, else a self-signed one (`self_signed`), else
/// plain HTTP when `dev_plain_http` allows it.
async fn start_gateway(
    cfg: &PeerConfig,
    listen: &str,
    meta: crate::gateway_meta::PeerMetastore,
    tasks: &mut JoinSet<()>,
    cancel: &CancellationToken,
    span: &tracing::Span,
) -> Result<
    (
        std::net::SocketAddr,
        bool,
        Arc<gateway::session_file::SessionStore>,
        Arc<gateway::cluster_actions::ClusterActions>,
    ),
    StartError,
> {
    let g = &cfg.gateway;
    let tls =
        match (
            g.cert_file.as_ref().or(cfg.tls.cert_file.as_ref()),
            g.key_file.as_ref().or(cfg.tls.key_file.as_ref()),
        ) {
            (Some(cert), Some(key)) => Some(tls::server_config(cert, key, None)?),
            _ if g.self_signed => Some(tls::self_signed_config(&tls::default_sans(&cfg.name))?),
            _ if g.dev_plain_http || cfg.tls.dev_plain_http => None,
            _ => {
                return Err(StartError::Config(cluster_core::config::ConfigError::Invalid(
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
    let sessions_path = cfg.data_dir.join(gateway::session_file::FILE_NAME);
    let sessions =
        gateway::session_file::SessionStore::open(&sessions_path, cluster_core::now_ms())
            .map_err(|e| StartError::Task(e.to_string()))?;
    let replica = meta.replica().clone();
    let gw = std::sync::Arc::new(gateway::Gateway::new(
        std::sync::Arc::new(meta),
        g.clone(),
        sessions,
    ));
    let over_tls = tls.is_some();
    let sessions = gw.session_store();
    let actions = gw.cluster_actions();
    tracing::info!(%addr, tls = over_tls, "API gateway");
    tasks.spawn(
        crate::gateway_meta::watch_cluster(
            gw.clone(),
            Duration::from_secs(1),
            cancel.child_token(),
        )
        .instrument(span.clone()),
    );
    tasks.spawn(
        crate::gateway_meta::sweep_sessions(
            gw.clone(),
            replica,
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
                limits: cfg.http.clone(),
            },
            cancel.child_token(),
        )
        .instrument(span.clone()),
    );
    Ok((addr, over_tls, sessions, actions))
}

/// This peer's certificate, key and cluster CA, for calling other peers' admin APIs (`None`:
/// no `[tls]` certificate, development mode's plain HTTP).
fn peer_tls_identity(cfg: &PeerConfig) -> Option<(PathBuf, PathBuf, PathBuf)> {
    match (&cfg.tls.cert_file, &cfg.tls.key_file, cfg.tls.client_ca()) {
        (Some(cert), Some(key), Some(ca)) => Some((cert.clone(), key.clone(), ca)),
        _ => None,
    }
}

/// Open the blob store and bind the blob endpoint: `[content] listen`, else the IP of the
/// libp2p listen address with any free UDP port.
async fn start_content(
    cfg: &PeerConfig,
    secret: &[u8; 32],
    me: &SelfInfo,
    listen: &[Multiaddr],
    store: &Store,
) -> Result<Arc<content_peer::Content>, StartError> {
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
    content_cfg.protected = protected_paths(cfg);
    content_peer::Content::start(
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

/// The peer's own files, which a content import may never read (nor a directory holding
/// them), even under `content.import_roots`.
fn protected_paths(cfg: &PeerConfig) -> Vec<content_peer::ProtectedPath> {
    use content_peer::ProtectedPath as P;
    let mut out = vec![
        P::new("data directory", &cfg.data_dir),
        P::new("cluster key", &cfg.cluster_key),
    ];
    let optional = [
        ("configuration file", &cfg.config_file),
        ("TLS key", &cfg.tls.key_file),
        ("gateway TLS key", &cfg.gateway.key_file),
        ("Uyuni password file", &cfg.uyuni.password_file),
    ];
    for (what, path) in optional {
        if let Some(p) = path {
            out.push(P::new(what, p));
        }
    }
    if let Some(dsn) = &cfg.uyuni.db {
        for p in content_peer::import_roots::dsn_files(dsn) {
            out.push(P::new("database credentials", p));
        }
    }
    out.retain(|p| !p.path.as_os_str().is_empty());
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_may_not_read_the_peers_config_keys_data_or_password_files() {
        let mut cfg = PeerConfig {
            config_file: Some("/etc/uc/peer.toml".into()),
            ..PeerConfig::default()
        };
        cfg.tls.key_file = Some("/etc/uc/tls.key".into());
        cfg.gateway.key_file = Some("/etc/uc/gw.key".into());
        cfg.uyuni.password_file = Some("/etc/uc/uyuni.pass".into());
        cfg.uyuni.db = Some("host=localhost passfile=/etc/uc/pgpass dbname=susemanager".into());
        let got: Vec<(String, String)> = protected_paths(&cfg)
            .into_iter()
            .map(|p| (p.what, p.path.display().to_string()))
            .collect();
        for want in [
            "/var/lib/uyuni-cluster",
            "/etc/uyuni-cluster/cluster.key",
            "/etc/uc/peer.toml",
            "/etc/uc/tls.key",
            "/etc/uc/gw.key",
            "/etc/uc/uyuni.pass",
            "/etc/uc/pgpass",
        ] {
            assert!(
                got.iter().any(|(_, p)| p == want),
                "{want} missing: {got:?}"
            );
        }
    }
}
