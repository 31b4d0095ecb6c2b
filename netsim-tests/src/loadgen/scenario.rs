//! The fleet against a cluster that loses a node: onboarding, heartbeats, a peer killed,
//! every orphan re-homed, and a count of what went wrong.
//!
//! Definitions used by the [`Report`]:
//!
//! - **lost**: an agent that does not end onboarded on an alive node, or whose system is not
//!   onboarded on an alive node in some surviving peer's replica;
//! - **duplicated**: a fingerprint for which the surviving replicas and the agent name more
//!   than one node (two peers disagree, or the agent believes another node than the cluster);
//! - **moved without failure**: an agent sent to another node after the kill although the node
//!   it was on did not fail (and the same count from the replicas' records). The Load Driver
//!   remaps only the failed node's systems, so this is 0 when nothing is reshuffled.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crdt_store::{SystemRecord, SystemStatus};

use super::{AgentStatus, AgentView, CountersSnapshot, Fleet, FleetConfig, HttpPool};
use crate::harness::{Cluster, wait_until};

/// Settings of [`run_kill`].
#[derive(Debug, Clone)]
pub struct KillScenario {
    /// The fleet.
    pub fleet: FleetConfig,
    /// Index of the peer to kill. Default: the last one (not the zone's leader when names
    /// sort in start order).
    pub victim: Option<usize>,
    /// Heartbeats every agent sends once onboarded, before the kill. Default 2.
    pub heartbeats_before_kill: u64,
    /// Longest wait for each phase. Default 120 s.
    pub timeout: Duration,
}

impl Default for KillScenario {
    fn default() -> Self {
        Self {
            fleet: FleetConfig::default(),
            victim: None,
            heartbeats_before_kill: 2,
            timeout: Duration::from_secs(120),
        }
    }
}

/// What [`run_kill`] measured. Times of the kill phase count from the `SIGKILL`.
#[derive(Debug, Clone)]
pub struct Report {
    /// Agents.
    pub agents: usize,
    /// Peers at the start.
    pub peers: usize,
    /// Fleet start to every agent onboarded and every replica agreeing.
    pub onboarding: Duration,
    /// Fleet start to every agent registered, accepted, and onboarded in its own view.
    pub onboarding_steps: [Option<Duration>; 3],
    /// Status answers per second during the heartbeat phase.
    pub heartbeat_rps: f64,
    /// Length of the heartbeat phase.
    pub heartbeat_phase: Duration,
    /// The killed node.
    pub victim: String,
    /// Systems it held at the kill.
    pub victim_systems: usize,
    /// Until a surviving peer showed the node faulty.
    pub declared_after: Option<Duration>,
    /// Until every surviving replica had no system on the node and no orphan.
    pub rehomed_in_replicas_after: Option<Duration>,
    /// Until every agent was onboarded on an alive node.
    pub rehomed_agents_after: Option<Duration>,
    /// Until agents and replicas agreed (the checks below passed), if they did.
    pub agreed_after: Option<Duration>,
    /// See the module documentation.
    pub lost: usize,
    /// See the module documentation.
    pub duplicated: usize,
    /// Agents moved after the kill although their node did not fail.
    pub moved_without_failure: usize,
    /// Records whose node changed after the kill although it did not fail (first survivor).
    pub reshuffled_records: usize,
    /// Agents that went through the orphan path (`r`) after the kill.
    pub agents_orphaned: usize,
    /// Fleet counters at the end.
    pub counters: CountersSnapshot,
    /// The last unexpected answer the fleet got, if any.
    pub last_unexpected: Option<String>,
    /// Latency of the fleet's answered requests over the whole run, p50.
    pub latency_p50: Duration,
    /// ... p99.
    pub latency_p99: Duration,
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        writeln!(
            f,
            "agents                    {} on {} peers",
            self.agents, self.peers
        )?;
        writeln!(
            f,
            "onboarding                {:.1} s (register + accept + placement, {:.0} agents/s)",
            self.onboarding.as_secs_f64(),
            self.agents as f64 / self.onboarding.as_secs_f64().max(1e-9)
        )?;
        let [r, a, o] = self.onboarding_steps;
        writeln!(
            f,
            "                          all registered {}, accepted {}, agents onboarded {}",
            secs(r),
            secs(a),
            secs(o)
        )?;
        writeln!(
            f,
            "heartbeats                {:.0} status/s over {:.1} s",
            self.heartbeat_rps,
            self.heartbeat_phase.as_secs_f64()
        )?;
        writeln!(
            f,
            "killed                    {} holding {} systems",
            self.victim, self.victim_systems
        )?;
        writeln!(
            f,
            "after the kill            declared faulty {}, replicas re-homed {}, agents re-homed {}, agreed {}",
            secs(self.declared_after),
            secs(self.rehomed_in_replicas_after),
            secs(self.rehomed_agents_after),
            secs(self.agreed_after)
        )?;
        writeln!(
            f,
            "lost                      {}\nduplicated                {}",
            self.lost, self.duplicated
        )?;
        writeln!(
            f,
            "moved without failure     {} agents, {} records (orphan path taken by {})",
            self.moved_without_failure, self.reshuffled_records, self.agents_orphaned
        )?;
        writeln!(
            f,
            "requests                  {} answered, {} failed; status {}, registered {}, accepted {}, orphan asks {} ({} not yet)",
            c.answered, c.failed, c.status, c.registered, c.accepted, c.orphan_asks, c.orphan_waits
        )?;
        write!(
            f,
            "failovers                 {} ({} back-offs), unexpected answers {}; latency p50 {:.1} ms, p99 {:.1} ms",
            c.failovers,
            c.backoffs,
            c.bad_answers,
            self.latency_p50.as_secs_f64() * 1e3,
            self.latency_p99.as_secs_f64() * 1e3
        )?;
        if let Some(u) = &self.last_unexpected {
            write!(f, "\nlast unexpected answer    {u}")?;
        }
        Ok(())
    }
}

