//! Start and drive a cluster of real `uyuni-cluster` processes.
//!
//! Each peer gets a temporary data dir, a config file with fast test timings, ports bound to
//! 0 (learned from the ready line the peer prints), and one [`Link`] per zone in the
//! [`LinkEmulator`], which it advertises as its address for dialers of that zone. All
//! peer-to-peer traffic therefore crosses the emulator.
//!
//! By default the peers serve their HTTP APIs in plain HTTP (`--dev-plain-http`); with
//! [`Options::tls`] the cluster gets a CA in its temporary directory, every peer a certificate
//! from it, and the harness's own calls go over https trusting that CA.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cluster_core::client::Client;
use cluster_core::cluster_api::MemberView;
use cluster_core::tls::CertificateDer;
use crdt_store::SystemRecord;

use crate::linkemu::{Link, LinkEmulator};

/// Timings and sizes written into every peer's config.
#[derive(Debug, Clone)]
pub struct Options {
    /// Heartbeat interval (ms).
    pub heartbeat_ms: u64,
    /// Suspicion timeout, LAN and WAN (ms).
    pub suspicion_ms: u64,
    /// phi threshold, LAN and WAN.
    pub phi: f64,
    /// Anti-entropy interval (ms).
    pub anti_entropy_ms: u64,
    /// Shards per store.
    pub shard_count: u32,
    /// Compact when the WAL exceeds this many MiB (0: at every check).
    pub compact_wal_mib: u64,
    /// Route peer traffic through the link emulator (default true).
    pub emulate_links: bool,
    /// Load Driver: failure timeout (ms). Default 2000.
    pub failure_timeout_ms: u64,
    /// Load Driver: maintenance window (ms). Default 4000.
    pub maintenance_window_ms: u64,
    /// Load Driver: planning round (ms). Default 200.
    pub load_tick_ms: u64,
    /// Load Driver: rebalancing moves per second. Default 500.
    pub rebalance_moves_per_s: u32,
    /// Serve the HTTP APIs over TLS with a cluster CA made for the test (default false: plain
    /// HTTP with `--dev-plain-http`).
    pub tls: bool,
    /// Lines appended to every peer's `[agent_door]` section (the onboarding storm raises the
    /// replay cache and the onboarding pool). Default empty.
    pub agent_door_extra: String,
    /// Lines appended to every peer's `[replication]` section. Default empty.
    pub replication_extra: String,
    /// Lines appended to every peer's `[membership]` section. Default empty.
    pub membership_extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            heartbeat_ms: 200,
            suspicion_ms: 2000,
            phi: 8.0,
            anti_entropy_ms: 500,
            shard_count: 64,
            compact_wal_mib: 64,
            emulate_links: true,
            failure_timeout_ms: 2000,
            maintenance_window_ms: 4000,
            load_tick_ms: 200,
            rebalance_moves_per_s: 500,
            tls: false,
            agent_door_extra: String::new(),
            replication_extra: String::new(),
            membership_extra: String::new(),
        }
    }
}

impl Options {
    /// Production timings (heartbeat 1 s, suspicion 10 s, anti-entropy 2 s, 1024 shards) and
    /// direct connections: what the benchmarks measure.
    pub fn production() -> Self {
        Self {
            heartbeat_ms: 1000,
            suspicion_ms: 10_000,
            anti_entropy_ms: 2000,
            shard_count: 1024,
            emulate_links: false,
            ..Self::default()
        }
    }
}

/// The `uyuni-cluster` binary: `$UYUNI_CLUSTER_BIN`, or built once with cargo ([`built_bin`]).
pub fn binary() -> anyhow::Result<PathBuf> {
    built_bin("UYUNI_CLUSTER_BIN", "peer", "uyuni-cluster")
}

