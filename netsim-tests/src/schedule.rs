//! Seeded fault schedules (issue 17): partitions between zones and inside them, `kill -9` and
//! restart, and degraded links, as a list of steps the partition-schedule runner applies to a
//! cluster under writes. Pure: the same seed and topology give the same schedule, so the seed
//! printed with a failure reproduces its schedule (the processes' timing is the machine's).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One fault, held for its step.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Zones `a` and `b` cut apart.
    Partition {
        /// One zone.
        a: String,
        /// The other.
        b: String,
    },
    /// A peer cut off from every other peer, its own zone's included.
    Isolate {
        /// The peer's index.
        peer: usize,
    },
    /// A peer killed with SIGKILL, restarted at the end of the step.
    Kill {
        /// The peer's index.
        peer: usize,
    },
    /// Latency and loss between zones `a` and `b` (`a == b`: inside the zone).
    Degrade {
        /// One zone.
        a: String,
        /// The other.
        b: String,
        /// Added to every chunk, each way.
        latency_ms: u64,
        /// Chance that a chunk waits one retransmission timeout (200 ms).
        loss: f64,
    },
}

/// Faults applied together, held for `hold_ms`, then undone.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The faults.
    pub faults: Vec<Fault>,
    /// How long they hold, milliseconds.
    pub hold_ms: u64,
}

/// A schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The seed it came from.
    pub seed: u64,
    /// Its steps, in order.
    pub steps: Vec<Step>,
}

/// The cluster a schedule is made for: each peer's zone, by index.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Zone of peer `i`.
    pub zones: Vec<String>,
}

impl Topology {
    fn zone_names(&self) -> Vec<String> {
        let mut z: Vec<String> = Vec::new();
        for x in &self.zones {
            if !z.contains(x) {
                z.push(x.clone());
            }
        }
        z
    }
}

/// The schedule of `seed`: `steps` steps of one or two faults each, held 2–6 s. At most one
/// peer is down or isolated at a time per zone, so that every zone keeps a peer to take
/// writes (the checker asks every acknowledged write to survive, not every attempted one).
pub fn generate(seed: u64, topo: &Topology, steps: usize) -> Schedule {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let zones = topo.zone_names();
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        let n = rng.random_range(1..=2);
        let mut faults: Vec<Fault> = Vec::new();
        let mut touched_zones: Vec<&str> = Vec::new();
        for _ in 0..n {
            let fault = match rng.random_range(0..4) {
                0 if zones.len() >= 2 => {
                    let a = rng.random_range(0..zones.len());
                    let mut b = rng.random_range(0..zones.len() - 1);
                    if b >= a {
                        b += 1;
                    }
                    Fault::Partition {
                        a: zones[a].clone(),
                        b: zones[b].clone(),
                    }
                }
                1 | 2 => {
                    let peer = rng.random_range(0..topo.zones.len());
                    let zone = topo.zones[peer].as_str();
                    let peers_in_zone = topo.zones.iter().filter(|z| *z == zone).count();
                    if peers_in_zone < 2 || touched_zones.contains(&zone) {
                        continue;
                    }
                    touched_zones.push(zone);
                    if rng.random_bool(0.5) {
                        Fault::Kill { peer }
                    } else {
                        Fault::Isolate { peer }
                    }
                }
                _ => {
                    let a = rng.random_range(0..zones.len());
                    let b = rng.random_range(0..zones.len());
                    Fault::Degrade {
                        a: zones[a].clone(),
                        b: zones[b].clone(),
                        latency_ms: rng.random_range(20..=200),
                        loss: f64::from(rng.random_range(0u8..=10)) / 100.0,
                    }
                }
            };
            if !faults.contains(&fault) {
                faults.push(fault);
            }
        }
        if faults.is_empty() {
            faults.push(Fault::Partition {
                a: zones[0].clone(),
                b: zones[zones.len() - 1].clone(),
            });
        }
        out.push(Step {
            faults,
            hold_ms: rng.random_range(2000..=6000),
        });
    }
    Schedule { seed, steps: out }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Partition { a, b } => write!(f, "cut {a}|{b}"),
            Self::Isolate { peer } => write!(f, "isolate #{peer}"),
            Self::Kill { peer } => write!(f, "kill -9 #{peer}"),
            Self::Degrade {
                a,
                b,
                latency_ms,
                loss,
            } => write!(f, "degrade {a}-{b} {latency_ms}ms {:.0}%", loss * 100.0),
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            let faults: Vec<String> = s.faults.iter().map(ToString::to_string).collect();
            write!(f, "{} for {} ms", faults.join(" + "), s.hold_ms)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        Topology {
            zones: ["za", "za", "za", "zb", "zb"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    #[test]
    fn a_seed_gives_one_schedule_and_seeds_differ() {
        let a = generate(7, &topo(), 6);
        assert_eq!(a, generate(7, &topo(), 6));
        assert_ne!(a, generate(8, &topo(), 6));
        assert_eq!(a.steps.len(), 6);
        // Over many seeds every kind of fault shows up, and no step takes two peers of one
        // zone down at once.
        let mut kinds = [false; 4];
        for seed in 0..200 {
            for s in generate(seed, &topo(), 5).steps {
                assert!((2000..=6000).contains(&s.hold_ms));
                let mut zones_down = Vec::new();
                for f in &s.faults {
                    match f {
                        Fault::Partition { a, b } => {
                            assert_ne!(a, b);
                            kinds[0] = true;
                        }
                        Fault::Isolate { peer } | Fault::Kill { peer } => {
                            let z = &topo().zones[*peer];
                            assert!(!zones_down.contains(z), "{s:?}");
                            zones_down.push(z.clone());
                            kinds[if matches!(f, Fault::Kill { .. }) {
                                1
                            } else {
                                2
                            }] = true;
                        }
                        Fault::Degrade { latency_ms, .. } => {
                            assert!((20..=200).contains(latency_ms));
                            kinds[3] = true;
                        }
                    }
                }
            }
        }
        assert_eq!(kinds, [true; 4]);
        assert!(!a.to_string().is_empty());
    }
}
