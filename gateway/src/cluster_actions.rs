//! Cluster actions: one gateway action id for a scheduling call whose systems live on several
//! nodes. A single Uyuni server answers `system.schedulePackageInstall([a, b], …)` with ONE
//! action id covering both systems; in a cluster each node schedules its own action, so the
//! gateway records the nodes' actions under one id of its own and every follow-up by that id
//! (`schedule.list*Systems`, `schedule.{cancel,archive,delete,reschedule}Actions`,
//! `system.getScriptResults`, …) fans out over them, while the lists of actions show the
//! group once under its id (counts summed) instead of once per node.
//!
//! A cluster action id is an action id of the reserved interleave slot
//! [`CLUSTER_ACTION_SLOT`]: `n × 1024 + 1023` (node slots 1023 and up have no action ids).
//! The table is this gateway's, like its sessions: kept in memory and, beside the session
//! file, in `DATA_DIR/gateway-actions.json` (rewritten atomically on every new cluster
//! action), bounded to the [`KEPT`] most recent; an older id answers Uyuni's 2700 "No such
//! action" (its node actions keep their own gateway ids, listed by `schedule.list*Actions`).
//!
//! **Across gateways**: each gateway numbers its cluster actions in its own residue class,
//! `n ≡ tag (mod TAGS)`, its **tag** chosen once (the lowest no other live gateway uses,
//! asked when it records its first cluster action) and kept in the file; so two gateways never
//! give the same id. A gateway asked about a cluster action id it did not give asks the
//! others (the peers' `GET /gateway/actions/{id}`) and keeps the answer in memory
//! ([`ClusterActions::learn`]), so follow-ups work through any gateway (docs/GATEWAY.md).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use uyuni_api::Value;

use crate::ids::IdKind;

/// The interleave slot of cluster action ids.
pub const CLUSTER_ACTION_SLOT: u32 = 1023;
/// Interleave factor (as [`crate::ids`]).
const ACTION_SLOTS: i64 = 1024;
/// The highest cluster action number that fits a 32-bit int.
const MAX_NUMBER: i64 = (i32::MAX as i64 - CLUSTER_ACTION_SLOT as i64) / ACTION_SLOTS;
/// Cluster actions kept (the oldest are dropped past this); also the bound of those learnt
/// from other gateways.
pub const KEPT: usize = 20_000;
/// Residue classes of cluster action numbers: one per gateway (its tag). 64 gateways at most
/// number without overlap; each has `MAX_NUMBER / TAGS` (32,767) numbers, more than [`KEPT`].
pub const TAGS: i64 = 64;
/// File name of the table in the data directory.
pub const FILE_NAME: &str = "gateway-actions.json";
/// Counters of an action summary (`schedule.list*Actions`) added up over a cluster action's
/// node actions.
const COUNTS: &[&str] = &["completedSystems", "failedSystems", "inProgressSystems"];

/// The number of cluster action id `id`, when it is one.
pub fn number_of(id: i64) -> Option<i64> {
    (id >= ACTION_SLOTS
        && id <= i64::from(i32::MAX)
        && id % ACTION_SLOTS == i64::from(CLUSTER_ACTION_SLOT))
    .then_some(id / ACTION_SLOTS)
}

/// The cluster action id of number `n`.
fn id_of(n: i64) -> i64 {
    n * ACTION_SLOTS + i64::from(CLUSTER_ACTION_SLOT)
}

/// Problems with the table's file.
#[derive(Debug, thiserror::Error)]
pub enum ClusterActionsError {
    /// Reading or writing failed.
    #[error("gateway action file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Table {
    /// The last number given.
    last: i64,
    /// Number → the node actions' gateway ids, in slot order.
    actions: BTreeMap<i64, Vec<i64>>,
    /// Numbers in the order given (oldest first), for the bound.
    #[serde(default)]
    order: std::collections::VecDeque<i64>,
    /// This gateway's tag: its numbers are `≡ tag (mod TAGS)`; `None` until chosen (a file of
    /// an older version: numbered from 0's class on).
    #[serde(default)]
    tag: Option<u32>,
}

impl Table {
    /// The next number after `last` in this gateway's class (wrapping past [`MAX_NUMBER`]).
    fn next_number(&self) -> i64 {
        let tag = i64::from(self.tag.unwrap_or(0)) % TAGS;
        let mut n = self.last + 1;
        n += (tag - n.rem_euclid(TAGS)).rem_euclid(TAGS);
        if n > MAX_NUMBER {
            n = if tag == 0 { TAGS } else { tag };
        }
        n
    }
}

