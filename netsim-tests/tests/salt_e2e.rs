//! End to end with real Salt: two salt-masters stand for two Uyuni nodes, each beside a real
//! `uyuni-cluster` peer; a real salt-minion is driven by the real `uyuni-cluster-agent`.
//! The masters accept a minion's key only when the cluster assigned that fingerprint to
//! their node (what the Node Controller will do through Uyuni's `saltkey.accept`).
//!
//! 1. The agent registers, the system is accepted and placed; the minion answers
//!    `test.ping` on its node's master.
//! 2. Disaster-recovery mode; the node's peer and master are killed: the cluster remaps the
//!    system, the agent repoints and restarts the minion, and it answers on the other master.
//! 3. The node is restored under the same identity: the system returns to it, and the
//!    minion answers there again.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use netsim_tests::harness::{Cluster, Options, agent_binary, wait_until};
use netsim_tests::salt::{SaltMaster, SaltMinion};

const T: Duration = Duration::from_secs(90);

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Accept the pending keys on `master` whose fingerprint the cluster (as peer `peer` sees
/// it) assigned to `node`.
fn accept_assigned(
    c: &Cluster,
    master: &SaltMaster,
    node: &str,
    peer: usize,
) -> anyhow::Result<()> {
    for (id, pem) in master.pending()? {
        let Some(fp) = agent::fingerprint::pem_fingerprint(&pem) else {
            continue;
        };
        if let Some(s) = c.system(peer, &fp)?
            && s.status.as_str() == "onboarded"
            && s.node.as_deref() == Some(node)
        {
            master.accept(&id)?;
        }
    }
    Ok(())
}

const NODES: [&str; 2] = ["node1", "node2"];

#[test]
fn a_real_minion_follows_its_node_through_failure_and_disaster_recovery() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let t0 = std::time::Instant::now();
    let mark = |what: &str| eprintln!("[{:>6.1} s] {what}", t0.elapsed().as_secs_f64());
    let mut masters = [
        SaltMaster::start(&dir.path().join("master1"))?,
        SaltMaster::start(&dir.path().join("master2"))?,
    ];
    let opts = Options {
        emulate_links: false,
        ..Options::default()
    };
    let mut c = Cluster::new(&["z".to_string()], opts)?;
    for (i, node) in NODES.iter().enumerate() {
        c.add_peer_with(node, "z", &format!("fqdn = \"{}\"", masters[i].address()))?;
    }
    for i in 0..2 {
        wait_until(T, "both alive", || {
            let m = c.members(i)?;
            Ok(m.len() == 2 && m.iter().all(|m| m.status == "alive"))
        })?;
    }
    c.set_mode(1, "z", "disaster-recovery")?;
    mark("cluster up");

    let minion = SaltMinion::create(&dir.path().join("minion"), "e2e-minion")?;
    let fp = agent::fingerprint::pem_fingerprint(&minion.public_key()?)
        .ok_or_else(|| anyhow::anyhow!("minion key has no fingerprint"))?;
    let ctl = minion.ctl().display().to_string();
    let agent_cfg = dir.path().join("agent.toml");
    let peers: Vec<String> = c.peers.iter().map(|p| format!("\"{}\"", p.http)).collect();
    std::fs::write(
        &agent_cfg,
        format!(
            r#"peers = [{peers}]
dev_plain_http = true
knock_interval_ms = 500
orphan_interval_ms = 300
max_backoff_ms = 1000
request_timeout_ms = 2000
state_file = "{state}"
[salt]
config_dir = "{conf}"
restart_command = ["{ctl}", "restart"]
stop_command = ["{ctl}", "stop"]
"#,
            peers = peers.join(", "),
            state = dir.path().join("agent-state.json").display(),
            conf = minion.config_dir().display(),
        ),
    )?;
    let log = std::fs::File::create(dir.path().join("agent.log"))?;
    let _agent = Agent(
        Command::new(agent_binary()?)
            .arg("--config")
            .arg(&agent_cfg)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?,
    );
    let dump = |what: &str, e: anyhow::Error| {
        let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        anyhow::anyhow!(
            "{what}: {e}\n--- agent log ---\n{}\n--- minion log ---\n{}",
            read(dir.path().join("agent.log")),
            read(minion.root.join("minion.log"))
        )
    };

    // 1. Registration by the agent, acceptance by the administrator, placement.
    wait_until(T, "the agent registered the minion", || {
        Ok(c.system(0, &fp)?.is_some())
    })
    .map_err(|e| dump("registration", e))?;
    mark("registered");
    c.act(0, &fp, "accept")?;
    wait_until(T, "placed", || {
        Ok(c.system(0, &fp)?
            .is_some_and(|s| s.status.as_str() == "onboarded"))
    })?;
    let node = c.system(0, &fp)?.and_then(|s| s.node).unwrap_or_default();
    let home = NODES
        .iter()
        .position(|n| *n == node)
        .ok_or_else(|| anyhow::anyhow!("placed on unknown node {node:?}"))?;
    let other = 1 - home;
    mark("placed");
    wait_until(T, "test.ping answers on the node's master", || {
        accept_assigned(&c, &masters[home], NODES[home], other)?;
        masters[home].ping(&minion.id)
    })
    .map_err(|e| dump("first ping", e))?;

    mark("first ping");
    // 2. The node dies: peer and master. The agent re-homes the minion.
    c.kill(home);
    masters[home].kill();
    wait_until(T, "remapped to the surviving node", || {
        Ok(c.system(other, &fp)?
            .is_some_and(|s| s.node.as_deref() == Some(NODES[other])))
    })?;
    mark("remapped");
    wait_until(T, "test.ping answers on the surviving master", || {
        accept_assigned(&c, &masters[other], NODES[other], other)?;
        masters[other].ping(&minion.id)
    })
    .map_err(|e| dump("ping after failover", e))?;

    mark("ping after failover");
    // 3. Restored under the same identity: disaster recovery gives the system back, and
    //    the minion answers its old master again (its key is still accepted there).
    masters[home].restart()?;
    c.restart(home)?;
    wait_until(T, "returned to the restored node", || {
        Ok(c.system(other, &fp)?
            .is_some_and(|s| s.node.as_deref() == Some(NODES[home])))
    })?;
    mark("returned");
    wait_until(T, "test.ping answers on the restored master", || {
        accept_assigned(&c, &masters[home], NODES[home], other)?;
        masters[home].ping(&minion.id)
    })
    .map_err(|e| dump("ping after restore", e))?;
    mark("ping after restore");
    Ok(())
}
