//! Multi-node scenarios with real `uyuni-cluster` processes. Every wait polls a condition.

use std::time::Duration;

use netsim_tests::harness::{Cluster, Options, wait_until};

const T: Duration = Duration::from_secs(60);

fn all_alive(c: &Cluster, i: usize, n: usize) -> anyhow::Result<bool> {
    let m = c.members(i)?;
    Ok(m.len() == n && m.iter().all(|m| m.status == "alive"))
}

#[test]
fn five_peers_form_a_cluster_and_writes_on_any_reach_all() -> anyhow::Result<()> {
    let c = Cluster::start(
        &[
            ("a1", "za"),
            ("a2", "za"),
            ("a3", "za"),
            ("b1", "zb"),
            ("b2", "zb"),
        ],
        Options::default(),
    )?;
    for i in 0..5 {
        wait_until(T, "every peer sees 5 alive members", || all_alive(&c, i, 5))?;
    }
    // Zones are reported as configured.
    let m = c.members(0)?;
    assert_eq!(m.iter().filter(|m| m.zone == "zb").count(), 2);
    for i in 0..5 {
        let rec = c.register(i, &format!("fp:{i}"), &format!("minion{i}"))?;
        assert_eq!(rec.status.as_str(), "new");
        assert_eq!(rec.zone.as_deref(), Some(c.peers[i].zone.as_str()));
    }
    let fps: Vec<String> = (0..5).map(|i| c.fp(&format!("fp:{i}"))).collect();
    for i in 0..5 {
        wait_until(T, "all five systems on every peer", || {
            Ok(c.systems(i)?
                .iter()
                .filter(|s| fps.contains(&s.fingerprint))
                .count()
                == 5)
        })?;
    }
    wait_until(T, "identical stores", || c.converged())?;
    // accept on one peer, seen on another.
    let _: serde_json::Value = c.peers[4].client().post(
        &format!("/systems/{}/accept", c.fp("fp:1")),
        &serde_json::json!({}),
    )?;
    wait_until(T, "accept replicated", || {
        Ok(c.system(0, "fp:1")?
            .is_some_and(|s| s.status.as_str() == "onboarded"))
    })?;
    assert!(
        c.emu.relayed_connections() > 0,
        "traffic went through the link emulator"
    );
    Ok(())
}

#[test]
fn killed_peer_is_detected_and_catches_up_after_restart() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[("n1", "z"), ("n2", "z"), ("n3", "z")], Options::default())?;
    for i in 0..3 {
        wait_until(T, "3 alive", || all_alive(&c, i, 3))?;
    }
    c.kill(2);
    wait_until(T, "n3 suspected", || {
        Ok(matches!(
            c.member_status(0, "n3")?.as_deref(),
            Some("suspect" | "down")
        ))
    })?;
    wait_until(T, "n3 declared down", || {
        Ok(c.member_status(1, "n3")?.as_deref() == Some("down"))
    })?;
    for k in 0..20 {
        c.register(k % 2, &format!("while-down:{k}"), &format!("m{k}"))?;
    }
    c.restart(2)?;
    wait_until(T, "n3 alive again", || {
        Ok(c.member_status(0, "n3")?.as_deref() == Some("alive"))
    })?;
    wait_until(T, "n3 caught up", || {
        Ok(c.systems(2)?
            .iter()
            .filter(|s| c.is_labelled(&s.fingerprint, "while-down:"))
            .count()
            == 20)
    })?;
    wait_until(T, "identical stores", || c.converged())?;
    Ok(())
}

#[test]
fn planned_leave_is_left_not_down() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[("n1", "z"), ("n2", "z")], Options::default())?;
    wait_until(T, "2 alive", || all_alive(&c, 0, 2))?;
    c.stop(1)?;
    wait_until(T, "n2 left", || {
        Ok(c.member_status(0, "n2")?.as_deref() == Some("left"))
    })?;
    // Well past the suspicion timeout, it is still `left`, never `down`.
    let hb = Duration::from_millis(Options::default().suspicion_ms * 2);
    let t0 = std::time::Instant::now();
    wait_until(T, "two suspicion timeouts elapse", || Ok(t0.elapsed() > hb))?;
    assert_eq!(c.member_status(0, "n2")?.as_deref(), Some("left"));
    Ok(())
}

