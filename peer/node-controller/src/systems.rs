//! Plan what a node must do about client systems so that its Uyuni server holds exactly the
//! systems the cluster assigned to it: pure, so every rule is tested without a server.
//!
//! * A system assigned here whose salt key is pending gets its key accepted
//!   (`saltkey.accept`); Uyuni then onboards it.
//! * A system this node still has but the cluster gave to another node, orphaned, deleted
//!   or banned is removed (`system.deleteSystem`, or `saltkey.delete` when only its key is
//!   here). This is also the flush of a node that re-onboards in production mode.
//! * Except: nothing is removed while this node is itself declared faulty (its systems may
//!   still come back; a node retired by a replacement or being re-provisioned is not "faulty"
//!   here: its systems left for good), and in disaster-recovery mode a system whose `previous_node` is this
//!   node is kept (the Load Driver is about to give it back).
//! * Minions the cluster does not know are left alone (counted as unmanaged).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crdt_store::{LoadMode, SystemRecord, SystemStatus};

/// What the node's Uyuni server has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalSystems {
    /// `saltkey.pendingList`.
    pub pending: BTreeSet<String>,
    /// `saltkey.acceptedList`.
    pub accepted: BTreeSet<String>,
    /// `system.getMinionIdMap`: minion id → system id.
    pub registered: BTreeMap<String, i64>,
}

/// One change to the node's Uyuni server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemOp {
    /// `saltkey.accept(minion)`.
    AcceptKey(String),
    /// `system.deleteSystem(sid)`.
    DeleteSystem {
        /// Minion id.
        minion: String,
        /// Uyuni system id.
        sid: i64,
    },
    /// `saltkey.delete(minion)`: accepted, not (yet) registered.
    DeleteKey(String),
}

/// The plan and what it noticed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemPlan {
    /// Operations, accepts first.
    pub ops: Vec<SystemOp>,
    /// Minions on the node the cluster does not know.
    pub unmanaged: usize,
    /// Systems assigned here whose minion has not shown up (no key yet).
    pub awaiting_minion: usize,
}

/// The cluster's view that matters here.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// This node.
    pub me: &'a str,
    /// The zone's mode.
    pub mode: LoadMode,
    /// This node is declared faulty.
    pub faulty: bool,
}

fn is_mine(r: &SystemRecord, me: &str) -> bool {
    r.node.as_deref() == Some(me) && r.status == SystemStatus::Onboarded && !r.banned
}

/// The systems registered on this node (`me`) whose record does not hold their Uyuni id here
/// yet (or holds an older one: deleted and registered again), fingerprint → id: only systems
/// the cluster assigns here and that are onboarded.
pub fn ids_to_record(
    me: &str,
    records: &HashMap<String, SystemRecord>,
    local: &LocalSystems,
) -> BTreeMap<String, i64> {
    local
        .registered
        .iter()
        .filter_map(|(minion, sid)| {
            let r = records.get(minion)?;
            (is_mine(r, me) && r.uyuni_ids.get(me) != Some(sid))
                .then(|| (r.fingerprint.clone(), *sid))
        })
        .collect()
}

/// Index records by minion id. A minion that re-keyed (reinstalled) has several records; the
/// live one wins: not deleted before deleted, then the latest registration, then the latest
/// change.
pub fn by_minion(records: Vec<SystemRecord>) -> HashMap<String, SystemRecord> {
    let rank = |r: &SystemRecord| {
        (
            r.status != SystemStatus::Deleted && !r.banned,
            r.registered_at,
            r.updated_at,
        )
    };
    let mut out: HashMap<String, SystemRecord> = HashMap::with_capacity(records.len());
    for r in records {
        match out.get(&r.minion_id) {
            Some(old) if rank(old) >= rank(&r) => {}
            _ => {
                out.insert(r.minion_id.clone(), r);
            }
        }
    }
    out
}

