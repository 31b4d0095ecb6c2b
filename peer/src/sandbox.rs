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

/// Which agents (and simulated Uyuni servers) the sandbox runs.
#[derive(Debug, Clone)]
pub(crate) struct AgentOptions {
    /// How many.
    pub(crate) count: usize,
    /// The binary (default: beside this one).
    pub(crate) binary: Option<PathBuf>,
    /// The simulated Uyuni server binary, `uyuni-standin` (default: beside this one).
    pub(crate) uyuni_binary: Option<PathBuf>,
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

/// Credentials of the simulated Uyuni servers.
const UYUNI_USER: &str = "admin";
const UYUNI_PASSWORD: &str = "admin";

/// The sandbox's API gateway member.
const GATEWAY_NAME: &str = "gateway1";

/// A simulated Uyuni server (the `uyuni-standin` test server of netsim-tests) beside a peer.
struct StandInProc {
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// Its PostgreSQL database (with the cluster's triggers), when it runs on one.
    dsn: Option<String>,
    child: Child,
}

fn standin_binary(given: Option<&Path>) -> Option<PathBuf> {
    let bin = match given {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe()
            .ok()?
            .with_file_name("uyuni-standin"),
    };
    bin.exists().then_some(bin)
}

/// Start the simulated Uyuni server of peer `name` and install the cluster's triggers in its
/// database; wait until it is ready.
fn start_standin(dir: &Path, bin: &Path, name: &str) -> anyhow::Result<StandInProc> {
    let data = dir.join("uyuni").join(name);
    std::fs::create_dir_all(&data)?;
    let ready = data.join("ready.json");
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::File::create(dir.join("logs").join(format!("uyuni-{name}.log")))?;
    let mut child = Command::new(bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--user",
            UYUNI_USER,
            "--password",
            UYUNI_PASSWORD,
        ])
        .args(["--fqdn", &simulated_fqdn(name)])
        .arg("--data-dir")
        .arg(&data)
        .arg("--ready-file")
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let info: serde_json::Value = loop {
        if let Some(v) = std::fs::read_to_string(&ready)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            break v;
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "the simulated Uyuni server of {name} exited ({status}); see {}",
                dir.join("logs").join(format!("uyuni-{name}.log")).display()
            );
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            bail!("the simulated Uyuni server of {name} did not start within 90 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let base = info["base"].as_str().unwrap_or_default().to_string();
    let dsn = info["dsn"].as_str().map(str::to_string);
    if let Some(dsn) = &dsn {
        let exe = std::env::current_exe()?;
        let out = Command::new(exe)
            .args(["triggers", "install", "--db", dsn])
            .output()?;
        if !out.status.success() {
            let _ = child.kill();
            bail!(
                "installing the triggers for {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(StandInProc { base, dsn, child })
}

/// The `[uyuni]` section pointing a peer at its simulated server.
fn uyuni_section(u: &StandInProc) -> String {
    let mut s = format!(
        "[uyuni]\nurl = \"{}/rpc/api\"\nuser = \"{UYUNI_USER}\"\npassword = \"{UYUNI_PASSWORD}\"\nreconcile_interval_ms = 1000\n",
        u.base
    );
    if let Some(dsn) = &u.dsn {
        s.push_str(&format!("db = \"{dsn}\"\noutbox_poll_ms = 1000\n"));
    }
    s
}

/// Lay out a simulated minion (`etc/salt` with `minion_id` and a public key) and start an
/// agent for it, talking TLS to `entry` with the sandbox CA.
fn start_agent(
    dir: &Path,
    bin: &Path,
    ca: &Path,
    i: usize,
    entry: &str,
    restart: Option<&Path>,
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
    let restart = match restart {
        Some(script) => format!(
            "[\"sh\", \"{}\", \"{}\", \"{id}\"]",
            script.display(),
            conf.display()
        ),
        None => "[\"true\"]".to_string(),
    };
    std::fs::write(
        &cfg,
        format!(
            "peers = [\"{entry}\"]\nca_file = \"{ca}\"\nknock_interval_ms = 5000\nstate_file = \"{state}\"\n[salt]\nconfig_dir = \"{conf}\"\nrestart_command = {restart}\nstop_command = [\"true\"]\n",
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
    /// The API gateway's base URL (the gateway member only).
    gateway: Option<String>,
    child: Child,
}

/// What a sandbox member is.
enum PeerKind<'a> {
    /// A peer beside a (simulated) Uyuni server.
    Server(Option<&'a StandInProc>),
    /// The API gateway, listening on this port.
    Gateway(u16),
}

fn start_peer(
    dir: &Path,
    cert: &peer::tls::IssuedCert,
    name: &str,
    zone: &str,
    http_port: u16,
    join: Option<&str>,
    kind: PeerKind<'_>,
) -> anyhow::Result<(Peer, serde_json::Value)> {
    let (uyuni, gateway_port) = match kind {
        PeerKind::Server(u) => (u, None),
        PeerKind::Gateway(port) => (None, Some(port)),
    };
    let exe = std::env::current_exe().context("locating this binary")?;
    std::fs::write(dir.join("peer-defaults.toml"), PEER_DEFAULTS)?;
    let defaults = dir.join(format!("peer-{name}.toml"));
    std::fs::write(
        &defaults,
        format!(
            "{PEER_DEFAULTS}{}",
            uyuni.map(uyuni_section).unwrap_or_default()
        ),
    )?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
    let mut cmd = Command::new(exe);
    cmd.arg(if gateway_port.is_some() {
        "gateway"
    } else {
        "peer"
    })
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
    if let Some(port) = gateway_port {
        cmd.args(["--gateway-listen", &format!("127.0.0.1:{port}")]);
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
    let gateway = ready["gateway"].as_str().map(|g| format!("https://{g}"));
    Ok((
        Peer {
            name: name.to_string(),
            http,
            gateway,
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
    let mut standins: Vec<StandInProc> = Vec::new();
    let mut join: Option<String> = None;
    let mut port = base_port;
    std::fs::create_dir_all(dir.join("logs"))?;
    let standin_bin = standin_binary(agents.uyuni_binary.as_deref());
    for zone in ZONES {
        for i in 1..=peers_per_zone {
            let name = format!("{zone}-peer{i}");
            let standin = match &standin_bin {
                Some(bin) => match start_standin(dir, bin, &name) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        stop(&mut peers);
                        stop_standins(&mut standins);
                        return Err(e);
                    }
                },
                None => None,
            };
            let started = peer::tls::issue(&tls_dir, &name, &[])
                .map_err(anyhow::Error::from)
                .and_then(|cert| {
                    start_peer(
                        dir,
                        &cert,
                        &name,
                        zone,
                        port,
                        join.as_deref(),
                        PeerKind::Server(standin.as_ref()),
                    )
                });
            standins.extend(standin);
            let (p, ready) = match started {
                Ok(v) => v,
                Err(e) => {
                    stop(&mut peers);
                    stop_standins(&mut standins);
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
    let servers = peers.len();
    // The API gateway: a member of dc1 (role `gateway`, no systems) answering Uyuni's API for
    // the whole cluster, over TLS with a certificate of the sandbox CA.
    {
        let gw_listen = if port == 0 { 0 } else { port + 1 };
        let started = peer::tls::issue(&tls_dir, GATEWAY_NAME, &[])
            .map_err(anyhow::Error::from)
            .and_then(|cert| {
                start_peer(
                    dir,
                    &cert,
                    GATEWAY_NAME,
                    ZONES[0],
                    port,
                    join.as_deref(),
                    PeerKind::Gateway(gw_listen),
                )
            });
        match started {
            Ok((p, _)) => peers.push(p),
            Err(e) => {
                stop(&mut peers);
                stop_standins(&mut standins);
                return Err(e);
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
            // A peer busy starting may not answer yet: that is "not formed yet", not an error.
            let members: Vec<peer::http::MemberView> =
                c.get("/cluster/members").unwrap_or_default();
            if members.len() == want && members.iter().all(|m| m.status == "alive") {
                break;
            }
            if std::time::Instant::now() > deadline {
                stop(&mut peers);
                stop_standins(&mut standins);
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
    let common = if standins.is_empty() {
        None
    } else {
        Some(demo_common_data(
            &peers[..servers],
            &standins,
            &ca,
            per_zone_count(&peers[..servers]),
        ))
    };
    let content = {
        let servers: Vec<(String, String, String)> = peers[..servers]
            .iter()
            .map(|p| {
                let zone = if p.name.starts_with(ZONES[0]) {
                    ZONES[0]
                } else {
                    ZONES[1]
                };
                (p.name.clone(), p.http.clone(), zone.to_string())
            })
            .collect();
        crate::sandbox_content::demo(dir, &servers, &ca)
    };
    let mut agent_procs = match start_agents(dir, agents, &ca, &peers[..servers], &standins) {
        Ok(a) => a,
        Err(e) => {
            stop(&mut peers);
            stop_standins(&mut standins);
            return Err(e);
        }
    };
    onboard_agents(&client, &agent_procs);
    println!(
        "\nUyuni cluster sandbox: {} peers in zones {}",
        peers.len(),
        ZONES.join(", ")
    );
    for (i, p) in peers[..servers].iter().enumerate() {
        println!(
            "  {:<16} {}   beside simulated Uyuni node {}",
            p.name,
            p.http,
            simulated_fqdn(&p.name)
        );
        if let Some(u) = standins.get(i) {
            println!(
                "  {:<16} Uyuni API {}/rpc/api (admin/admin){}",
                "",
                u.base,
                if u.dsn.is_some() {
                    ", PostgreSQL with the cluster's triggers"
                } else {
                    ", in memory"
                }
            );
        }
    }
    if let Some(gw) = peers.get(servers).and_then(|p| p.gateway.clone()) {
        let host = gw.trim_start_matches("https://");
        println!(
            "\nAPI gateway ({GATEWAY_NAME}, a dc1 member): Uyuni's API for the whole cluster, admin/admin"
        );
        println!("  XML-RPC     {gw}/rpc/api");
        println!("  JSON        {gw}/rhn/manager/api/system/listSystems (after POST auth/login)");
        println!("  REST        {gw}/api/v1/systems?q=tag:db   Swagger UI {gw}/swagger-ui/");
        println!(
            "  spacecmd    SSL_CERT_FILE={} spacecmd -s {host} -u admin -p admin -- system_list",
            ca.display()
        );
    }
    match &common {
        Some(Ok(report)) => println!("\nCommon data: {report}"),
        Some(Err(e)) => println!("\nCommon data demo failed: {e:#}"),
        None => println!(
            "\n(No simulated Uyuni servers: build them with `cargo build --release -p netsim-tests --bin uyuni-standin`.)"
        ),
    }
    match &content {
        Ok(line) => println!("\nContent: {line}"),
        Err(e) => println!("\nContent demo failed: {e:#}"),
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
        peers[servers - 1].http,
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
    if let Some(u) = standins.first() {
        println!(
            "Lead common data: `{exe} leader claim --peer {first} --ca {ca}`, create a channel on {base}/rpc/api \
             (python3 -c \"import xmlrpc.client as x; s=x.ServerProxy('{base}/rpc/api'); k=s.auth.login('admin','admin'); \
             s.channel.software.create(k,'my-chan','My channel','My channel','channel-x86_64','')\"), \
             then `{exe} leader publish --peer {first} --ca {ca}`: it appears on every dc1 node.",
            ca = ca.display(),
            base = u.base,
        );
    }
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
    stop_standins(&mut standins);
    Ok(())
}

fn per_zone_count(peers: &[Peer]) -> usize {
    peers.len() / ZONES.len()
}

fn stop_standins(standins: &mut [StandInProc]) {
    for u in standins.iter_mut() {
        // SIGTERM: the stand-in stops its PostgreSQL too.
        let _ = Command::new("kill").arg(u.child.id().to_string()).status();
    }
    for u in standins.iter_mut() {
        let _ = u.child.wait();
    }
}

/// Show the Leader Node flow once: dc1's first node claims the lease, gets a base channel, a
/// child channel, a system group and an activation key, publishes them, and every other dc1
/// node copies them (store1's nodes do not).
fn demo_common_data(
    peers: &[Peer],
    standins: &[StandInProc],
    ca: &Path,
    per_zone: usize,
) -> anyhow::Result<String> {
    use uyuni_api::value::{string, strings};
    let leader = Client::with_ca(&peers[0].http, ca)?;
    let _: serde_json::Value = leader.post(
        "/zones/dc1/lease",
        &serde_json::json!({"ttl_ms": 600_000, "force": true}),
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let api = |u: &StandInProc| {
        uyuni_api::UyuniClient::new(uyuni_api::ClientConfig::new(
            &format!("{}/rpc/api", u.base),
            UYUNI_USER,
            UYUNI_PASSWORD,
        ))
    };
    let first = api(&standins[0])?;
    let created = rt.block_on(async {
        let exists = |e: &uyuni_api::ApiError| e.fault().is_some();
        let calls: Vec<(&str, Vec<uyuni_api::Value>)> = vec![
            (
                "channel.software.create",
                vec![
                    string("sandbox-base-x86_64"),
                    string("Sandbox base"),
                    string("Sandbox base channel"),
                    string("channel-x86_64"),
                    string(""),
                ],
            ),
            (
                "channel.software.create",
                vec![
                    string("sandbox-tools-x86_64"),
                    string("Sandbox tools"),
                    string("Sandbox child channel"),
                    string("channel-x86_64"),
                    string("sandbox-base-x86_64"),
                ],
            ),
            (
                "systemgroup.create",
                vec![string("sandbox-web"), string("Web servers")],
            ),
            (
                "activationkey.create",
                vec![
                    string("sandbox"),
                    string("Sandbox key"),
                    string("sandbox-base-x86_64"),
                    strings(Vec::<String>::new()),
                    uyuni_api::Value::Boolean(false),
                ],
            ),
        ];
        let mut created = 0usize;
        for (method, params) in calls {
            match first.call(method, params).await {
                Ok(_) => created += 1,
                // Already there from an earlier sandbox run: fine.
                Err(e) if exists(&e) => {}
                Err(e) => return Err(anyhow::Error::from(e)),
            }
        }
        Ok::<_, anyhow::Error>(created)
    })?;
    let outbox = standins[0].dsn.is_some();
    if outbox && created > 0 {
        // The triggers capture the changes into the lease's change set: wait for every object
        // created above, not just the first (publishing a partial change set left the child
        // channel unpublished on a loaded machine).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let lease: serde_json::Value = leader.get("/zones/dc1/lease")?;
            let n = lease["pending"].as_array().map_or(0, Vec::len);
            if n >= created || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    let report: serde_json::Value =
        leader.post("/zones/dc1/publish", &serde_json::json!({"all": !outbox}))?;
    let _: serde_json::Value = leader.delete("/zones/dc1/lease")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let has_channel = |u: &StandInProc| -> bool {
        let Ok(c) = api(u) else { return false };
        rt.block_on(async {
            c.call("channel.listAllChannels", vec![])
                .await
                .is_ok_and(|v| {
                    uyuni_api::json::to_json(&v)
                        .as_array()
                        .is_some_and(|a| a.iter().any(|ch| ch["label"] == "sandbox-tools-x86_64"))
                })
        })
    };
    let dc1 = &standins[..per_zone.min(standins.len())];
    while !dc1.iter().all(has_channel) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let copied = dc1.iter().filter(|u| has_channel(u)).count();
    let elsewhere = standins[dc1.len()..]
        .iter()
        .filter(|u| has_channel(u))
        .count();
    Ok(format!(
        "{} published {} object(s) (generation {}, captured by {}); channels present on {copied}/{} dc1 nodes and {elsewhere}/{} store1 nodes",
        peers[0].name,
        report["published"].as_array().map_or(0, Vec::len),
        report["generation"],
        if outbox {
            "the database triggers"
        } else {
            "a full publication (no PostgreSQL)"
        },
        dc1.len(),
        standins.len() - dc1.len(),
    ))
}

/// Start the agents, alternating entry points between the zones' first peers.
fn start_agents(
    dir: &Path,
    opts: &AgentOptions,
    ca: &Path,
    peers: &[Peer],
    standins: &[StandInProc],
) -> anyhow::Result<Vec<AgentProc>> {
    let restart = minion_restart_script(dir, peers, standins)?;
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
        match start_agent(dir, &bin, ca, i, entry, restart.as_deref()) {
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

/// The simulated `salt-minion` restart: a shell script that reads the minion's `master:`
/// setting (written by the agent) and presents the minion's key to that node's simulated
/// Uyuni server, as a real minion connecting to its new master would. The node's Node
/// Controller then accepts the key. `None` without simulated servers.
fn minion_restart_script(
    dir: &Path,
    peers: &[Peer],
    standins: &[StandInProc],
) -> anyhow::Result<Option<PathBuf>> {
    if standins.len() != peers.len() {
        return Ok(None);
    }
    let mut cases = String::new();
    for (p, u) in peers.iter().zip(standins) {
        cases.push_str(&format!(
            "  {}) url={} ;;\n",
            simulated_fqdn(&p.name),
            u.base
        ));
    }
    let script = format!(
        r#"#!/bin/sh
# Simulated salt-minion restart (uyuni-cluster sandbox): present the key of minion $2
# (salt config dir $1) to the simulated Uyuni server of its master, as a real minion
# connecting to its new master would.
master=$(cat "$1"/minion.d/*.conf 2>/dev/null | sed -n 's/^master: *//p' | tail -n 1)
url=
case "$master" in
{cases}esac
[ -n "$url" ] || exit 0
python3 -c 'import json, sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], data=json.dumps({{"minion_id": sys.argv[2]}}).encode(), headers={{"Content-Type": "application/json"}}), timeout=10)' "$url/standin/minions" "$2" 2>/dev/null \
  || curl -fsS -X POST -H 'Content-Type: application/json' -d "{{\"minion_id\": \"$2\"}}" "$url/standin/minions" >/dev/null 2>&1
exit 0
"#
    );
    let path = dir.join("agents").join("minion-restart.sh");
    std::fs::create_dir_all(dir.join("agents"))?;
    std::fs::write(&path, script)?;
    Ok(Some(std::fs::canonicalize(&path).unwrap_or(path)))
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
