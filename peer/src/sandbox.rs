//! `uyuni-cluster sandbox`: a local cluster for newcomers, with embedded defaults.
//!
//! Starts `peers_per_zone` peers in each of two zones (`dc1`, a data centre, and `store1`, a
//! retail store) as child processes of this binary, all on loopback, joins them, registers a
//! few demo systems, prints where to look, and stops everything on Ctrl-C.
//!
//! Like a real cluster, the sandbox serves its HTTP APIs over TLS: it makes a cluster CA in
//! `DIR/tls/` on first start and issues every peer a certificate for `localhost` and
//! `127.0.0.1` (again at each start, which also shows how rotation works).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use peer::client::Client;

const ZONES: [&str; 2] = ["dc1", "store1"];

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
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("peer")
        .args(["--name", name, "--zone", zone])
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
pub(crate) fn run(dir: &Path, peers_per_zone: usize, base_port: u16) -> anyhow::Result<()> {
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
    println!(
        "\nUyuni cluster sandbox: {} peers in zones {}",
        peers.len(),
        ZONES.join(", ")
    );
    for p in &peers {
        println!("  {:<16} {}", p.name, p.http);
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
    println!("  curl --cacert {} {first}/cluster/members", ca.display());
    println!(
        "  (or export {}={} and leave out --ca)",
        crate::cli::ENV_CA,
        ca.display()
    );
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
    stop(&mut peers);
    Ok(())
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