#[test]
fn acknowledged_writes_survive_kill_9() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[("solo", "z")], Options::default())?;
    let n = 40;
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let c = &c;
                s.spawn(move || -> anyhow::Result<()> {
                    for k in 0..n / 4 {
                        c.register(0, &format!("acked:{t}:{k}"), "m")?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        }
        Ok(())
    })?;
    c.kill(0);
    c.restart(0)?;
    let got = c
        .systems(0)?
        .iter()
        .filter(|s| c.is_labelled(&s.fingerprint, "acked:"))
        .count();
    assert_eq!(got, n, "every acknowledged write is there after kill -9");
    Ok(())
}

#[test]
fn partition_heals_to_identical_state_without_lost_writes() -> anyhow::Result<()> {
    let c = Cluster::start(
        &[
            ("a1", "east"),
            ("a2", "east"),
            ("b1", "west"),
            ("b2", "west"),
        ],
        Options::default(),
    )?;
    for i in 0..4 {
        wait_until(T, "4 alive", || all_alive(&c, i, 4))?;
    }
    c.register(0, "shared", "before-partition")?;
    wait_until(T, "shared everywhere", || c.converged())?;

    c.emu.partition("east", "west");
    // Packets really stop: each side sees the other fail.
    wait_until(T, "east sees west down", || {
        Ok(c.member_status(0, "b1")?.as_deref() == Some("down")
            && c.member_status(1, "b2")?.as_deref() == Some("down"))
    })?;
    wait_until(T, "west sees east down", || {
        Ok(c.member_status(2, "a1")?.as_deref() == Some("down"))
    })?;
    // Both sides keep writing, including to the same record.
    for k in 0..10 {
        c.register(k % 2, &format!("east:{k}"), "e")?;
        c.register(2 + k % 2, &format!("west:{k}"), "w")?;
    }
    let _: serde_json::Value = c.peers[0].client().post(
        &format!("/systems/{}/accept", c.fp("shared")),
        &serde_json::json!({}),
    )?;
    let _: serde_json::Value = c.peers[3].client().post(
        &format!("/systems/{}/ban", c.fp("shared")),
        &serde_json::json!({}),
    )?;
    // Within a side, writes still flow.
    wait_until(T, "east converged inside", || {
        Ok(c.systems(1)?
            .iter()
            .filter(|s| c.is_labelled(&s.fingerprint, "east:"))
            .count()
            == 10)
    })?;
    assert!(
        c.systems(1)?
            .iter()
            .all(|s| !c.is_labelled(&s.fingerprint, "west:")),
        "nothing crossed the partition"
    );

    c.emu.heal("east", "west");
    wait_until(T, "all four alive after heal", || {
        Ok((0..4).all(|i| all_alive(&c, i, 4).unwrap_or(false)))
    })?;
    wait_until(T, "identical state after heal", || c.converged())?;
    for i in 0..4 {
        let sys = c.systems(i)?;
        assert_eq!(
            sys.iter()
                .filter(|s| c.is_labelled(&s.fingerprint, "east:"))
                .count(),
            10
        );
        assert_eq!(
            sys.iter()
                .filter(|s| c.is_labelled(&s.fingerprint, "west:"))
                .count(),
            10
        );
    }
    // The concurrent accept/ban resolved to the same winner everywhere.
    let verdicts: Vec<String> = (0..4)
        .map(|i| {
            Ok(c.system(i, "shared")?
                .map(|s| s.status.as_str().to_string())
                .unwrap_or_default())
        })
        .collect::<anyhow::Result<_>>()?;
    assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "{verdicts:?}");
    Ok(())
}

#[test]
fn peer_without_the_cluster_key_is_refused() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[("n1", "z"), ("n2", "z")], Options::default())?;
    wait_until(T, "2 alive", || all_alive(&c, 0, 2))?;
    c.register(0, "secret", "m")?;
    let other_key = c.dir().join("other.key");
    let out = std::process::Command::new(netsim_tests::harness::binary()?)
        .arg("keygen")
        .arg("--out")
        .arg(&other_key)
        .output()?;
    assert!(out.status.success());
    // The intruder and a legitimate newcomer start together and join the same way.
    let intruder = c.add_peer_with_key("intruder", "z", &other_key)?;
    let newcomer = c.add_peer("newcomer", "z")?;
    wait_until(T, "the newcomer has joined and synced", || {
        Ok(c.system(newcomer, "secret")?.is_some() && all_alive(&c, newcomer, 3)?)
    })?;
    // By then the intruder has tried for as long: it got nothing and nobody lists it.
    assert!(
        c.system(intruder, "secret")?.is_none(),
        "intruder read cluster data"
    );
    assert_eq!(c.members(intruder)?.len(), 1, "intruder sees only itself");
    for i in [0, 1, newcomer] {
        assert!(c.members(i)?.iter().all(|m| m.name != "intruder"));
    }
    assert_eq!(c.status(intruder)?["connected_peers"], 0);
    Ok(())
}

