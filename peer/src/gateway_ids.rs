//! Ids outlive moves: where a system the API gateway once showed under a node's id is now.
//!
//! Each Node Controller records the Uyuni id of every system registered on its server in the
//! system's metastore record (`SystemRecord::uyuni_ids`, node → id, kept for earlier nodes).
//! A gateway id names a slot (a node) and that node's id; when that node is down, gone, or no
//! longer has the system, the gateway asks here: the fingerprint behind (node, id), then the
//! system's current node and its id there. The index from (node, id) to fingerprint is built
//! by one scan of the replica's systems, only when a lookup misses (the failure path), and
//! reused for [`INDEX_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crdt_store::{SystemRecord, SystemStatus};
use gateway::Relocation;

/// How long a built index answers before a miss rebuilds it.
pub const INDEX_TTL: Duration = Duration::from_secs(5);

/// (node, Uyuni id) → fingerprint, over every system record.
pub type IdIndex = HashMap<(String, i64), String>;

/// The index of `systems`.
pub fn index(systems: &[SystemRecord]) -> IdIndex {
    let mut out = IdIndex::with_capacity(systems.len());
    for s in systems {
        for (node, id) in &s.uyuni_ids {
            out.insert((node.clone(), *id), s.fingerprint.clone());
        }
    }
    out
}

/// An index and when it was built.
type Built = Option<(Instant, Arc<IdIndex>)>;

/// A cached [`IdIndex`] with its build time.
#[derive(Debug, Clone, Default)]
pub struct IndexCache(Arc<Mutex<Built>>);

impl IndexCache {
    /// The cached index, if built less than [`INDEX_TTL`] before `now`.
    pub fn fresh(&self, now: Instant) -> Option<Arc<IdIndex>> {
        let g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.as_ref()
            .filter(|(at, _)| now.duration_since(*at) < INDEX_TTL)
            .map(|(_, ix)| ix.clone())
    }

    /// Any cached index, however old.
    pub fn any(&self) -> Option<Arc<IdIndex>> {
        let g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.as_ref().map(|(_, ix)| ix.clone())
    }

    /// Keep `ix`, built at `at`.
    pub fn store(&self, at: Instant, ix: IdIndex) -> Arc<IdIndex> {
        let ix = Arc::new(ix);
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = Some((at, ix.clone()));
        ix
    }
}

/// What the gateway answers for the id `local` the system had on `old_node`: `record` is the
/// system the index found (`None`: no system ever recorded that id there), and
/// `old_node_empty` says the cluster assigns no system to `old_node` any more (all moved off
/// it, or it left), so an id nobody recorded there names no system.
pub fn relocation(
    old_node: &str,
    local: i64,
    record: Option<&SystemRecord>,
    old_node_empty: bool,
) -> Relocation {
    let Some(r) = record else {
        return if old_node_empty {
            Relocation::Gone
        } else {
            Relocation::Unknown
        };
    };
    if r.banned || r.status == SystemStatus::Deleted {
        return Relocation::Gone;
    }
    match r.node.as_deref() {
        // Still assigned there, or registered there again under another id.
        Some(n) if n == old_node => match r.uyuni_ids.get(n) {
            Some(id) if *id != local => Relocation::At {
                node: n.to_string(),
                local: *id,
            },
            _ => Relocation::Unknown,
        },
        Some(n) => match r.uyuni_ids.get(n) {
            Some(id) => Relocation::At {
                node: n.to_string(),
                local: *id,
            },
            // Assigned to its new node, not registered there yet: a moment.
            None => Relocation::Unknown,
        },
        None => Relocation::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(node: Option<&str>, ids: &[(&str, i64)]) -> SystemRecord {
        let mut r = SystemRecord::new("fp-1", "m1", 1)
            .with_status(SystemStatus::Onboarded)
            .with_node(node);
        r.uyuni_ids = ids.iter().map(|(n, id)| (n.to_string(), *id)).collect();
        r
    }

    #[test]
    fn an_id_on_a_failed_node_leads_to_the_systems_new_node() {
        let r = rec(Some("b"), &[("a", 1_000_010_004), ("b", 1_000_010_001)]);
        let ix = index(std::slice::from_ref(&r));
        assert_eq!(ix[&("a".to_string(), 1_000_010_004)], "fp-1");
        assert_eq!(
            relocation("a", 1_000_010_004, Some(&r), false),
            Relocation::At {
                node: "b".into(),
                local: 1_000_010_001
            }
        );
    }

    #[test]
    fn deleted_banned_or_never_recorded_on_an_emptied_node_is_gone() {
        let mut r = rec(Some("b"), &[("a", 1_000_010_004)]);
        r.status = SystemStatus::Deleted;
        assert_eq!(relocation("a", 1, Some(&r), false), Relocation::Gone);
        let mut r = rec(Some("b"), &[("a", 1_000_010_004)]);
        r.banned = true;
        assert_eq!(relocation("a", 1, Some(&r), false), Relocation::Gone);
        assert_eq!(relocation("a", 1, None, true), Relocation::Gone);
        assert_eq!(relocation("a", 1, None, false), Relocation::Unknown);
    }

    #[test]
    fn not_registered_on_its_new_node_yet_or_not_moved_is_unknown() {
        let r = rec(Some("b"), &[("a", 1_000_010_004)]);
        assert_eq!(
            relocation("a", 1_000_010_004, Some(&r), false),
            Relocation::Unknown
        );
        let r = rec(Some("a"), &[("a", 1_000_010_004)]);
        assert_eq!(
            relocation("a", 1_000_010_004, Some(&r), false),
            Relocation::Unknown
        );
        // Registered again on the same node under a new id.
        let r = rec(Some("a"), &[("a", 1_000_010_009)]);
        assert_eq!(
            relocation("a", 1_000_010_004, Some(&r), false),
            Relocation::At {
                node: "a".into(),
                local: 1_000_010_009
            }
        );
    }
}
