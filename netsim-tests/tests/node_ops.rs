//! Whole-node operations end to end (issue 16): real peers beside Uyuni stand-ins (with the
//! cluster's triggers in a real PostgreSQL) and a real agent.
//!
//! * Node replacement for a major upgrade: `uyuni-cluster node replace OLD --with NEW` is
//!   requested before NEW starts; NEW joins empty, copies its zone's state, takes over every
//!   system of OLD (nobody else's moves), OLD is retired, the agent repoints its minion to
//!   NEW's master and NEW's Node Controller accepts it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use netsim_tests::harness::{self, Cluster, Options, agent_binary, wait_until};
use netsim_tests::standin::session::{
    Session as Api, peer_section as section, present_minion, standin_with_triggers as standin,
};

const T: Duration = Duration::from_secs(90);

const MINION_PUB: &str = include_str!("../../agent-proto/tests/data/minion.pub");
const MINION_PEM: &str = include_str!("../../agent-proto/tests/data/minion.pem");

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real agent for a simulated minion (`etc/salt` with an id and the fixture key) talking
/// plain HTTP to `peer`; its fingerprint.
fn start_agent(root: &Path, peer: &str, id: &str) -> anyhow::Result<(Agent, String)> {
    let conf = root.join("etc/salt");
    std::fs::create_dir_all(conf.join("pki/minion"))?;
    std::fs::create_dir_all(conf.join("minion.d"))?;
    std::fs::write(conf.join("minion_id"), id)?;
    std::fs::write(conf.join("pki/minion/minion.pub"), MINION_PUB)?;
    std::fs::write(conf.join("pki/minion/minion.pem"), MINION_PEM)?;
    let cfg = root.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "peers = [\"{peer}\"]\ndev_plain_http = true\nknock_interval_ms = 500\n\
             orphan_interval_ms = 500\nmax_backoff_ms = 2000\nstate_file = \"{state}\"\n\
             [salt]\nconfig_dir = \"{conf}\"\nrestart_command = [\"true\"]\nstop_command = [\"true\"]\n",
            state = root.join("state.json").display(),
            conf = conf.display(),
        ),
    )?;
    let log = std::fs::File::create(root.join("agent.log"))?;
    let child = Command::new(agent_binary()?)
        .arg("--config")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let fp = agent_proto::pem_fingerprint(MINION_PUB)
        .ok_or_else(|| anyhow::anyhow!("the fixture key has no fingerprint"))?;
    Ok((Agent(child), fp))
}

/// The `master:` (and `:master_port`) the agent wrote for its minion.
fn master_of(root: &Path) -> Option<String> {
    let dir = root.join("etc/salt/minion.d");
    let (mut master, mut port) = (None, None);
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(text) = std::fs::read_to_string(e.path()) {
            for l in text.lines() {
                if let Some(m) = l.strip_prefix("master:") {
                    master = Some(m.trim().to_string());
                } else if let Some(p) = l.strip_prefix("master_port:") {
                    port = Some(p.trim().to_string());
                }
            }
        }
    }
    Some(match port {
        Some(p) => format!("{}:{p}", master?),
        None => master?,
    })
}

fn node_of(c: &Cluster, i: usize, fp: &str) -> anyhow::Result<Option<String>> {
    Ok(c.system(i, fp)?.and_then(|s| s.node))
}

