//! Which systems are online: the last heartbeat (status request) each system sent to this
//! peer, kept in memory only. Counts per node are shared with the other peers on the
//! membership heartbeat, never written to the Metastore.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Mutex;

const SHARDS: usize = 16;

/// See the module documentation. Lock-sharded so that concurrent status requests rarely
/// wait on one another.
#[derive(Debug)]
pub struct OnlineTracker {
    shards: Vec<Mutex<HashMap<u64, Seen>>>,
}

#[derive(Debug, Clone)]
struct Seen {
    node: Option<std::sync::Arc<str>>,
    at_ms: u64,
}

impl Default for OnlineTracker {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl OnlineTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Note a heartbeat of `fingerprint`, currently assigned to `node`.
    pub fn seen(&self, fingerprint: &str, node: Option<&str>, now_ms: u64) {
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(fingerprint);
        let mut shard = lock(&self.shards[(h as usize) % SHARDS]);
        match shard.get_mut(&h) {
            Some(s) if s.node.as_deref() == node => s.at_ms = now_ms,
            _ => {
                shard.insert(
                    h,
                    Seen {
                        node: node.map(std::sync::Arc::from),
                        at_ms: now_ms,
                    },
                );
            }
        }
    }

    /// Systems seen within `window_ms` before `now_ms`, per assigned node (systems without a
    /// node under `""`). Older entries are dropped.
    pub fn counts(&self, now_ms: u64, window_ms: u64) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for shard in &self.shards {
            let mut shard = lock(shard);
            shard.retain(|_, s| now_ms.saturating_sub(s.at_ms) <= window_ms);
            for s in shard.values() {
                *out.entry(s.node.as_deref().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_recent_systems_per_node() {
        let t = OnlineTracker::new();
        t.seen("a", Some("n1"), 1000);
        t.seen("a", Some("n1"), 2000);
        t.seen("b", Some("n1"), 2000);
        t.seen("c", Some("n2"), 500);
        t.seen("d", None, 2000);
        let c = t.counts(2100, 1000);
        assert_eq!(c.get("n1"), Some(&2));
        assert_eq!(c.get("n2"), None, "too old");
        assert_eq!(c.get(""), Some(&1));
        // A system that moved counts for its new node only.
        t.seen("b", Some("n2"), 2200);
        let c = t.counts(2300, 1000);
        assert_eq!((c.get("n1"), c.get("n2")), (Some(&1), Some(&1)));
    }
}
