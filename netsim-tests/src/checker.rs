//! The checker of a partition schedule's outcome (issue 17): given every write the cluster
//! acknowledged and what each peer holds once the faults are over and the cluster settled,
//! the problems found (none: the schedule passed). Pure, so its rules are unit-tested.

use std::collections::{BTreeMap, BTreeSet};

use crdt_store::{SystemRecord, SystemStatus};

/// A write the cluster answered 200 to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acked {
    /// A registration of `fingerprint` through a peer of `zone`.
    Registered {
        /// The system.
        fingerprint: String,
        /// The zone of the peer it registered through.
        zone: String,
    },
    /// An operator accepted it.
    Accepted {
        /// The system.
        fingerprint: String,
    },
    /// A tag was added.
    Tagged {
        /// The system.
        fingerprint: String,
        /// The tag.
        tag: String,
    },
}

/// What one peer holds after the schedule.
#[derive(Debug, Clone)]
pub struct PeerView {
    /// The peer's name.
    pub name: String,
    /// Its systems.
    pub systems: Vec<SystemRecord>,
}

/// Check the settled cluster: `nodes` maps every node to its zone (all of them running
/// again).
///
/// 1. **Acknowledged writes all present**: every registered system on every peer, with every
///    acknowledged tag, and accepted ones not back in `new`.
/// 2. **Replicas converge**: every peer holds the same systems with the same records.
/// 3. **No system on two nodes**: all peers name the same node for a system (2. implies it,
///    reported on its own for clarity), and an onboarded system's node exists and is in the
///    system's zone.
/// 4. **No system lost between orphan and onboarded**: every accepted system (not banned or
///    deleted since) is onboarded on a node, none left orphan once settled.
pub fn check(acked: &[Acked], views: &[PeerView], nodes: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let by_peer: Vec<(&str, BTreeMap<&str, &SystemRecord>)> = views
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.systems
                    .iter()
                    .map(|s| (s.fingerprint.as_str(), s))
                    .collect(),
            )
        })
        .collect();
    // 1.
    for a in acked {
        for (peer, systems) in &by_peer {
            match a {
                Acked::Registered { fingerprint, .. } => {
                    if !systems.contains_key(fingerprint.as_str()) {
                        problems.push(format!("{peer}: registered system {fingerprint} lost"));
                    }
                }
                Acked::Accepted { fingerprint } => {
                    if let Some(s) = systems.get(fingerprint.as_str())
                        && s.status == SystemStatus::New
                    {
                        problems.push(format!(
                            "{peer}: accepted system {fingerprint} is new again"
                        ));
                    }
                }
                Acked::Tagged { fingerprint, tag } => {
                    if let Some(s) = systems.get(fingerprint.as_str())
                        && !s.tags.contains(tag)
                    {
                        problems.push(format!("{peer}: tag {tag} of {fingerprint} lost"));
                    }
                }
            }
        }
    }
    // 2. and 3.
    if let Some((first, reference)) = by_peer.first() {
        for (peer, systems) in &by_peer[1..] {
            let a: BTreeSet<&str> = reference.keys().copied().collect();
            let b: BTreeSet<&str> = systems.keys().copied().collect();
            for fp in a.symmetric_difference(&b) {
                problems.push(format!(
                    "{first} and {peer} disagree on whether {fp} exists"
                ));
            }
            for fp in a.intersection(&b) {
                let (x, y) = (reference[fp], systems[fp]);
                if x.node != y.node {
                    problems.push(format!(
                        "{fp} on two nodes: {:?} on {first}, {:?} on {peer}",
                        x.node, y.node
                    ));
                } else if x != y {
                    problems.push(format!("{first} and {peer} hold different records of {fp}"));
                }
            }
        }
        for s in reference.values() {
            if s.status == SystemStatus::Onboarded {
                match s.node.as_deref().map(|n| (n, nodes.get(n))) {
                    None => problems.push(format!("{} onboarded without a node", s.fingerprint)),
                    Some((n, None)) => {
                        problems.push(format!("{} onboarded on unknown node {n}", s.fingerprint))
                    }
                    Some((n, Some(zone))) if s.zone.as_ref().is_some_and(|z| z != zone) => problems
                        .push(format!(
                            "{} of zone {:?} onboarded on {n} of zone {zone}",
                            s.fingerprint, s.zone
                        )),
                    Some(_) => {}
                }
            }
        }
        // 4.
        for a in acked {
            if let Acked::Accepted { fingerprint } = a
                && let Some(s) = reference.get(fingerprint.as_str())
                && !s.banned
                && s.status != SystemStatus::Deleted
                && !(s.status == SystemStatus::Onboarded && s.node.is_some())
            {
                problems.push(format!(
                    "accepted system {fingerprint} not onboarded once settled: {:?} on {:?}",
                    s.status, s.node
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> BTreeMap<String, String> {
        [("a1", "za"), ("b1", "zb")]
            .iter()
            .map(|(n, z)| (n.to_string(), z.to_string()))
            .collect()
    }

    fn onboarded(fp: &str, node: &str, zone: &str) -> SystemRecord {
        SystemRecord::new(fp, "m", 1)
            .with_status(SystemStatus::Onboarded)
            .with_node(Some(node))
            .with_zone(zone)
    }

    fn view(name: &str, systems: Vec<SystemRecord>) -> PeerView {
        PeerView {
            name: name.into(),
            systems,
        }
    }

    #[test]
    fn a_settled_cluster_passes_and_each_rule_catches_its_fault() {
        let acked = vec![
            Acked::Registered {
                fingerprint: "f1".into(),
                zone: "za".into(),
            },
            Acked::Accepted {
                fingerprint: "f1".into(),
            },
            Acked::Tagged {
                fingerprint: "f1".into(),
                tag: "t".into(),
            },
        ];
        let good = onboarded("f1", "a1", "za").with_tags(["t"]);
        let ok = [
            view("a1", vec![good.clone()]),
            view("b1", vec![good.clone()]),
        ];
        assert!(check(&acked, &ok, &nodes()).is_empty());

        let lost = [view("a1", vec![good.clone()]), view("b1", vec![])];
        let p = check(&acked, &lost, &nodes());
        assert!(p.iter().any(|p| p.contains("lost")), "{p:?}");
        assert!(p.iter().any(|p| p.contains("disagree")), "{p:?}");

        let two_nodes = [
            view("a1", vec![good.clone()]),
            view("b1", vec![good.clone().with_node(Some("b1"))]),
        ];
        assert!(
            check(&acked, &two_nodes, &nodes())
                .iter()
                .any(|p| p.contains("two nodes"))
        );

        let untagged = good.clone().with_tags([]);
        let p = check(&acked, &[view("a1", vec![untagged])], &nodes());
        assert!(p.iter().any(|p| p.contains("tag t")), "{p:?}");

        let orphan = good
            .clone()
            .with_status(SystemStatus::Orphan)
            .with_node(None);
        let p = check(&acked, &[view("a1", vec![orphan])], &nodes());
        assert!(p.iter().any(|p| p.contains("not onboarded")), "{p:?}");

        let wrong_zone = good.clone().with_node(Some("b1"));
        let p = check(&acked, &[view("a1", vec![wrong_zone])], &nodes());
        assert!(p.iter().any(|p| p.contains("of zone")), "{p:?}");

        let banned = SystemRecord {
            banned: true,
            ..good.with_status(SystemStatus::Deleted).with_node(None)
        };
        assert!(check(&acked, &[view("a1", vec![banned])], &nodes()).is_empty());
    }
}