#[test]
fn garbage_on_the_p2p_port_does_not_hurt() -> anyhow::Result<()> {
    use std::io::Write;
    let c = Cluster::start(&[("n1", "z"), ("n2", "z")], Options::default())?;
    wait_until(T, "2 alive", || all_alive(&c, 0, 2))?;
    let st = c.status(0)?;
    let addr = st["p2p"][0].as_str().unwrap_or_default().to_string();
    let port = addr.rsplit('/').next().unwrap_or_default();
    for _ in 0..20 {
        let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}"))?;
        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n\x00\xff garbage garbage");
    }
    c.register(1, "after-garbage", "m")?;
    wait_until(T, "cluster still replicates", || {
        Ok(c.system(0, "after-garbage")?.is_some())
    })?;
    assert!(all_alive(&c, 0, 2)?);
    Ok(())
}

#[test]
fn corrupt_snapshot_is_reported_and_refilled_from_peers() -> anyhow::Result<()> {
    let opts = Options {
        compact_wal_mib: 0,
        ..Options::default()
    };
    let mut c = Cluster::start(&[("n1", "z"), ("n2", "z")], opts)?;
    wait_until(T, "2 alive", || all_alive(&c, 0, 2))?;
    for k in 0..30 {
        c.register(0, &format!("snap:{k}"), "m")?;
    }
    wait_until(T, "replicated", || c.converged())?;
    let shards = c.peers[1].data_dir.join("store").join("shards");
    wait_until(T, "n2 compacted into snapshots", || {
        let wal = c.status(1)?["store"]["wal_bytes"].as_u64().unwrap_or(1);
        Ok(wal == 0 && std::fs::read_dir(&shards)?.count() > 5)
    })?;
    c.kill(1);
    // Corrupt every snapshot of n2 (flip bytes in the middle).
    for e in std::fs::read_dir(&shards)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "snap") {
            let mut b = std::fs::read(&p)?;
            let mid = b.len() / 2;
            b[mid] ^= 0x5a;
            std::fs::write(&p, b)?;
        }
    }
    c.restart(1)?;
    let st = c.status(1)?;
    // Either still damaged or already refilled; the files were quarantined, not trusted.
    let quarantined = std::fs::read_dir(&shards)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".corrupt"))
        .count();
    assert!(quarantined > 0, "corrupt snapshots are moved aside: {st}");
    wait_until(T, "n2 refilled from n1", || {
        let st = c.status(1)?;
        Ok(c.converged()?
            && st["store"]["damaged_shards"]
                .as_array()
                .is_some_and(|a| a.is_empty()))
    })?;
    assert_eq!(
        c.systems(1)?
            .iter()
            .filter(|s| c.is_labelled(&s.fingerprint, "snap:"))
            .count(),
        30
    );
    Ok(())
}

/// The CLI contract: `members` and `systems list|show|accept|ban` with `--json`.
#[test]
fn cli_contract_members_and_systems() -> anyhow::Result<()> {
    let c = Cluster::start(&[("n1", "za"), ("n2", "zb")], Options::default())?;
    wait_until(T, "2 alive", || all_alive(&c, 0, 2))?;
    let bin = netsim_tests::harness::binary()?;
    let run = |args: &[&str]| -> anyhow::Result<serde_json::Value> {
        let out = std::process::Command::new(&bin)
            .args(args)
            .args(["--peer", &c.peers[0].http, "--json"])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let members = run(&["members"])?;
    let arr = members.as_array().expect("array");
    assert_eq!(arr.len(), 2);
    for m in arr {
        for k in ["name", "zone", "status"] {
            assert!(m.get(k).is_some(), "member lacks {k}: {m}");
        }
        assert_eq!(m["status"], "alive");
    }
    let label = "12:ab:ef";
    c.register(1, label, "cli-minion")?;
    let fp = &c.fp(label);
    wait_until(T, "replicated", || Ok(c.system(0, fp)?.is_some()))?;
    let list = run(&["systems", "list", "--status", "new"])?;
    let s = &list.as_array().expect("array")[0];
    for k in ["fingerprint", "minion_id", "status", "node"] {
        assert!(s.get(k).is_some(), "system lacks {k}: {s}");
    }
    assert_eq!(s["fingerprint"], fp.as_str());
    assert_eq!(s["status"], "new");
    // Accepted systems wait as orphans until the zone's Load Driver gives them a node.
    let accepted = run(&["systems", "accept", fp])?;
    assert!(
        matches!(accepted["status"].as_str(), Some("orphan" | "onboarded")),
        "{accepted}"
    );
    wait_until(T, "placed", || {
        Ok(run(&["systems", "show", fp])?["status"] == "onboarded")
    })?;
    assert!(run(&["systems", "show", fp])?["node"].is_string());
    let banned = run(&["systems", "ban", fp])?;
    assert_eq!(
        (banned["status"].as_str(), banned["banned"].as_bool()),
        (Some("deleted"), Some(true))
    );
    // A banned system that registers again stays banned; accept is refused.
    assert_eq!(
        c.register(0, label, "cli-minion")?.status.as_str(),
        "deleted"
    );
    let out = std::process::Command::new(&bin)
        .args(["systems", "accept", fp, "--peer", &c.peers[0].http])
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("banned"));
    // Table output has a header and the row.
    let out = std::process::Command::new(&bin)
        .args(["members", "--peer", &c.peers[0].http])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("NAME") && text.contains("n2"), "{text}");
    // Malformed input to the API is a clear 400, not a crash.
    let err = c.peers[0]
        .client()
        .post::<serde_json::Value>("/system/register", &serde_json::json!({"minion_id": 3}))
        .expect_err("bad body");
    assert!(err.to_string().contains("400"), "{err}");
    Ok(())
}

