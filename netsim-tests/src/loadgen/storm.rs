//! The onboarding storm: a fleet registers all at once, the administrator accepts by query,
//! the Load Driver places; the figures say how fast, and where the time went.
//!
//! Progress is read from the peers' `/cluster/load` (systems known, waiting, placed), not from
//! the agents' views: at a million agents their heartbeats alone would be more than the
//! machine can drive, so the storm's agents heartbeat rarely and learn their node at their
//! next knock. CPU seconds of every peer and of the generator itself are read from
//! `/proc/<pid>/stat` before and after, so the report shows which side was busy.

use std::fmt;
use std::time::{Duration, Instant};

use super::{CountersSnapshot, Fleet, FleetConfig};
use crate::harness::{Cluster, wait_until};

/// Settings of [`run_storm`].
#[derive(Debug, Clone)]
pub struct StormScenario {
    /// The fleet (set `bulk_accept` for acceptance by query, `start_spread` for how fast the
    /// registrations arrive, a long `heartbeat` so that the fleet does little else).
    pub fleet: FleetConfig,
    /// Longest wait for each phase.
    pub timeout: Duration,
    /// The peer the administrator's bulk accepts go to (index; 0 is the first peer, the
    /// zone's Load Driver leader in the storm's cluster).
    pub accept_on: usize,
}

/// What [`run_storm`] measured; times count from the fleet's start.
#[derive(Debug, Clone)]
pub struct StormReport {
    /// Agents.
    pub agents: usize,
    /// Peers.
    pub peers: usize,
    /// Until the fleet had every registration answered.
    pub registered: Option<Duration>,
    /// Until every system was accepted (fleet counter).
    pub accepted: Option<Duration>,
    /// Until every peer's replica held every system onboarded on a node, none waiting.
    pub placed: Duration,
    /// CPU seconds each peer used during the storm.
    pub peer_cpu_s: Vec<f64>,
    /// CPU seconds the generator (this process) used during the storm.
    pub generator_cpu_s: f64,
    /// Fleet counters at the end.
    pub counters: CountersSnapshot,
    /// The last unexpected answer the fleet got, if any.
    pub last_unexpected: Option<String>,
    /// The last request that got no answer, if any.
    pub last_error: Option<String>,
}

impl StormReport {
    /// Systems onboarded (registered, accepted and placed everywhere) per second.
    pub fn rate(&self) -> f64 {
        self.agents as f64 / self.placed.as_secs_f64().max(1e-9)
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64()))
}

impl fmt::Display for StormReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wall = self.placed.as_secs_f64();
        writeln!(
            f,
            "onboarded                 {} systems on {} peers in {:.1} s ({:.0} systems/s)",
            self.agents,
            self.peers,
            wall,
            self.rate()
        )?;
        writeln!(
            f,
            "                          all registered {}, accepted {}, placed everywhere {:.1} s",
            secs(self.registered),
            secs(self.accepted),
            wall
        )?;
        let peers: f64 = self.peer_cpu_s.iter().sum();
        writeln!(
            f,
            "cpu                       peers {:.0} s ({}), generator {:.0} s; {:.2} of 2 cores busy",
            peers,
            self.peer_cpu_s
                .iter()
                .map(|s| format!("{s:.0}"))
                .collect::<Vec<_>>()
                .join(" + "),
            self.generator_cpu_s,
            (peers + self.generator_cpu_s) / wall.max(1e-9)
        )?;
        let k = &self.counters;
        writeln!(
            f,
            "cost per system           peers {:.2} ms cpu, generator {:.2} ms cpu",
            peers * 1000.0 / self.agents.max(1) as f64,
            self.generator_cpu_s * 1000.0 / self.agents.max(1) as f64
        )?;
        write!(
            f,
            "requests                  {} answered, {} failed; registered {}, bulk accepts {} ({} systems), throttled {}, unexpected {}",
            k.answered,
            k.failed,
            k.registered,
            k.bulk_accepts,
            k.accepted,
            k.throttled,
            k.bad_answers
        )?;
        if let Some(u) = &self.last_unexpected {
            write!(f, "\nlast unexpected           {u}")?;
        }
        if let Some(e) = &self.last_error {
            write!(f, "\nlast failure              {e}")?;
        }
        Ok(())
    }
}

