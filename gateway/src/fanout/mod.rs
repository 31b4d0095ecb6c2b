//! The routing core: which node(s) answer one Uyuni call for the whole cluster, following
//! [`crate::table`], with ids translated in and out ([`crate::translate`]) and the answers
//! merged ([`crate::merge`]). It reaches the nodes only through [`Cluster`] (the node list,
//! zone leaders and one call on one node), so it runs the same over the HTTP pool
//! ([`crate::dispatch`]) and over fake nodes in unit tests. Sessions, the overall deadline and
//! `strict` stay in the shell ([`crate::dispatch`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::join_all;
use uyuni_api::{Fault, Value};

use crate::ids::IdKind;
use crate::merge::merge;
use crate::metastore::{MetastoreError, NodeView};
use crate::pool::{Answer, Credentials};
use crate::table::{Merge, Route, rule};
use crate::translate::{SeveralNodes, id_in, ids_out, owner_of_ids, split_ids};

#[cfg(test)]
mod fake;
#[cfg(test)]
mod gaps;
pub mod stream;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

/// The answer to one call.
#[derive(Debug)]
pub struct Outcome {
    /// What the caller gets.
    pub result: Result<Value, Fault>,
    /// Nodes (or zones, for common-data writes) that did not answer: the result lacks their
    /// part.
    pub missing: Vec<String>,
}

impl Outcome {
    /// An answer lacking nothing.
    pub fn done(result: Result<Value, Fault>) -> Self {
        Self {
            result,
            missing: Vec::new(),
        }
    }
}

/// The fault for an answer that could not be had from a node.
pub fn unavailable(what: &str) -> Fault {
    Fault::xmlrpc(-1, format!("Cluster node unavailable: {what}"))
}

/// Id fields of an answer to translate (see [`crate::table::Rule::ids_out`]).
pub type IdFields = &'static [(&'static str, IdKind)];

/// What the routing core needs of the cluster: its nodes, its zones' leaders, and one call on
/// one node (bounded by the implementation: a node that does not answer in time is
/// [`Answer::Unavailable`]).
pub trait Cluster: Send + Sync {
    /// The cluster's Uyuni nodes (as [`crate::Metastore::nodes`]).
    fn nodes(&self) -> Vec<NodeView>;
    /// The node leading `zone`'s common data (as [`crate::Metastore::zone_leader`]).
    fn zone_leader(
        &self,
        zone: &str,
    ) -> impl Future<Output = Result<String, MetastoreError>> + Send;
    /// Call `method(args)` on `node` as `cred` (without a session when `None`).
    fn call(
        &self,
        node: &NodeView,
        cred: Option<&Credentials>,
        method: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Answer> + Send;
    /// Like [`Cluster::call`] with a session, the answer's body as it arrives (a fault is in
    /// the body, as the node sent it): for merged lists streamed on ([`stream`]).
    fn open_raw(
        &self,
        node: &NodeView,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Answer<stream::RawChunks>> + Send;
}

/// The routing core over a [`Cluster`]; `turn` spreads pass-through calls over the nodes.
#[derive(Debug)]
pub struct Fanout<'a, C> {
    cluster: &'a C,
    turn: &'a AtomicUsize,
}

impl<'a, C: Cluster> Fanout<'a, C> {
    /// The core over `cluster`, taking turns with `turn`.
    pub fn new(cluster: &'a C, turn: &'a AtomicUsize) -> Self {
        Self { cluster, turn }
    }

    /// Answer `method(args)` (`args`: the parameters after the session key) as `cred`,
    /// following the method's rule. `auth.login`/`auth.logout` are the shell's; given here,
    /// they pass through to a node.
    pub async fn answer(&self, method: &str, cred: &Credentials, args: Vec<Value>) -> Outcome {
        let rule = rule(method);
        self.route(rule.route, rule.ids_out, cred, method, args)
            .await
    }