#[test]
fn wan_latency_and_loss_between_zones_still_converge() -> anyhow::Result<()> {
    let c = Cluster::start(
        &[("hq1", "hq"), ("hq2", "hq"), ("store1", "store")],
        Options::default(),
    )?;
    // 80 ms on every chunk crossing the WAN, and 5% of chunks "lost" (one 200 ms
    // retransmission late): heartbeats arrive late and jittery, but they arrive.
    c.emu.set_latency("hq", "store", Duration::from_millis(80));
    c.emu
        .set_loss("hq", "store", 0.05, Duration::from_millis(200), 1);
    for i in 0..3 {
        wait_until(T, "3 alive", || all_alive(&c, i, 3))?;
    }
    for k in 0..10 {
        c.register(k % 3, &format!("wan:{k}"), "m")?;
    }
    wait_until(T, "converged over the slow link", || {
        Ok(c.converged()?
            && c.systems(2)?
                .iter()
                .filter(|s| c.is_labelled(&s.fingerprint, "wan:"))
                .count()
                == 10)
    })?;
    for i in 0..3 {
        assert!(
            all_alive(&c, i, 3)?,
            "latency alone must not make anyone suspect"
        );
    }
    Ok(())
}

/// Stops the sandbox however the test ends (SIGTERM: it takes its peers and agents down).
struct SigtermOnDrop(std::process::Child);

impl Drop for SigtermOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = std::process::Command::new("kill")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

/// Start `uyuni-cluster sandbox` in `dir` with two agents and the stand-ins, ports bound to 0.
fn start_sandbox(dir: &std::path::Path) -> anyhow::Result<SigtermOnDrop> {
    Ok(std::process::Command::new(netsim_tests::harness::binary()?)
        .args([
            "sandbox",
            "--base-port",
            "0",
            "--agents",
            "2",
            "--agent-bin",
        ])
        .arg(netsim_tests::harness::agent_binary()?)
        .arg("--uyuni-bin")
        .arg(netsim_tests::standin::binary()?)
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(sandbox_stderr(dir))?)
        .spawn()
        .map(SigtermOnDrop)?)
}

/// Where [`start_sandbox`] keeps what the sandbox wrote to stderr (its errors).
fn sandbox_stderr(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("sandbox-stderr.log")
}

/// The sandbox's own account of why it stopped early, for a failing assertion.
fn sandbox_failure(dir: &std::path::Path, what: &str) -> anyhow::Error {
    let said = std::fs::read_to_string(sandbox_stderr(dir)).unwrap_or_default();
    let tail: Vec<&str> = said.lines().rev().take(30).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    anyhow::anyhow!(
        "{what}; the sandbox's stderr ends with:\n{}",
        tail.join("\n")
    )
}

