//! `uyuni-cluster sandbox`: a local cluster for newcomers, with embedded defaults.
//!
//! Starts `peers_per_zone` peers in each of two zones (`dc1`, a data centre, and `store1`, a
//! retail store) as child processes of this binary, all on loopback, joins them, registers a
//! few demo systems, prints where to look, and stops everything on Ctrl-C.
//!
//! Each peer stands beside a simulated Uyuni node (`fqdn` = `uyuni-<peer>.sandbox.test`; no
//! server runs there), and real `uyuni-cluster-agent` processes run beside simulated salt
//! minions (a config directory with a key, restart and stop commands that do nothing), so
//! that registration, acceptance, placement and repointing can be watched. The peers run
//! with sandbox timings (`DIR/peer-defaults.toml`): agents heartbeat every 5 s and a dead
//! peer's systems move after 20 s.
//!
//! Like a real cluster, the sandbox serves its HTTP APIs over TLS: it makes a cluster CA in
//! `DIR/tls/` on first start and issues every peer a certificate for `localhost` and
//! `127.0.0.1` (again at each start, which also shows how rotation works).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::path::PathBuf;

use anyhow::{Context, bail};
use peer::client::Client;

const ZONES: [&str; 2] = ["dc1", "store1"];

/// Peer settings that make the sandbox lively (documented defaults are for production).
const PEER_DEFAULTS: &str = "# uyuni-cluster sandbox: faster than production defaults\n\
[load]\n\
agent_heartbeat_s = 5\n\
failure_timeout_ms = 20000\n\
maintenance_window_ms = 60000\n";

/// Which agents the sandbox runs.
#[derive(Debug, Clone)]
pub(crate) struct AgentOptions {
    /// How many.
    pub(crate) count: usize,
    /// The binary (default: beside this one).
    pub(crate) binary: Option<PathBuf>,
}

/// A running agent beside its simulated minion.
struct AgentProc {
    fingerprint: String,
    config_dir: PathBuf,
    child: Child,
}

fn simulated_fqdn(peer: &str) -> String {
    format!("uyuni-{peer}.sandbox.test")
}

/// Lay out a simulated minion (`etc/salt` with `minion_id` and a public key) and start an
/// agent for it, talking TLS to `entry` with the sandbox CA.
fn start_agent(
    dir: &Path,
    bin: &Path,
    ca: &Path,
    i: usize,
    entry: &str,
) -> anyhow::Result<AgentProc> {
    let root = dir.join("agents").join(format!("minion{i}"));
    let conf = root.join("etc/salt");
    std::fs::create_dir_all(conf.join("pki/minion"))?;
    std::fs::create_dir_all(conf.join("minion.d"))?;
    let id = format!("minion{i}.sandbox.test");
    std::fs::write(conf.join("minion_id"), &id)?;
    let pub_key = conf.join("pki/minion/minion.pub");
    if !pub_key.exists() {
        let key = rcgen::KeyPair::generate()?;
        std::fs::write(&pub_key, key.public_key_pem())?;
    }
    let cfg = root.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "peers = [\"{entry}\"]\nca_file = \"{ca}\"\nknock_interval_ms = 5000\nstate_file = \"{state}\"\n[salt]\nconfig_dir = \"{conf}\"\nrestart_command = [\"true\"]\nstop_command = [\"true\"]\n",
            ca = ca.display(),
            state = root.join("agent-state.json").display(),
            conf = conf.display(),
        ),
    )?;
    let log = std::fs::File::create(dir.join("logs").join(format!("agent{i}.log")))?;
    let child = Command::new(bin)
        .arg("--config")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pem = std::fs::read_to_string(&pub_key)?;
    Ok(AgentProc {
        fingerprint: pem_fingerprint(&pem),
        config_dir: conf,
        child,
    })
}

/// `salt-key -F` of a PEM key (see docs/AGENT-PROTOCOL.md), to find the agents' systems.
fn pem_fingerprint(pem: &str) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for line in pem.lines() {
        if line.starts_with("-----") || line.trim().is_empty() {
            continue;
        }
        h.update(line.as_bytes());
        h.update(b"\n");
    }
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

struct Peer {
    name: String,
    http: String,
    child: Child,
}

