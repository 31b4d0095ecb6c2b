//! Fake Uyuni nodes for the routing core's tests: a few systems and one action each, answers
//! scripted per node and method, nodes that do not answer, and a record of every call.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use uyuni_api::value::{StructBuilder, as_i64, int, string};
use uyuni_api::{Fault, Value};

use axum::body::Bytes;

use super::stream::RawChunks;
use super::{Cluster, Fanout, Outcome};
use crate::metastore::{MetastoreError, NodeView, Relocation};
use crate::pool::{Answer, Credentials};

/// The action every fake node has (its own id 7).
pub(super) const ACTION: i64 = 7;

/// One call a fake node received.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Received {
    pub(super) node: String,
    pub(super) method: String,
    pub(super) args: Vec<Value>,
}

/// A cluster of fake nodes.
#[derive(Debug, Default)]
pub(super) struct Fake {
    nodes: Vec<NodeView>,
    systems: BTreeMap<String, Vec<i64>>,
    leaders: BTreeMap<String, String>,
    scripted: BTreeMap<(String, String), Answer>,
    unreachable: BTreeSet<String>,
    moved: BTreeMap<(u32, i64), Relocation>,
    first: Mutex<BTreeMap<(String, String), (Answer, usize)>>,
    cut: BTreeSet<String>,
    calls: Mutex<Vec<Received>>,
}

/// Gateway id of system `local` of the node in `slot`.
pub(super) fn sys(slot: i64, local: i64) -> i64 {
    local + slot * 1_000_000
}

/// Gateway id of action `local` of the node in `slot`.
pub(super) fn act(slot: i64, local: i64) -> i64 {
    local * 1024 + slot
}

/// An array of ints.
pub(super) fn ints(ids: &[i64]) -> Value {
    Value::Array(ids.iter().map(|i| int(*i)).collect())
}

/// A call as a fake node records it.
pub(super) fn received(node: &str, method: &str, args: Vec<Value>) -> Received {
    Received {
        node: node.into(),
        method: method.into(),
        args,
    }
}

/// The credentials of every test call.
pub(super) fn cred() -> Credentials {
    Credentials {
        user: "admin".into(),
        key: "1x".to_string() + &"0".repeat(64),
        nodes: Default::default(),
    }
}

/// A system as a node lists it.
pub(super) fn system(node: &str, id: i64) -> Value {
    StructBuilder::new()
        .field("id", int(id))
        .field("name", string(format!("{node}-{id}")))
        .build()
}

impl Fake {
    /// Nodes `a`, `b`, `c` in one zone with slots 0, 1, 2, all alive. Their systems (own
    /// ids): `a` 1000010000 and 1000010001, `b` 1000010000 and 1000010005, `c` 1000010002.
    pub(super) fn three() -> Self {
        Self::default()
            .node("a", "z1", Some(0), &[1_000_010_000, 1_000_010_001])
            .node("b", "z1", Some(1), &[1_000_010_000, 1_000_010_005])
            .node("c", "z1", Some(2), &[1_000_010_002])
    }

    /// Add an alive node.
    pub(super) fn node(
        mut self,
        name: &str,
        zone: &str,
        slot: Option<u32>,
        systems: &[i64],
    ) -> Self {
        self.nodes.push(NodeView {
            name: name.into(),
            zone: zone.into(),
            slot,
            uyuni_api: format!("https://{name}.example.com/rpc/api"),
            status: "alive".into(),
            systems: systems.len() as u64,
            fqdn: format!("{name}.example.com"),
            capacity: 1.0,
            online: 0,
            faulty: None,
            common_ready: true,
        });
        self.systems.insert(name.into(), systems.to_vec());
        self
    }

    /// Set a node's membership status (`down`, `left`, ...): the core does not call it.
    pub(super) fn status(mut self, name: &str, status: &str) -> Self {
        for n in self.nodes.iter_mut().filter(|n| n.name == name) {
            n.status = status.into();
        }
        self
    }

    /// A node listed alive whose calls go unanswered (a timeout, a refused connection).
    pub(super) fn unreachable(mut self, name: &str) -> Self {
        self.unreachable.insert(name.into());
        self
    }

    /// What `node` answers to its first `n` calls of `method`.
    pub(super) fn script_first(self, node: &str, method: &str, answer: Answer, n: usize) -> Self {
        self.first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((node.into(), method.into()), (answer, n));
        self
    }

    /// What the metastore says of the system that was `local` on the node in `slot`.
    pub(super) fn moved(mut self, slot: u32, local: i64, now: Relocation) -> Self {
        self.moved.insert((slot, local), now);
        self
    }

    /// A node whose streamed answer breaks off halfway (its connection drops).
    pub(super) fn cut_mid_answer(mut self, name: &str) -> Self {
        self.cut.insert(name.into());
        self
    }

    /// `zone`'s Leader Node.
    pub(super) fn leader(mut self, zone: &str, node: &str) -> Self {
        self.leaders.insert(zone.into(), node.into());
        self
    }

    /// What `node` answers to `method`, whatever the parameters.
    pub(super) fn script(mut self, node: &str, method: &str, answer: Answer) -> Self {
        self.scripted.insert((node.into(), method.into()), answer);
        self
    }

    /// Every call received so far, in order.
    pub(super) fn calls(&self) -> Vec<Received> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The calls of `method` received so far, sorted by node.
    pub(super) fn calls_of(&self, method: &str) -> Vec<Received> {
        let mut calls: Vec<Received> = self
            .calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect();
        calls.sort_by(|x, y| x.node.cmp(&y.node));
        calls
    }