/// The README's first command: the sandbox forms a two-zone cluster with demo systems, says
/// where to look, and takes its peers down with it.
#[test]
fn sandbox_starts_a_two_zone_cluster_and_stops_cleanly() -> anyhow::Result<()> {
    use std::io::BufRead;
    let dir = tempfile::tempdir()?;
    let mut child = start_sandbox(dir.path())?;
    let stdout = child
        .0
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let done = line.starts_with("Ctrl-C stops");
            let _ = tx.send(line);
            if done {
                break;
            }
        }
    });
    let mut urls = Vec::new();
    let mut uyuni_urls = Vec::new();
    let mut agent_rows = Vec::new();
    let mut common = String::new();
    let mut gateway = String::new();
    let mut content = String::new();
    let mut reposync = String::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(180))
            .map_err(|e| sandbox_failure(dir.path(), &format!("no \"Ctrl-C stops\" line ({e})")))?;
        if line.contains("Uyuni API http://")
            && let Some(u) = line.split_whitespace().find(|w| w.starts_with("http://"))
        {
            uyuni_urls.push(u.to_string());
        }
        if line.starts_with("Common data:") {
            common = line.clone();
        }
        if line.starts_with("Content:") {
            content = line.clone();
        }
        if line.trim_start().starts_with("reposync URL")
            && let Some(u) = line.split_whitespace().find(|w| w.starts_with("https://"))
        {
            reposync = u.to_string();
        }
        let peer_row = line.starts_with("  dc1-peer") || line.starts_with("  store1-peer");
        if peer_row && let Some(url) = line.split_whitespace().find(|w| w.starts_with("https://")) {
            urls.push(url.to_string());
        }
        if line.contains("master setting in") {
            agent_rows.push(line.clone());
        }
        if line.trim_start().starts_with("XML-RPC")
            && let Some(u) = line.split_whitespace().find(|w| w.starts_with("https://"))
        {
            gateway = u.to_string();
        }
        if line.starts_with("Ctrl-C stops") {
            break;
        }
    }
    // A simulated Uyuni server beside every peer; dc1's Leader Node published its common data
    // to the rest of dc1 and not to store1.
    assert_eq!(uyuni_urls.len(), 6, "{uyuni_urls:?}");
    assert!(
        common.contains("present on 3/3 dc1 nodes and 0/3 store1 nodes"),
        "{common}"
    );
    // The demo repository reached every dc1 node and no store1 node; a dc1 peer's local
    // repository serves its repodata as reposync reads it (Python over TLS, the sandbox CA).
    assert!(
        content.contains("complete on 3/3 dc1 nodes and 0/3 store1 nodes"),
        "{content}"
    );
    // reposync presents a client certificate (here the sandbox operator's): `/repo` is on
    // the admin door.
    let tls_dir = dir.path().join("tls");
    let script = format!(
        "import ssl, urllib.request as u\n\
         c = ssl.create_default_context(cafile='{}')\n\
         c.load_cert_chain('{}', '{}')\n\
         import sys; sys.stdout.buffer.write(u.urlopen('{reposync}repodata/repomd.xml', context=c).read())\n",
        tls_dir.join("ca.pem").display(),
        tls_dir.join("ops.pem").display(),
        tls_dir.join("ops.key").display(),
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        std::fs::read(dir.path().join("content/demo-tools/repodata/repomd.xml"))?,
        "repomd.xml through {reposync}"
    );
    // Two real agents: the first accepted and placed by the sandbox, the last left new.
    assert_eq!(agent_rows.len(), 2, "{agent_rows:?}");
    assert!(agent_rows[0].contains("onboarded"), "{agent_rows:?}");
    assert!(agent_rows[1].contains(" new "), "{agent_rows:?}");
    assert_eq!(urls.len(), 6, "{urls:?}");
    // The sandbox runs its peers over TLS with a CA of its own.
    assert!(urls.iter().all(|u| u.starts_with("https://")), "{urls:?}");
    let ca = dir.path().join("tls").join("ca.pem");
    let last = cluster_core::client::Client::with_identity(
        &urls[5],
        Some(&ca),
        &tls_dir.join("ops.pem"),
        &tls_dir.join("ops.key"),
    )?;
    let members: Vec<cluster_core::cluster_api::MemberView> = last.get("/cluster/members")?;
    // Six peers beside Uyuni servers and the API gateway, a dc1 member of its own role.
    assert_eq!(members.len(), 7);
    assert!(members.iter().all(|m| m.status == "alive"));
    assert_eq!(members.iter().filter(|m| m.zone == "store1").count(), 3);
    assert_eq!(
        members
            .iter()
            .filter(|m| m.role == "gateway" && m.zone == "dc1")
            .count(),
        1
    );
    wait_until(T, "demo and agent systems everywhere", || {
        let systems: Vec<crdt_store::SystemRecord> = last.get("/systems")?;
        Ok(systems.len() == 6 + 2)
    })?;
    // The accepted agent pointed its (simulated) minion at its node.
    let minion_d = dir.path().join("agents/minion1/etc/salt/minion.d");
    let written: String = std::fs::read_dir(&minion_d)?
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert!(
        written.contains("master: uyuni-") && written.contains(".sandbox.test"),
        "{written}"
    );
    // Its (simulated) minion presented its key to that node's Uyuni server, whose Node
    // Controller accepted it: the system is onboarded there.
    let fp1 = agent_rows[0]
        .split_whitespace()
        .next()
        .map(|f| f.trim_end_matches('…').to_string())
        .unwrap_or_default();
    let systems: Vec<crdt_store::SystemRecord> = last.get("/systems")?;
    let node = systems
        .iter()
        .find(|s| s.fingerprint.starts_with(&fp1))
        .and_then(|s| s.node.clone())
        .ok_or_else(|| anyhow::anyhow!("agent 1 has no node"))?;
    let i = urls_index_of(&node);
    let url = uyuni_urls[i].clone();
    wait_until(
        T,
        "the agent's system onboarded on its node's Uyuni server",
        || {
            let key = match netsim_tests::standin::xmlrpc_call(
                &url,
                "auth.login",
                &[
                    uyuni_api::value::string("admin"),
                    uyuni_api::value::string("admin"),
                ],
            )? {
                Ok(uyuni_api::Value::String(k)) => k,
                other => anyhow::bail!("login: {other:?}"),
            };
            let listed = netsim_tests::standin::xmlrpc_call(
                &url,
                "system.listSystems",
                &[uyuni_api::value::string(key)],
            )?;
            Ok(listed.is_ok_and(|v| {
                uyuni_api::json::to_json(&v)
                    .as_array()
                    .is_some_and(|a| a.iter().any(|s| s["name"] == "minion1.sandbox.test"))
            }))
        },
    )?;
    // The API gateway answers Uyuni's API for the cluster over TLS with the sandbox CA: the
    // onboarded agent's system is listed (spacecmd's login and system_list).
    let script = format!(
        "import ssl, xmlrpc.client as x\n\
         s = x.ServerProxy('{gateway}', context=ssl.create_default_context(cafile='{}'))\n\
         k = s.auth.login('admin', 'admin')\n\
         print(' '.join(sorted(v['name'] for v in s.system.listSystems(k))))\n",
        ca.display()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()?;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listed.contains("minion1.sandbox.test"),
        "gateway {gateway}: {listed} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::process::Command::new("kill")
        .arg(child.0.id().to_string())
        .status()?;
    child.0.wait()?;
    // Its peers are gone too.
    for u in &urls {
        assert!(
            cluster_core::client::Client::with_ca(u, &ca)?
                .get::<serde_json::Value>("/health")
                .is_err(),
            "{u} still up"
        );
    }
    // Started again on the same data (every peer on new ports, its stored addresses stale),
    // the cluster forms again.
    let mut again = start_sandbox(dir.path())?;
    let stdout = again
        .0
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("stdout"))?;
    let mut formed = false;
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        if line.starts_with("Ctrl-C stops") {
            formed = true;
            break;
        }
    }
    if !formed {
        return Err(sandbox_failure(
            dir.path(),
            "the restarted sandbox did not form",
        ));
    }
    drop(again);
    Ok(())
}