#[derive(Debug, Default)]
struct State {
    table: Table,
    /// A node action's gateway id → its cluster action id.
    member_of: HashMap<i64, i64>,
    /// Cluster actions of other gateways learnt by asking them: id → node actions.
    learnt: HashMap<i64, Vec<i64>>,
    /// Their ids in the order learnt (oldest first), for the bound.
    learnt_order: std::collections::VecDeque<i64>,
}

impl State {
    /// Drop cluster action `n`; whether it was known.
    fn forget(&mut self, n: i64) -> bool {
        let Some(members) = self.table.actions.remove(&n) else {
            return false;
        };
        for m in members {
            if self.member_of.get(&m) == Some(&id_of(n)) {
                self.member_of.remove(&m);
            }
        }
        true
    }

    fn index(&mut self) {
        self.member_of = self
            .table
            .actions
            .iter()
            .flat_map(|(n, ms)| ms.iter().map(move |m| (*m, id_of(*n))))
            .collect();
    }
}

/// Where a table file that does not parse is moved: `<path>.damaged`.
fn damaged_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".damaged");
    PathBuf::from(name)
}

/// The table of cluster actions of one gateway.
#[derive(Debug, Default)]
pub struct ClusterActions {
    path: Option<PathBuf>,
    state: Mutex<State>,
}

