//! Command-line interface of `uyuni-cluster`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use cluster_core::client::Client;
use cluster_core::cluster_api::MemberView;
use peer::config::PeerConfig;

/// Environment variable naming the default peer for client commands.
pub(crate) const ENV_PEER: &str = "UYUNI_CLUSTER_PEER";
use cluster_core::client::{ENV_CA, ENV_CERT, ENV_KEY};
/// Environment variable with the connection string of the local Uyuni database.
pub(crate) const ENV_DB: &str = "UYUNI_CLUSTER_DB";
/// `--db-sslmode` of `triggers`.
pub(crate) const ENV_DB_SSLMODE: &str = "UYUNI_CLUSTER_DB_SSLMODE";
/// `--db-ca-file` of `triggers`.
pub(crate) const ENV_DB_CA_FILE: &str = "UYUNI_CLUSTER_DB_CA_FILE";

/// Uyuni cluster extension: the server-side daemon and its command line.
mod backup;
mod ca;
mod content;
mod leader;
mod node;
mod search;
mod systems;

#[derive(Debug, Parser)]
#[command(name = "uyuni-cluster", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new cluster key (a libp2p private-network key) to FILE.
    Keygen {
        /// Where to write it (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a peer.
    Peer(Box<PeerArgs>),
    /// Run the API gateway: a cluster member (role `gateway`, holding a replica, taking no
    /// systems) that answers Uyuni's XML-RPC and JSON APIs for the whole cluster, the REST
    /// API and Swagger UI (docs/GATEWAY.md). Listens on 127.0.0.1:8443 unless told otherwise.
    Gateway(Box<PeerArgs>),
    /// The cluster CA: create it, issue node certificates for the peers' HTTP APIs.
    Ca {
        #[command(subcommand)]
        command: ca::CaCommand,
    },
    /// This peer's audit log: who changed what, when (admin changes through its API).
    Audit {
        /// Only entries at or after this time (Unix ms). Default: all.
        #[arg(long, default_value_t = 0)]
        since_ms: u64,
        /// At most this many (the newest). Default 100.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        target: Target,
    },
    /// Ask a peer's `GET /health` (open: no client certificate); exit 1 unless it is well.
    /// The container images' health check.
    Health {
        #[command(flatten)]
        target: Target,
    },
    /// Show the cluster's members as one peer sees them.
    Members {
        #[command(flatten)]
        target: Target,
    },
    /// Client systems.
    Systems {
        #[command(subcommand)]
        command: SystemsCommand,
    },
    /// Per-node load: capacity, liveness, fault, systems assigned and online; zone modes.
    Load {
        #[command(flatten)]
        target: Target,
    },
    /// Set a zone's Load Driver mode: `production` or `disaster-recovery`.
    ZoneMode {
        /// Zone name.
        zone: String,
        /// `production` or `disaster-recovery`.
        mode: String,
        #[command(flatten)]
        target: Target,
    },
    /// Write a consistent backup of a running peer's metastore to FILE (through its admin
    /// API; an operator certificate).
    Backup {
        /// The file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Restore a backup into a stopped peer's data directory (its `store/` must not exist:
    /// move it aside). The peer rejoins and catches up when started.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The peer's data directory (`data_dir` of its configuration).
        #[arg(long)]
        data_dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Whole nodes: replace one by a fresh node (major upgrade).
    Node {
        #[command(subcommand)]
        cmd: node::NodeCommand,
    },
    /// The zone's Leader Node lease and "apply cluster update" (common data).
    Leader {
        #[command(subcommand)]
        cmd: leader::LeaderCommand,
    },
    /// The Node Controller's status on one peer.
    NodeController {
        #[command(flatten)]
        target: Target,
    },
    /// Packages replicated between the nodes of a zone as verified iroh blobs, served to
    /// reposync by every peer (docs/CONTENT.md).
    Content {
        #[command(subcommand)]
        cmd: content::ContentCommand,
    },
    /// Content Lifecycle projects as versioned documents: save on one node, apply to the zone.
    Clm {
        #[command(subcommand)]
        cmd: content::ClmCommand,
    },
    /// Change capture in the local Uyuni database: triggers that fill the outbox the peer reads.
    Triggers {
        #[command(subcommand)]
        command: TriggersCommand,
    },
    /// Start a local sandbox cluster (several peers in two zones) and keep it running.
    Sandbox {
        /// Working directory for the sandbox (keys, data, logs). Default: ./sandbox-data
        #[arg(long, default_value = "sandbox-data")]
        dir: PathBuf,
        /// Peers per zone. Default 3.
        #[arg(long, default_value_t = 3)]
        peers_per_zone: usize,
        /// Port of the first peer's HTTP API (the others follow; 0: ephemeral ports). Default 4581.
        #[arg(long, default_value_t = 4581)]
        base_port: u16,
        /// Client agents to run (each beside a simulated salt minion). Default 4.
        #[arg(long, default_value_t = 4)]
        agents: usize,
        /// The `uyuni-cluster-agent` binary. Default: beside this binary.
        #[arg(long)]
        agent_bin: Option<PathBuf>,
        /// The simulated Uyuni server (`uyuni-standin`, from netsim-tests). Default: beside
        /// this binary; without it the peers run without Node Controllers.
        #[arg(long)]
        uyuni_bin: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TriggersCommand {
    /// Create (or update: idempotent) the uyuni_cluster schema, its outbox and the triggers on
    /// Uyuni's tables.
    Install {
        #[command(flatten)]
        db: Db,
    },
    /// Drop the triggers and the uyuni_cluster schema (pending outbox rows with it); Uyuni's
    /// tables and data stay.
    Uninstall {
        #[command(flatten)]
        db: Db,
    },
    /// Show whether the capture is installed, its version, pending outbox rows and the
    /// watched tables.
    Status {
        #[command(flatten)]
        db: Db,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct Db {
    /// Connection string of Uyuni's database, e.g.
    /// 'host=/var/run/postgresql dbname=susemanager user=postgres'. Default: $UYUNI_CLUSTER_DB,
    /// else `[uyuni] db` of --config.
    #[arg(long = "db", env = ENV_DB, hide_env_values = true)]
    dsn: Option<String>,
    /// The peer's configuration file: its `[uyuni] db`, `db_sslmode` and `db_ca_file` are
    /// used (the flags below win), so the triggers are installed over the same TLS as the
    /// outbox reader reads them. Default none.
    #[arg(long)]
    config: Option<PathBuf>,
    /// TLS to the database: disable, require or verify-full (as `[uyuni] db_sslmode`).
    /// Default: --config's, else disable.
    #[arg(long, env = ENV_DB_SSLMODE, value_parser = parse_sslmode)]
    db_sslmode: Option<node_controller::outbox::DbSslMode>,
    /// PEM CA trusted for --db-sslmode verify-full (as `[uyuni] db_ca_file`). Default:
    /// --config's.
    #[arg(long, env = ENV_DB_CA_FILE)]
    db_ca_file: Option<PathBuf>,
}

fn parse_sslmode(s: &str) -> Result<node_controller::outbox::DbSslMode, String> {
    use node_controller::outbox::DbSslMode;
    [
        DbSslMode::Disable,
        DbSslMode::Require,
        DbSslMode::VerifyFull,
    ]
    .into_iter()
    .find(|m| m.as_str() == s)
    .ok_or_else(|| format!("{s:?}: expected disable, require or verify-full"))
}

impl Db {
    /// The connection string and its TLS settings: flags and environment over `--config`.
    fn resolve(&self) -> anyhow::Result<(String, node_controller::outbox::DbTls)> {
        let uyuni = match &self.config {
            Some(p) => PeerConfig::from_file(p)?.uyuni,
            None => node_controller::UyuniConfig::default(),
        };
        let dsn = self.dsn.clone().or(uyuni.db.clone()).ok_or_else(|| {
            anyhow::anyhow!("no database: give --db, ${ENV_DB} or --config with [uyuni] db")
        })?;
        let mut tls = uyuni.db_tls();
        if let Some(m) = self.db_sslmode {
            tls.mode = m;
        }
        if let Some(ca) = &self.db_ca_file {
            tls.ca_file = Some(ca.clone());
        }
        Ok((dsn, tls))
    }
}

#[derive(Debug, Args)]
struct Target {
    /// The peer's HTTP API. Default: $UYUNI_CLUSTER_PEER or https://127.0.0.1:4581
    #[arg(long, env = ENV_PEER, default_value = "https://127.0.0.1:4581")]
    peer: String,
    /// The cluster CA certificate (PEM) to trust for https. Default: $UYUNI_CLUSTER_CA
    #[arg(long, env = ENV_CA)]
    ca: Option<PathBuf>,
    /// Client certificate from the cluster CA (`ca issue --client`) for the admin API.
    /// Default: $UYUNI_CLUSTER_CERT
    #[arg(long, env = ENV_CERT)]
    cert: Option<PathBuf>,
    /// Private key of --cert. Default: $UYUNI_CLUSTER_KEY
    #[arg(long, env = ENV_KEY)]
    key: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl Target {
    fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::for_cli(
            &self.peer,
            self.ca.as_deref(),
            self.cert.as_deref(),
            self.key.as_deref(),
        )?)
    }
}

#[derive(Debug, Subcommand)]
enum SystemsCommand {
    /// List systems, optionally filtered.
    List {
        /// Only this status (new, onboarded, orphan, deleted).
        #[arg(long)]
        status: Option<String>,
        /// Only systems of this node.
        #[arg(long)]
        node: Option<String>,
        /// Only systems of this zone.
        #[arg(long)]
        zone: Option<String>,
        /// Only systems with this tag (repeatable; all must match).
        #[arg(long)]
        tag: Vec<String>,
        /// Only systems in this group (repeatable; all must match).
        #[arg(long)]
        group: Vec<String>,
        /// At most this many. Default 10000.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        target: Target,
    },
    /// Show one system.
    Show {
        /// Key fingerprint.
        fingerprint: String,
        #[command(flatten)]
        target: Target,
    },
    /// Accept a new system into the cluster.
    Accept {
        /// Key fingerprint.
        fingerprint: String,
        #[command(flatten)]
        target: Target,
    },
    /// Ban a system: it is deleted and never gets a node again.
    Ban {
        /// Key fingerprint.
        fingerprint: String,
        #[command(flatten)]
        target: Target,
    },
    /// Reject a new system: deleted, but it may register again.
    Reject {
        /// Key fingerprint.
        fingerprint: String,
        #[command(flatten)]
        target: Target,
    },
    /// Take a system off its node: it becomes an orphan and is placed again.
    Unregister {
        /// Key fingerprint.
        fingerprint: String,
        #[command(flatten)]
        target: Target,
    },
    /// Search every system with a compound query, e.g. 'tag:db and zone:dc1 and not
    /// status:onboarded' or 'web*.acme.org' (docs/SEARCH.md). Sorted by name.
    Search {
        /// The query (empty: every system).
        #[arg(default_value = "")]
        query: String,
        /// Systems per page. Default 100 (1000 with --all); at most 10000.
        #[arg(long)]
        limit: Option<usize>,
        /// Fetch every page, not only the first.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Apply one action to every system a query matches (all of them, not one page).
    Bulk {
        /// The query ("*" for every system).
        query: String,
        /// tag, untag, accept, reject, ban or unregister.
        #[arg(long)]
        action: String,
        /// Tag to add or remove (repeatable; for tag and untag).
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
}

/// Flags of `uyuni-cluster peer`; each overrides the same key of the `--config` file.
#[derive(Debug, Args)]
struct PeerArgs {
    /// TOML configuration file (see docs/CONFIGURATION.md).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Node name (required here or in the file).
    #[arg(long)]
    name: Option<String>,
    /// Zone. Default `default`.
    #[arg(long)]
    zone: Option<String>,
    /// Data directory. Default /var/lib/uyuni-cluster
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Cluster key file. Default /etc/uyuni-cluster/cluster.key
    #[arg(long)]
    cluster_key: Option<PathBuf>,
    /// libp2p listen multiaddr. Default /ip4/0.0.0.0/tcp/4580
    #[arg(long)]
    p2p_listen: Option<String>,
    /// HTTP API listen address. Default 127.0.0.1:4581
    #[arg(long)]
    http_listen: Option<String>,
    /// Peer to join through (multiaddr, with or without /p2p/<id>); repeatable.
    #[arg(long)]
    join: Vec<String>,
    /// Address to announce instead of the listen address: ADDR, or ZONE=ADDR for dialers of
    /// ZONE; repeatable.
    #[arg(long)]
    advertise: Vec<String>,
    /// Salt master address of the Uyuni server beside this peer (`host` or `host:port`).
    /// Default: the node name.
    #[arg(long)]
    fqdn: Option<String>,
    /// Relative capacity of this node for the Load Driver. Default 1.0.
    #[arg(long)]
    capacity: Option<f64>,
    /// PEM certificate of the HTTP API, issued by the cluster CA (`uyuni-cluster ca issue`).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve the HTTP API in plain HTTP, without TLS: development and tests only.
    #[arg(long)]
    dev_plain_http: bool,
    /// Also serve the API gateway here (`[gateway] listen`), e.g. 127.0.0.1:8443.
    #[arg(long)]
    gateway_listen: Option<String>,
}

impl PeerArgs {
    fn into_config(self) -> anyhow::Result<PeerConfig> {
        let mut cfg = match &self.config {
            Some(p) => PeerConfig::from_file(p)?,
            None => PeerConfig::default(),
        };
        // Content imports never read the configuration file (content_peer::import_roots).
        cfg.config_file = self
            .config
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or(p.clone()));
        if let Some(v) = self.name {
            cfg.name = v;
        }
        if let Some(v) = self.zone {
            cfg.zone = v;
        }
        if let Some(v) = self.data_dir {
            cfg.data_dir = v;
        }
        if let Some(v) = self.cluster_key {
            cfg.cluster_key = v;
        }
        if let Some(v) = self.p2p_listen {
            cfg.p2p_listen = v;
        }
        if let Some(v) = self.http_listen {
            cfg.http_listen = v;
        }
        if self.fqdn.is_some() {
            cfg.fqdn = self.fqdn;
        }
        if let Some(v) = self.capacity {
            cfg.capacity = v;
        }
        cfg.join.extend(self.join);
        cfg.advertise.extend(self.advertise);
        if let Some(v) = self.tls_cert {
            cfg.tls.cert_file = Some(v);
        }
        if let Some(v) = self.tls_key {
            cfg.tls.key_file = Some(v);
        }
        if let Some(v) = self.gateway_listen {
            cfg.gateway.listen = Some(v);
        }
        if self.dev_plain_http {
            cfg.tls.dev_plain_http = true;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The log filter without `RUST_LOG`: `info`, except automerge's own spans. automerge
/// instruments its load path with `#[instrument]` at INFO, and recording those spans' fields
/// took ~5 % of a peer's CPU under an onboarding storm (docs/PERFORMANCE.md, storm).
pub(crate) const DEFAULT_LOG_FILTER: &str = "info,automerge=warn";

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Run the parsed command line.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    // ring, explicitly and once, before anything speaks TLS.
    cluster_core::tls::install_default_provider();
    match cli.command {
        Command::Keygen { out } => {
            let key = cluster_core::cluster_key::generate(&out)?;
            println!(
                "wrote cluster key {} (fingerprint {})",
                out.display(),
                key.fingerprint()
            );
            Ok(())
        }
        Command::Peer(args) => {
            init_tracing();
            let cfg = args.into_config()?;
            tokio::runtime::Runtime::new()
                .context("starting the tokio runtime")?
                .block_on(run_peer(cfg))
        }
        Command::Gateway(args) => {
            init_tracing();
            let mut cfg = args.into_config()?;
            cfg.role = "gateway".into();
            cfg.gateway
                .listen
                .get_or_insert_with(|| "127.0.0.1:8443".into());
            tokio::runtime::Runtime::new()
                .context("starting the tokio runtime")?
                .block_on(run_peer(cfg))
        }
        Command::Ca { command } => ca::run(command),
        Command::Audit {
            since_ms,
            limit,
            target,
        } => ca::audit(since_ms, limit, &target),
        Command::Health { target } => health(&target),
        Command::Members { target } => members(&target),
        Command::Systems { command } => systems::systems(command),
        Command::Load { target } => load(&target),
        Command::ZoneMode { zone, mode, target } => zone_mode(&zone, &mode, &target),
        Command::Leader { cmd } => leader::run(cmd),
        Command::Node { cmd } => node::run(cmd),
        Command::Backup { out, target } => backup::backup(&out, &target),
        Command::Restore {
            from,
            data_dir,
            json,
        } => backup::restore(&from, &data_dir, json),
        Command::NodeController { target } => leader::status(&target),
        Command::Triggers { command } => triggers(command),
        Command::Content { cmd } => content::run(cmd),
        Command::Clm { cmd } => content::run_clm(cmd),
        Command::Sandbox {
            dir,
            peers_per_zone,
            base_port,
            agents,
            agent_bin,
            uyuni_bin,
        } => {
            init_tracing();
            sandbox::run(
                &dir,
                peers_per_zone,
                base_port,
                &sandbox::AgentOptions {
                    count: agents,
                    binary: agent_bin,
                    uyuni_binary: uyuni_bin,
                },
            )
        }
    }
}

fn triggers(cmd: TriggersCommand) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    use node_controller::outbox;
    match cmd {
        TriggersCommand::Install { db } => {
            let (dsn, tls) = db.resolve()?;
            rt.block_on(outbox::install_with(&dsn, &tls))
                .context("installing the triggers")?;
            let st = rt.block_on(outbox::status_with(&dsn, &tls))?;
            println!(
                "installed (version {}); watching {} tables: {}",
                st.version.as_deref().unwrap_or("?"),
                st.watched_tables.len(),
                st.watched_tables.join(", ")
            );
        }
        TriggersCommand::Uninstall { db } => {
            let (dsn, tls) = db.resolve()?;
            rt.block_on(outbox::uninstall_with(&dsn, &tls))
                .context("removing the triggers")?;
            println!("uninstalled: triggers and the uyuni_cluster schema removed");
        }
        TriggersCommand::Status { db, json } => {
            let (dsn, tls) = db.resolve()?;
            let st = rt
                .block_on(outbox::status_with(&dsn, &tls))
                .context("reading the trigger status")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                print!("{}", format_trigger_status(&st));
            }
        }
    }
    Ok(())
}

fn format_trigger_status(st: &node_controller::outbox::OutboxStatus) -> String {
    let oldest = st
        .oldest_pending_age_ms
        .map(|ms| format!(" (oldest {:.1} s old)", ms as f64 / 1000.0))
        .unwrap_or_default();
    format!(
        "installed:      {}\nversion:        {}\npending rows:   {}{}\nwatched tables: {}\n",
        if st.installed { "yes" } else { "no" },
        st.version.as_deref().unwrap_or("-"),
        st.pending,
        oldest,
        if st.watched_tables.is_empty() {
            "-".to_owned()
        } else {
            st.watched_tables.join(", ")
        }
    )
}

async fn run_peer(cfg: PeerConfig) -> anyhow::Result<()> {
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut node = peer::node::Node::start(cfg, cancel.clone()).await?;
    let ready = serde_json::json!({
        "ready": true,
        "name": node.me.name,
        "zone": node.me.zone,
        "peer_id": node.me.peer_id.to_string(),
        "http": node.http_addr.to_string(),
        "tls": node.http_tls,
        "p2p": node.net.listen_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "gateway": node.gateway.map(|(a, _)| a.to_string()),
        "gateway_tls": node.gateway.map(|(_, tls)| tls),
    });
    // One line on stdout that scripts (and the test harness) read to learn bound ports.
    println!("{ready}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: leaving the cluster"),
        _ = term.recv() => tracing::info!("terminated: leaving the cluster"),
        () = node.wait() => tracing::error!("a peer task stopped unexpectedly"),
    }
    node.shutdown().await;
    Ok(())
}

fn health(t: &Target) -> anyhow::Result<()> {
    let answer: serde_json::Value = t.client()?.get("/health")?;
    println!("{answer}");
    Ok(())
}

fn members(t: &Target) -> anyhow::Result<()> {
    let list: Vec<MemberView> = t.client()?.get("/cluster/members")?;
    if t.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<12} {:<8} {:<8} {:>9}  PEER ID",
        "NAME", "ZONE", "STATUS", "ROLE", "LAST(ms)"
    );
    for m in list {
        println!(
            "{:<20} {:<12} {:<8} {:<8} {:>9}  {}{}",
            m.name,
            m.zone,
            m.status,
            m.role,
            m.last_heard_ms,
            m.peer_id,
            if m.is_self { " (this peer)" } else { "" }
        );
    }
    Ok(())
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", urlencode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn load(t: &Target) -> anyhow::Result<()> {
    let view: load_driver::load_api::LoadView = t.client()?.get("/cluster/load")?;
    if t.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<12} {:<8} {:>6} {:>9} {:>9}  FQDN",
        "NODE", "ZONE", "STATUS", "CAP", "ASSIGNED", "ONLINE"
    );
    for n in &view.nodes {
        let status = if n.faulty {
            "faulty"
        } else {
            n.liveness.as_str()
        };
        println!(
            "{:<20} {:<12} {:<8} {:>6.1} {:>9} {:>9}  {}",
            n.name, n.zone, status, n.capacity, n.assigned, n.online, n.fqdn
        );
    }
    println!();
    for z in &view.zones {
        println!(
            "zone {:<12} mode {:<18} orphans {}",
            z.zone, z.mode, z.orphans
        );
    }
    println!(
        "systems {}  waiting for acceptance {}",
        view.systems, view.new
    );
    Ok(())
}

fn zone_mode(zone: &str, mode: &str, t: &Target) -> anyhow::Result<()> {
    let p: serde_json::Value = t.client()?.post(
        &format!("/zones/{}/mode", urlencode(zone)),
        &serde_json::json!({ "mode": mode }),
    )?;
    if t.json {
        println!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        println!("zone {zone}: {}", p["mode"].as_str().unwrap_or(mode));
    }
    Ok(())
}
