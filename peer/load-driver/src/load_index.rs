//! The Load Driver's in-memory view of the Metastore: nodes, faults, zone policies, how many
//! systems each node holds and which systems wait for a node. Fed by the store's change
//! stream; about 20 bytes per system, so a million systems cost ~30 MB. Pure data structure:
//! no I/O.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use crdt_store::{
    FaultReason, FaultRecord, IntegrityRecord, LoadMode, NodeRecord, Record, RecordKind,
    ReplacementRecord, SystemStatus,
};

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    node: u32,
    zone: u32,
    status: SystemStatus,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct LoadIndex {
    names: Vec<String>,
    ids: HashMap<String, u32>,
    systems: HashMap<u64, Entry>,
    assigned: HashMap<u32, u64>,
    /// Orphans waiting for a node: fingerprint → zone id.
    orphans: BTreeMap<String, u32>,
    new: u64,
    nodes: BTreeMap<String, NodeRecord>,
    faults: BTreeMap<String, FaultRecord>,
    policies: BTreeMap<String, LoadMode>,
    /// Common-data generation by zone (from the lease records).
    generations: BTreeMap<String, u64>,
    /// Node replacements by the replaced node's name.
    replacements: BTreeMap<String, ReplacementRecord>,
    /// Integrity checks by node name.
    integrity: BTreeMap<String, IntegrityRecord>,
    /// Moves when a node is added or removed or changes its zone or addresses
    /// ([`LoadIndex::nodes_generation`]).
    nodes_generation: u64,
}