/// CPU seconds (user + system) of a process, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn peers_cpu(c: &Cluster) -> Vec<f64> {
    c.peers
        .iter()
        .map(|p| {
            p.pid()
                .and_then(|pid| cpu_seconds(&pid.to_string()))
                .unwrap_or(0.0)
        })
        .collect()
}

/// Every peer's replica holds `n` systems, every one onboarded on a node, none waiting.
fn placed_everywhere(c: &Cluster, n: u64) -> anyhow::Result<bool> {
    for i in 0..c.peers.len() {
        let l = c.load(i)?;
        let assigned: u64 = l.nodes.iter().map(|x| x.assigned).sum();
        if l.systems as u64 != n
            || l.new != 0
            || assigned != n
            || l.zones.iter().any(|z| z.orphans > 0)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Run the storm on a started cluster whose peers see each other.
pub fn run_storm(
    c: &Cluster,
    rt: &tokio::runtime::Handle,
    s: &StormScenario,
) -> anyhow::Result<StormReport> {
    let mut entries: Vec<String> = c
        .peers
        .iter()
        .map(|p| p.http.trim_start_matches("http://").to_string())
        .collect();
    // The bulk admin uses the first entry point while it answers.
    let first = s.accept_on % entries.len().max(1);
    entries.rotate_left(first);
    let n = s.fleet.agents;
    let (peer_cpu0, gen_cpu0) = (peers_cpu(c), cpu_seconds("self").unwrap_or(0.0));
    let t0 = Instant::now();
    let fleet = Fleet::start(rt, s.fleet.clone(), &entries)?;
    let (mut registered, mut accepted) = (None, None);
    wait_until(s.timeout, "every system placed on every peer", || {
        let k = fleet.counters();
        if registered.is_none() && k.registered >= n as u64 {
            registered = Some(t0.elapsed());
        }
        if accepted.is_none() && k.accepted >= n as u64 {
            accepted = Some(t0.elapsed());
        }
        // A bulk accept that outlived the client's request timeout is not counted by the
        // fleet (its systems were accepted all the same): once every registration is
        // answered, the replicas' own figures decide.
        if accepted.is_none() && k.registered < n as u64 {
            return Ok(false);
        }
        let done = placed_everywhere(c, n as u64)?;
        if done && accepted.is_none() {
            accepted = Some(t0.elapsed());
        }
        Ok(done)
    })?;
    let placed = t0.elapsed();
    let peer_cpu_s = peers_cpu(c)
        .iter()
        .zip(&peer_cpu0)
        .map(|(a, b)| a - b)
        .collect();
    let generator_cpu_s = cpu_seconds("self").unwrap_or(0.0) - gen_cpu0;
    let report = StormReport {
        agents: n,
        peers: c.peers.len(),
        registered,
        accepted,
        placed,
        peer_cpu_s,
        generator_cpu_s,
        counters: fleet.counters(),
        last_unexpected: fleet.last_unexpected(),
        last_error: fleet.last_error(),
    };
    rt.block_on(fleet.shutdown())?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_counts_this_process_spinning() {
        let a = cpu_seconds("self").expect("/proc/self/stat");
        let t = Instant::now();
        let mut x = 0u64;
        // Spin until the kernel has charged at least two ticks more (bounded by 10 s).
        while cpu_seconds("self").expect("/proc/self/stat") < a + 0.02 {
            assert!(t.elapsed() < Duration::from_secs(10), "no CPU time counted");
            for i in 0..1_000_000u64 {
                x = x.wrapping_add(i * i);
            }
        }
        std::hint::black_box(x);
        assert!(cpu_seconds("no-such-pid").is_none());
    }
}
