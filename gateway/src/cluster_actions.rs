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
/// Cluster actions kept (the oldest are dropped past this).
pub const KEPT: usize = 20_000;
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
}

#[derive(Debug, Default)]
struct State {
    table: Table,
    /// A node action's gateway id → its cluster action id.
    member_of: HashMap<i64, i64>,
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

    /// The table kept in `path`, loaded now. A file that does not parse is replaced (its
    /// cluster action ids answer "no such action"; the node actions stay listed).
    pub fn open(path: &Path) -> Result<Self, ClusterActionsError> {
        let table = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Table>(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e,
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
            member_of: HashMap::new(),
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
            let mut n = s.table.last + 1;
            if n > MAX_NUMBER {
                n = 1;
            }
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
    /// cluster action id; `Some(empty)` when it is one this gateway does not know.
    pub fn members(&self, id: i64) -> Option<Vec<i64>> {
        let n = number_of(id)?;
        Some(
            self.lock()
                .table
                .actions
                .get(&n)
                .cloned()
                .unwrap_or_default(),
        )
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
}
