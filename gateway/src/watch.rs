//! What the Cluster UI shows over time: recent changes (nodes changing liveness or becoming
//! faulty, zone modes, Leader Node leases, publications) and a small ring buffer per node
//! (systems assigned, liveness) for the charts of the last hour. The peer serving the gateway
//! feeds it a snapshot every second ([`Watch::observe`]); it lives in memory only (a restarted
//! gateway starts an empty history). Pure: no clock, no I/O.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::metastore::{NodeView, ZoneView};

/// Recent changes kept.
pub const MAX_EVENTS: usize = 200;
/// Samples kept per node: an hour at one every [`SAMPLE_EVERY_MS`].
pub const MAX_SAMPLES: usize = 360;
/// Time between two samples of a node.
pub const SAMPLE_EVERY_MS: u64 = 10_000;

/// One change the cluster went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterEvent {
    /// When the gateway saw it (Unix ms).
    pub at_ms: u64,
    /// `node`, `fault`, `mode`, `lease`, `publication` or `systems`.
    pub kind: String,
    /// The zone.
    pub zone: String,
    /// The node, when it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What happened, in words.
    pub text: String,
}

/// One sample of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Sample {
    /// When (Unix ms).
    pub at_ms: u64,
    /// Systems assigned to the node.
    pub systems: u64,
    /// Systems whose agents heartbeated recently, per the peers' Load Drivers (the node's
    /// online count).
    #[serde(default)]
    pub online: u64,
    /// Whether the node answered its membership heartbeats (alive): 1, else 0.
    pub alive: u8,
}