/// Index of a sandbox peer in its printed order (dc1-peer1..3, store1-peer1..3).
fn urls_index_of(node: &str) -> usize {
    let (zone, n) = node.split_once("-peer").unwrap_or((node, "1"));
    let n: usize = n.parse().unwrap_or(1);
    if zone == "dc1" { n - 1 } else { 3 + n - 1 }
}

/// Runs the CLI against the first peer with the operator's certificate (and `--ca` if given).
type CliFn<'a> =
    dyn Fn(&[&str], Option<&std::path::Path>) -> anyhow::Result<std::process::Output> + 'a;

/// The admin door of a TLS peer: every admin route answers 401 without a client
/// certificate, 403 to a read-only one for changes, and works with the operator's; the
/// agents' door (and `/health`) answer anyone; the CLI works with `--cert/--key` (here
/// through the environment) and its change shows in the audit log.
fn two_doors(
    c: &Cluster,
    bin: &std::path::Path,
    ca: &std::path::Path,
    cli: &CliFn<'_>,
) -> anyhow::Result<()> {
    use std::process::Command;
    // The system registered as "tls:1" (the harness signs it as an identity of its own).
    let fp = c.fp("tls:1");
    let sys = |p: &str| p.replace("tls:1", &fp);
    let admin: &[(&str, &str)] = &[
        ("GET", "/cluster/status"),
        ("GET", "/cluster/members"),
        ("GET", "/cluster/load"),
        ("GET", "/systems"),
        ("GET", "/systems/tls:1"),
        ("GET", "/search?q=*"),
        ("GET", "/node-controller"),
        ("GET", "/zones/z/lease"),
        ("GET", "/zones/z/common"),
        ("GET", "/content/status"),
        ("GET", "/content/repos"),
        ("GET", "/content/jobs/1"),
        ("GET", "/repo/z/r/repodata/repomd.xml"),
        ("GET", "/clm"),
        ("GET", "/audit"),
        ("GET", "/cluster/integrity"),
        ("GET", "/nodes/n1/replace"),
        ("POST", "/zones/z/mode"),
        ("POST", "/nodes/n1/replace"),
        ("POST", "/nodes/n1/replace/cancel"),
        ("POST", "/nodes/n1/reprovision"),
        ("POST", "/cluster/backup"),
        ("POST", "/systems/tls:1/accept"),
        ("POST", "/systems/tls:1/reject"),
        ("POST", "/systems/tls:1/unregister"),
        ("POST", "/systems/tls:1/ban"),
        ("POST", "/systems/tls:1/tags"),
        ("POST", "/search/bulk"),
        ("POST", "/zones/z/lease"),
        ("DELETE", "/zones/z/lease?force=true"),
        ("POST", "/zones/z/publish"),
        ("POST", "/content/import"),
        ("DELETE", "/content/repos/z/r"),
        ("POST", "/content/subscriptions"),
        ("POST", "/content/verify"),
        ("POST", "/content/gc"),
        ("POST", "/clm/p/save"),
        ("POST", "/clm/p/apply"),
    ];
    let anon = c.peers[0].anonymous_client();
    for (m, path) in admin {
        let path = &sys(path);
        let r = anon.request_raw(m, path, Some(&serde_json::json!({})))?;
        anyhow::ensure!(
            r.status == 401,
            "{m} {path} without a certificate: {}",
            r.status
        );
        anyhow::ensure!(
            r.body.contains("client certificate"),
            "{m} {path}: {}",
            r.body
        );
    }
    // The agents' door and the health probe answer anyone.
    let r = anon.request_raw("GET", "/health", None)?;
    anyhow::ensure!(r.status == 200, "/health: {}", r.status);
    // The agents' door answers in its own protocol: a status query without the agent's
    // token is its 401, not the admin door's.
    let r = anon.request_raw("GET", "/system/status?fp=nobody:here", None)?;
    anyhow::ensure!(
        r.header("x-uyuni-agent-protocol").is_some() && !r.body.contains("client certificate"),
        "agent door: {} {}",
        r.status,
        r.body
    );
    // The operator is let through every door (whatever the handler then answers).
    let ops = c.peers[0].client();
    for (m, path) in admin.iter().filter(|(m, _)| *m == "GET") {
        let path = &sys(path);
        let r = ops.request_raw(m, path, None)?;
        anyhow::ensure!(
            r.status != 401 && r.status != 403,
            "{m} {path} as ops: {}",
            r.status
        );
    }
    // A read-only certificate reads, and may not change anything.
    let ca_dir = ca.parent().ok_or_else(|| anyhow::anyhow!("ca dir"))?;
    let made = Command::new(bin)
        .args([
            "ca",
            "issue",
            "--client",
            "--read-only",
            "--name",
            "auditor",
            "--dir",
        ])
        .arg(ca_dir)
        .output()?;
    anyhow::ensure!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let reader = cluster_core::client::Client::with_identity(
        &c.peers[0].http,
        Some(ca),
        &ca_dir.join("auditor.pem"),
        &ca_dir.join("auditor.key"),
    )?;
    anyhow::ensure!(reader.request_raw("GET", "/systems", None)?.status == 200);
    let r = reader.request_raw("POST", &sys("/systems/tls:1/ban"), None)?;
    anyhow::ensure!(r.status == 403, "reader bans: {} {}", r.status, r.body);
    // The CLI without a certificate is refused and says why; with one it acts, audited.
    let out = Command::new(bin)
        .args(["systems", "list", "--peer", &c.peers[0].http, "--ca"])
        .arg(ca)
        .env_remove("UYUNI_CLUSTER_CERT")
        .env_remove("UYUNI_CLUSTER_KEY")
        .output()?;
    anyhow::ensure!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        err.contains("401") && err.contains("client certificate"),
        "{err}"
    );
    let out = cli(&["systems", "accept", &fp], Some(ca))?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["audit"], Some(ca))?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audit: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let entries = audit.as_array().cloned().unwrap_or_default();
    anyhow::ensure!(
        entries.iter().any(|e| e["who"] == "cert:ops"
            && e["action"] == sys("POST /systems/tls:1/accept")
            && e["status"] == 200),
        "{audit}"
    );
    anyhow::ensure!(
        !entries.iter().any(|e| e["who"] == "cert:auditor"),
        "refused changes are not actions: {audit}"
    );
    Ok(())
}

