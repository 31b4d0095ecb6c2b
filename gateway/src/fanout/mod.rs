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

use crate::cluster_actions::ClusterActions;
use crate::ids::IdKind;
use crate::merge::merge;
use crate::metastore::{MetastoreError, NodeView, Relocation};
use crate::pool::{Answer, Credentials};
use crate::table::{Merge, Need, Route, rule_for_args};
use crate::translate::{SeveralNodes, id_in, ids_out, owner_of_ids};

#[cfg(test)]
mod absent_tests;
#[cfg(test)]
mod cluster_action_tests;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod gaps;
#[cfg(test)]
mod ids_tests;
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

/// A node and the parameters it gets (its share of an array of ids).
type Target = (NodeView, Vec<Value>);

/// A node's name and its fault.
type NodeFault = (String, Fault);

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
    /// Where the system that was `local` on the node in `slot` is now (as
    /// [`crate::Metastore::relocate_system`]). Default: nothing known.
    fn relocate(&self, _slot: u32, _local: i64) -> impl Future<Output = Relocation> + Send {
        std::future::ready(Relocation::Unknown)
    }
    /// The node actions of cluster action `id` as the gateway that gave it answers
    /// ([`crate::Metastore::peer_cluster_action`]); `None`: no other gateway knows it.
    /// Default: no other gateway.
    fn peer_cluster_action(&self, _id: i64) -> impl Future<Output = Option<Vec<i64>>> + Send {
        std::future::ready(None)
    }
    /// The tags of the cluster's other gateways ([`crate::cluster_actions`]). Default: none.
    fn peer_action_tags(&self) -> impl Future<Output = Vec<u32>> + Send {
        std::future::ready(Vec::new())
    }
    /// Wait `d` (a real sleep; fakes return at once).
    fn pause(&self, d: std::time::Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
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
    fail_on_partial: bool,
    /// How many times a common write's probe is repeated ([`VISIBLE_POLL`] apart) before
    /// the write is reported as not visible everywhere.
    visible_polls: u32,
    /// The gateway's cluster actions (one id over several nodes' actions); without them a
    /// scheduling call over several nodes answers the first node's action id.
    actions: Option<&'a ClusterActions>,
    /// The order of a streamed merged list's parts.
    order: stream::Order,
}

/// Pause between two rounds of a common write's visibility probe.
pub const VISIBLE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

impl<'a, C: Cluster> Fanout<'a, C> {
    /// The core over `cluster`, taking turns with `turn`; merged answers lacking a node are
    /// partial (see [`Fanout::fail_on_partial`]).
    pub fn new(cluster: &'a C, turn: &'a AtomicUsize) -> Self {
        Self {
            cluster,
            turn,
            fail_on_partial: false,
            visible_polls: 600,
            actions: None,
            order: stream::Order::default(),
        }
    }

    /// Send a streamed merged list's parts in `order`.
    pub fn in_order(mut self, order: stream::Order) -> Self {
        self.order = order;
        self
    }

    /// Record scheduling calls over several nodes as one cluster action in `actions`, and
    /// fan its follow-ups out over the nodes' actions ([`crate::cluster_actions`]).
    pub fn with_cluster_actions(mut self, actions: &'a ClusterActions) -> Self {
        self.actions = Some(actions);
        self
    }

    /// The node actions of cluster action `id` (empty: a cluster action id no gateway
    /// knows); `None` when `id` is not a cluster action id. One this gateway did not give is
    /// asked of the others (the one that gave it answers) and kept.
    async fn cluster_action(&self, id: i64) -> Option<Vec<i64>> {
        let actions = self.actions?;
        let members = actions.members(id)?;
        if !members.is_empty() {
            return Some(members);
        }
        match self.cluster.peer_cluster_action(id).await {
            Some(members) if !members.is_empty() => {
                tracing::debug!(id, ?members, "cluster action of another gateway");
                actions.learn(id, members.clone());
                Some(members)
            }
            _ => Some(Vec::new()),
        }
    }

    /// Whether an answer of the call (its fields `ids`) is a new action id.
    fn answers_new_action(ids: IdFields) -> bool {
        ids.iter()
            .any(|(f, k)| f.is_empty() && *k == IdKind::Action)
    }

