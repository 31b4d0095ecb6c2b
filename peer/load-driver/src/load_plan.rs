//! The Load Driver's decisions for one zone, from a snapshot of what this peer knows. Pure:
//! the caller supplies liveness and durations, so every rule is testable without a clock.
//!
//! One peer per zone leads (the alive, non-faulty node with the lowest name in this peer's
//! view); only the leader places, remaps and rebalances. Two peers that both believe they
//! lead (a partition) decide the same thing from the same view, and their writes merge by
//! the store's per-record rules.

use std::time::Duration;

use crdt_store::{FaultReason, LoadMode};

use crate::placement::{Slot, Transfer, rebalance};

/// Liveness of a node as this peer's failure detector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Heartbeats arrive (this peer itself is always alive).
    Alive,
    /// Late heartbeats.
    Suspect,
    /// Silent, for this long.
    Down(Duration),
    /// Announced a planned shutdown this long ago.
    Left(Duration),
}

/// One node of the zone.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    /// Name.
    pub name: String,
    /// Relative capacity.
    pub capacity: f64,
    /// Liveness.
    pub liveness: Liveness,
    /// A fault record exists for it.
    pub faulty: bool,
    /// A fault was already declared for its current absence (do not declare it twice while
    /// the node's own peer is busy clearing it).
    pub declared: bool,
    /// Systems onboarded on it.
    pub assigned: u64,
    /// It holds its zone's common data (see `LoadIndex::common_ready`): a node still copying
    /// channels and keys is not given systems.
    pub ready: bool,
    /// Retired after a replacement (a fault with reason `retired`): never re-onboarded, never
    /// given systems back.
    pub retired: bool,
    /// No placement target: the fresh node of a pending replacement (until it takes over, so
    /// that it receives exactly the replaced node's systems), or a node that failed its
    /// integrity check (until it is re-provisioned).
    pub reserved: bool,
    /// Being re-provisioned (a fault with reason `reprovision`): its own Node Controller
    /// clears the fault once its server holds the zone's common data again.
    pub reprovisioning: bool,
}

impl NodeState {
    /// It may be given systems.
    pub fn eligible(&self) -> bool {
        self.liveness == Liveness::Alive && !self.faulty && self.ready && !self.reserved
    }
}

/// What the planner needs to know about a zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneState {
    /// This peer's node name (a member of the zone).
    pub me: String,
    /// Distribution mode.
    pub mode: LoadMode,
    /// The zone's nodes, this peer's included.
    pub nodes: Vec<NodeState>,
    /// Orphans waiting for a node.
    pub orphans: usize,
    /// This peer's node is the fresh node of a pending replacement.
    pub takeover: Option<Takeover>,
}

/// A pending replacement whose fresh node is this peer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// The node replaced.
    pub old: String,
    /// This node holds every repository its zone receives (the common data is
    /// [`NodeState::ready`]).
    pub content_ready: bool,
}

/// Tunables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Down this long: faulty.
    pub failure_timeout: Duration,
    /// Left this long: faulty.
    pub maintenance_window: Duration,
    /// Load slack (see [`crate::placement::bounds`]).
    pub slack: f64,
    /// Rebalancing moves allowed this round.
    pub move_budget: u64,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A faulty, absent node still holds systems (a remap cut short by a crash or a full
    /// disk, or a placement merged in from a partition): remap them again.
    RemapFaulty {
        /// The node.
        node: String,
    },
    /// Mark the node faulty and remap its systems across the zone.
    DeclareFault {
        /// The node.
        node: String,
        /// Why.
        reason: FaultReason,
    },
    /// Disaster recovery: the faulty node is back; give it back the systems remapped away
    /// from it, then clear its fault.
    ReturnSystems {
        /// The node.
        node: String,
    },
    /// Production: this peer's own node is back after being declared faulty; flush and
    /// re-join (clear the fault), after which rebalancing refills it.
    ReOnboardSelf,
    /// Place the zone's orphans.
    PlaceOrphans,
    /// Move systems off overloaded nodes (through the orphan process).
    Rebalance(Vec<Transfer>),
    /// Node replacement: this peer's node holds its zone's common data and content; every
    /// system of `old` moves here (nobody else moves) and `old` is retired.
    TakeOver {
        /// The node replaced.
        old: String,
    },
}

