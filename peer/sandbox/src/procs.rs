//! The sandbox's processes: simulated Uyuni servers, peers, agents, and stopping them.

use super::*;

/// A running agent beside its simulated minion.
pub(crate) struct AgentProc {
    pub(crate) fingerprint: String,
    pub(crate) config_dir: PathBuf,
    pub(crate) child: Child,
}

pub(crate) fn simulated_fqdn(peer: &str) -> String {
    format!("uyuni-{peer}.sandbox.test")
}

/// Credentials of the simulated Uyuni servers.
pub(crate) const UYUNI_USER: &str = "admin";
pub(crate) const UYUNI_PASSWORD: &str = "admin";

/// The sandbox's API gateway member.
pub(crate) const GATEWAY_NAME: &str = "gateway1";

/// A simulated Uyuni server (the `uyuni-standin` test server of netsim-tests) beside a peer.
pub(crate) struct StandInProc {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// Its PostgreSQL database (with the cluster's triggers), when it runs on one.
    pub(crate) dsn: Option<String>,
    pub(crate) child: Child,
}

pub(crate) fn standin_binary(given: Option<&Path>) -> Option<PathBuf> {
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
pub(crate) fn start_standin(dir: &Path, bin: &Path, name: &str) -> anyhow::Result<StandInProc> {
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
pub(crate) fn uyuni_section(u: &StandInProc) -> String {
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
pub(crate) fn start_agent(
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
        std::fs::write(&pub_key, crate::demo_keys::public_key(i)?)?;
        std::fs::write(
            conf.join("pki/minion/minion.pem"),
            crate::demo_keys::DEMO_PEM,
        )?;
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

/// `salt-key -F` of a PEM key (see docs/AGENT-PROTOCOL.md), to find the agents' systems:
/// the agent's own function, so the sandbox finds exactly what the agents register.
pub(crate) fn pem_fingerprint(pem: &str) -> String {
    agent::fingerprint::pem_fingerprint(pem).unwrap_or_default()
}

pub(crate) struct Peer {
    pub(crate) name: String,
    pub(crate) http: String,
    /// The API gateway's base URL (the gateway member only).
    pub(crate) gateway: Option<String>,
    pub(crate) child: Child,
}

/// What a sandbox member is.
pub(crate) enum PeerKind<'a> {
    /// A peer beside a (simulated) Uyuni server.
    Server(Option<&'a StandInProc>),
    /// The API gateway, listening on this port.
    Gateway(u16),
}

pub(crate) fn start_peer(
    dir: &Path,
    cert: &cluster_core::tls::IssuedCert,
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
            "{PEER_DEFAULTS}{}{}",
            crate::content::content_section(dir)?,
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

pub(crate) fn stop_standins(standins: &mut [StandInProc]) {
    for u in standins.iter_mut() {
        // SIGTERM: the stand-in stops its PostgreSQL too.
        let _ = Command::new("kill").arg(u.child.id().to_string()).status();
    }
    for u in standins.iter_mut() {
        let _ = u.child.wait();
    }
}

/// Start the agents, alternating entry points between the zones' first peers.
pub(crate) fn start_agents(
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
pub(crate) fn minion_restart_script(
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

/// Whether the agent wrote the minion's master setting.
pub(crate) fn master_written(config_dir: &Path) -> bool {
    std::fs::read_dir(config_dir.join("minion.d"))
        .map(|rd| {
            rd.filter_map(Result::ok).any(|e| {
                std::fs::read_to_string(e.path())
                    .is_ok_and(|t| t.lines().any(|l| l.starts_with("master:")))
            })
        })
        .unwrap_or(false)
}

pub(crate) fn stop(peers: &mut [Peer]) {
    for p in peers.iter_mut() {
        // SIGTERM: a planned leave.
        let _ = Command::new("kill").arg(p.child.id().to_string()).status();
    }
    for p in peers.iter_mut() {
        let _ = p.child.wait();
    }
}