/// A replica's systems: fingerprint → node if onboarded (`None` otherwise).
type Records = HashMap<String, Option<String>>;

/// Peer `i`'s systems, read with the fleet's HTTP client (no body limit: a replica of
/// tens of thousands of systems is tens of MiB of JSON).
fn records(c: &Cluster, rt: &tokio::runtime::Handle, i: usize) -> anyhow::Result<Records> {
    let addr = c.peers[i].http.trim_start_matches("http://").to_string();
    let list: Vec<SystemRecord> = rt.block_on(async {
        let pool = HttpPool::new(1, Duration::from_secs(120));
        let r = pool.get(&addr, "/systems?limit=100000000").await?;
        anyhow::ensure!(r.status == 200, "GET /systems on {addr}: {}", r.status);
        Ok(serde_json::from_slice(&r.body)?)
    })?;
    Ok(list
        .into_iter()
        .map(|s| {
            let node = (s.status == SystemStatus::Onboarded && !s.banned)
                .then_some(s.node)
                .flatten();
            (s.fingerprint, node)
        })
        .collect())
}

fn running(c: &Cluster) -> Vec<usize> {
    (0..c.peers.len())
        .filter(|&i| c.peers[i].is_running())
        .collect()
}

/// Node FQDN (as agents are told) → node name, from peer `i`'s load view.
fn fqdn_names(c: &Cluster, i: usize) -> anyhow::Result<HashMap<String, String>> {
    Ok(c.load(i)?
        .nodes
        .into_iter()
        .map(|n| (n.fqdn, n.name))
        .collect())
}

