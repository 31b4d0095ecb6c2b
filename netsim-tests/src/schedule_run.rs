//! Run one seeded fault schedule ([`crate::schedule`]) against a fresh five-peer cluster
//! (zones `za`: a1 a2 a3, `zb`: b1 b2) under writes — registrations, accepts, tag edits
//! through random running peers, each acknowledged one recorded — then undo every fault,
//! let the cluster settle and hand what every peer holds to [`crate::checker::check`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::checker::{Acked, PeerView, check};
use crate::harness::{Cluster, Options, wait_until};
use crate::schedule::{Fault, Schedule, Topology, generate};

/// The peers of every schedule's cluster.
pub const PEERS: [(&str, &str); 5] = [
    ("a1", "za"),
    ("a2", "za"),
    ("a3", "za"),
    ("b1", "zb"),
    ("b2", "zb"),
];

/// How long the cluster may take to settle after the last fault.
const SETTLE: Duration = Duration::from_secs(90);
/// Retransmission timeout of a lost chunk.
const RTO: Duration = Duration::from_millis(200);

/// What one schedule did and what the checker found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed (reproduces the schedule).
    pub seed: u64,
    /// The schedule, readable.
    pub schedule: String,
    /// Writes attempted.
    pub attempted: usize,
    /// Writes acknowledged (and so checked).
    pub acked: usize,
    /// From the last fault undone to a settled cluster.
    pub settled_in: Duration,
    /// The whole run, cluster start included.
    pub elapsed: Duration,
    /// Connections relayed, and how many of them had a known dialer (the isolation of a
    /// peer inside its zone depends on it).
    pub connections: (u64, u64),
    /// Problems the checker (or the settling) found; empty: passed.
    pub problems: Vec<String>,
}

impl Outcome {
    /// The line the runner prints for this schedule.
    pub fn line(&self) -> String {
        let verdict = if self.problems.is_empty() {
            "PASS".to_string()
        } else {
            format!("FAIL {:?}", self.problems)
        };
        format!(
            "schedule seed={} verdict={verdict} acked={}/{} settled_in={:.1}s elapsed={:.1}s \
             connections={} (dialer known: {}) steps=[{}]",
            self.seed,
            self.acked,
            self.attempted,
            self.settled_in.as_secs_f64(),
            self.elapsed.as_secs_f64(),
            self.connections.0,
            self.connections.1,
            self.schedule
        )
    }
}

fn topology() -> Topology {
    Topology {
        zones: PEERS.iter().map(|(_, z)| z.to_string()).collect(),
    }
}

/// Run the schedule of `seed` with `steps` steps.
pub fn run(seed: u64, steps: usize) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let schedule = generate(seed, &topology(), steps);
    let mut c = Cluster::start(&PEERS, Options::default())?;
    for i in 0..PEERS.len() {
        wait_until(
            Duration::from_secs(60),
            "5 alive before the schedule",
            || {
                let m = c.members(i)?;
                Ok(m.len() == PEERS.len() && m.iter().all(|m| m.status == "alive"))
            },
        )?;
    }
    let mut w = Writer {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x005E_ED0F_0A11_u64),
        seed,
        acked: Vec::new(),
        registered: Vec::new(),
        attempted: 0,
    };
    run_steps(&mut c, &schedule, &mut w)?;
    let undone = Instant::now();
    let mut problems = Vec::new();
    if let Err(e) = settle(&c, &w.acked) {
        problems.push(format!("did not settle: {e}"));
    }
    let settled_in = undone.elapsed();
    let views = consistent_views(&c)?;
    let nodes: BTreeMap<String, String> = PEERS
        .iter()
        .map(|(n, z)| (n.to_string(), z.to_string()))
        .collect();
    problems.extend(check(&w.acked, &views, &nodes));
    Ok(Outcome {
        seed,
        schedule: schedule.to_string(),
        attempted: w.attempted,
        acked: w.acked.len(),
        settled_in,
        elapsed: started.elapsed(),
        connections: (c.emu.relayed_connections(), c.emu.identified_connections()),
        problems,
    })
}

fn run_steps(c: &mut Cluster, schedule: &Schedule, w: &mut Writer) -> anyhow::Result<()> {
    for step in &schedule.steps {
        for f in &step.faults {
            match f {
                Fault::Partition { a, b } => c.emu.partition(a, b),
                Fault::Isolate { peer } => c.emu.isolate(&c.peers[*peer].name),
                Fault::Kill { peer } => c.kill(*peer),
                Fault::Degrade {
                    a,
                    b,
                    latency_ms,
                    loss,
                } => {
                    c.emu.set_latency(a, b, Duration::from_millis(*latency_ms));
                    c.emu.set_loss(a, b, *loss, RTO, w.seed);
                }
            }
        }
        let until = Instant::now() + Duration::from_millis(step.hold_ms);
        while Instant::now() < until {
            let t = Instant::now();
            w.write(c);
            std::thread::sleep(Duration::from_millis(150).saturating_sub(t.elapsed()));
        }
        for f in &step.faults {
            match f {
                Fault::Partition { a, b } => c.emu.heal(a, b),
                Fault::Isolate { peer } => c.emu.rejoin(&c.peers[*peer].name),
                Fault::Kill { peer } => c.restart(*peer)?,
                Fault::Degrade { a, b, .. } => {
                    c.emu.set_latency(a, b, Duration::ZERO);
                    c.emu.set_loss(a, b, 0.0, RTO, w.seed);
                }
            }
        }
    }
    Ok(())
}