#[test]
fn a_fresh_node_replaces_an_old_one_and_takes_exactly_its_systems() -> anyhow::Result<()> {
    let pg = netsim_tests::pg::Postgres::start()?;
    let (a1, a2, a3) = (
        standin(&pg, "a1")?,
        standin(&pg, "a2")?,
        standin(&pg, "a3")?,
    );
    let mut c = Cluster::new(&["dc".into()], Options::default())?;
    c.add_peer_with("a1", "dc", &section(&a1))?;
    c.add_peer_with("a2", "dc", &section(&a2))?;
    wait_until(T, "both alive", || {
        let m = c.members(0)?;
        Ok(m.len() == 2 && m.iter().all(|m| m.status == "alive"))
    })?;

    // Twelve systems through the API, and one real agent, spread over a1 and a2.
    let dir = tempfile::tempdir()?;
    let (_agent, agent_fp) = start_agent(
        &dir.path().join("agent"),
        &c.peers[0].http,
        "real.acme.test",
    )?;
    wait_until(T, "the agent to register", || {
        Ok(c.system(0, &agent_fp)?.is_some())
    })?;
    c.act(0, &agent_fp, "accept")?;
    let mut fps = vec![agent_fp.clone()];
    for i in 0..12 {
        let label = format!("ee:{i:02x}");
        c.register(0, &label, &format!("m{i}.acme.test"))?;
        let fp = c.fp(&label);
        c.act(0, &fp, "accept")?;
        fps.push(fp);
    }
    wait_until(T, "every system placed", || {
        for fp in &fps {
            if node_of(&c, 0, fp)?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    // Rebalancing between a1 and a2 settles first: the snapshot below is of a quiet zone.
    let snapshot = |c: &Cluster| -> anyhow::Result<Vec<Option<String>>> {
        fps.iter().map(|fp| node_of(c, 0, fp)).collect()
    };
    let mut last = snapshot(&c)?;
    wait_until(T, "the zone to settle", || {
        std::thread::sleep(Duration::from_secs(2));
        let now = snapshot(&c)?;
        let same = now == last;
        last = now;
        Ok(same)
    })?;
    // The agent's system must be on the node being replaced: replace whichever holds it.
    let old = node_of(&c, 0, &agent_fp)?.unwrap_or_default();
    let (old_i, keep) = if old == "a1" { (0, "a2") } else { (1, "a1") };
    let old_standin = if old == "a1" { &a1 } else { &a2 };
    let before: Vec<(String, String)> = fps
        .iter()
        .map(|fp| Ok((fp.clone(), node_of(&c, 0, fp)?.unwrap_or_default())))
        .collect::<anyhow::Result<_>>()?;
    let kept: Vec<&String> = before
        .iter()
        .filter(|(_, n)| n == keep)
        .map(|(f, _)| f)
        .collect();
    let moving: Vec<&String> = before
        .iter()
        .filter(|(_, n)| *n == old)
        .map(|(f, _)| f)
        .collect();
    assert!(!kept.is_empty() && !moving.is_empty(), "{before:?}");
    let old_fqdn = c
        .load(0)?
        .nodes
        .iter()
        .find(|n| n.name == old)
        .map(|n| n.fqdn.clone())
        .unwrap_or_default();
    wait_until(T, "the agent to point its minion at the old node", || {
        Ok(master_of(&dir.path().join("agent")).as_deref() == Some(old_fqdn.as_str()))
    })?;
    present_minion(old_standin, "real.acme.test")?;
    let on_old = Api::login(old_standin)?;
    wait_until(T, "onboarded on the old node", || {
        on_old.lists("real.acme.test")
    })?;

    // The request comes first (NEW must start empty), then NEW starts.
    let bin = harness::binary()?;
    let peer = c.peers[1 - old_i].http.clone();
    let out = Command::new(&bin)
        .args([
            "node",
            "replace",
            &old,
            "--with",
            "a3",
            "--no-wait",
            "--peer",
            &peer,
            "--json",
        ])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["phase"], "waiting", "{v}");
    // Refused with a clear message: a second fresh node for the same old one, and a self
    // replacement.
    let out = Command::new(&bin)
        .args([
            "node",
            "replace",
            &old,
            "--with",
            "a4",
            "--no-wait",
            "--peer",
            &peer,
        ])
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already being replaced"));
    let new_i = c.add_peer_with("a3", "dc", &section(&a3))?;

    // The waiting command returns once NEW took over.
    let out = Command::new(&bin)
        .args([
            "node",
            "replace",
            &old,
            "--with",
            "a3",
            "--timeout-s",
            "90",
            "--peer",
            &peer,
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("a3 replaced {old}")), "{text}");

    for i in [1 - old_i, new_i] {
        wait_until(T, "every peer to see the takeover", || {
            for fp in &moving {
                if node_of(&c, i, fp)?.as_deref() != Some("a3") {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        for fp in &kept {
            assert_eq!(
                node_of(&c, i, fp)?.as_deref(),
                Some(keep),
                "nobody else moves"
            );
        }
    }
    let load = c.load(new_i)?;
    let o = load
        .nodes
        .iter()
        .find(|n| n.name == old)
        .expect("old listed");
    assert!(
        o.faulty && o.assigned == 0,
        "the old node is retired: {o:?}"
    );
    let n = load
        .nodes
        .iter()
        .find(|n| n.name == "a3")
        .expect("new listed");
    assert_eq!(n.assigned as usize, moving.len());
    let fqdn = n.fqdn.clone();

    // The agent follows: its minion now points at NEW's master, where NEW's Node Controller
    // accepts it; the old node lets it go.
    wait_until(T, "the agent to repoint its minion", || {
        Ok(master_of(&dir.path().join("agent")).as_deref() == Some(fqdn.as_str()))
    })?;
    present_minion(&a3, "real.acme.test")?;
    let on_new = Api::login(&a3)?;
    wait_until(T, "onboarded on the new node", || {
        on_new.lists("real.acme.test")
    })?;
    wait_until(T, "the retired node to drop it", || {
        Ok(!on_old.lists("real.acme.test")?)
    })?;

    // The retired node stays retired even while its peer runs, and stopping it moves nothing.
    c.kill(old_i);
    std::thread::sleep(Duration::from_secs(3));
    let load = c.load(new_i)?;
    assert!(load.nodes.iter().any(|n| n.name == old && n.faulty));
    for fp in &kept {
        assert_eq!(node_of(&c, new_i, fp)?.as_deref(), Some(keep));
    }
    for fp in &moving {
        assert_eq!(node_of(&c, new_i, fp)?.as_deref(), Some("a3"));
    }
    Ok(())
}

/// Backup while the cluster runs, then a peer loses its metastore: restored from the backup
/// it holds every write acknowledged before the backup on its own (the others stopped), and
/// once they are back it catches up on what was written after.
#[test]
fn a_peer_restored_from_a_backup_rejoins_and_catches_up() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[("b1", "z"), ("b2", "z"), ("b3", "z")], Options::default())?;
    wait_until(T, "3 alive", || {
        let m = c.members(2)?;
        Ok(m.len() == 3 && m.iter().all(|m| m.status == "alive"))
    })?;
    let mut before = Vec::new();
    for i in 0..20 {
        let label = format!("bb:{i:02x}");
        c.register(2, &label, &format!("pre{i}.acme.test"))?;
        before.push(c.fp(&label));
    }
    let bin = harness::binary()?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("b3.backup");
    let out = Command::new(&bin)
        .args(["backup", "--out"])
        .arg(&file)
        .args(["--peer", &c.peers[2].http, "--json"])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert!(v["info"]["records"].as_u64() >= Some(20), "{v}");
    // The backup is a change: it is in the audit log.
    let audit: serde_json::Value = c.peers[2].client().get("/audit")?;
    assert!(
        audit.to_string().contains("/cluster/backup"),
        "backup audited: {audit}"
    );
    let mut after = Vec::new();
    for i in 0..10 {
        let label = format!("bc:{i:02x}");
        c.register(0, &label, &format!("post{i}.acme.test"))?;
        after.push(c.fp(&label));
    }

    // b3 loses its metastore; the others go away too, so that what b3 holds after the
    // restore can only come from the backup.
    c.stop(2)?;
    c.stop(0)?;
    c.stop(1)?;
    let store = c.data_dir_of("b3").join("store");
    std::fs::rename(&store, store.with_extension("lost"))?;
    // A restore over an existing store is refused.
    std::fs::create_dir_all(store.join("shards"))?;
    let out = Command::new(&bin)
        .args(["restore", "--from"])
        .arg(&file)
        .arg("--data-dir")
        .arg(c.data_dir_of("b3"))
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds a store"));
    std::fs::remove_dir_all(&store)?;
    let out = Command::new(&bin)
        .args(["restore", "--from"])
        .arg(&file)
        .arg("--data-dir")
        .arg(c.data_dir_of("b3"))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.restart(2)?;
    for fp in &before {
        assert!(
            c.system(2, fp)?.is_some(),
            "acknowledged before the backup: {fp}"
        );
    }
    for fp in &after {
        assert!(c.system(2, fp)?.is_none(), "written after the backup: {fp}");
    }
    c.restart(0)?;
    c.restart(1)?;
    wait_until(T, "the restored peer to catch up", || {
        for fp in &after {
            if c.system(2, fp)?.is_none() {
                return Ok(false);
            }
        }
        c.converged()
    })?;
    Ok(())
}
