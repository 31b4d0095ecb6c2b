//! The hints agent answers carry: which nodes exist (salt master and peer addresses) and
//! which peers of each zone are alive, built on demand ([`HintCache`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_core::membership::{MemberStatus, Membership};

use crate::load_index::LoadIndex;

/// The agents' hints are rebuilt at most this often (they name the peers and nodes an agent
/// may ask; an agent asks every few minutes).
const HINTS_EVERY: Duration = Duration::from_secs(1);

/// Where a node's systems must go and how to reach its peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHint {
    /// The node's zone.
    pub zone: String,
    /// Salt master address of the node.
    pub fqdn: String,
    /// HTTP address of the node's peer.
    pub http: Option<String>,
}

/// What agent answers need besides the system record ([`HintCache`]).
#[derive(Debug, Default)]
pub struct Hints {
    /// Nodes by name.
    pub nodes: HashMap<String, NodeHint>,
    /// HTTP addresses of alive peers per zone, this peer excluded.
    pub peers_by_zone: BTreeMap<String, Vec<String>>,
}

impl Hints {
    /// Up to `n` other peers, those of `zone` first.
    pub fn peers_for(&self, zone: Option<&str>, n: usize) -> Vec<String> {
        let mut out: Vec<String> = zone
            .and_then(|z| self.peers_by_zone.get(z))
            .map(|v| v.iter().take(n).cloned().collect())
            .unwrap_or_default();
        for (z, list) in &self.peers_by_zone {
            if Some(z.as_str()) == zone {
                continue;
            }
            for p in list {
                if out.len() >= n {
                    return out;
                }
                out.push(p.clone());
            }
        }
        out
    }
}

/// The agents' hints with the generations (membership, nodes) they were built from and
/// when (`None`: never built).
type CachedHints = (Option<((u64, u64), Instant)>, Arc<Hints>);

/// The agents' hints, built when asked for and what they are made of changed.
#[derive(Debug, Default)]
pub struct HintCache(Mutex<CachedHints>);

impl HintCache {
    /// The hints for `members` and `index` (`me_http` left out): the cached ones while the
    /// membership table's and the index's generations are those they were built from, or
    /// while they were built less than [`HINTS_EVERY`] ago.
    pub fn get(&self, members: &Membership, index: &LoadIndex, me_http: &str) -> Arc<Hints> {
        let key = (members.generation(), index.nodes_generation());
        let now = Instant::now();
        let mut cached = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match cached.0 {
            Some((k, _)) if k == key => return cached.1.clone(),
            Some((_, at)) if now.duration_since(at) < HINTS_EVERY => return cached.1.clone(),
            _ => {}
        }
        let hints = Arc::new(build_hints(members, index, me_http));
        *cached = (Some((key, now)), hints.clone());
        hints
    }
}

/// The hints from every node record and every alive member but `me_http`.
fn build_hints(members: &Membership, index: &LoadIndex, me_http: &str) -> Hints {
    let mut hints = Hints::default();
    for (name, n) in index.nodes() {
        hints.nodes.insert(
            name.clone(),
            NodeHint {
                zone: n.zone.clone(),
                fqdn: n.master_address().to_string(),
                http: n.http.clone(),
            },
        );
    }
    for m in members
        .members()
        .filter(|m| m.status == MemberStatus::Alive)
    {
        if let Some(http) = m.info.http.as_ref().filter(|h| *h != me_http) {
            hints
                .peers_by_zone
                .entry(m.info.zone.clone())
                .or_default()
                .push(http.clone());
        }
    }
    for list in hints.peers_by_zone.values_mut() {
        list.sort();
    }
    hints
}