fn start_peer(
    dir: &Path,
    cert: &peer::tls::IssuedCert,
    name: &str,
    zone: &str,
    http_port: u16,
    join: Option<&str>,
) -> anyhow::Result<(Peer, serde_json::Value)> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let defaults = dir.join("peer-defaults.toml");
    std::fs::write(&defaults, PEER_DEFAULTS)?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("peer")
        .arg("--config")
        .arg(&defaults)
        .args(["--name", name, "--zone", zone])
        .args(["--fqdn", &simulated_fqdn(name)])
        .arg("--data-dir")
        .arg(dir.join("data").join(name))
        .arg("--cluster-key")
        .arg(dir.join("cluster.key"))
        .args(["--p2p-listen", "/ip4/127.0.0.1/tcp/0"])
        .args(["--http-listen", &format!("127.0.0.1:{http_port}")])
        .arg("--tls-cert")
        .arg(&cert.cert)
        .arg("--tls-key")
        .arg(&cert.key)
        .stdout(Stdio::piped())
        .stderr(log);
    if let Some(j) = join {
        cmd.args(["--join", j]);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting peer {name}"))?;
    let stdout = child.stdout.take().context("peer stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let ready: serde_json::Value = serde_json::from_str(line.trim()).with_context(|| {
        format!(
            "peer {name} did not start; see {}",
            logs.join(format!("{name}.log")).display()
        )
    })?;
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in reader.lines() {});
    let http = format!("https://{}", ready["http"].as_str().unwrap_or_default());
    Ok((
        Peer {
            name: name.to_string(),
            http,
            child,
        },
        ready,
    ))
}