    /// Answer a call by `route`, translating the fields `ids` of the answer.
    pub async fn route(
        &self,
        route: Route,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        match route {
            Route::Merge(how) => self.merged(how, ids, cred, method, args).await,
            Route::System { arg } => {
                self.on_owner(IdKind::System, arg, ids, cred, method, args)
                    .await
            }
            Route::Action { arg } => {
                self.on_owner(IdKind::Action, arg, ids, cred, method, args)
                    .await
            }
            Route::Ids { arg, kind } => self.split(arg, kind, ids, cred, method, args).await,
            Route::CommonWrite => self.common_write(cred, method, args).await,
            Route::FirstOk => self.first_ok(cred, method, args).await,
            Route::Any => self.by_ids(cred, method, args).await,
            Route::Login | Route::Logout | Route::Plain => self.any(Some(cred), method, args).await,
        }
    }

    /// The nodes with a slot that are worth calling, and the names of the others (those that
    /// have not left) as missing.
    fn slotted(&self) -> (Vec<NodeView>, Vec<String>) {
        let mut up = Vec::new();
        let mut missing = Vec::new();
        for n in self.cluster.nodes() {
            if n.healthy() && n.slot.is_some() {
                up.push(n);
            } else if n.status != "left" {
                missing.push(n.name);
            }
        }
        (up, missing)
    }

    async fn merged(
        &self,
        how: Merge,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        let (nodes, mut missing) = self.slotted();
        let calls = nodes
            .iter()
            .map(|n| self.cluster.call(n, Some(cred), method, args.clone()));
        let answers = join_all(calls).await;
        let (parts, first_fault) = sort_answers(method, &nodes, answers, &mut missing);
        let values: Vec<Value> = parts
            .into_iter()
            .map(|(slot, v)| ids_out(v, slot, ids))
            .collect();
        let result = match (values.is_empty(), first_fault) {
            (true, Some(f)) => Err(f),
            (true, None) if !missing.is_empty() => Err(unavailable(&missing.join(", "))),
            _ => Ok(merge(how, values)),
        };
        Outcome { result, missing }
    }

    fn node_of_slot(&self, slot: u32) -> Option<NodeView> {
        self.cluster
            .nodes()
            .into_iter()
            .find(|n| n.slot == Some(slot))
    }

    async fn on_owner(
        &self,
        kind: IdKind,
        arg: usize,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        mut args: Vec<Value>,
    ) -> Outcome {
        let Some(given) = args.get(arg) else {
            // Not this method's signature: let a node say so in its own words.
            return self.by_ids(cred, method, args).await;
        };
        let Some((slot, local)) = id_in(kind, given) else {
            return match uyuni_api::value::as_i64(given) {
                Some(id) => Outcome::done(Err(no_such(kind, id))),
                None => self.by_ids(cred, method, args).await,
            };
        };
        let Some(node) = self.node_of_slot(slot) else {
            let id = uyuni_api::value::as_i64(given).unwrap_or_default();
            return Outcome::done(Err(no_such(kind, id)));
        };
        if !node.healthy() {
            return Outcome {
                result: Err(unavailable(&node.name)),
                missing: vec![node.name],
            };
        }
        args[arg] = uyuni_api::value::int(local);
        let answer = self.cluster.call(&node, Some(cred), method, args).await;
        single(&node, answer, ids)
    }