impl ZoneState {
    /// The placement candidates: every node that may take systems now ([`NodeState::eligible`]),
    /// weighted by capacity, loaded with what it holds. Both placement (orphans, remaps) and
    /// rebalancing start from this list.
    pub fn slots(&self) -> Vec<Slot> {
        self.nodes
            .iter()
            .filter(|n| n.eligible())
            .map(|n| Slot {
                name: n.name.clone(),
                weight: n.capacity,
                load: n.assigned,
            })
            .collect()
    }
}

/// The zone's leader in this view: the lowest-named non-faulty node that is alive or only
/// suspected (a slow leader keeps its role until it is declared down, so leadership does
/// not flap with every late heartbeat).
pub fn leader(z: &ZoneState) -> Option<&str> {
    z.nodes
        .iter()
        .filter(|n| !n.faulty && matches!(n.liveness, Liveness::Alive | Liveness::Suspect))
        .map(|n| n.name.as_str())
        .min()
}

/// What to do this round.
pub fn plan(z: &ZoneState, limits: &Limits) -> Vec<Step> {
    let mut steps = Vec::new();
    let me = z.nodes.iter().find(|n| n.name == z.me);
    if let (Some(t), Some(n)) = (&z.takeover, me)
        && n.ready
        && !n.faulty
        && t.content_ready
    {
        steps.push(Step::TakeOver { old: t.old.clone() });
    }
    if me.is_some_and(|n| n.faulty && !n.retired && !n.reprovisioning) {
        match z.mode {
            LoadMode::Production => steps.push(Step::ReOnboardSelf),
            // Nobody else can give this node its systems back (in a two-node zone whose other
            // node died meanwhile): it does so itself.
            LoadMode::DisasterRecovery if leader(z).is_none() => {
                steps.push(Step::ReturnSystems { node: z.me.clone() })
            }
            LoadMode::DisasterRecovery => {}
        }
    }
    if leader(z) != Some(z.me.as_str()) {
        return steps;
    }
    for n in &z.nodes {
        if n.faulty && n.liveness != Liveness::Alive && n.assigned > 0 {
            steps.push(Step::RemapFaulty {
                node: n.name.clone(),
            });
        }
    }
    for n in &z.nodes {
        if n.name == z.me || n.faulty || n.declared {
            continue;
        }
        match n.liveness {
            Liveness::Down(d) if d >= limits.failure_timeout => steps.push(Step::DeclareFault {
                node: n.name.clone(),
                reason: FaultReason::Down,
            }),
            Liveness::Left(d) if d >= limits.maintenance_window => steps.push(Step::DeclareFault {
                node: n.name.clone(),
                reason: FaultReason::Left,
            }),
            _ => {}
        }
    }
    if z.mode == LoadMode::DisasterRecovery {
        for n in &z.nodes {
            if n.faulty && !n.retired && !n.reprovisioning && n.liveness == Liveness::Alive {
                steps.push(Step::ReturnSystems {
                    node: n.name.clone(),
                });
            }
        }
    }
    let any_eligible = z.nodes.iter().any(NodeState::eligible);
    if z.orphans > 0 && any_eligible {
        steps.push(Step::PlaceOrphans);
    }
    // Rebalance only in a settled zone: nothing to place, no node in transition.
    let settled = z.orphans == 0
        && steps.is_empty()
        && z.nodes
            .iter()
            // A node still copying its zone's common data is no target yet, and must not
            // hold up rebalancing among the others.
            .all(|n| {
                n.eligible()
                    || !n.ready
                    || n.reserved
                    || n.retired
                    || n.reprovisioning
                    || (n.faulty && !matches!(n.liveness, Liveness::Alive))
            });
    if settled && limits.move_budget > 0 {
        let transfers = rebalance(&z.slots(), limits.slack, limits.move_budget);
        if !transfers.is_empty() {
            steps.push(Step::Rebalance(transfers));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, liveness: Liveness, assigned: u64) -> NodeState {
        NodeState {
            name: name.into(),
            capacity: 1.0,
            liveness,
            faulty: false,
            declared: false,
            assigned,
            ready: true,
            retired: false,
            reserved: false,
            reprovisioning: false,
        }
    }

    #[test]
    fn a_node_without_the_common_data_gets_no_systems() {
        let mut copying = node("b", Liveness::Alive, 0);
        copying.ready = false;
        let z = ZoneState {
            me: "a".into(),
            mode: LoadMode::Production,
            nodes: vec![node("a", Liveness::Alive, 1000), copying.clone()],
            orphans: 0,
            takeover: None,
        };
        assert!(
            plan(&z, &limits()).is_empty(),
            "no rebalancing towards a node still copying common data"
        );
        copying.ready = true;
        let z = ZoneState {
            nodes: vec![node("a", Liveness::Alive, 1000), copying],
            ..z
        };
        assert!(
            plan(&z, &limits())
                .iter()
                .any(|s| matches!(s, Step::Rebalance(_))),
            "once ready it is refilled"
        );
    }

    fn limits() -> Limits {
        Limits {
            failure_timeout: Duration::from_secs(60),
            maintenance_window: Duration::from_secs(600),
            slack: 0.05,
            move_budget: 10,
        }
    }

    fn zone(me: &str, nodes: Vec<NodeState>) -> ZoneState {
        ZoneState {
            me: me.into(),
            mode: LoadMode::Production,
            nodes,
            orphans: 0,
            takeover: None,
        }
    }

    #[test]
    fn only_the_lowest_alive_node_leads() {
        let z = zone(
            "b",
            vec![
                node("a", Liveness::Down(Duration::from_secs(1)), 5),
                node("b", Liveness::Alive, 5),
                node("c", Liveness::Alive, 5),
            ],
        );
        assert_eq!(leader(&z), Some("b"));
        let mut not_me = z.clone();
        not_me.me = "c".into();
        not_me.nodes[0].liveness = Liveness::Down(Duration::from_secs(3600));
        assert!(
            plan(&not_me, &limits()).is_empty(),
            "a follower decides nothing"
        );
    }

    #[test]
    fn down_past_the_timeout_is_declared_once_left_waits_for_the_window() {
        let mut z = zone(
            "a",
            vec![
                node("a", Liveness::Alive, 5),
                node("b", Liveness::Down(Duration::from_secs(59)), 5),
                node("c", Liveness::Left(Duration::from_secs(300)), 5),
            ],
        );
        assert!(plan(&z, &limits()).is_empty(), "not yet");
        z.nodes[1].liveness = Liveness::Down(Duration::from_secs(60));
        assert_eq!(
            plan(&z, &limits()),
            vec![Step::DeclareFault {
                node: "b".into(),
                reason: FaultReason::Down
            }]
        );
        z.nodes[1].declared = true;
        z.nodes[2].liveness = Liveness::Left(Duration::from_secs(600));
        assert_eq!(
            plan(&z, &limits()),
            vec![Step::DeclareFault {
                node: "c".into(),
                reason: FaultReason::Left
            }]
        );
    }

    #[test]
    fn a_returning_faulty_node_reonboards_or_gets_its_systems_back_by_mode() {
        let mut z = zone(
            "a",
            vec![node("a", Liveness::Alive, 5), node("b", Liveness::Alive, 0)],
        );
        z.nodes[1].faulty = true;
        // Production: the leader leaves it to the node; the node re-onboards itself.
        assert!(plan(&z, &limits()).is_empty());
        let mut at_b = z.clone();
        at_b.me = "b".into();
        assert_eq!(plan(&at_b, &limits()), vec![Step::ReOnboardSelf]);
        // Disaster recovery: the leader hands its systems back.
        z.mode = LoadMode::DisasterRecovery;
        assert_eq!(
            plan(&z, &limits()),
            vec![Step::ReturnSystems { node: "b".into() }]
        );
        at_b.mode = LoadMode::DisasterRecovery;
        assert!(plan(&at_b, &limits()).is_empty());
    }

    #[test]
    fn orphans_are_placed_before_any_rebalancing() {
        let mut z = zone(
            "a",
            vec![
                node("a", Liveness::Alive, 100),
                node("b", Liveness::Alive, 0),
            ],
        );
        z.orphans = 3;
        assert_eq!(plan(&z, &limits()), vec![Step::PlaceOrphans]);
        z.orphans = 0;
        match plan(&z, &limits()).as_slice() {
            [Step::Rebalance(t)] => {
                assert_eq!(t.iter().map(|t| t.count).sum::<u64>(), 10, "budget");
                assert!(t.iter().all(|t| t.from == "a" && t.to == "b"));
            }
            other => panic!("{other:?}"),
        }
        // A node in transition (suspect) holds rebalancing back.
        z.nodes.push(node("c", Liveness::Suspect, 0));
        assert!(plan(&z, &limits()).is_empty());
    }

    #[test]
    fn a_suspected_leader_keeps_the_role_until_it_is_down() {
        let mut z = zone(
            "b",
            vec![
                node("a", Liveness::Suspect, 5),
                node("b", Liveness::Alive, 5),
            ],
        );
        assert_eq!(leader(&z), Some("a"));
        z.nodes[0].liveness = Liveness::Down(Duration::from_secs(1));
        assert_eq!(leader(&z), Some("b"));
    }

    #[test]
    fn systems_left_on_a_faulty_absent_node_are_remapped_again() {
        let mut z = zone(
            "a",
            vec![
                node("a", Liveness::Alive, 5),
                node("b", Liveness::Down(Duration::from_secs(999)), 3),
            ],
        );
        z.nodes[1].faulty = true;
        assert_eq!(
            plan(&z, &limits()),
            vec![Step::RemapFaulty { node: "b".into() }]
        );
        z.nodes[1].assigned = 0;
        assert!(plan(&z, &limits()).is_empty());
    }

    #[test]
    fn a_lone_faulty_node_in_disaster_recovery_takes_its_systems_back_itself() {
        let mut z = zone(
            "x",
            vec![
                node("x", Liveness::Alive, 0),
                node("y", Liveness::Down(Duration::from_secs(999)), 10),
            ],
        );
        z.mode = LoadMode::DisasterRecovery;
        z.nodes[0].faulty = true;
        assert_eq!(
            plan(&z, &limits()),
            vec![Step::ReturnSystems { node: "x".into() }]
        );
    }

    #[test]
    fn a_fresh_node_takes_over_only_once_it_holds_common_data_and_content() {
        let mut z = zone(
            "b",
            vec![
                node("a", Liveness::Alive, 100),
                node("b", Liveness::Alive, 0),
                node("c", Liveness::Alive, 100),
            ],
        );
        z.nodes[1].reserved = true;
        z.nodes[1].ready = false;
        z.takeover = Some(Takeover {
            old: "c".into(),
            content_ready: true,
        });
        assert!(plan(&z, &limits()).is_empty(), "still copying common data");
        z.nodes[1].ready = true;
        z.takeover = Some(Takeover {
            old: "c".into(),
            content_ready: false,
        });
        assert!(plan(&z, &limits()).is_empty(), "still fetching content");
        z.takeover = Some(Takeover {
            old: "c".into(),
            content_ready: true,
        });
        assert_eq!(
            plan(&z, &limits()),
            vec![Step::TakeOver { old: "c".into() }]
        );
    }

    #[test]
    fn a_reserved_node_is_no_target_and_a_retired_one_is_left_alone() {
        // The leader "a" sees an empty fresh node: it does not rebalance towards it.
        let mut z = zone(
            "a",
            vec![
                node("a", Liveness::Alive, 1000),
                node("b", Liveness::Alive, 0),
            ],
        );
        z.nodes[1].reserved = true;
        assert!(plan(&z, &limits()).is_empty(), "{:?}", plan(&z, &limits()));
        assert!(z.slots().iter().all(|s| s.name != "b"));
        // After the takeover the replaced node "c" is retired: alive or not, nothing is
        // returned to it, it does not re-onboard, and rebalancing among the others goes on.
        for mode in [LoadMode::Production, LoadMode::DisasterRecovery] {
            let mut z = zone(
                "a",
                vec![
                    node("a", Liveness::Alive, 1000),
                    node("b", Liveness::Alive, 0),
                    node("c", Liveness::Alive, 0),
                ],
            );
            z.mode = mode;
            z.nodes[2].faulty = true;
            z.nodes[2].retired = true;
            let steps = plan(&z, &limits());
            assert!(
                steps.iter().all(|s| matches!(s, Step::Rebalance(_))),
                "{steps:?}"
            );
            assert!(!steps.is_empty(), "rebalancing a and b is not held up");
            let mut me_retired = z.clone();
            me_retired.me = "c".into();
            assert!(plan(&me_retired, &limits()).is_empty());
        }
    }

    #[test]
    fn a_node_being_reprovisioned_keeps_its_fault_until_its_controller_clears_it() {
        for mode in [LoadMode::Production, LoadMode::DisasterRecovery] {
            let mut z = zone(
                "a",
                vec![
                    node("a", Liveness::Alive, 500),
                    node("b", Liveness::Alive, 500),
                    node("c", Liveness::Alive, 0),
                ],
            );
            z.mode = mode;
            z.nodes[2].faulty = true;
            z.nodes[2].reprovisioning = true;
            assert!(
                plan(&z, &limits()).is_empty(),
                "{mode:?}: nothing returned to it"
            );
            assert!(z.slots().iter().all(|s| s.name != "c"), "no target");
            let mut me = z.clone();
            me.me = "c".into();
            assert!(
                plan(&me, &limits()).is_empty(),
                "{mode:?}: no re-onboarding by itself"
            );
        }
    }
}