/// TLS with the cluster CA: a TLS cluster converges over https; the CLI trusting the CA
/// (`--ca` or `UYUNI_CLUSTER_CA`) is served; plain HTTP, no CA and another cluster's CA are
/// refused; garbage and a handshake that never comes do not stop the port serving.
#[test]
fn tls_cluster_serves_clients_of_its_ca_only_and_shrugs_off_garbage() -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::process::{Command, Output};

    let opts = Options {
        tls: true,
        ..Options::default()
    };
    let c = Cluster::start(&[("t1", "z"), ("t2", "z")], opts)?;
    assert!(c.peers.iter().all(|p| p.http.starts_with("https://")));
    for i in 0..2 {
        wait_until(T, "2 alive, asked over https", || all_alive(&c, i, 2))?;
    }
    let ca = c.ca.clone().ok_or_else(|| anyhow::anyhow!("no CA"))?;
    c.register(1, "tls:1", "tls-minion")?;
    wait_until(T, "replicated", || Ok(c.system(0, "tls:1")?.is_some()))?;
    wait_until(T, "identical stores", || c.converged())?;

    let bin = netsim_tests::harness::binary()?;
    let (cert, key) = c
        .identity
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no client certificate"))?;
    let cli = |args: &[&str], ca: Option<&std::path::Path>| -> anyhow::Result<Output> {
        let mut cmd = Command::new(&bin);
        cmd.args(args)
            .args(["--peer", &c.peers[0].http, "--json"])
            .env_remove("UYUNI_CLUSTER_CA")
            .env("UYUNI_CLUSTER_CERT", &cert)
            .env("UYUNI_CLUSTER_KEY", &key);
        if let Some(ca) = ca {
            cmd.arg("--ca").arg(ca);
        }
        Ok(cmd.output()?)
    };
    two_doors(&c, &bin, &ca, &cli)?;
    let out = cli(&["systems", "list"], Some(&ca))?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert!(
        list.as_array()
            .is_some_and(|a| a.iter().any(|s| s["fingerprint"] == c.fp("tls:1").as_str())),
        "{list}"
    );
    let out = Command::new(&bin)
        .args(["members", "--json", "--peer", &c.peers[1].http])
        .env("UYUNI_CLUSTER_CA", &ca)
        .env("UYUNI_CLUSTER_CERT", &cert)
        .env("UYUNI_CLUSTER_KEY", &key)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let members: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(members.as_array().map(Vec::len), Some(2), "{members}");

    // No CA, or another cluster's CA: refused, and the error says it is about TLS.
    let out = cli(&["members"], None)?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"));
    let other = c.dir().join("other-ca");
    let made = Command::new(&bin)
        .args(["ca", "init", "--dir"])
        .arg(&other)
        .output()?;
    assert!(made.status.success());
    let other_ca = other.join("ca.pem");
    let out = cli(&["members"], Some(&other_ca))?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"));
    let refused = cluster_core::client::Client::with_ca(&c.peers[0].http, &other_ca)?
        .get::<serde_json::Value>("/health");
    assert!(
        matches!(refused, Err(cluster_core::client::ClientError::Tls { .. })),
        "{refused:?}"
    );
    // Plain HTTP to the TLS port gets nothing.
    let plain = c.peers[0].http.replacen("https://", "http://", 1);
    assert!(
        cluster_core::client::Client::new(&plain)
            .get::<serde_json::Value>("/health")
            .is_err()
    );

    // A client that connects and never says anything, and a burst of garbage.
    let addr = c.peers[0].http.trim_start_matches("https://").to_string();
    let mut stalled = std::net::TcpStream::connect(&addr)?;
    for k in 0..20u8 {
        let mut s = std::net::TcpStream::connect(&addr)?;
        let _ = s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, k, 0xff]);
        let _ = s.write_all(b"garbage garbage\r\n\r\n");
    }
    // The port keeps serving, and the cluster keeps replicating through it.
    assert_eq!(c.status(0)?["name"], "t1");
    c.register(0, "tls:after-garbage", "m")?;
    wait_until(T, "still replicating", || {
        Ok(c.system(1, "tls:after-garbage")?.is_some())
    })?;
    // The silent client was cut at the handshake timeout (1 s in the harness).
    stalled.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = [0u8; 64];
    match stalled.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("a silent client should be disconnected, got {other:?}"),
    }
    Ok(())
}