/// The `uyuni-cluster-agent` binary: `$UYUNI_AGENT_BIN`, or built once with cargo.
pub fn agent_binary() -> anyhow::Result<PathBuf> {
    built_bin("UYUNI_AGENT_BIN", "agent", "uyuni-cluster-agent")
}

/// The workspace's binaries as the tests start them: `$ENV` if set, else built by cargo.
///
/// A debug build asks cargo for exactly what `cargo test --workspace` builds (`cargo test
/// --workspace --no-run`, once per test process): the binaries then come from the same
/// feature set as the test run itself, so nothing is rebuilt when the scenarios start, and a
/// test run never rebuilds the binaries another test run built. (Building them with
/// `cargo build -p peer` instead resolves features for that package alone: other hashes for
/// a third of the dependency graph, rebuilt and relinked whenever the two alternated. Every
/// binary the scenarios start belongs to a package with an integration test, so cargo builds
/// it for `cargo test`.) A release build (benchmarks) builds the one binary in release.
pub fn built_bin(env: &str, package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Ok(PathBuf::from(p));
    }
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let release = cfg!(not(debug_assertions));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if release {
        cargo(
            &root,
            &["build", "-q", "--release", "-p", package, "--bin", bin],
        )
        .map_err(anyhow::Error::msg)?;
    } else {
        BUILT
            .get_or_init(|| cargo(&root, &["test", "-q", "--workspace", "--no-run"]))
            .clone()
            .map_err(anyhow::Error::msg)?;
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let path = target
        .join(if release { "release" } else { "debug" })
        .join(bin);
    if !path.exists() {
        anyhow::bail!("cargo built no {}", path.display());
    }
    Ok(path)
}

/// Variables cargo sets for the test process it runs (and for build scripts), which a nested
/// cargo must not inherit: some dependencies' build scripts (ring's, for one) declare
/// `rerun-if-env-changed` on `CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, `OUT_DIR` and the like,
/// and cargo compares them in its own environment. Inherited from a test process they differ
/// from the outer build's, so the nested build re-ran those scripts and rebuilt everything
/// above them (rustls, iroh, the peer), and the next outer build rebuilt it all back.
fn set_by_cargo_for_tests(key: &str) -> bool {
    [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_BIN_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
    ]
    .iter()
    .any(|p| key.starts_with(p))
        || [
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ]
        .contains(&key)
}

fn cargo(root: &Path, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(set_by_cargo_for_tests) {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .current_dir(root)
        .args(args)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed", args.join(" ")))
    }
}

/// One peer process.
#[derive(Debug)]
pub struct PeerProc {
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// libp2p peer id.
    pub peer_id: String,
    /// HTTP API base URL of the current process (`https://` in a TLS cluster).
    pub http: String,
    /// Base URL of the API gateway it serves (`[gateway] listen`), if any.
    pub gateway: Option<String>,
    /// Data dir (kept across restarts).
    pub data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Inbound links, one per zone of dialers.
    links: Vec<Link>,
    /// The cluster CA its clients trust (empty in a plain-HTTP cluster).
    roots: Vec<CertificateDer<'static>>,
    /// In a TLS cluster: the operator's client certificate and key (`ca issue --client`).
    identity: Option<(PathBuf, PathBuf)>,
}

impl PeerProc {
    /// A client of this peer's API (trusting the cluster CA and presenting the operator's
    /// client certificate in a TLS cluster).
    pub fn client(&self) -> Client {
        if let Some((cert, key)) = &self.identity
            && let Ok(c) =
                Client::with_roots_and_identity(&self.http, self.roots.clone(), cert, key)
        {
            return c;
        }
        Client::with_roots(&self.http, self.roots.clone())
    }

    /// A client of this peer's API without a client certificate (what an agent, or anyone
    /// on the network, is).
    pub fn anonymous_client(&self) -> Client {
        Client::with_roots(&self.http, self.roots.clone())
    }