/// Samples of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeHistory {
    /// Node name.
    pub node: String,
    /// Zone.
    pub zone: String,
    /// Oldest first.
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeSeen {
    status: String,
    faulty: Option<String>,
    zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ZoneSeen {
    mode: String,
    leader: Option<String>,
    generation: u64,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Watch {
    nodes: BTreeMap<String, NodeSeen>,
    zones: BTreeMap<String, ZoneSeen>,
    events: VecDeque<ClusterEvent>,
    samples: BTreeMap<String, (String, VecDeque<Sample>)>,
}

impl Watch {
    /// Compare a snapshot taken at `now_ms` with the previous one: record what changed, and
    /// sample every node at most every [`SAMPLE_EVERY_MS`]. The first snapshot records no
    /// change (there is nothing to compare it with).
    pub fn observe(&mut self, now_ms: u64, nodes: &[NodeView], zones: &[ZoneView]) {
        let first = self.nodes.is_empty() && self.zones.is_empty();
        for n in nodes {
            let seen = NodeSeen {
                status: n.status.clone(),
                faulty: n.faulty.clone(),
                zone: n.zone.clone(),
            };
            match self.nodes.get(&n.name) {
                None if !first => self.push(now_ms, "node", n, format!("{} joined", n.name)),
                Some(old) if old.status != seen.status => self.push(
                    now_ms,
                    "node",
                    n,
                    format!("{} is {} (was {})", n.name, seen.status, old.status),
                ),
                _ => {}
            }
            if let Some(old) = self.nodes.get(&n.name)
                && old.faulty != seen.faulty
            {
                let text = match &seen.faulty {
                    Some(why) => format!("{} marked faulty ({why}): its systems move", n.name),
                    None => format!("{} is no longer faulty", n.name),
                };
                self.push(now_ms, "fault", n, text);
            }
            self.nodes.insert(n.name.clone(), seen);
            let (_, ring) = self
                .samples
                .entry(n.name.clone())
                .or_insert_with(|| (n.zone.clone(), VecDeque::new()));
            if ring
                .back()
                .is_none_or(|s| now_ms >= s.at_ms.saturating_add(SAMPLE_EVERY_MS))
            {
                if ring.len() == MAX_SAMPLES {
                    ring.pop_front();
                }
                ring.push_back(Sample {
                    at_ms: now_ms,
                    systems: n.systems,
                    online: n.online,
                    alive: u8::from(n.status == "alive"),
                });
            }
        }
        for z in zones {
            let seen = ZoneSeen {
                mode: z.mode.clone(),
                leader: z.leader.clone(),
                generation: z.generation,
            };
            if let Some(old) = self.zones.get(&z.name) {
                let mut changes = Vec::new();
                if old.mode != seen.mode {
                    changes.push(("mode", format!("{} switched to {}", z.name, seen.mode)));
                }
                if old.leader != seen.leader {
                    let text = match &seen.leader {
                        Some(l) => format!("{l} leads {}", z.name),
                        None => format!("{} has no Leader Node", z.name),
                    };
                    changes.push(("lease", text));
                }
                if seen.generation > old.generation {
                    changes.push((
                        "publication",
                        format!(
                            "{} published common data (generation {})",
                            z.name, z.generation
                        ),
                    ));
                }
                for (kind, text) in changes {
                    self.push_event(ClusterEvent {
                        at_ms: now_ms,
                        kind: kind.into(),
                        zone: z.name.clone(),
                        node: None,
                        text,
                    });
                }
            }
            self.zones.insert(z.name.clone(), seen);
        }
    }

    fn push(&mut self, at_ms: u64, kind: &str, n: &NodeView, text: String) {
        self.push_event(ClusterEvent {
            at_ms,
            kind: kind.into(),
            zone: n.zone.clone(),
            node: Some(n.name.clone()),
            text,
        });
    }

    fn push_event(&mut self, e: ClusterEvent) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    /// Changes at or after `since_ms`, newest first.
    pub fn events(&self, since_ms: u64) -> Vec<ClusterEvent> {
        self.events
            .iter()
            .rev()
            .take_while(|e| e.at_ms >= since_ms)
            .cloned()
            .collect()
    }

    /// Every node's samples, by node name.
    pub fn history(&self) -> Vec<NodeHistory> {
        self.samples
            .iter()
            .map(|(node, (zone, s))| NodeHistory {
                node: node.clone(),
                zone: zone.clone(),
                samples: s.iter().copied().collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, status: &str, systems: u64) -> NodeView {
        NodeView {
            name: name.into(),
            zone: "dc1".into(),
            slot: Some(0),
            uyuni_api: String::new(),
            status: status.into(),
            systems,
            fqdn: format!("{name}.test"),
            capacity: 1.0,
            online: 0,
            faulty: None,
            common_ready: true,
        }
    }

    fn zone(mode: &str, leader: Option<&str>, generation: u64) -> ZoneView {
        ZoneView {
            name: "dc1".into(),
            mode: mode.into(),
            leader: leader.map(Into::into),
            lease_expires_ms: 0,
            generation,
            pending: Vec::new(),
            orphans: 0,
        }
    }

    #[test]
    fn records_liveness_faults_modes_leases_and_publications() {
        let mut w = Watch::default();
        w.observe(
            1_000,
            &[node("a", "alive", 3)],
            &[zone("production", None, 0)],
        );
        assert!(w.events(0).is_empty(), "the first snapshot is no change");
        w.observe(
            2_000,
            &[node("a", "suspect", 3)],
            &[zone("production", None, 0)],
        );
        let mut down = node("a", "down", 0);
        down.faulty = Some("down".into());
        w.observe(
            3_000,
            &[down, node("b", "alive", 3)],
            &[zone("disaster-recovery", Some("b"), 1)],
        );
        let texts: Vec<String> = w.events(0).into_iter().map(|e| e.text).collect();
        assert_eq!(
            texts,
            vec![
                "dc1 published common data (generation 1)",
                "b leads dc1",
                "dc1 switched to disaster-recovery",
                "b joined",
                "a marked faulty (down): its systems move",
                "a is down (was suspect)",
                "a is suspect (was alive)",
            ]
        );
        assert_eq!(w.events(3_000).len(), 6);
    }

    #[test]
    fn samples_every_ten_seconds_and_keeps_an_hour() {
        let mut w = Watch::default();
        for t in 0..(MAX_SAMPLES as u64 * 20) {
            w.observe(t * 1_000, &[node("a", "alive", t)], &[]);
        }
        let h = w.history();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].samples.len(), MAX_SAMPLES);
        let last = h[0].samples[MAX_SAMPLES - 1];
        let before = h[0].samples[MAX_SAMPLES - 2];
        assert_eq!(last.at_ms - before.at_ms, SAMPLE_EVERY_MS);
        assert_eq!(last.alive, 1);
    }

    #[test]
    fn keeps_at_most_max_events() {
        let mut w = Watch::default();
        for t in 0..(MAX_EVENTS as u64 + 10) {
            let s = if t % 2 == 0 { "alive" } else { "suspect" };
            w.observe(t, &[node("a", s, 0)], &[]);
        }
        assert_eq!(w.events(0).len(), MAX_EVENTS);
    }
}