    /// Answer `method(args)` after the session key, as the routing core does, with the
    /// pass-through turn starting at `turn`.
    pub(super) fn run_from(&self, turn: usize, method: &str, args: Vec<Value>) -> Outcome {
        let turn = AtomicUsize::new(turn);
        futures::executor::block_on(Fanout::new(self, &turn).answer(method, &cred(), args))
    }

    /// [`Fake::run`] keeping cluster actions in `actions`.
    pub(super) fn run_with(
        &self,
        actions: &crate::cluster_actions::ClusterActions,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        let turn = AtomicUsize::new(0);
        futures::executor::block_on(
            Fanout::new(self, &turn)
                .with_cluster_actions(actions)
                .answer(method, &cred(), args),
        )
    }

    /// [`Fake::run_from`] with the turn at 0 (pass-through calls go to the first node).
    pub(super) fn run(&self, method: &str, args: Vec<Value>) -> Outcome {
        self.run_from(0, method, args)
    }

    fn answer(&self, node: &str, method: &str, args: &[Value]) -> Answer {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Received {
                node: node.into(),
                method: method.into(),
                args: args.to_vec(),
            });
        if self.unreachable.contains(node) {
            return Answer::Unavailable("connection refused".into());
        }
        if let Some((a, n)) = self
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(&(node.to_string(), method.to_string()))
            .filter(|(_, n)| *n > 0)
        {
            *n -= 1;
            return a.clone();
        }
        if let Some(a) = self.scripted.get(&(node.to_string(), method.to_string())) {
            return a.clone();
        }
        let own: &[i64] = self.systems.get(node).map_or(&[], Vec::as_slice);
        let first = args.first().and_then(as_i64);
        match method {
            "system.listSystems" | "system.listSystemsWithPackage" => Answer::Value(Value::Array(
                own.iter().map(|id| system(node, *id)).collect(),
            )),
            "system.getDetails" => match first.filter(|id| own.contains(id)) {
                Some(id) => Answer::Value(
                    StructBuilder::new()
                        .field("id", int(id))
                        .field("hostname", string(format!("{node}-{id}.example.com")))
                        .build(),
                ),
                None => Answer::Fault(Fault::no_such_system(first.unwrap_or_default())),
            },
            "system.scheduleScriptRun" => Answer::Value(int(ACTION)),
            "system.scheduleReboot"
            | "system.schedulePackageInstall"
            | "system.scheduleApplyErrata" => match first.filter(|id| own.contains(id)) {
                Some(_) => Answer::Value(int(ACTION)),
                None if args.first().is_some_and(|a| matches!(a, Value::Array(_))) => {
                    Answer::Value(int(ACTION))
                }
                None => Answer::Fault(Fault::no_such_system(first.unwrap_or_default())),
            },
            "schedule.listAllActions" => Answer::Value(Value::Array(vec![
                StructBuilder::new()
                    .field("id", int(ACTION))
                    .field("name", string(format!("reboot on {node}")))
                    .build(),
            ])),
            "schedule.listCompletedSystems" | "system.getScriptActionDetails" => {
                if first != Some(ACTION) {
                    let id = first.unwrap_or_default();
                    return Answer::Fault(Fault::xmlrpc(-1, format!("No such action - id = {id}")));
                }
                Answer::Value(Value::Array(
                    own.iter()
                        .map(|id| StructBuilder::new().field("server_id", int(*id)).build())
                        .collect(),
                ))
            }
            "channel.software.getDetails" => Answer::Value(
                StructBuilder::new()
                    .field("label", args.first().cloned().unwrap_or(Value::Nil))
                    .field("answered_by", string(node))
                    .build(),
            ),
            _ => Answer::Value(int(1)),
        }
    }
}

impl Cluster for Fake {
    fn nodes(&self) -> Vec<NodeView> {
        self.nodes.clone()
    }

    fn zone_leader(
        &self,
        zone: &str,
    ) -> impl Future<Output = Result<String, MetastoreError>> + Send {
        let leader = self
            .leaders
            .get(zone)
            .cloned()
            .ok_or_else(|| MetastoreError::NoLeader(zone.into()));
        std::future::ready(leader)
    }

    fn call(
        &self,
        node: &NodeView,
        _cred: Option<&Credentials>,
        method: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Answer> + Send {
        std::future::ready(self.answer(&node.name, method, &args))
    }

    fn pause(&self, _d: std::time::Duration) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    fn relocate(&self, slot: u32, local: i64) -> impl Future<Output = Relocation> + Send {
        std::future::ready(
            self.moved
                .get(&(slot, local))
                .cloned()
                .unwrap_or(Relocation::Unknown),
        )
    }

    fn open_raw(
        &self,
        node: &NodeView,
        _cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Answer<RawChunks>> + Send {
        // As a node sends it: a fault is a document too. In pieces of 5 bytes.
        let text = match self.answer(&node.name, method, &args) {
            Answer::Value(v) => uyuni_api::codec::render_response(&v),
            Answer::Fault(f) => Ok(uyuni_api::codec::render_fault(&f)),
            Answer::Unavailable(why) => return std::future::ready(Answer::Unavailable(why)),
        };
        let text = match text {
            Ok(t) => t.into_bytes(),
            Err(e) => return std::future::ready(Answer::Unavailable(e.to_string())),
        };
        let cut = self.cut.contains(&node.name);
        let end = if cut { text.len() / 2 } else { text.len() };
        let mut pieces: Vec<Result<Bytes, String>> = text[..end]
            .chunks(5)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        if cut {
            pieces.push(Err("connection reset by peer".into()));
        }
        let chunks: RawChunks = Box::pin(futures::stream::iter(pieces));
        std::future::ready(Answer::Value(chunks))
    }
}
