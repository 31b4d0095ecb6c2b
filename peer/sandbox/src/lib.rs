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

mod content;
mod demo;
mod demo_keys;
mod procs;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::path::PathBuf;

use anyhow::{Context, bail};
use cluster_core::client::Client;

use demo::*;
use procs::*;

const ZONES: [&str; 2] = ["dc1", "store1"];

/// Peer settings that make the sandbox lively (documented defaults are for production).
const PEER_DEFAULTS: &str = "# uyuni-cluster sandbox: faster than production defaults\n\
[load]\n\
agent_heartbeat_s = 5\n\
failure_timeout_ms = 20000\n\
maintenance_window_ms = 60000\n";

/// Which agents (and simulated Uyuni servers) the sandbox runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// How many.
    pub count: usize,
    /// The binary (default: beside this one).
    pub binary: Option<PathBuf>,
    /// The simulated Uyuni server binary, `uyuni-standin` (default: beside this one).
    pub uyuni_binary: Option<PathBuf>,
}

/// Run the sandbox until Ctrl-C.
pub fn run(
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
        cluster_core::cluster_key::generate(&key)?;
    }
    let tls_dir = dir.join("tls");
    let ca = tls_dir.join(cluster_core::tls::CA_CERT_FILE);
    if !ca.exists() {
        cluster_core::tls::init_ca(&tls_dir, false)?;
    }
    // The operator's client certificate: the admin API answers nothing without one.
    if !tls_dir.join(OPS_CERT).exists() {
        cluster_core::tls::issue_client(&tls_dir, "ops", cluster_core::tls::Role::Operator)?;
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
            let started = cluster_core::tls::issue(&tls_dir, &name, &[])
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
        let started = cluster_core::tls::issue(&tls_dir, GATEWAY_NAME, &[])
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
    let client = admin_client(&first, &ca)?;
    // Let the cluster form before showing it: every peer sees every other one alive.
    let want = peers.len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for p in &peers {
        let c = admin_client(&p.http, &ca)?;
        loop {
            // A peer busy starting may not answer yet: that is "not formed yet", not an error.
            let members: Vec<cluster_core::cluster_api::MemberView> =
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
        // Demo systems 20-25 (the agents use the first ones).
        let reg = demo_keys::registration(19 + i, &format!("minion{i}.sandbox.example"))?;
        let fp = reg.fingerprint.clone();
        let _: serde_json::Value = client.post("/system/register", &serde_json::to_value(&reg)?)?;
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
        crate::content::demo(dir, &servers, &ca)
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
        "\nUyuni cluster sandbox: {servers} peers in zones {}{}",
        ZONES.join(", "),
        if peers.len() > servers {
            ", and the API gateway"
        } else {
            ""
        }
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
        println!("  Cluster UI  {gw}/   (log in as admin/admin; docs/UI.md)");
        println!("  XML-RPC     {gw}/rpc/api");
        println!("  JSON        {gw}/rhn/manager/api/system/listSystems (after POST auth/login)");
        println!("  REST        {gw}/api/v1/systems?q=status:new   Swagger UI {gw}/swagger-ui/");
        println!(
            "  spacecmd    SSL_CERT_FILE={} spacecmd -s {host} -u admin -p admin -- system_list",
            ca.display()
        );
        println!(
            "  (XML-RPC and spacecmd list the systems the Uyuni nodes know, those with a salt minion: the agents'. \
             The demo systems have no minion: onboarded in the metastore, REST and `systems list` show them, no Uyuni server does.)"
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
    let (cert, key) = ops_identity(&ca);
    println!(
        "The admin API asks for a client certificate from that CA: the operator's is {}",
        cert.display()
    );
    println!("\nFirst, in your shell:");
    println!(
        "  export {}={} {}={} {}={}",
        cluster_core::client::ENV_CA,
        ca.display(),
        cluster_core::client::ENV_CERT,
        cert.display(),
        cluster_core::client::ENV_KEY,
        key.display()
    );
    println!("Then try:");
    println!("  {exe} members --peer {first}");
    println!("  {exe} systems list --peer {}", peers[servers - 1].http);
    println!("  {exe} load --peer {first}");
    println!("  {exe} audit --peer {first}");
    println!(
        "  curl --cacert {} --cert {} --key {} {first}/cluster/members",
        ca.display(),
        cert.display(),
        key.display()
    );
    println!(
        "Kill -9 a dc1 peer: `kill -9 $(pgrep -f -- '--name dc1-peer2 ')`. The UI shows it suspect, then down; \
         20 s after it is down its systems move, and the agents follow. To bring it back, stop the sandbox \
         (Ctrl-C) and start it again: the data is kept."
    );
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

/// File name of the sandbox operator's client certificate, in the CA directory.
const OPS_CERT: &str = "ops.pem";

/// The operator's client certificate and key, beside the CA certificate `ca`.
pub(crate) fn ops_identity(ca: &Path) -> (PathBuf, PathBuf) {
    let dir = ca.parent().unwrap_or_else(|| Path::new("."));
    (dir.join(OPS_CERT), dir.join("ops.key"))
}

/// A client of a peer's admin API as the sandbox's operator.
pub(crate) fn admin_client(url: &str, ca: &Path) -> anyhow::Result<Client> {
    let (cert, key) = ops_identity(ca);
    Ok(Client::with_identity(url, Some(ca), &cert, &key)?)
}