    /// Process id of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The link dialers of `zone` use to reach this peer.
    pub fn link_for(&self, zone: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.from_zone == zone)
    }

    /// The peer's log so far (for failure messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// A running test cluster. Dropping it kills every peer.
#[derive(Debug)]
pub struct Cluster {
    /// The peers, in start order.
    pub peers: Vec<PeerProc>,
    /// The emulator all traffic passes through.
    pub emu: LinkEmulator,
    /// Zones, in first-seen order.
    pub zones: Vec<String>,
    /// The cluster key file.
    pub key: PathBuf,
    /// The cluster CA certificate, in a TLS cluster.
    pub ca: Option<PathBuf>,
    /// The operator's client certificate and key, in a TLS cluster (`ca issue --client
    /// --name ops` in the CA directory).
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Peers (by name) started from another `uyuni-cluster` binary than [`binary`] (a
    /// benchmark comparing two builds in one run).
    pub peer_bins: HashMap<String, PathBuf>,
    roots: Vec<CertificateDer<'static>>,
    dir: tempfile::TempDir,
    opts: Options,
    /// Simulated agents registered through [`Cluster::register`]: label → identity.
    agents: std::sync::Mutex<HashMap<String, SimAgent>>,
}

/// A system registered by [`Cluster::register`]: its signed identity and token.
#[derive(Debug, Clone)]
struct SimAgent {
    identity: u64,
    fingerprint: String,
    token: Option<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.peers {
            if let Some(mut c) = p.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // A failing test (a panic, or a wait that timed out and is returned as an error)
        // shows every peer's log tail, so a flake can be read from the CI log alone.
        if std::thread::panicking() || WAIT_FAILED.with(std::cell::Cell::get) {
            for p in &self.peers {
                eprintln!("---- log of {} ----\n{}", p.name, p.log_tail());
            }
        }
    }
}

thread_local! {
    /// A [`wait_until`] of this test thread timed out: the clusters it drops print their
    /// peers' logs.
    static WAIT_FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Poll `cond` every 50 ms until it holds or `timeout` passes. On a time-out the error names
/// what was awaited and the last error seen, and every [`Cluster`] this test drops afterwards
/// prints its peers' log tails.
pub fn wait_until(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut last_err = None;
    loop {
        match cond() {
            Ok(true) => return Ok(start.elapsed()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if start.elapsed() > timeout {
            WAIT_FAILED.with(|f| f.set(true));
            eprintln!("timed out after {timeout:?} waiting for {what} (last error: {last_err:?})");
            bail!("timed out after {timeout:?} waiting for {what} (last error: {last_err:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Cluster {
    /// Start peers `(name, zone)`; the first is the seed the others join through.
    pub fn start(specs: &[(&str, &str)], opts: Options) -> anyhow::Result<Self> {
        let mut zones: Vec<String> = Vec::new();
        for (_, z) in specs {
            if !zones.iter().any(|x| x == z) {
                zones.push(z.to_string());
            }
        }
        let mut cluster = Self::new(&zones, opts)?;
        for (name, zone) in specs {
            cluster.add_peer(name, zone)?;
        }
        Ok(cluster)
    }

    /// A cluster with no peer yet, for the given zones (add peers with [`Self::add_peer`]).
    pub fn new(zones: &[String], opts: Options) -> anyhow::Result<Self> {
        let bin = binary()?;
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("cluster.key");
        run_ok(Command::new(&bin).arg("keygen").arg("--out").arg(&key))?;
        let (ca, roots) = if opts.tls {
            run_ok(
                Command::new(&bin)
                    .args(["ca", "init", "--dir"])
                    .arg(dir.path().join("ca")),
            )?;
            run_ok(
                Command::new(&bin)
                    .args(["ca", "issue", "--client", "--name", "ops", "--dir"])
                    .arg(dir.path().join("ca")),
            )?;
            let ca = dir.path().join("ca").join(cluster_core::tls::CA_CERT_FILE);
            let roots = cluster_core::tls::read_certs(&ca)?;
            (Some(ca), roots)
        } else {
            (None, Vec::new())
        };
        let identity = opts.tls.then(|| {
            let d = dir.path().join("ca");
            (d.join("ops.pem"), d.join("ops.key"))
        });
        Ok(Self {
            peers: Vec::new(),
            emu: LinkEmulator::new()?,
            zones: zones.to_vec(),
            key,
            ca,
            identity,
            peer_bins: HashMap::new(),
            roots,
            dir,
            opts,
            agents: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The data dir the peer called `name` gets (exists once it is added).
    pub fn data_dir_of(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Add and start one more peer joining through the seed, with the cluster key (or another).
    pub fn add_peer_with_key(
        &mut self,
        name: &str,
        zone: &str,
        key: &Path,
    ) -> anyhow::Result<usize> {
        self.add_peer_full(name, zone, key, "")
    }

    /// Add and start one more peer with extra top-level TOML lines in its config
    /// (`fqdn = "..."`, `capacity = 2.0`).
    pub fn add_peer_with(&mut self, name: &str, zone: &str, extra: &str) -> anyhow::Result<usize> {
        let key = self.key.clone();
        self.add_peer_full(name, zone, &key, extra)
    }

    fn add_peer_full(
        &mut self,
        name: &str,
        zone: &str,
        key: &Path,
        extra: &str,
    ) -> anyhow::Result<usize> {
        let data_dir = self.data_dir_of(name);
        std::fs::create_dir_all(&data_dir)?;
        let mut links = Vec::new();
        let mut advertise = Vec::new();
        if self.opts.emulate_links {
            for z in &self.zones {
                let l = self.emu.add_link(z, zone)?;
                advertise.push(format!("\"{z}={}\"", l.multiaddr()));
                links.push(l);
            }
        }
        let join = match self.peers.first() {
            Some(seed) => {
                let addr = match seed.link_for(zone) {
                    Some(l) => l.multiaddr(),
                    None => seed_direct_addr(seed)?,
                };
                format!("\"{addr}/p2p/{}\"", seed.peer_id)
            }
            None => String::new(),
        };
        let tls = if self.opts.tls {
            let ca_dir = self.dir.path().join("ca");
            run_ok(
                Command::new(binary()?)
                    .args(["ca", "issue", "--dir"])
                    .arg(&ca_dir)
                    .args(["--name", name]),
            )?;
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nhandshake_timeout_ms = 1000\n",
                ca_dir.join(format!("{name}.pem")).display(),
                ca_dir.join(format!("{name}.key")).display(),
            )
        } else {
            String::new()
        };
        let o = &self.opts;
        let config = data_dir.join("peer.toml");
        std::fs::write(
            &config,
            format!(
                r#"name = "{name}"
zone = "{zone}"
data_dir = "{data}"
cluster_key = "{key}"
p2p_listen = "/ip4/127.0.0.1/tcp/0"
http_listen = "127.0.0.1:0"
join = [{join}]
advertise = [{advertise}]
{extra}
[agent_door]
client_rate_per_s = 1000000.0
client_burst = 1000000
new_registrations_per_s = 1000000.0
new_registration_burst = 1000000
{door}
[load]
failure_timeout_ms = {ft}
maintenance_window_ms = {mw}
tick_ms = {lt}
rebalance_moves_per_s = {rb}
agent_heartbeat_s = 1
# Online counts of other zones' peers travel in zone summaries (every 2 s, issue 17), not
# in 200 ms heartbeats: a 3 s window expired a peer's own counts before they arrived.
online_window_ms = 10000
[membership]
heartbeat_interval_ms = {hb}
{memb}
[membership.lan]
phi_threshold = {phi}
suspicion_timeout_ms = {susp}
window = 50
[membership.wan]
phi_threshold = {phi}
suspicion_timeout_ms = {susp}
window = 50
[replication]
anti_entropy_interval_ms = {ae}
{repl}
[network]
dial_interval_ms = 300
handshake_timeout_ms = 2000
ping_interval_ms = 1000
request_timeout_ms = 20000
[store]
shard_count = {shards}
compact_wal_mib = {compact}
compact_check_interval_ms = 200
{tls}"#,
                data = data_dir.display(),
                key = key.display(),
                advertise = advertise.join(", "),
                hb = o.heartbeat_ms,
                phi = o.phi,
                susp = o.suspicion_ms,
                ae = o.anti_entropy_ms,
                shards = o.shard_count,
                compact = o.compact_wal_mib,
                ft = o.failure_timeout_ms,
                door = o.agent_door_extra,
                repl = o.replication_extra,
                memb = o.membership_extra,
                mw = o.maintenance_window_ms,
                lt = o.load_tick_ms,
                rb = o.rebalance_moves_per_s,
            ),
        )?;
        self.peers.push(PeerProc {
            name: name.to_string(),
            zone: zone.to_string(),
            peer_id: String::new(),
            http: String::new(),
            gateway: None,
            log: data_dir.join("peer.log"),
            data_dir,
            config,
            child: None,
            links,
            roots: self.roots.clone(),
            identity: self.identity.clone(),
        });
        let i = self.peers.len() - 1;
        self.launch(i)?;
        Ok(i)
    }

    /// Add and start one more peer with the cluster key.
    pub fn add_peer(&mut self, name: &str, zone: &str) -> anyhow::Result<usize> {
        let key = self.key.clone();
        self.add_peer_with_key(name, zone, &key)
    }

    fn launch(&mut self, i: usize) -> anyhow::Result<()> {
        let bin = match self.peer_bins.get(&self.peers[i].name) {
            Some(b) => b.clone(),
            None => binary()?,
        };
        let plain = !self.opts.tls;
        let p = &mut self.peers[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p.log)?;
        let mut cmd = Command::new(bin);
        cmd.arg("peer").arg("--config").arg(&p.config);
        if plain {
            cmd.arg("--dev-plain-http");
        }
        let mut child = cmd
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG")
                    .unwrap_or_else(|_| "info,peer=debug,automerge=warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            for _ in r.lines() {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if !l.trim().is_empty() => l,
            _ => {
                let _ = child.kill();
                bail!("peer {} did not become ready:\n{}", p.name, p.log_tail());
            }
        };
        let ready: serde_json::Value = serde_json::from_str(line.trim())?;
        p.peer_id = ready["peer_id"].as_str().context("peer_id")?.to_string();
        let scheme = if ready["tls"].as_bool().context("tls")? {
            "https"
        } else {
            "http"
        };
        p.http = format!("{scheme}://{}", ready["http"].as_str().context("http")?);
        p.gateway = ready["gateway"].as_str().map(|g| {
            let scheme = if ready["gateway_tls"].as_bool() == Some(true) {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{g}")
        });
        let p2p = ready["p2p"][0].as_str().context("p2p")?;
        let port: u16 = p2p.rsplit('/').next().context("port")?.parse()?;
        for l in &p.links {
            l.set_target(SocketAddr::from(([127, 0, 0, 1], port)));
            l.set_peer(&p.name);
        }
        self.emu.name_port(port, &p.name);
        p.child = Some(child);
        Ok(())
    }

    /// `kill -9` peer `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.peers[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop peer `i` with SIGTERM (a planned leave) and wait for it.
    pub fn stop(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(mut c) = self.peers[i].child.take() {
            run_ok(Command::new("kill").arg(c.id().to_string()))?;
            c.wait()?;
        }
        Ok(())
    }

    /// Start peer `i` again on its data dir.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        // Two processes on one data directory would both run (and the old one outlive the
        // test): a restart follows a kill or a stop.
        if self.peers[i].child.is_some() {
            bail!(
                "peer {} is still running: kill or stop it before restarting it",
                self.peers[i].name
            );
        }
        self.launch(i)
    }

    /// Members as peer `i` sees them.
    pub fn members(&self, i: usize) -> anyhow::Result<Vec<MemberView>> {
        Ok(self.peers[i].client().get("/cluster/members")?)
    }

    /// Status of `name` as peer `i` sees it (None if unknown).
    pub fn member_status(&self, i: usize, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .members(i)?
            .into_iter()
            .find(|m| m.name == name)
            .map(|m| m.status))
    }

    /// Register a system through peer `i` as a protocol 2 agent would: `label` names a
    /// simulated identity (a signed registration of one real salt key wrapped its own way,
    /// [`crate::sim_keys`]), whose salt fingerprint the cluster knows it by; [`Cluster::fp`]
    /// turns the label into it, and [`Cluster::system`], [`Cluster::act`] and
    /// [`Cluster::agent_get`] accept either. The token of the answer is kept for
    /// [`Cluster::agent_get`].
    pub fn register(&self, i: usize, label: &str, minion: &str) -> anyhow::Result<SystemRecord> {
        let n = self.identity(label);
        let keys = crate::sim_keys::keys();
        let nonce = format!("harness{:016x}{:08x}", rand::random::<u64>(), n);
        let reg = keys.registration(n, minion, minion, crate::sim_keys::unix_now(), &nonce)?;
        let r = self.agent_request(i, "/system/register", None, Some(&reg))?;
        if r.status != 200 {
            bail!("registering {label}: HTTP {} {}", r.status, r.body);
        }
        let token = r.header(agent_proto::TOKEN_HEADER).map(String::from);
        for a in lock(&self.agents).values_mut() {
            if a.identity == n {
                a.token = token.clone();
            }
        }
        Ok(serde_json::from_str(&r.body)?)
    }

    /// The identity number of `label` (given in order of first use).
    fn identity(&self, label: &str) -> u64 {
        let mut agents = lock(&self.agents);
        if let Some(a) = agents.values().find(|a| a.fingerprint == label) {
            return a.identity;
        }
        let n = agents.len() as u64;
        agents
            .entry(label.to_string())
            .or_insert_with(|| SimAgent {
                identity: n,
                fingerprint: crate::sim_keys::keys().fingerprint(n),
                token: None,
            })
            .identity
    }

    /// The fingerprint of a system registered as `label` ([`Cluster::register`]), or `label`
    /// itself when it is not such a label (a fingerprint already).
    pub fn fp(&self, label: &str) -> String {
        lock(&self.agents)
            .get(label)
            .map_or_else(|| label.to_string(), |a| a.fingerprint.clone())
    }

    /// Whether `fingerprint` is that of a system [`Cluster::register`]ed under a label that
    /// starts with `prefix` (tests group their systems by label prefix).
    pub fn is_labelled(&self, fingerprint: &str, prefix: &str) -> bool {
        lock(&self.agents)
            .iter()
            .any(|(label, a)| a.fingerprint == fingerprint && label.starts_with(prefix))
    }

    /// Accept (`accept`), reject, unregister or ban a system (a label or a fingerprint)
    /// through peer `i`.
    pub fn act(&self, i: usize, fp: &str, action: &str) -> anyhow::Result<SystemRecord> {
        let fp = self.fp(fp);
        Ok(self.peers[i]
            .client()
            .post(&format!("/systems/{fp}/{action}"), &serde_json::json!({}))?)
    }

    /// Set a zone's Load Driver mode through peer `i`.
    pub fn set_mode(&self, i: usize, zone: &str, mode: &str) -> anyhow::Result<()> {
        let _: serde_json::Value = self.peers[i].client().post(
            &format!("/zones/{zone}/mode"),
            &serde_json::json!({ "mode": mode }),
        )?;
        Ok(())
    }

    /// `GET /cluster/load` of peer `i`.
    pub fn load(&self, i: usize) -> anyhow::Result<load_driver::load_api::LoadView> {
        Ok(self.peers[i].client().get("/cluster/load")?)
    }

    /// An agent request (`/system/status?fp=..`, `/system/orphan?fp=..`) to peer `i`, with
    /// the token of the system's registration; `fp=` may name a label of
    /// [`Cluster::register`].
    pub fn agent_get(
        &self,
        i: usize,
        path: &str,
    ) -> anyhow::Result<cluster_core::client::RawResponse> {
        let (route, label) = match path.split_once("?fp=") {
            Some((route, label)) => (route, label),
            None => (path, ""),
        };
        let (fp, token) = {
            let agents = lock(&self.agents);
            match agents
                .get(label)
                .or_else(|| agents.values().find(|a| a.fingerprint == label))
            {
                Some(a) => (a.fingerprint.clone(), a.token.clone()),
                None => (label.to_string(), None),
            }
        };
        let path = if label.is_empty() {
            route.to_string()
        } else {
            format!("{route}?fp={fp}")
        };
        self.agent_request(i, &path, token.as_deref(), None)
    }

    /// A raw request to peer `i`'s agent endpoints: a GET with `token`, or a POST of `body`.
    pub fn agent_request(
        &self,
        i: usize,
        path: &str,
        token: Option<&str>,
        body: Option<&agent_proto::Registration>,
    ) -> anyhow::Result<cluster_core::client::RawResponse> {
        let roots: Vec<ureq::tls::Certificate<'static>> = self
            .roots
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(cluster_core::tls::provider())
            .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .tls_config(tls)
            .build()
            .new_agent();
        let url = format!("{}{path}", self.peers[i].http);
        let res = match body {
            Some(b) => agent.post(&url).send_json(b),
            None => {
                let mut req = agent.get(&url);
                if let Some(t) = token {
                    req = req.header(agent_proto::TOKEN_HEADER, t);
                }
                req.call()
            }
        };
        let mut res = res.with_context(|| url.clone())?;
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = res.body_mut().read_to_string()?;
        Ok(cluster_core::client::RawResponse {
            status: res.status().as_u16(),
            headers,
            body: text,
        })
    }

    /// All systems peer `i` holds.
    pub fn systems(&self, i: usize) -> anyhow::Result<Vec<SystemRecord>> {
        Ok(self.peers[i].client().get("/systems?limit=1000000")?)
    }

    /// One system (a label of [`Cluster::register`] or a fingerprint) on peer `i`.
    pub fn system(&self, i: usize, fp: &str) -> anyhow::Result<Option<SystemRecord>> {
        let fp = self.fp(fp);
        match self.peers[i].client().get(&format!("/systems/{fp}")) {
            Ok(s) => Ok(Some(s)),
            Err(cluster_core::client::ClientError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /cluster/status` of peer `i`.
    pub fn status(&self, i: usize) -> anyhow::Result<serde_json::Value> {
        Ok(self.peers[i].client().get("/cluster/status")?)
    }

    /// Root digest of peer `i`'s store.
    pub fn root(&self, i: usize) -> anyhow::Result<String> {
        Ok(self.status(i)?["store"]["root_digest"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// True when every running peer reports the same root digest.
    pub fn converged(&self) -> anyhow::Result<bool> {
        let roots: Vec<String> = (0..self.peers.len())
            .filter(|&i| self.peers[i].is_running())
            .map(|i| self.root(i))
            .collect::<anyhow::Result<_>>()?;
        Ok(roots.windows(2).all(|w| w[0] == w[1]))
    }

    /// The cluster's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn seed_direct_addr(seed: &PeerProc) -> anyhow::Result<String> {
    let st: serde_json::Value = seed.client().get("/cluster/status")?;
    Ok(st["p2p"][0].as_str().context("seed address")?.to_string())
}

fn run_ok(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