/// Every running peer sees every other running peer alive.
fn all_alive(c: &Cluster) -> anyhow::Result<bool> {
    let up = running(c);
    for &i in &up {
        let m = c.members(i)?;
        let alive = m.iter().filter(|m| m.status == "alive").count();
        if alive < up.len() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Every running replica holds `n` systems onboarded on alive nodes, none new, no orphan,
/// none on `dead`.
fn replicas_settled(c: &Cluster, n: u64, dead: Option<&str>) -> anyhow::Result<bool> {
    for i in running(c) {
        let l = c.load(i)?;
        let on_alive: u64 = l
            .nodes
            .iter()
            .filter(|x| Some(x.name.as_str()) != dead)
            .map(|x| x.assigned)
            .sum();
        let on_dead: u64 = l
            .nodes
            .iter()
            .filter(|x| Some(x.name.as_str()) == dead)
            .map(|x| x.assigned)
            .sum();
        let orphans: usize = l.zones.iter().map(|z| z.orphans).sum();
        if on_alive != n || on_dead != 0 || orphans != 0 || l.new != 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Lost and duplicated, by the definitions of the module documentation.
fn audit(
    fps: &[&str],
    views: &[AgentView],
    replicas: &[Records],
    names: &HashMap<String, String>,
    alive: &BTreeSet<String>,
) -> (usize, usize) {
    let (mut lost, mut duplicated) = (0, 0);
    for (&fp, v) in fps.iter().zip(views) {
        let agent_node = match (&v.status, &v.node) {
            (Some(AgentStatus::Onboarded), Some(n)) => {
                Some(names.get(&**n).cloned().unwrap_or_else(|| n.to_string()))
            }
            _ => None,
        };
        let mut is_lost = !agent_node.as_ref().is_some_and(|n| alive.contains(n));
        let mut seen: BTreeSet<&str> = agent_node.iter().map(String::as_str).collect();
        for r in replicas {
            match r.get(fp).and_then(Option::as_deref) {
                Some(n) => {
                    is_lost |= !alive.contains(n);
                    seen.insert(n);
                }
                None => is_lost = true,
            }
        }
        lost += usize::from(is_lost);
        duplicated += usize::from(seen.len() > 1);
    }
    (lost, duplicated)
}

/// Run the scenario on a started cluster (one zone, at least two peers), driving the fleet
/// on `rt`. Fails only when a phase times out before the kill; after the kill the figures
/// are reported whatever they are, for the caller to judge.
pub fn run_kill(
    c: &mut Cluster,
    rt: &tokio::runtime::Handle,
    s: &KillScenario,
) -> anyhow::Result<Report> {
    let t = s.timeout;
    let peers = c.peers.len();
    anyhow::ensure!(peers >= 2, "the kill scenario needs two peers or more");
    wait_until(t, "every peer sees the others alive", || all_alive(c))?;
    let entries: Vec<String> = c
        .peers
        .iter()
        .map(|p| p.http.trim_start_matches("http://").to_string())
        .collect();
    let n = s.fleet.agents;

    // Onboarding.
    let t0 = Instant::now();
    let fleet = Fleet::start(rt, s.fleet.clone(), &entries)?;
    let onboarded = |v: &AgentView| v.status == Some(AgentStatus::Onboarded);
    let (mut registered, mut accepted) = (None, None);
    wait_until(t, "every agent onboarded", || {
        let k = fleet.counters();
        if registered.is_none() && k.registered >= n as u64 {
            registered = Some(t0.elapsed());
        }
        if accepted.is_none() && k.accepted >= n as u64 {
            accepted = Some(t0.elapsed());
        }
        Ok(fleet.count(onboarded) == n)
    })?;
    let agents_onboarded = t0.elapsed();
    wait_until(t, "every replica holds every system onboarded", || {
        replicas_settled(c, n as u64, None)
    })?;
    let onboarding = t0.elapsed();

    // Heartbeats.
    let base: Vec<u64> = fleet.views().iter().map(|v| v.heartbeats).collect();
    let (c0, t1) = (fleet.counters(), Instant::now());
    wait_until(t, "heartbeats before the kill", || {
        let views = fleet.views();
        Ok(views
            .iter()
            .zip(&base)
            .all(|(v, b)| v.heartbeats >= b + s.heartbeats_before_kill))
    })?;
    let heartbeat_phase = t1.elapsed();
    let heartbeat_rps =
        (fleet.counters().status - c0.status) as f64 / heartbeat_phase.as_secs_f64().max(1e-9);

    // The kill.
    let victim = s.victim.unwrap_or(peers - 1);
    let victim_name = c.peers[victim].name.clone();
    let survivor = running(c)
        .into_iter()
        .find(|&i| i != victim)
        .ok_or_else(|| anyhow::anyhow!("no survivor"))?;
    let names = fqdn_names(c, survivor)?;
    // A rebalancing move made during onboarding reaches an agent at its next knock: the
    // baseline is taken once every agent knows the node every replica names (else that late
    // knock would count as a move without failure).
    let fps: Vec<&str> = (0..fleet.len()).map(|i| fleet.fingerprint(i)).collect();
    let everyone: BTreeSet<String> = c.peers.iter().map(|p| p.name.clone()).collect();
    wait_until(t, "agents and replicas agree before the kill", || {
        let replicas: Vec<Records> = running(c)
            .into_iter()
            .map(|i| records(c, rt, i))
            .collect::<anyhow::Result<_>>()?;
        Ok(audit(&fps, &fleet.views(), &replicas, &names, &everyone) == (0, 0))
    })?;
    let victim_fqdn: Arc<str> = names
        .iter()
        .find(|(_, name)| **name == victim_name)
        .map_or(Arc::from(victim_name.as_str()), |(f, _)| {
            Arc::from(f.as_str())
        });
    let before = records(c, rt, survivor)?;
    let victim_systems = before
        .values()
        .filter(|n| n.as_deref() == Some(victim_name.as_str()))
        .count();
    let views = fleet.views();
    let at_kill: Vec<usize> = views.iter().map(|v| v.nodes.len()).collect();
    let orphaned_at_kill: Vec<u64> = views.iter().map(|v| v.orphaned).collect();
    let t_kill = Instant::now();
    c.kill(victim);

    let (mut declared, mut in_replicas, mut in_agents) = (None, None, None);
    let rehomed = wait_until(t, "every system re-homed", || {
        if declared.is_none() {
            for i in running(c) {
                let l = c.load(i)?;
                if l.nodes.iter().any(|x| x.name == victim_name && x.faulty) {
                    declared = Some(t_kill.elapsed());
                }
            }
        }
        if in_replicas.is_none() && replicas_settled(c, n as u64, Some(&victim_name))? {
            in_replicas = Some(t_kill.elapsed());
        }
        if in_agents.is_none()
            && fleet.count(|v| onboarded(v) && v.node.as_ref() != Some(&victim_fqdn)) == n
        {
            in_agents = Some(t_kill.elapsed());
        }
        Ok(in_replicas.is_some() && in_agents.is_some())
    });
    if let Err(e) = rehomed {
        eprintln!("{e:#}");
    }

    // Agreement: agents and every surviving replica.
    let alive: BTreeSet<String> = running(c)
        .iter()
        .map(|&i| c.peers[i].name.clone())
        .collect();
    let mut figures = (usize::MAX, usize::MAX);
    let agreed = wait_until(t, "agents and replicas agree", || {
        let replicas: Vec<Records> = running(c)
            .into_iter()
            .map(|i| records(c, rt, i))
            .collect::<anyhow::Result<_>>()?;
        figures = audit(&fps, &fleet.views(), &replicas, &names, &alive);
        Ok(figures == (0, 0))
    });
    let agreed_after = agreed.is_ok().then(|| t_kill.elapsed());
    let (lost, duplicated) = figures;

    let views = fleet.views();
    let mut moved_without_failure = 0;
    for (v, &k) in views.iter().zip(&at_kill) {
        let moves = &v.nodes[k.saturating_sub(1).min(v.nodes.len())..];
        if moves
            .windows(2)
            .any(|w| w[0] != victim_fqdn && w[0] != w[1])
        {
            moved_without_failure += 1;
        }
    }
    let after = records(c, rt, survivor)?;
    let reshuffled_records = before
        .iter()
        .filter(|(fp, node)| {
            node.as_deref().is_some_and(|n| alive.contains(n))
                && after.get(*fp).is_some_and(|a| a != *node)
        })
        .count();
    let agents_orphaned = views
        .iter()
        .zip(&orphaned_at_kill)
        .filter(|(v, k)| v.orphaned > **k)
        .count();
    let counters = fleet.counters();
    let report = Report {
        agents: n,
        peers,
        onboarding,
        onboarding_steps: [registered, accepted, Some(agents_onboarded)],
        heartbeat_rps,
        heartbeat_phase,
        victim: victim_name,
        victim_systems,
        declared_after: declared,
        rehomed_in_replicas_after: in_replicas,
        rehomed_agents_after: in_agents,
        agreed_after,
        lost,
        duplicated,
        moved_without_failure,
        reshuffled_records,
        agents_orphaned,
        last_unexpected: fleet.last_unexpected(),
        latency_p50: fleet.latency().percentile(50.0),
        latency_p99: fleet.latency().percentile(99.0),
        counters,
    };
    rt.block_on(fleet.shutdown())?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(status: AgentStatus, node: Option<&str>) -> AgentView {
        AgentView {
            status: Some(status),
            node: node.map(Arc::from),
            ..AgentView::default()
        }
    }

    #[test]
    fn audit_counts_lost_and_duplicated_by_their_definitions() {
        let fps = ["a", "b", "c", "d", "e"];
        let views = vec![
            agent(AgentStatus::Onboarded, Some("n1.fqdn")), // fine
            agent(AgentStatus::Orphan, None),               // lost (agent)
            agent(AgentStatus::Onboarded, Some("n2.fqdn")), // duplicated (replicas say n1)
            agent(AgentStatus::Onboarded, Some("n1.fqdn")), // lost + duplicated (a replica: n3, dead)
            agent(AgentStatus::Onboarded, Some("n1.fqdn")), // lost: a replica has no record
        ];
        let rec = |pairs: &[(&str, Option<&str>)]| -> Records {
            pairs
                .iter()
                .map(|(f, n)| (f.to_string(), n.map(String::from)))
                .collect()
        };
        let r1 = rec(&[
            ("a", Some("n1")),
            ("b", Some("n1")),
            ("c", Some("n1")),
            ("d", Some("n1")),
            ("e", Some("n1")),
        ]);
        let r2 = rec(&[
            ("a", Some("n1")),
            ("b", Some("n1")),
            ("c", Some("n1")),
            ("d", Some("n3")),
        ]);
        let names: HashMap<String, String> = [("n1.fqdn", "n1"), ("n2.fqdn", "n2")]
            .iter()
            .map(|(f, n)| (f.to_string(), n.to_string()))
            .collect();
        let alive: BTreeSet<String> = ["n1", "n2"].iter().map(|s| s.to_string()).collect();
        assert_eq!(audit(&fps, &views, &[r1, r2], &names, &alive), (3, 2));
    }
}