    /// The nodes' new actions (gateway ids) as one cluster action, when there are several.
    async fn one_action(&self, ids: IdFields, values: &[Value]) -> Option<Value> {
        let actions = self.actions?;
        if values.len() < 2 || !Self::answers_new_action(ids) {
            return None;
        }
        let members = values
            .iter()
            .map(|v| match v {
                Value::Array(_) => None,
                v => uyuni_api::value::as_i64(v),
            })
            .collect::<Option<Vec<i64>>>()?;
        if actions.tag().is_none() {
            let used = self.cluster.peer_action_tags().await;
            let tag = actions.choose_tag(&used);
            tracing::info!(
                tag,
                ?used,
                "cluster action numbers: this gateway's tag chosen"
            );
        }
        let id = actions.record(members.clone());
        tracing::info!(id, ?members, "one cluster action for the nodes' actions");
        Some(uyuni_api::value::int(id))
    }

    /// The partial-answer policy (docs/GATEWAY.md#partial-answers): when `fail`, a merged
    /// read whose node faults fails with that node's fault, naming the node; otherwise the
    /// node is left out and reported missing (the shell turns a missing node into a fault
    /// under the same policy).
    pub fn fail_on_partial(mut self, fail: bool) -> Self {
        self.fail_on_partial = fail;
        self
    }

    /// Wait at most `limit` for a common write to reach every node (read your own writes).
    pub fn visible_within(mut self, limit: std::time::Duration) -> Self {
        self.visible_polls = u32::try_from(limit.as_millis() / VISIBLE_POLL.as_millis())
            .unwrap_or(u32::MAX)
            .max(1);
        self
    }

    /// Answer `method(args)` (`args`: the parameters after the session key) as `cred`,
    /// following the method's rule. `auth.login`/`auth.logout` are the shell's; given here,
    /// they pass through to a node.
    pub async fn answer(&self, method: &str, cred: &Credentials, args: Vec<Value>) -> Outcome {
        let rule = rule_for_args(method, &args, true);
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
        let (route, ids, args) = match route {
            Route::ByName { lookup, fields } => {
                match self.by_name(lookup, fields, cred, method, args).await {
                    Ok(rule_and_args) => rule_and_args,
                    Err(out) => return out,
                }
            }
            route => (route, ids, args),
        };
        let mut out = self.routed(route, ids, cred, method, args).await;
        if let Some(actions) = self.actions {
            out.result = out.result.map(|v| actions.fold(v, ids));
        }
        out
    }