/// Wait until every peer sees every other alive, all replicas are identical and every
/// accepted system is onboarded.
fn settle(c: &Cluster, acked: &[Acked]) -> anyhow::Result<()> {
    for i in 0..c.peers.len() {
        wait_until(SETTLE, "every peer alive in every view", || {
            let m = c.members(i)?;
            Ok(m.len() == c.peers.len() && m.iter().all(|m| m.status == "alive"))
        })?;
    }
    let accepted: Vec<&str> = acked
        .iter()
        .filter_map(|a| match a {
            Acked::Accepted { fingerprint } => Some(fingerprint.as_str()),
            _ => None,
        })
        .collect();
    wait_until(
        SETTLE,
        "identical replicas, accepted systems placed",
        || {
            if !c.converged()? {
                return Ok(false);
            }
            let sys: BTreeMap<String, _> = c
                .systems(0)?
                .into_iter()
                .map(|s| (s.fingerprint.clone(), s))
                .collect();
            Ok(accepted.iter().all(|fp| {
                sys.get(*fp).is_some_and(|s| {
                    s.banned
                        || s.status == crdt_store::SystemStatus::Deleted
                        || (s.status == crdt_store::SystemStatus::Onboarded && s.node.is_some())
                })
            }) && c.converged()?)
        },
    )?;
    // Quiet: no assignment change on peer 0 for 3 s (a returning node's refill by
    // rebalancing is a policy's, and must end).
    let mut last = c.systems(0)?;
    let mut quiet = Instant::now();
    wait_until(SETTLE, "no assignment change for 3 s", || {
        let now = c.systems(0)?;
        if now != last {
            last = now;
            quiet = Instant::now();
        }
        Ok(quiet.elapsed() >= Duration::from_secs(3) && c.converged()?)
    })?;
    Ok(())
}

/// Every peer's systems, read while nothing changes: the root digests before and after the
/// reads are all equal (else read again; a late rebalancing move between two peers' reads
/// would look like a system on two nodes).
fn consistent_views(c: &Cluster) -> anyhow::Result<Vec<PeerView>> {
    let roots = |c: &Cluster| -> anyhow::Result<Vec<String>> {
        (0..c.peers.len()).map(|i| c.root(i)).collect()
    };
    let mut views = Vec::new();
    for _ in 0..20 {
        let before = roots(c)?;
        views.clear();
        for (i, p) in c.peers.iter().enumerate() {
            views.push(PeerView {
                name: p.name.clone(),
                systems: c.systems(i)?,
            });
        }
        let after = roots(c)?;
        if before == after && after.windows(2).all(|w| w[0] == w[1]) {
            return Ok(views);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Still changing after 20 tries: the checker reports the differences.
    Ok(views)
}

/// The writes of one schedule.
struct Writer {
    rng: ChaCha8Rng,
    seed: u64,
    acked: Vec<Acked>,
    /// Fingerprints registered (acknowledged).
    registered: Vec<String>,
    attempted: usize,
}

impl Writer {
    /// One write through a random running peer; recorded if acknowledged.
    fn write(&mut self, c: &Cluster) {
        let running: Vec<usize> = (0..c.peers.len())
            .filter(|&i| c.peers[i].is_running())
            .collect();
        if running.is_empty() {
            return;
        }
        let i = running[self.rng.random_range(0..running.len())];
        let k = self.attempted;
        self.attempted += 1;
        let roll = self.rng.random_range(0..10);
        if roll < 5 || self.registered.is_empty() {
            let label = format!("sched{}:{k}", self.seed);
            if let Ok(rec) = c.register(i, &label, &format!("m{k}")) {
                self.registered.push(rec.fingerprint.clone());
                self.acked.push(Acked::Registered {
                    fingerprint: rec.fingerprint,
                    zone: c.peers[i].zone.clone(),
                });
            }
            return;
        }
        let fp = self.registered[self.rng.random_range(0..self.registered.len())].clone();
        if roll < 8 {
            if c.act(i, &fp, "accept").is_ok() {
                self.acked.push(Acked::Accepted { fingerprint: fp });
            }
        } else {
            let tag = format!("t{k}");
            let res: Result<serde_json::Value, _> = c.peers[i].client().post(
                &format!("/systems/{fp}/tags"),
                &serde_json::json!({ "add": [tag] }),
            );
            if res.is_ok() {
                self.acked.push(Acked::Tagged {
                    fingerprint: fp,
                    tag,
                });
            }
        }
    }
}