impl ClusterActions {
    /// A table in memory only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The table kept in `path`, loaded now. A file that does not parse is moved aside to
    /// `<path>.damaged` (kept for inspection, never overwritten by the next write) and the
    /// table starts empty: its cluster action ids answer "no such action"; the node actions
    /// stay listed.
    pub fn open(path: &Path) -> Result<Self, ClusterActionsError> {
        let table = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Table>(&bytes).unwrap_or_else(|e| {
                let aside = damaged_path(path);
                let moved = std::fs::rename(path, &aside);
                tracing::warn!(path = %path.display(), error = %e, moved_to = %aside.display(),
                    moved = moved.is_ok(),
                    "gateway action file does not parse; its cluster action ids are forgotten");
                Table::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Table::default(),
            Err(source) => {
                return Err(ClusterActionsError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let mut state = State {
            table,
            ..State::default()
        };
        state.index();
        Ok(Self {
            path: Some(path.to_path_buf()),
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record node actions (their gateway ids) as one cluster action; its id. Written to the
    /// file before it is returned (a failed write is logged: the id still works until this
    /// gateway restarts).
    pub fn record(&self, members: Vec<i64>) -> i64 {
        let (id, bytes) = {
            let mut s = self.lock();
            let n = s.table.next_number();
            s.table.last = n;
            if s.forget(n) {
                s.table.order.retain(|o| *o != n);
            }
            while s.table.order.len() >= KEPT {
                if let Some(old) = s.table.order.pop_front() {
                    s.forget(old);
                }
            }
            for m in &members {
                s.member_of.insert(*m, id_of(n));
            }
            s.table.actions.insert(n, members);
            s.table.order.push_back(n);
            (
                id_of(n),
                self.path.as_ref().map(|_| serde_json::to_vec(&s.table)),
            )
        };
        if let (Some(path), Some(Ok(bytes))) = (&self.path, bytes)
            && let Err(e) = crate::session_file::write_atomically(path, &bytes)
        {
            tracing::warn!(path = %path.display(), error = %e, "gateway action file not written");
        }
        id
    }

    /// The node actions (gateway ids) of cluster action `id`; `None` when `id` is no
    /// cluster action id; `Some(empty)` when it is one this gateway neither gave nor learnt.
    pub fn members(&self, id: i64) -> Option<Vec<i64>> {
        let n = number_of(id)?;
        let s = self.lock();
        Some(
            s.table
                .actions
                .get(&n)
                .or_else(|| s.learnt.get(&id))
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// The node actions of cluster action `id` when this gateway gave it (what another
    /// gateway asking gets: `GET /gateway/actions/{id}`).
    pub fn own_members(&self, id: i64) -> Option<Vec<i64>> {
        let n = number_of(id)?;
        self.lock().table.actions.get(&n).cloned()
    }

    /// This gateway's tag, once chosen.
    pub fn tag(&self) -> Option<u32> {
        self.lock().table.tag
    }

    /// Choose this gateway's tag, unless it has one: the lowest in `0..TAGS` that `used` (the
    /// other gateways' tags) lacks (0 when all are used). Kept in the file with the next
    /// cluster action. Its tag.
    pub fn choose_tag(&self, used: &[u32]) -> u32 {
        let mut s = self.lock();
        if let Some(t) = s.table.tag {
            return t;
        }
        let max = u32::try_from(TAGS).unwrap_or(u32::MAX);
        let t = (0..max).find(|t| !used.contains(t)).unwrap_or(0);
        s.table.tag = Some(t);
        t
    }

    /// Keep cluster action `id` of another gateway (its node actions `members`), learnt by
    /// asking it: in memory, the newest [`KEPT`]; its node actions then fold into it in lists
    /// answered here too.
    pub fn learn(&self, id: i64, members: Vec<i64>) {
        if number_of(id).is_none() || members.is_empty() {
            return;
        }
        let mut s = self.lock();
        if s.learnt.contains_key(&id) {
            return;
        }
        while s.learnt_order.len() >= KEPT {
            if let Some(old) = s.learnt_order.pop_front()
                && let Some(ms) = s.learnt.remove(&old)
            {
                for m in ms {
                    if s.member_of.get(&m) == Some(&old) {
                        s.member_of.remove(&m);
                    }
                }
            }
        }
        for m in &members {
            s.member_of.entry(*m).or_insert(id);
        }
        s.learnt.insert(id, members);
        s.learnt_order.push_back(id);
    }

    /// How many cluster actions are known.
    pub fn len(&self) -> usize {
        self.lock().table.actions.len()
    }

    /// Whether none is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An answer with its node actions' ids (the fields `fields` of kind action, at any
    /// depth) shown as their cluster action's id; an array of structs that then holds one
    /// cluster action several times (`schedule.list*Actions`) holds it once, at its first
    /// place, with the counts of systems added up.
    pub fn fold(&self, v: Value, fields: &[(&str, IdKind)]) -> Value {
        let names: Vec<&str> = fields
            .iter()
            .filter(|(f, k)| *k == IdKind::Action && !f.is_empty())
            .map(|(f, _)| *f)
            .collect();
        let s = self.lock();
        if names.is_empty() || s.member_of.is_empty() {
            return v;
        }
        fold_in(v, &names, &s.member_of)
    }
}

fn fold_in(v: Value, names: &[&str], member_of: &HashMap<i64, i64>) -> Value {
    match v {
        Value::Array(items) => {
            let items: Vec<Value> = items
                .into_iter()
                .map(|i| fold_in(i, names, member_of))
                .collect();
            Value::Array(collapse(items, names, member_of))
        }
        Value::Struct(map) => Value::Struct(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match uyuni_api::value::as_i64(&v) {
                        Some(id) if names.contains(&k.as_str()) => member_of
                            .get(&id)
                            .map(|c| uyuni_api::value::int(*c))
                            .unwrap_or(v),
                        _ => fold_in(v, names, member_of),
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// Structs of one cluster action (same id field, a cluster action id) merged into the first.
fn collapse(items: Vec<Value>, names: &[&str], member_of: &HashMap<i64, i64>) -> Vec<Value> {
    let cluster_id = |v: &Value| -> Option<i64> {
        let Value::Struct(m) = v else { return None };
        names
            .iter()
            .filter_map(|n| m.get(*n).and_then(uyuni_api::value::as_i64))
            .find(|id| number_of(*id).is_some())
    };
    if !items.iter().any(|i| cluster_id(i).is_some()) || member_of.is_empty() {
        return items;
    }
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    let mut at: HashMap<i64, usize> = HashMap::new();
    for item in items {
        match cluster_id(&item) {
            Some(id) if at.contains_key(&id) => {
                let i = at[&id];
                if let (Value::Struct(first), Value::Struct(more)) = (&mut out[i], &item) {
                    for c in COUNTS {
                        if let (Some(a), Some(b)) = (
                            first.get(*c).and_then(uyuni_api::value::as_i64),
                            more.get(*c).and_then(uyuni_api::value::as_i64),
                        ) {
                            first.insert((*c).to_string(), uyuni_api::value::int(a + b));
                        }
                    }
                }
            }
            Some(id) => {
                at.insert(id, out.len());
                out.push(item);
            }
            None => out.push(item),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use uyuni_api::value::{StructBuilder, int, string};

    #[test]
    fn cluster_action_ids_use_the_reserved_slot_and_no_node_action_id_does() {
        let a = ClusterActions::in_memory();
        let id = a.record(vec![5 * 1024, 7 * 1024 + 1]);
        assert_eq!(id % 1024, 1023);
        assert_eq!(a.members(id), Some(vec![5 * 1024, 7 * 1024 + 1]));
        assert_eq!(a.members(5 * 1024), None);
        assert_eq!(a.members(id + 1024), Some(vec![]));
        assert_eq!(
            crate::ids::to_gateway(IdKind::Action, CLUSTER_ACTION_SLOT, 5),
            None
        );
    }

    #[test]
    fn lists_show_a_cluster_action_once_with_its_counts_added_up() {
        let a = ClusterActions::in_memory();
        let id = a.record(vec![5 * 1024, 7 * 1024 + 1]);
        let row = |aid: i64, done: i64| {
            StructBuilder::new()
                .field("id", int(aid))
                .field("name", string("Package Install"))
                .field("completedSystems", int(done))
                .field("failedSystems", int(0))
                .build()
        };
        let list = Value::Array(vec![
            row(5 * 1024, 2),
            row(9 * 1024, 1),
            row(7 * 1024 + 1, 3),
        ]);
        let Value::Array(out) = a.fold(list, &[("id", IdKind::Action)]) else {
            panic!("an array")
        };
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], row(id, 5));
        assert_eq!(out[1], row(9 * 1024, 1));
    }

    #[test]
    fn gateways_number_in_their_own_class_and_learn_each_others() {
        let first = ClusterActions::in_memory();
        assert_eq!(first.choose_tag(&[]), 0);
        let second = ClusterActions::in_memory();
        assert_eq!(second.choose_tag(&[0, 2]), 1);
        assert_eq!(second.choose_tag(&[]), 1, "kept once chosen");
        let a: Vec<i64> = (0..100).map(|i| first.record(vec![i * 1024])).collect();
        let b: Vec<i64> = (0..100)
            .map(|i| second.record(vec![i * 1024 + 1]))
            .collect();
        assert!(a.iter().all(|id| !b.contains(id)), "no id given twice");
        assert!(
            b.iter()
                .all(|id| number_of(*id).is_some_and(|n| n % TAGS == 1))
        );
        // The second gateway does not know the first's id until it learns it.
        assert_eq!(second.members(a[5]), Some(vec![]));
        assert_eq!(second.own_members(a[5]), None);
        second.learn(a[5], vec![500 * 1024, 600 * 1024 + 1]);
        assert_eq!(second.members(a[5]), Some(vec![500 * 1024, 600 * 1024 + 1]));
        assert_eq!(second.own_members(a[5]), None, "not its own");
        // Its lists fold the learnt one too.
        let row = |aid: i64| StructBuilder::new().field("id", int(aid)).build();
        let folded = second.fold(
            Value::Array(vec![row(500 * 1024), row(600 * 1024 + 1)]),
            &[("id", IdKind::Action)],
        );
        assert_eq!(folded, Value::Array(vec![row(a[5])]));
        // Numbers wrap within the class.
        let t = Table {
            tag: Some(3),
            last: 3,
            ..Table::default()
        };
        assert_eq!(t.next_number(), 3 + TAGS);
        let after = Table {
            tag: Some(3),
            last: MAX_NUMBER,
            ..Table::default()
        };
        assert_eq!(after.next_number(), 3);
    }

    #[test]
    fn the_table_survives_a_restart_and_stays_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let a = ClusterActions::open(&path).expect("open");
        let id = a.record(vec![1024, 2049]);
        let again = ClusterActions::open(&path).expect("reopen");
        assert_eq!(again.members(id), Some(vec![1024, 2049]));
        let b = ClusterActions::in_memory();
        let first = b.record(vec![1024, 1025]);
        for i in 0..KEPT as i64 {
            b.record(vec![(i + 2) * 1024, (i + 2) * 1024 + 1]);
        }
        assert_eq!(b.len(), KEPT);
        assert_eq!(b.members(first), Some(vec![]));
    }

    #[test]
    fn a_file_that_does_not_parse_is_moved_aside_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"{not json").expect("write");
        let a = ClusterActions::open(&path).expect("open");
        assert_eq!(a.len(), 0);
        let aside = dir.path().join(format!("{FILE_NAME}.damaged"));
        assert_eq!(std::fs::read(&aside).expect("kept"), b"{not json");
        let id = a.record(vec![1024, 2049]);
        let again = ClusterActions::open(&path).expect("reopen");
        assert_eq!(again.members(id), Some(vec![1024, 2049]));
        assert_eq!(std::fs::read(&aside).expect("still kept"), b"{not json");
    }
}