    async fn routed(
        &self,
        route: Route,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        match route {
            Route::Merge(how) => self.merged(how, ids, cred, method, args).await,
            Route::Zones(how) => self.zones_merged(how, ids, cred, method, args).await,
            Route::System { arg } => {
                self.on_owner(IdKind::System, arg, ids, cred, method, args)
                    .await
            }
            Route::Action { arg } => {
                self.on_owner(IdKind::Action, arg, ids, cred, method, args)
                    .await
            }
            Route::Ids { arg, kind } => self.split(arg, kind, ids, cred, method, args).await,
            Route::IdsMerged { arg, kind } => {
                self.split_merged(arg, kind, ids, cred, method, args).await
            }
            Route::SystemAction { system, action } => {
                self.system_action(system, action, ids, cred, method, args)
                    .await
            }
            Route::EveryNode(need) => self.every_node(need, ids, cred, method, args).await,
            Route::SameNode => self.by_ids_out(ids, cred, method, args).await,
            Route::CommonWrite => {
                let probe_args = args.clone();
                let out = self.common_write(cred, method, args).await;
                match &out.result {
                    Ok(answer) => match crate::visible::probe(method, &probe_args, answer) {
                        Some(p) => match self.until_visible(cred, &p).await {
                            Ok(()) => out,
                            Err(f) => Outcome {
                                result: Err(f),
                                missing: out.missing,
                            },
                        },
                        None => out,
                    },
                    Err(_) => out,
                }
            }
            Route::FirstOk => self.first_ok(cred, method, args).await,
            Route::Refuse(why) => Outcome::done(Err(why.fault(method))),
            // Resolved in `route`; a by-name overload that is itself by number has no rule.
            Route::ByName { .. } => Outcome::done(Err(Fault::xmlrpc(
                -1,
                format!("{method}: no cluster rule for this overload"),
            ))),
            Route::Any | Route::Login | Route::Logout | Route::Plain => {
                self.any(Some(cred), method, args).await
            }
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
        let (nodes, missing) = self.slotted();
        let calls = nodes
            .iter()
            .map(|n| self.cluster.call(n, Some(cred), method, args.clone()));
        let answers = join_all(calls).await;
        self.combine(nodes, answers, missing, how, ids, method)
    }

    /// Content that differs between zones ([`Route::Zones`]): one healthy node per zone (the
    /// zone's next healthy node when one does not answer), their answers merged; a zone
    /// without a node that answers is missing (its nodes named).
    async fn zones_merged(
        &self,
        how: Merge,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        let all = self.cluster.nodes();
        let mut per_zone: BTreeMap<String, Vec<NodeView>> = BTreeMap::new();
        for n in all.iter().filter(|n| n.healthy()) {
            per_zone.entry(n.zone.clone()).or_default().push(n.clone());
        }
        let mut missing: Vec<String> = all
            .iter()
            .filter(|n| n.status != "left" && !per_zone.contains_key(&n.zone))
            .map(|n| n.name.clone())
            .collect();
        let calls = per_zone.into_values().map(|zone| {
            let args = &args;
            async move {
                let mut silent = Vec::new();
                for n in zone {
                    match self.cluster.call(&n, Some(cred), method, args.clone()).await {
                        Answer::Unavailable(why) => {
                            tracing::warn!(node = %n.name, method, why, "node did not answer; trying another of its zone");
                            silent.push(n.name);
                        }
                        answer => return (Some((n, answer)), silent),
                    }
                }
                (None, silent)
            }
        });
        let mut nodes = Vec::new();
        let mut answers = Vec::new();
        for (answered, silent) in join_all(calls).await {
            match answered {
                Some((n, a)) => {
                    nodes.push(n);
                    answers.push(a);
                }
                // The whole zone silent: each of its nodes missing.
                None => missing.extend(silent),
            }
        }
        self.combine(nodes, answers, missing, how, ids, method)
    }

    /// The answers of `nodes` merged by `how`. A node whose fault says it holds no part
    /// ([`crate::table::absent_faults`]) adds nothing; another fault, or no answer, follows
    /// the partial-answer policy; every node holding no part: the first such fault, as one
    /// server lacking the object answers.
    fn combine(
        &self,
        nodes: Vec<NodeView>,
        answers: Vec<Answer>,
        mut missing: Vec<String>,
        how: Merge,
        ids: IdFields,
        method: &str,
    ) -> Outcome {
        let absent = crate::table::absent_faults(method);
        let sorted = sort_answers(method, &nodes, answers, absent, &mut missing);
        if let Some((node, f)) = sorted.fault.as_ref().filter(|_| self.fail_on_partial) {
            return Outcome {
                result: Err(named(node, f)),
                missing,
            };
        }
        let values = match sorted
            .values
            .into_iter()
            .map(|(slot, v)| ids_out(v, slot, ids))
            .collect::<Result<Vec<Value>, _>>()
        {
            Ok(values) => values,
            Err(e) => {
                return Outcome {
                    result: Err(e.fault()),
                    missing,
                };
            }
        };
        let result = match (values.is_empty(), sorted.fault, sorted.absent) {
            // No node gave a value: the first fault as the node gave it (code and string).
            (true, Some((_, f)), _) => Err(f),
            (true, None, _) if !missing.is_empty() => Err(unavailable(&missing.join(", "))),
            // Every node lacks it: as one server lacking it answers.
            (true, None, Some(f)) => Err(f),
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
        let Some(given) = args.get(arg).cloned() else {
            // Not this method's signature: let a node say so in its own words.
            return self.by_ids(cred, method, args).await;
        };
        let Some(gateway_id) = uyuni_api::value::as_i64(&given) else {
            return self.by_ids(cred, method, args).await;
        };
        if kind == IdKind::Action
            && let Some(members) = self.cluster_action(gateway_id).await
        {
            return self
                .on_cluster_action(gateway_id, members, arg, ids, cred, method, args)
                .await;
        }
        let node = match self.owner(kind, gateway_id).await {
            Ok(owner) => owner,
            Err(out) => return out,
        };
        args[arg] = uyuni_api::value::int(node.1);
        let answer = self
            .cluster
            .call(&node.0, Some(cred), method, args.clone())
            .await;
        // The system moved since its node answered for it last (rebalanced, re-homed): the
        // old node no longer has it (or no longer answers); the metastore knows where it is.
        if kind == IdKind::System
            && (matches!(&answer, Answer::Fault(f) if f.code == uyuni_api::fault::CODE_NO_SUCH_SYSTEM)
                || matches!(&answer, Answer::Unavailable(_)))
            && let Some((slot, local)) = id_in(IdKind::System, &given)
            && let Relocation::At {
                node: name,
                local: now,
            } = self.cluster.relocate(slot, local).await
            && let Some(there) = self.healthy_node(&name).filter(|n| n.name != node.0.name)
        {
            args[arg] = uyuni_api::value::int(now);
            let answer = self.cluster.call(&there, Some(cred), method, args).await;
            return single(&there, answer, ids);
        }
        single(&node.0, answer, ids)
    }

    /// A call naming cluster action `id` (parameter `arg`): every node action of it, on its
    /// node with its own id; the answers joined ([`join_parts`]: arrays concatenated, the
    /// systems of every node; structs as the first node's with their arrays concatenated, a
    /// script's details with every node's results). A node that no longer has its action (deleted there: 2700) adds
    /// nothing; another fault fails the call naming the node; a node down is missing
    /// (partial policy). None left: Uyuni's 2700.
    #[allow(clippy::too_many_arguments)]
    async fn on_cluster_action(
        &self,
        id: i64,
        members: Vec<i64>,
        arg: usize,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        let mut targets: Vec<Target> = Vec::new();
        let mut missing = Vec::new();
        for m in members {
            let Some((slot, local)) = crate::ids::from_gateway(IdKind::Action, m) else {
                continue;
            };
            match self.node_of_slot(slot) {
                Some(n) if n.healthy() => {
                    let mut a = args.clone();
                    a[arg] = uyuni_api::value::int(local);
                    targets.push((n, a));
                }
                Some(n) => missing.push(n.name),
                // The node left the cluster: its action went with it.
                None => {}
            }
        }
        let values = match self
            .gather(
                &targets,
                ids,
                cred,
                method,
                Some(CODE_NO_SUCH_ACTION),
                &mut missing,
            )
            .await
        {
            Ok(values) => values,
            Err(f) => {
                return Outcome {
                    result: Err(f),
                    missing,
                };
            }
        };
        missing.sort();
        let result = match (values.is_empty(), missing.is_empty()) {
            (true, true) => Err(no_such(IdKind::Action, id)),
            (true, false) => Err(unavailable(&missing.join(", "))),
            (false, _) => Ok(join_parts(values)),
        };
        Outcome { result, missing }
    }

    /// A read naming common data by a node's number: the object read with `lookup(args)` on
    /// one node, the by-name overload's parameters (`fields` of its answer) and rule.
    async fn by_name(
        &self,
        lookup: &str,
        fields: &[&str],
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Result<(Route, IdFields, Vec<Value>), Outcome> {
        let looked = self.first_ok(cred, lookup, args).await;
        let found = match looked.result {
            Ok(Value::Struct(found)) => found,
            Ok(other) => {
                return Err(Outcome::done(Err(Fault::xmlrpc(
                    -1,
                    format!(
                        "{method}: {lookup} answered a {}, not a struct",
                        uyuni_api::value::type_name(&other)
                    ),
                ))));
            }
            Err(f) => {
                return Err(Outcome {
                    result: Err(f),
                    missing: looked.missing,
                });
            }
        };
        let named = fields
            .iter()
            .map(|f| found.get(*f).cloned())
            .collect::<Option<Vec<Value>>>()
            .ok_or_else(|| {
                Outcome::done(Err(Fault::xmlrpc(
                    -1,
                    format!("{method}: {lookup} answered without {}", fields.join(", ")),
                )))
            })?;
        let rule = rule_for_args(method, &named, true);
        Ok((rule.route, rule.ids_out, named))
    }

    /// Call every target at once; their values with ids translated. A node that does not
    /// answer is added to `missing`; a fault (but `ignored`: that node adds nothing) or an
    /// untranslatable id is the call's fault (a node's fault naming the node).
    async fn gather(
        &self,
        targets: &[Target],
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        ignored: Option<i32>,
        missing: &mut Vec<String>,
    ) -> Result<Vec<Value>, Fault> {
        let calls = targets
            .iter()
            .map(|(n, a)| self.cluster.call(n, Some(cred), method, a.clone()));
        let answers = join_all(calls).await;
        let mut values = Vec::new();
        for ((node, _), answer) in targets.iter().zip(answers) {
            match answer {
                Answer::Value(v) => {
                    values.push(ids_out(v, node.slot.unwrap_or(0), ids).map_err(|e| e.fault())?);
                }
                Answer::Fault(f) if Some(f.code) == ignored => {}
                Answer::Fault(f) => return Err(named(&node.name, &f)),
                Answer::Unavailable(why) => {
                    tracing::warn!(node = %node.name, method, why, "node left out of a merged answer");
                    missing.push(node.name.clone());
                }
            }
        }
        Ok(values)
    }

    /// The healthy node named `name` that has a slot.
    fn healthy_node(&self, name: &str) -> Option<NodeView> {
        self.cluster
            .nodes()
            .into_iter()
            .find(|n| n.name == name && n.healthy() && n.slot.is_some())
    }

    /// The node that answers for gateway id `id` and its own id there: the node in the id's
    /// slot, or, for a system whose node is gone or down, the node it was re-homed to (ids
    /// outlive moves: the metastore maps the old node's id to the system's fingerprint and
    /// on to its current node). `Err`: the caller's answer (Uyuni's "no such" fault, or the
    /// node unavailable while nothing says the system moved).
    async fn owner(&self, kind: IdKind, id: i64) -> Result<(NodeView, i64), Outcome> {
        let Some((slot, local)) = crate::ids::from_gateway(kind, id) else {
            return Err(Outcome::done(Err(no_such(kind, id))));
        };
        let node = self.node_of_slot(slot);
        if let Some(n) = node.as_ref().filter(|n| n.healthy()) {
            return Ok((n.clone(), local));
        }
        if kind == IdKind::System {
            match self.cluster.relocate(slot, local).await {
                Relocation::At { node: name, local } => {
                    if let Some(there) = self.healthy_node(&name) {
                        return Ok((there, local));
                    }
                    return Err(Outcome {
                        result: Err(unavailable(&name)),
                        missing: vec![name],
                    });
                }
                Relocation::Gone => return Err(Outcome::done(Err(no_such(kind, id)))),
                Relocation::Unknown => {}
            }
        }
        match node {
            None => Err(Outcome::done(Err(no_such(kind, id)))),
            Some(n) => Err(Outcome {
                result: Err(unavailable(&n.name)),
                missing: vec![n.name],
            }),
        }
    }

    /// A call naming a system (parameter `system`) and one of its actions (parameter
    /// `action`): both must be on the same node (an action of another node is no action of
    /// this system: Uyuni's "no such action").
    async fn system_action(
        &self,
        system: usize,
        action: usize,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        mut args: Vec<Value>,
    ) -> Outcome {
        let Some(aid) = args.get(action).and_then(uyuni_api::value::as_i64) else {
            return self
                .on_owner(IdKind::System, system, ids, cred, method, args)
                .await;
        };
        // A cluster action: its node action on the system's node.
        let aid = match self.cluster_action(aid).await {
            None => aid,
            Some(members) => {
                let slot = match args.get(system).and_then(uyuni_api::value::as_i64) {
                    Some(sid) => match self.owner(IdKind::System, sid).await {
                        Ok((node, _)) => node.slot,
                        Err(out) => return out,
                    },
                    None => None,
                };
                match members
                    .into_iter()
                    .find(|m| crate::ids::from_gateway(IdKind::Action, *m).map(|(s, _)| s) == slot)
                {
                    Some(m) => m,
                    None => return Outcome::done(Err(no_such(IdKind::Action, aid))),
                }
            }
        };
        let Some((slot, local)) = crate::ids::from_gateway(IdKind::Action, aid) else {
            return Outcome::done(Err(no_such(IdKind::Action, aid)));
        };
        if self.node_of_slot(slot).is_none() {
            return Outcome::done(Err(no_such(IdKind::Action, aid)));
        }
        let Some(sid) = args.get(system).and_then(uyuni_api::value::as_i64) else {
            return self.by_ids(cred, method, args).await;
        };
        let (node, local_sid) = match self.owner(IdKind::System, sid).await {
            Ok(owner) => owner,
            Err(out) => return out,
        };
        if node.slot != Some(slot) {
            return Outcome::done(Err(no_such(IdKind::Action, aid)));
        }
        args[system] = uyuni_api::value::int(local_sid);
        args[action] = uyuni_api::value::int(local);
        let answer = self.cluster.call(&node, Some(cred), method, args).await;
        single(&node, answer, ids)
    }

    /// The nodes an array of ids (at `arg`, or the next parameter: an overload with a label
    /// first) belongs to, each with the call's parameters carrying its own ids (systems
    /// re-homed included). `Err` is the call's answer already: an id that is no gateway id or
    /// names nothing fails the call before any node is asked; an overload taking one id
    /// instead of an array goes to that id's node; no array at all, the call by its ids.
    async fn split_targets(
        &self,
        arg: usize,
        kind: IdKind,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Target>, Outcome> {
        // The overload with a label first (`scheduleScriptRun(label, sids, ...)`).
        let arg = match args.get(arg) {
            Some(Value::Array(_)) => arg,
            Some(v) if uyuni_api::value::as_i64(v).is_some() => {
                return Err(self.on_owner(kind, arg, ids, cred, method, args).await);
            }
            _ => match args.get(arg + 1) {
                Some(Value::Array(_)) => arg + 1,
                Some(v) if uyuni_api::value::as_i64(v).is_some() => {
                    return Err(self.on_owner(kind, arg + 1, ids, cred, method, args).await);
                }
                _ => return Err(self.by_ids(cred, method, args).await),
            },
        };
        let Some(Value::Array(given)) = args.get(arg) else {
            return Err(self.by_ids(cred, method, args).await);
        };
        // Cluster actions stand for their nodes' actions.
        let mut expanded = Vec::with_capacity(given.len());
        for item in given {
            let cluster = match uyuni_api::value::as_i64(item).filter(|_| kind == IdKind::Action) {
                Some(id) => self.cluster_action(id).await.map(|m| (id, m)),
                None => None,
            };
            match cluster {
                Some((id, members)) if members.is_empty() => {
                    return Err(Outcome::done(Err(no_such(kind, id))));
                }
                Some((_, members)) => {
                    expanded.extend(members.into_iter().map(uyuni_api::value::int));
                }
                None => expanded.push(item.clone()),
            }
        }
        let mut parts: BTreeMap<String, (NodeView, Vec<Value>)> = BTreeMap::new();
        for item in &expanded {
            let Some(id) = uyuni_api::value::as_i64(item) else {
                return Err(Outcome::done(Err(Fault::xmlrpc(
                    -1,
                    format!(
                        "{method}: {} is not an id",
                        uyuni_api::value::type_name(item)
                    ),
                ))));
            };
            let (node, local) = self.owner(kind, id).await?;
            parts
                .entry(node.name.clone())
                .or_insert_with(|| (node, Vec::new()))
                .1
                .push(uyuni_api::value::int(local));
        }
        let mut targets: Vec<Target> = parts
            .into_values()
            .map(|(node, local_ids)| {
                let mut a = args.clone();
                a[arg] = Value::Array(local_ids);
                (node, a)
            })
            .collect();
        targets.sort_by_key(|(n, _)| n.slot);
        Ok(targets)
    }

    /// Calls taking an array of ids: every node gets its own; one answer back (the first
    /// node's: `1`, or an action id). A call spanning nodes is made on each of them. The
    /// overloads taking one id instead of an array go to that id's node.
    async fn split(
        &self,
        arg: usize,
        kind: IdKind,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        let targets = match self.split_targets(arg, kind, ids, cred, method, args).await {
            Ok(t) => t,
            Err(out) => return out,
        };
        let calls = targets
            .iter()
            .map(|(n, a)| self.cluster.call(n, Some(cred), method, a.clone()));
        let answers = join_all(calls).await;
        let mut values = Vec::new();
        let mut missing = Vec::new();
        for ((node, _), answer) in targets.iter().zip(answers) {
            let out = single(node, answer, ids);
            missing.extend(out.missing.iter().cloned());
            match out.result {
                Ok(v) => values.push(v),
                Err(f) => {
                    return Outcome {
                        result: Err(f),
                        missing,
                    };
                }
            }
        }
        let result = match self.one_action(ids, &values).await {
            Some(one) => Ok(one),
            None => match values.into_iter().next() {
                Some(v) => Ok(v),
                None if !missing.is_empty() => Err(unavailable(&missing.join(", "))),
                None => Ok(uyuni_api::value::int(1)),
            },
        };
        Outcome { result, missing }
    }

    /// Like [`Fanout::split`], the nodes' answers concatenated (reads about several
    /// systems; schedules answering one action per system). A node's fault fails the call
    /// (naming the node: it concerns systems the caller named); a node that does not answer
    /// is missing, as in a merged read.
    async fn split_merged(
        &self,
        arg: usize,
        kind: IdKind,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        let targets = match self.split_targets(arg, kind, ids, cred, method, args).await {
            Ok(t) => t,
            Err(out) => return out,
        };
        if targets.len() == 1 {
            let (node, a) = &targets[0];
            let answer = self.cluster.call(node, Some(cred), method, a.clone()).await;
            return single(node, answer, ids);
        }
        let mut missing = Vec::new();
        let values = match self
            .gather(&targets, ids, cred, method, None, &mut missing)
            .await
        {
            Ok(values) => values,
            Err(f) => {
                return Outcome {
                    result: Err(f),
                    missing,
                };
            }
        };
        let result = if values.is_empty() {
            Err(unavailable(&missing.join(", ")))
        } else if let Some(one) = self.one_action(ids, &values).await {
            Ok(one)
        } else {
            Ok(concat_answers(values))
        };
        Outcome { result, missing }
    }

    /// Cluster-wide administration: the same call on every healthy node (each acts on its
    /// own server). [`Need::All`]: a node's fault fails the call naming the node, a node that
    /// does not answer is missing; the first node's answer. [`Need::One`]: the first value
    /// wins (the node holding the object); the others' faults are expected.
    async fn every_node(
        &self,
        need: Need,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        let mut missing = Vec::new();
        let mut nodes = Vec::new();
        for n in self.cluster.nodes() {
            if n.healthy() {
                nodes.push(n);
            } else if n.status != "left" {
                missing.push(n.name);
            }
        }
        if nodes.is_empty() {
            return Outcome {
                result: Err(unavailable("no Uyuni node is up")),
                missing,
            };
        }
        let calls = nodes
            .iter()
            .map(|n| self.cluster.call(n, Some(cred), method, args.clone()));
        let answers = join_all(calls).await;
        let mut first_value = None;
        let mut first_fault = None;
        for (node, answer) in nodes.iter().zip(answers) {
            match answer {
                Answer::Value(v) => {
                    if first_value.is_none() {
                        match ids_out(v, node.slot.unwrap_or(0), ids) {
                            Ok(v) => first_value = Some(v),
                            Err(e) => first_fault = first_fault.or(Some(e.fault())),
                        }
                    }
                }
                Answer::Fault(f) => {
                    first_fault.get_or_insert_with(|| named(&node.name, &f));
                }
                Answer::Unavailable(why) => {
                    tracing::warn!(node = %node.name, method, why, "node did not take a cluster-wide call");
                    missing.push(node.name.clone());
                }
            }
        }
        missing.sort();
        let result = match (need, first_value, first_fault) {
            (Need::All, _, Some(f)) => Err(f),
            (Need::One, Some(v), _) => {
                missing.clear();
                Ok(v)
            }
            (_, Some(v), None) => Ok(v),
            (_, None, Some(f)) => Err(f),
            (_, None, None) => Err(unavailable(&missing.join(", "))),
        };
        Outcome { result, missing }
    }

    /// A call the table does not know: to the node of the gateway system ids in its
    /// parameters (translated to that node's own), to any node when it names none, and a
    /// fault when they belong to several nodes (never a node that would read another node's
    /// ids as its own).
    async fn by_ids(&self, cred: &Credentials, method: &str, args: Vec<Value>) -> Outcome {
        self.by_ids_out(&[("id", IdKind::System)], cred, method, args)
            .await
    }

    /// [`Fanout::by_ids`] with the answer's id fields `ids`.
    async fn by_ids_out(
        &self,
        ids: IdFields,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
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
                single(&node, answer, ids)
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

    /// Read your own writes: repeat `probe` on every healthy node with a slot (any of them
    /// may get the caller's next call) until each sees the change, at most `visible_polls`
    /// rounds; then a fault naming the nodes still without it (the change itself is made and
    /// reaches them with the publication).
    async fn until_visible(
        &self,
        cred: &Credentials,
        probe: &crate::visible::Probe,
    ) -> Result<(), Fault> {
        let (mut waiting, _) = self.slotted();
        for round in 0..self.visible_polls {
            if round > 0 {
                self.cluster.pause(VISIBLE_POLL).await;
            }
            let calls = waiting.iter().map(|n| {
                self.cluster
                    .call(n, Some(cred), probe.method, probe.args.clone())
            });
            let answers = join_all(calls).await;
            let mut still = Vec::new();
            for (n, a) in waiting.into_iter().zip(answers) {
                let done = match a {
                    Answer::Value(_) => probe.present,
                    Answer::Fault(_) => !probe.present,
                    // Down meanwhile: it gets the change from the publication when it is back.
                    Answer::Unavailable(_) => true,
                };
                if !done {
                    still.push(n);
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            waiting = still;
        }
        let names: Vec<String> = waiting.into_iter().map(|n| n.name).collect();
        Err(unavailable(&format!(
            "the change was made but has not reached node {} yet; repeat the next call shortly",
            names.join(", ")
        )))
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
        if fault.is_none() {
            // Every zone's node was silent: any other healthy node (the data is the same).
            let tried: Vec<String> = per_zone.values().map(|n| n.name.clone()).collect();
            for n in self
                .healthy_nodes()
                .iter()
                .filter(|n| !tried.contains(&n.name))
            {
                match self.cluster.call(n, Some(cred), method, args.clone()).await {
                    Answer::Value(v) => return Outcome::done(Ok(v)),
                    Answer::Fault(f) => return Outcome::done(Err(f)),
                    Answer::Unavailable(_) => missing.push(n.name.clone()),
                }
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

/// Uyuni's "No such action" (`NoSuchActionException`).
const CODE_NO_SUCH_ACTION: i32 = 2700;

/// Uyuni's fault for an id that names nothing (`NoSuchSystemException` -208,
/// `NoSuchActionException` 2700).
pub fn no_such(kind: IdKind, id: i64) -> Fault {
    match kind {
        IdKind::System => Fault::no_such_system(id),
        IdKind::Action => Fault::xmlrpc(CODE_NO_SUCH_ACTION, format!("No such action - id = {id}")),
    }
}

/// One node's answer as the caller's: ids translated, its fault unchanged, or the node
/// missing.
fn single(node: &NodeView, answer: Answer, ids: IdFields) -> Outcome {
    match answer {
        Answer::Value(v) => {
            Outcome::done(ids_out(v, node.slot.unwrap_or(0), ids).map_err(|e| e.fault()))
        }
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

/// The answers of a merged call by kind ([`sort_answers`]).
struct Sorted<T> {
    /// The values with their node's slot.
    values: Vec<(u32, T)>,
    /// The first fault that is a failure, with its node.
    fault: Option<NodeFault>,
    /// The first fault saying the node holds no part ([`crate::table::absent_faults`]).
    absent: Option<Fault>,
}

/// The answers of a merged call by kind: the values with their node's slot, the first fault
/// with its node, the first fault in `absent` (that node holds no part: not missing, logged
/// at debug), and the nodes that did not answer or faulted otherwise (added to `missing`,
/// which ends up sorted: nothing is left out silently).
fn sort_answers<T>(
    method: &str,
    nodes: &[NodeView],
    answers: Vec<Answer<T>>,
    absent: &[i32],
    missing: &mut Vec<String>,
) -> Sorted<T> {
    let mut out = Sorted {
        values: Vec::new(),
        fault: None,
        absent: None,
    };
    for (n, a) in nodes.iter().zip(answers) {
        match a {
            Answer::Value(v) => out.values.push((n.slot.unwrap_or(0), v)),
            Answer::Fault(f) if absent.contains(&f.code) => {
                tracing::debug!(node = %n.name, method, fault = %f.message(), "node holds no part of a merged answer");
                out.absent.get_or_insert(f);
            }
            Answer::Fault(f) => {
                tracing::warn!(node = %n.name, method, fault = %f.message(), "node faulted; left out of a merged answer");
                missing.push(n.name.clone());
                out.fault.get_or_insert((n.name.clone(), f));
            }
            Answer::Unavailable(why) => {
                tracing::warn!(node = %n.name, method, why, "node left out of a merged answer");
                missing.push(n.name.clone());
            }
        }
    }
    missing.sort();
    out
}

/// A node's fault as the cluster's: its code, its string prefixed by the node's name.
fn named(node: &str, f: &Fault) -> Fault {
    Fault {
        code: f.code,
        string: format!("cluster node {node}: {}", f.string),
    }
}

/// The nodes' answers about their parts of one cluster action, as one server's answer about
/// the whole action: arrays concatenated (`getScriptResults`, `schedule.list*Systems`);
/// structs (`system.getScriptActionDetails`: the script, run as, timeout, and `result`, one
/// entry per system) as the first node's with every array field concatenated over the nodes
/// (the other fields are the action's own, the same on every node); otherwise the first
/// node's answer.
fn join_parts(values: Vec<Value>) -> Value {
    if !values.iter().all(|v| matches!(v, Value::Struct(_))) {
        return concat_answers(values);
    }
    let mut parts = values.into_iter();
    let Some(Value::Struct(mut first)) = parts.next() else {
        return Value::Nil;
    };
    for part in parts {
        let Value::Struct(more) = part else { continue };
        for (k, v) in more {
            if let (Some(Value::Array(have)), Value::Array(add)) = (first.get_mut(&k), v) {
                have.extend(add);
            }
        }
    }
    Value::Struct(first)
}

/// The nodes' answers to one call split by ids, as one: arrays concatenated, otherwise the
/// first node's.
fn concat_answers(values: Vec<Value>) -> Value {
    if values.iter().all(|v| matches!(v, Value::Array(_))) {
        Value::Array(
            values
                .into_iter()
                .flat_map(|v| match v {
                    Value::Array(a) => a,
                    other => vec![other],
                })
                .collect(),
        )
    } else {
        values.into_iter().next().unwrap_or(Value::Nil)
    }
}