/// Run the sandbox until Ctrl-C.
pub(crate) fn run(
    dir: &Path,
    peers_per_zone: usize,
    base_port: u16,
    agents: &AgentOptions,
) -> anyhow::Result<()> {
    if peers_per_zone == 0 {
        bail!("--peers-per-zone must be at least 1");
    }
    std::fs::create_dir_all(dir)?;
    let key = dir.join("cluster.key");
    if !key.exists() {
        peer::cluster_key::generate(&key)?;
    }
    let tls_dir = dir.join("tls");
    let ca = tls_dir.join(peer::tls::CA_CERT_FILE);
    if !ca.exists() {
        peer::tls::init_ca(&tls_dir, false)?;
    }
    // Absolute, so the commands printed below work from anywhere.
    let ca = std::fs::canonicalize(&ca).unwrap_or(ca);
    let mut peers: Vec<Peer> = Vec::new();
    let mut join: Option<String> = None;
    let mut port = base_port;
    for zone in ZONES {
        for i in 1..=peers_per_zone {
            let name = format!("{zone}-peer{i}");
            let started = peer::tls::issue(&tls_dir, &name, &[])
                .map_err(anyhow::Error::from)
                .and_then(|cert| start_peer(dir, &cert, &name, zone, port, join.as_deref()));
            let (p, ready) = match started {
                Ok(v) => v,
                Err(e) => {
                    stop(&mut peers);
                    return Err(e);
                }
            };
            if join.is_none() {
                let addr = ready["p2p"][0].as_str().unwrap_or_default();
                let id = ready["peer_id"].as_str().unwrap_or_default();
                join = Some(format!("{addr}/p2p/{id}"));
            }
            peers.push(p);
            // Base port 0: every peer binds an ephemeral port (tests).
            if port != 0 {
                port += 1;
            }
        }
    }
    let first = peers[0].http.clone();
    let client = Client::with_ca(&first, &ca)?;
    // Let the cluster form before showing it: every peer sees every other one alive.
    let want = peers.len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for p in &peers {
        let c = Client::with_ca(&p.http, &ca)?;
        loop {
            let members: Vec<peer::http::MemberView> = c.get("/cluster/members")?;
            if members.len() == want && members.iter().all(|m| m.status == "alive") {
                break;
            }
            if std::time::Instant::now() > deadline {
                stop(&mut peers);
                bail!(
                    "the sandbox cluster did not form within 60 s; see {}",
                    dir.join("logs").display()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    for i in 1..=6 {
        let fp = format!("sandbox:{i:02}:{}", "ab:cd:ef:01:23:45:67:89");
        let body = serde_json::json!({
            "fingerprint": fp,
            "minion_id": format!("minion{i}.sandbox.example"),
            "hostname": format!("minion{i}.sandbox.example"),
            "public_key": "",
        });
        let _: serde_json::Value = client.post("/system/register", &body)?;
        if i % 2 == 0 {
            let _: serde_json::Value =
                client.post(&format!("/systems/{fp}/accept"), &serde_json::json!({}))?;
        }
    }
    let mut agent_procs = match start_agents(dir, agents, &ca, &peers) {
        Ok(a) => a,
        Err(e) => {
            stop(&mut peers);
            return Err(e);
        }
    };
    onboard_agents(&client, &agent_procs);
    println!(
        "\nUyuni cluster sandbox: {} peers in zones {}",
        peers.len(),
        ZONES.join(", ")
    );
    for p in &peers {
        println!(
            "  {:<16} {}   beside simulated Uyuni node {}",
            p.name,
            p.http,
            simulated_fqdn(&p.name)
        );
    }
    if !agent_procs.is_empty() {
        println!("\nAgents (uyuni-cluster-agent beside simulated salt minions):");
        for a in &agent_procs {
            let sys: Option<crdt_store::SystemRecord> =
                client.get(&format!("/systems/{}", a.fingerprint)).ok();
            println!(
                "  {}…  {:<10} node {:<28} master setting in {}",
                &a.fingerprint[..a.fingerprint.len().min(17)],
                sys.as_ref().map_or("?", |s| s.status.as_str()),
                sys.as_ref()
                    .and_then(|s| s.node.clone())
                    .map_or_else(|| "-".into(), |n| simulated_fqdn(&n)),
                a.config_dir.join("minion.d").display()
            );
        }
        println!(
            "  (one is left `new`: accept it with `systems accept FP`; logs in {})",
            dir.join("logs").display()
        );
    } else if agents.count > 0 {
        println!(
            "\n(No agents: build them with `cargo build --release -p agent`, or pass --agent-bin.)"
        );
    }
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "uyuni-cluster".into());
    println!(
        "\nThe APIs speak TLS with the sandbox's own cluster CA: {}",
        ca.display()
    );
    println!("\nTry:");
    println!("  {exe} members --peer {first} --ca {}", ca.display());
    println!(
        "  {exe} systems list --peer {} --ca {}",
        peers[peers.len() - 1].http,
        ca.display()
    );
    println!("  {exe} load --peer {first} --ca {}", ca.display());
    println!("  curl --cacert {} {first}/cluster/members", ca.display());
    println!(
        "  (or export {}={} and leave out --ca)",
        crate::cli::ENV_CA,
        ca.display()
    );
    println!("Kill -9 a dc1 peer: 20 s after it is down its systems move, and the agents follow.");
    println!(
        "Logs: {}   Data: {}",
        dir.join("logs").display(),
        dir.join("data").display()
    );
    println!("Ctrl-C stops the sandbox (data is kept for the next start).");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })?;
    for a in &mut agent_procs {
        let _ = a.child.kill();
        let _ = a.child.wait();
    }
    stop(&mut peers);
    Ok(())
}

/// Start the agents, alternating entry points between the zones' first peers.
fn start_agents(
    dir: &Path,
    opts: &AgentOptions,
    ca: &Path,
    peers: &[Peer],
) -> anyhow::Result<Vec<AgentProc>> {
    let bin = match &opts.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("uyuni-cluster-agent"),
    };
    if opts.count == 0 || !bin.exists() {
        return Ok(Vec::new());
    }
    let per_zone = peers.len() / ZONES.len();
    let mut out = Vec::new();
    for i in 1..=opts.count {
        let entry = &peers[(i % ZONES.len()) * per_zone].http;
        match start_agent(dir, &bin, ca, i, entry) {
            Ok(a) => out.push(a),
            Err(e) => {
                for a in &mut out {
                    let _ = a.child.kill();
                }
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Wait (briefly) for the agents to register, accept all but the last, and give the
/// accepted ones time to learn their node. Best effort: the sandbox runs either way.
fn onboard_agents(client: &Client, agents: &[AgentProc]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let get = |fp: &str| -> Option<crdt_store::SystemRecord> {
        client.get(&format!("/systems/{fp}")).ok()
    };
    let wait = |cond: &dyn Fn() -> bool| {
        while !cond() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    wait(&|| agents.iter().all(|a| get(&a.fingerprint).is_some()));
    for a in agents.iter().take(agents.len().saturating_sub(1)) {
        let _: Result<serde_json::Value, _> = client.post(
            &format!("/systems/{}/accept", a.fingerprint),
            &serde_json::json!({}),
        );
    }
    wait(&|| {
        agents
            .iter()
            .take(agents.len().saturating_sub(1))
            .all(|a| master_written(&a.config_dir))
    });
}

/// Whether the agent wrote the minion's master setting.
fn master_written(config_dir: &Path) -> bool {
    std::fs::read_dir(config_dir.join("minion.d"))
        .map(|rd| {
            rd.filter_map(Result::ok).any(|e| {
                std::fs::read_to_string(e.path())
                    .is_ok_and(|t| t.lines().any(|l| l.starts_with("master:")))
            })
        })
        .unwrap_or(false)
}

fn stop(peers: &mut [Peer]) {
    for p in peers.iter_mut() {
        // SIGTERM: a planned leave.
        let _ = Command::new("kill").arg(p.child.id().to_string()).status();
    }
    for p in peers.iter_mut() {
        let _ = p.child.wait();
    }
}