/// The plan for `local` given the cluster's records (by minion id).
pub fn plan(
    view: View<'_>,
    records: &HashMap<String, SystemRecord>,
    local: &LocalSystems,
) -> SystemPlan {
    let mut out = SystemPlan::default();
    for r in records.values().filter(|r| is_mine(r, view.me)) {
        if local.pending.contains(&r.minion_id) {
            out.ops.push(SystemOp::AcceptKey(r.minion_id.clone()));
        } else if !local.accepted.contains(&r.minion_id)
            && !local.registered.contains_key(&r.minion_id)
        {
            out.awaiting_minion += 1;
        }
    }
    out.ops
        .sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    let here: BTreeSet<&String> = local
        .accepted
        .iter()
        .chain(local.registered.keys())
        .collect();
    for minion in here {
        let Some(r) = records.get(minion) else {
            out.unmanaged += 1;
            continue;
        };
        if is_mine(r, view.me) {
            continue;
        }
        // Waiting for an administrator (new) or for a node (orphan): no decision yet, and
        // the node may well be this one. An adopted server keeps its systems meanwhile.
        if matches!(r.status, SystemStatus::New | SystemStatus::Orphan) && !r.banned {
            out.unmanaged += 1;
            continue;
        }
        // A faulty node, or one whose replica may still be stale, removes nothing.
        if view.faulty {
            continue;
        }
        let gone = r.banned || r.status == SystemStatus::Deleted;
        if !gone
            && view.mode == LoadMode::DisasterRecovery
            && r.previous_node.as_deref() == Some(view.me)
        {
            continue;
        }
        out.ops.push(match local.registered.get(minion) {
            Some(&sid) => SystemOp::DeleteSystem {
                minion: minion.clone(),
                sid,
            },
            None => SystemOp::DeleteKey(minion.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(
        minion: &str,
        status: SystemStatus,
        node: Option<&str>,
        prev: Option<&str>,
    ) -> SystemRecord {
        let mut r = SystemRecord::new(format!("fp-{minion}"), minion, 1)
            .with_status(status)
            .with_node(node)
            .with_zone("z");
        r.previous_node = prev.map(Into::into);
        r
    }

    fn local() -> LocalSystems {
        LocalSystems {
            pending: ["new-here", "stranger-pending"].map(String::from).into(),
            accepted: [
                "mine", "moved", "dr-back", "deleted", "key-only", "unknown", "waiting", "adopted",
            ]
            .map(String::from)
            .into(),
            registered: [
                ("mine", 1),
                ("moved", 2),
                ("dr-back", 3),
                ("deleted", 4),
                ("unknown", 5),
            ]
            .map(|(m, s)| (m.to_string(), s))
            .into(),
        }
    }

    fn records() -> HashMap<String, SystemRecord> {
        use SystemStatus::*;
        by_minion(vec![
            sys("new-here", Onboarded, Some("a"), None),
            sys("mine", Onboarded, Some("a"), None),
            sys("moved", Onboarded, Some("b"), None),
            sys("dr-back", Onboarded, Some("b"), Some("a")),
            sys("deleted", Deleted, None, None),
            sys("key-only", Onboarded, Some("b"), Some("a")),
            sys("waiting", Orphan, None, Some("a")),
            sys("adopted", New, None, None),
            sys("not-yet", Onboarded, Some("a"), None),
        ])
    }

    #[test]
    fn production_accepts_mine_and_flushes_the_rest() {
        let p = plan(
            View {
                me: "a",
                mode: LoadMode::Production,
                faulty: false,
            },
            &records(),
            &local(),
        );
        assert_eq!(
            p.ops,
            vec![
                SystemOp::AcceptKey("new-here".into()),
                SystemOp::DeleteSystem {
                    minion: "deleted".into(),
                    sid: 4
                },
                SystemOp::DeleteSystem {
                    minion: "dr-back".into(),
                    sid: 3
                },
                SystemOp::DeleteKey("key-only".into()),
                SystemOp::DeleteSystem {
                    minion: "moved".into(),
                    sid: 2
                },
            ]
        );
        assert_eq!(
            (p.unmanaged, p.awaiting_minion),
            (3, 1),
            "unknown, orphan and new minions are left alone"
        );
    }

    #[test]
    fn disaster_recovery_keeps_what_comes_back_and_a_faulty_node_removes_nothing() {
        let dr = plan(
            View {
                me: "a",
                mode: LoadMode::DisasterRecovery,
                faulty: false,
            },
            &records(),
            &local(),
        );
        assert!(
            !dr.ops.iter().any(
                |op| matches!(op, SystemOp::DeleteSystem { minion, .. } if minion == "dr-back")
            )
        );
        assert!(dr.ops.contains(&SystemOp::DeleteSystem {
            minion: "moved".into(),
            sid: 2
        }));
        let faulty = plan(
            View {
                me: "a",
                mode: LoadMode::Production,
                faulty: true,
            },
            &records(),
            &local(),
        );
        let deletes: Vec<_> = faulty
            .ops
            .iter()
            .filter(|op| !matches!(op, SystemOp::AcceptKey(_)))
            .collect();
        assert!(deletes.is_empty(), "{deletes:?}");
    }

    #[test]
    fn the_live_record_of_a_reinstalled_minion_wins() {
        let mut stale = sys("m", SystemStatus::Deleted, None, None);
        stale.fingerprint = "old key".into();
        stale.updated_at = 50; // cleaned up after the new key registered
        let mut live = sys("m", SystemStatus::Onboarded, Some("a"), None);
        live.registered_at = 10;
        live.updated_at = 20;
        for records in [
            vec![stale.clone(), live.clone()],
            vec![live.clone(), stale.clone()],
        ] {
            assert_eq!(by_minion(records)["m"].fingerprint, live.fingerprint);
        }
        let mut newer = live.clone();
        newer.fingerprint = "newer key".into();
        newer.registered_at = 30;
        assert_eq!(
            by_minion(vec![live, newer.clone()])["m"].fingerprint,
            newer.fingerprint
        );
    }

    #[test]
    fn registered_systems_of_this_node_get_their_uyuni_id_recorded_once() {
        let mut recorded = sys("recorded", SystemStatus::Onboarded, Some("n1"), None);
        recorded.uyuni_ids.insert("n1".into(), 1_000_010_002);
        let mut moved_here = sys(
            "moved-here",
            SystemStatus::Onboarded,
            Some("n1"),
            Some("n0"),
        );
        moved_here.uyuni_ids.insert("n0".into(), 1_000_010_000);
        let records = by_minion(vec![
            sys("new", SystemStatus::Onboarded, Some("n1"), None),
            recorded,
            moved_here,
            sys("elsewhere", SystemStatus::Onboarded, Some("n2"), None),
        ]);
        let local = LocalSystems {
            registered: [
                ("new", 1_000_010_001),
                ("recorded", 1_000_010_002),
                ("moved-here", 1_000_010_003),
                ("elsewhere", 1_000_010_004),
                ("stranger", 1_000_010_005),
            ]
            .map(|(m, id)| (m.to_string(), id))
            .into(),
            ..LocalSystems::default()
        };
        let ids = ids_to_record("n1", &records, &local);
        assert_eq!(
            ids,
            [("fp-moved-here", 1_000_010_003), ("fp-new", 1_000_010_001)]
                .map(|(f, id)| (f.to_string(), id))
                .into()
        );
    }
}