    /// Calls taking an array of ids: every node gets its own; one answer back (the first
    /// node's: `1`, or an action id). A call spanning nodes is made on each of them.
    async fn split(
        &self,
        arg: usize,
        kind: IdKind,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        // The overload with a label first (`scheduleScriptRun(label, sids, ...)`).
        let arg = if matches!(args.get(arg), Some(Value::Array(_))) {
            arg
        } else {
            arg + 1
        };
        let Some(parts) = args.get(arg).and_then(|v| split_ids(kind, v)) else {
            return self.by_ids(cred, method, args).await;
        };
        let nodes = self.cluster.nodes();
        let mut targets = Vec::new();
        for (slot, local_ids) in parts {
            let Some(node) = nodes.iter().find(|n| n.slot == Some(slot)) else {
                let first = local_ids.first().and_then(uyuni_api::value::as_i64);
                let id = first
                    .and_then(|l| crate::ids::to_gateway(kind, slot, l))
                    .unwrap_or_default();
                return Outcome::done(Err(no_such(kind, id)));
            };
            let mut a = args.clone();
            a[arg] = Value::Array(local_ids);
            targets.push((node.clone(), a));
        }
        let calls = targets
            .iter()
            .map(|(n, a)| self.cluster.call(n, Some(cred), method, a.clone()));
        let answers = join_all(calls).await;
        let mut first: Option<Outcome> = None;
        let mut missing = Vec::new();
        for ((node, _), answer) in targets.iter().zip(answers) {
            let out = single(node, answer, ids);
            missing.extend(out.missing.iter().cloned());
            if let Err(f) = out.result {
                return Outcome {
                    result: Err(f),
                    missing,
                };
            }
            first.get_or_insert(out);
        }
        let mut out = first.unwrap_or_else(|| Outcome::done(Ok(uyuni_api::value::int(1))));
        out.missing = missing;
        out
    }

    /// A call the table does not know: to the node of the gateway system ids in its
    /// parameters (translated to that node's own), to any node when it names none, and a
    /// fault when they belong to several nodes (never a node that would read another node's
    /// ids as its own).
    async fn by_ids(&self, cred: &Credentials, method: &str, args: Vec<Value>) -> Outcome {
        match owner_of_ids(&args) {
            Ok(None) => self.any(Some(cred), method, args).await,
            Ok(Some((slot, local))) => {
                let Some(node) = self.node_of_slot(slot) else {
                    let id = args
                        .iter()
                        .find_map(uyuni_api::value::as_i64)
                        .unwrap_or_default();
                    return Outcome::done(Err(Fault::no_such_system(id)));
                };
                if !node.healthy() {
                    return Outcome {
                        result: Err(unavailable(&node.name)),
                        missing: vec![node.name],
                    };
                }
                let answer = self.cluster.call(&node, Some(cred), method, local).await;
                single(&node, answer, &[("id", IdKind::System)])
            }
            Err(SeveralNodes) => Outcome::done(Err(Fault::xmlrpc(
                -1,
                format!(
                    "{method}: the systems given are on several cluster nodes; call it once per \
                     node (group them with system.listSystems) or use the cluster's REST API"
                ),
            ))),
        }
    }