fn key_hash(key: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

impl LoadIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// Take in the current value of `key` (`None`: deleted).
    pub fn apply(&mut self, key: &str, record: Option<&Record>) {
        match record {
            Some(Record::System(s)) => {
                let node = s.node.as_deref().map_or(NONE, |n| self.intern(n));
                let zone = s.zone.as_deref().map_or(NONE, |z| self.intern(z));
                let entry = Entry {
                    node,
                    zone,
                    status: s.status,
                };
                let old = self.systems.insert(key_hash(key), entry);
                self.account(old, -1);
                self.account(Some(entry), 1);
                if entry.status == SystemStatus::Orphan && node == NONE && !s.banned {
                    self.orphans.insert(s.fingerprint.clone(), zone);
                } else {
                    self.orphans.remove(&s.fingerprint);
                }
            }
            // Only servers take systems and lead zones: a gateway peer is a member that
            // holds a replica, not a node of its zone.
            Some(Record::Node(n)) if n.role == "server" || n.role.is_empty() => {
                let same = self.nodes.get(&n.name).is_some_and(|o| {
                    (&o.zone, o.master_address(), &o.http) == (&n.zone, n.master_address(), &n.http)
                });
                if !same {
                    self.nodes_generation += 1;
                }
                self.nodes.insert(n.name.clone(), n.clone());
            }
            Some(Record::Node(n)) => {
                if self.nodes.remove(&n.name).is_some() {
                    self.nodes_generation += 1;
                }
            }
            Some(Record::Fault(f)) => {
                self.faults.insert(f.node.clone(), f.clone());
            }
            Some(Record::Policy(p)) => {
                self.policies.insert(p.zone.clone(), p.mode);
            }
            Some(Record::Lease(l)) => {
                self.generations.insert(l.zone.clone(), l.generation);
            }
            Some(Record::Replacement(x)) => {
                self.replacements.insert(x.old.clone(), x.clone());
            }
            Some(Record::Integrity(i)) => {
                self.integrity.insert(i.node.clone(), i.clone());
            }
            Some(
                Record::Zone(_)
                | Record::Common(_)
                | Record::Session(_)
                | Record::Repo(_)
                | Record::Subscription(_)
                | Record::Holdings(_)
                | Record::ClmVersion(_)
                | Record::ClmApply(_),
            ) => {}
            None => self.remove(key),
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(name) = key.strip_prefix(RecordKind::Node.prefix()) {
            if self.nodes.remove(name).is_some() {
                self.nodes_generation += 1;
            }
        } else if let Some(name) = key.strip_prefix(RecordKind::Fault.prefix()) {
            self.faults.remove(name);
        } else if let Some(zone) = key.strip_prefix(RecordKind::Policy.prefix()) {
            self.policies.remove(zone);
        } else if let Some(zone) = key.strip_prefix(RecordKind::Lease.prefix()) {
            self.generations.remove(zone);
        } else if let Some(old) = key.strip_prefix(RecordKind::Replacement.prefix()) {
            self.replacements.remove(old);
        } else if let Some(node) = key.strip_prefix(RecordKind::Integrity.prefix()) {
            self.integrity.remove(node);
        } else if key.starts_with(RecordKind::System.prefix()) {
            let old = self.systems.remove(&key_hash(key));
            self.account(old, -1);
            // Orphans are keyed by fingerprint; a deleted system key is rare enough to scan.
            if old.is_some_and(|e| e.status == SystemStatus::Orphan) {
                let fp = self
                    .orphans
                    .keys()
                    .find(|fp| crdt_store::system_key(fp) == key)
                    .cloned();
                if let Some(fp) = fp {
                    self.orphans.remove(&fp);
                }
            }
        }
    }

    fn account(&mut self, entry: Option<Entry>, delta: i64) {
        let Some(e) = entry else { return };
        if e.status == SystemStatus::New {
            self.new = self.new.saturating_add_signed(delta);
        }
        if e.status == SystemStatus::Onboarded && e.node != NONE {
            let c = self.assigned.entry(e.node).or_default();
            *c = c.saturating_add_signed(delta);
        }
    }

    /// Systems onboarded on `node`.
    pub fn assigned(&self, node: &str) -> u64 {
        self.ids
            .get(node)
            .and_then(|id| self.assigned.get(id))
            .copied()
            .unwrap_or(0)
    }

    /// Orphans of `zone` waiting for a node, in fingerprint order.
    pub fn orphans_in(&self, zone: &str) -> Vec<String> {
        let Some(&z) = self.ids.get(zone) else {
            return Vec::new();
        };
        self.orphans
            .iter()
            .filter(|(_, zz)| **zz == z)
            .map(|(fp, _)| fp.clone())
            .collect()
    }

    /// How many orphans of `zone` wait for a node.
    pub fn orphan_count_in(&self, zone: &str) -> usize {
        let Some(&z) = self.ids.get(zone) else {
            return 0;
        };
        self.orphans.values().filter(|zz| **zz == z).count()
    }

    /// All orphans waiting for a node.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// Systems known.
    pub fn system_count(&self) -> usize {
        self.systems.len()
    }

    /// Systems waiting for acceptance.
    pub fn new_count(&self) -> u64 {
        self.new
    }

    /// Node records by name.
    pub fn nodes(&self) -> &BTreeMap<String, NodeRecord> {
        &self.nodes
    }

    /// A number that moves whenever a node is added or removed or changes its zone, master
    /// address or HTTP address (what the agents' hints are made of), and not when a node
    /// record only rewrites its figures.
    pub fn nodes_generation(&self) -> u64 {
        self.nodes_generation
    }

    /// Number this index's node changes after `before`'s (an index that replaces another,
    /// rebuilt from the store, must not repeat a generation its readers saw).
    pub fn continue_generations(&mut self, before: &LoadIndex) {
        self.nodes_generation += before.nodes_generation + 1;
    }

    /// Fault records by node name.
    pub fn faults(&self) -> &BTreeMap<String, FaultRecord> {
        &self.faults
    }

    /// Node replacements by the replaced node's name.
    pub fn replacements(&self) -> &BTreeMap<String, ReplacementRecord> {
        &self.replacements
    }

    /// The pending replacement `node` is the fresh node of, if any.
    pub fn replacing(&self, node: &str) -> Option<&ReplacementRecord> {
        self.replacements
            .values()
            .find(|x| x.pending() && x.new == node)
    }

    /// Integrity checks by node name.
    pub fn integrity(&self) -> &BTreeMap<String, IntegrityRecord> {
        &self.integrity
    }

    /// Whether `node` failed its last integrity check (beyond the threshold).
    pub fn integrity_faulty(&self, node: &str) -> bool {
        self.integrity.get(node).is_some_and(|i| i.faulty)
    }

    /// Whether `node` is being re-provisioned.
    pub fn reprovisioning(&self, node: &str) -> bool {
        self.faults
            .get(node)
            .is_some_and(|f| f.reason == FaultReason::Reprovision)
    }

    /// Whether `node` was retired by a replacement.
    pub fn retired(&self, node: &str) -> bool {
        self.faults
            .get(node)
            .is_some_and(|f| f.reason == FaultReason::Retired)
    }

    /// The common-data generation of `zone` (publications by its Leader Nodes so far).
    pub fn common_generation(&self, zone: &str) -> u64 {
        self.generations.get(zone).copied().unwrap_or(0)
    }

    /// Whether `node` holds its zone's common data (always, for a node without a Node
    /// Controller): only then may it be given systems.
    pub fn common_ready(&self, node: &NodeRecord) -> bool {
        node.common_generation
            .is_none_or(|g| g >= self.common_generation(&node.zone))
    }

    /// The distribution mode of `zone` (production unless set).
    pub fn mode(&self, zone: &str) -> LoadMode {
        self.policies.get(zone).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdt_store::{SystemRecord, system_key};

    fn sys(fp: &str, status: SystemStatus, node: Option<&str>) -> Record {
        Record::System(
            SystemRecord::new(fp, fp, 0)
                .with_status(status)
                .with_node(node)
                .with_zone("z"),
        )
    }

    #[test]
    fn counts_follow_updates_and_deletes() {
        let mut ix = LoadIndex::new();
        let put = |ix: &mut LoadIndex, r: Record| ix.apply(&r.key(), Some(&r));
        put(&mut ix, sys("a", SystemStatus::New, None));
        put(&mut ix, sys("b", SystemStatus::Onboarded, Some("n1")));
        put(&mut ix, sys("c", SystemStatus::Onboarded, Some("n1")));
        assert_eq!((ix.new_count(), ix.assigned("n1")), (1, 2));
        put(&mut ix, sys("a", SystemStatus::Orphan, None));
        assert_eq!(ix.orphans_in("z"), vec!["a".to_string()]);
        assert_eq!(ix.new_count(), 0);
        put(&mut ix, sys("a", SystemStatus::Onboarded, Some("n2")));
        put(&mut ix, sys("b", SystemStatus::Onboarded, Some("n2")));
        assert!(ix.orphans_in("z").is_empty());
        assert_eq!((ix.assigned("n1"), ix.assigned("n2")), (1, 2));
        ix.apply(&system_key("c"), None);
        assert_eq!(ix.assigned("n1"), 0);
        put(&mut ix, sys("d", SystemStatus::Orphan, None));
        ix.apply(&system_key("d"), None);
        assert_eq!(ix.orphan_count(), 0);
        assert_eq!(ix.system_count(), 2);
        assert_eq!(ix.assigned("unknown"), 0);
        assert_eq!(ix.mode("z"), LoadMode::Production);
    }

    fn node(name: &str, zone: &str, http: &str, capacity: f64) -> Record {
        Record::Node(crdt_store::NodeRecord {
            name: name.into(),
            zone: zone.into(),
            peer_id: format!("peer-{name}"),
            role: "server".into(),
            addresses: Default::default(),
            http: Some(http.into()),
            fqdn: None,
            capacity,
            joined_at: 1,
            common_generation: None,
            slot: None,
            uyuni_api: None,
        })
    }

    #[test]
    fn the_nodes_generation_moves_with_what_the_hints_show() {
        let mut ix = LoadIndex::new();
        let g0 = ix.nodes_generation();
        ix.apply("n/n1", Some(&node("n1", "z", "h:1", 1.0)));
        let g1 = ix.nodes_generation();
        assert!(g1 > g0, "a new node");
        ix.apply("n/n1", Some(&node("n1", "z", "h:1", 2.0)));
        assert_eq!(ix.nodes_generation(), g1, "new figures only");
        ix.apply("n/n1", Some(&node("n1", "z", "h:2", 2.0)));
        let g2 = ix.nodes_generation();
        assert!(g2 > g1, "a new HTTP address");
        ix.apply("n/n1", None);
        let g3 = ix.nodes_generation();
        assert!(g3 > g2, "a node removed");
        let mut rebuilt = LoadIndex::new();
        rebuilt.apply("n/n1", Some(&node("n1", "z", "h:2", 2.0)));
        rebuilt.continue_generations(&ix);
        assert!(
            rebuilt.nodes_generation() > g3,
            "a rebuilt index never repeats a generation its readers saw"
        );
    }
}