    /// A change to common data, made on every zone's Leader Node (which publishes it to the
    /// rest of its zone). The first zone's answer is returned; a zone that fails makes the
    /// call fail with its fault (zones that succeeded keep the change: the call can be
    /// repeated or undone).
    async fn common_write(&self, cred: &Credentials, method: &str, args: Vec<Value>) -> Outcome {
        let nodes = self.cluster.nodes();
        let zones: std::collections::BTreeSet<String> =
            nodes.iter().map(|n| n.zone.clone()).collect();
        let mut first: Option<Result<Value, Fault>> = None;
        let mut missing = Vec::new();
        for zone in zones {
            let leader = match self.cluster.zone_leader(&zone).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(zone, error = %e, "no Leader Node for a common-data write");
                    missing.push(zone);
                    continue;
                }
            };
            let Some(node) = nodes.iter().find(|n| n.name == leader) else {
                missing.push(zone);
                continue;
            };
            match self
                .cluster
                .call(node, Some(cred), method, args.clone())
                .await
            {
                Answer::Value(v) => {
                    first.get_or_insert(Ok(v));
                }
                Answer::Fault(f) => {
                    return Outcome {
                        result: Err(f),
                        missing,
                    };
                }
                Answer::Unavailable(why) => {
                    tracing::warn!(zone, node = %node.name, why, "Leader Node did not answer");
                    missing.push(zone);
                }
            }
        }
        // A zone left without the change is an error, strict or not: nothing would bring it
        // there later.
        let result = match first {
            Some(v) if missing.is_empty() => v,
            _ => Err(unavailable(&format!(
                "the change did not reach zone {}",
                missing.join(", ")
            ))),
        };
        Outcome { result, missing }
    }

    /// A lookup of common data: one healthy node per zone, the first value wins.
    async fn first_ok(&self, cred: &Credentials, method: &str, args: Vec<Value>) -> Outcome {
        let mut per_zone: BTreeMap<String, NodeView> = BTreeMap::new();
        for n in self.healthy_nodes() {
            per_zone.entry(n.zone.clone()).or_insert(n);
        }
        let calls = per_zone
            .values()
            .map(|n| self.cluster.call(n, Some(cred), method, args.clone()));
        let answers = join_all(calls).await;
        let mut fault = None;
        let mut missing = Vec::new();
        for (n, a) in per_zone.values().zip(answers) {
            match a {
                Answer::Value(v) => return Outcome::done(Ok(v)),
                Answer::Fault(f) => {
                    fault.get_or_insert(f);
                }
                Answer::Unavailable(_) => missing.push(n.name.clone()),
            }
        }
        let result = Err(fault.unwrap_or_else(|| unavailable(&missing.join(", "))));
        Outcome { result, missing }
    }

    /// The nodes worth calling (alive or only suspected), by name.
    pub fn healthy_nodes(&self) -> Vec<NodeView> {
        self.cluster
            .nodes()
            .into_iter()
            .filter(NodeView::healthy)
            .collect()
    }

    /// Any healthy node (turn by turn), unchanged; the next one if it does not answer.
    pub async fn any(&self, cred: Option<&Credentials>, method: &str, args: Vec<Value>) -> Outcome {
        let nodes = self.healthy_nodes();
        if nodes.is_empty() {
            return Outcome::done(Err(unavailable("no Uyuni node is up")));
        }
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let mut tried = Vec::new();
        for i in 0..nodes.len() {
            let n = &nodes[(start + i) % nodes.len()];
            match self.cluster.call(n, cred, method, args.clone()).await {
                Answer::Value(v) => return Outcome::done(Ok(v)),
                Answer::Fault(f) => return Outcome::done(Err(f)),
                Answer::Unavailable(why) => {
                    tracing::warn!(node = %n.name, method, why, "node did not answer; trying another");
                    tried.push(n.name.clone());
                }
            }
        }
        Outcome {
            result: Err(unavailable(&tried.join(", "))),
            missing: tried,
        }
    }
}

/// Uyuni's fault for an id that names nothing.
fn no_such(kind: IdKind, id: i64) -> Fault {
    match kind {
        IdKind::System => Fault::no_such_system(id),
        IdKind::Action => Fault::xmlrpc(-1, format!("No such action - id = {id}")),
    }
}

/// One node's answer as the caller's: ids translated, its fault unchanged, or the node
/// missing.
fn single(node: &NodeView, answer: Answer, ids: IdFields) -> Outcome {
    match answer {
        Answer::Value(v) => Outcome::done(Ok(ids_out(v, node.slot.unwrap_or(0), ids))),
        Answer::Fault(f) => Outcome::done(Err(f)),
        Answer::Unavailable(why) => {
            tracing::warn!(node = %node.name, why, "node did not answer");
            Outcome {
                result: Err(unavailable(&node.name)),
                missing: vec![node.name.clone()],
            }
        }
    }
}

/// The answers of a merged call by kind: the values with their node's slot, the first fault,
/// and the nodes that did not answer (added to `missing`, which ends up sorted).
fn sort_answers<T>(
    method: &str,
    nodes: &[NodeView],
    answers: Vec<Answer<T>>,
    missing: &mut Vec<String>,
) -> (Vec<(u32, T)>, Option<Fault>) {
    let mut values = Vec::new();
    let mut first_fault = None;
    for (n, a) in nodes.iter().zip(answers) {
        match a {
            Answer::Value(v) => values.push((n.slot.unwrap_or(0), v)),
            Answer::Fault(f) => {
                first_fault.get_or_insert(f);
            }
            Answer::Unavailable(why) => {
                tracing::warn!(node = %n.name, method, why, "node left out of a merged answer");
                missing.push(n.name.clone());
            }
        }
    }
    missing.sort();
    (values, first_fault)
}
