//! One Uyuni call answered for the whole cluster, following [`crate::table`]: the session
//! check, the fan-out to the nodes with a bound on each, id translation and the merge.

use std::collections::BTreeMap;

use futures::future::join_all;
use uyuni_api::{Fault, Value};

use crate::Gateway;
use crate::ids::IdKind;
use crate::merge::merge;
use crate::metastore::{Metastore, NodeView};
use crate::pool::{Answer, Credentials};
use crate::sessions::{needs_renewal, session_id};
use crate::table::{Merge, Route, rule};
use crate::translate::{id_in, ids_out, split_ids};

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
    fn done(result: Result<Value, Fault>) -> Self {
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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl<M: Metastore> Gateway<M> {
    /// Answer `method(params)` (the session key, if any, first) for the cluster. `strict`:
    /// a merged answer missing a node becomes a fault.
    pub async fn call(&self, method: &str, params: Vec<Value>, strict: bool) -> Outcome {
        match tokio::time::timeout(self.deadline(), self.call_inner(method, params, strict)).await {
            Ok(out) => out,
            Err(_) => Outcome::done(Err(unavailable("the cluster did not answer in time"))),
        }
    }

    /// One request's bound, whatever it fans out to (nodes tried one after another, zones
    /// written in turn): three node timeouts.
    fn deadline(&self) -> std::time::Duration {
        self.cfg.node_timeout * 3
    }

    async fn call_inner(&self, method: &str, params: Vec<Value>, strict: bool) -> Outcome {
        let rule = rule(method);
        let mut outcome = match rule.route {
            Route::Login => Outcome::done(self.login(&params).await),
            Route::Logout => Outcome::done(self.logout(&params).await),
            Route::Plain => self.any(None, method, params).await,
            // A method the table does not know whose first parameter is no session key (one
            // of Uyuni's few calls without a session): passed through as it is.
            Route::Any if !matches!(params.first(), Some(Value::String(k)) if crate::sessions::looks_like_key(k)) => {
                self.any(None, method, params).await
            }
            route => match self.session_args(params).await {
                Ok((cred, args)) => self.route(route, rule.ids_out, &cred, method, args).await,
                Err(f) => Outcome::done(Err(f)),
            },
        };
        if strict && !outcome.missing.is_empty() && outcome.result.is_ok() {
            outcome.result = Err(unavailable(&outcome.missing.join(", ")));
        }
        outcome
    }

    /// Answer a call as an XML-RPC `methodResponse` document. Lists of systems merged from
    /// several nodes take the fast path of [`crate::rawmerge`]; everything else is
    /// [`Gateway::call`] rendered.
    pub async fn call_xml(
        &self,
        method: &str,
        params: Vec<Value>,
        strict: bool,
    ) -> (String, Vec<String>) {
        let call = self.call_xml_inner(method, params, strict);
        match tokio::time::timeout(self.deadline(), call).await {
            Ok(out) => out,
            Err(_) => (
                uyuni_api::codec::render_fault(&unavailable("the cluster did not answer in time")),
                Vec::new(),
            ),
        }
    }

    async fn call_xml_inner(
        &self,
        method: &str,
        params: Vec<Value>,
        strict: bool,
    ) -> (String, Vec<String>) {
        let rule = rule(method);
        let fast =
            rule.route == Route::Merge(Merge::Concat) && rule.ids_out == [("id", IdKind::System)];
        let outcome = if fast {
            match self.session_args(params).await {
                Ok((cred, args)) => match self.merged_raw(&cred, method, args).await {
                    Ok((doc, missing)) if !strict || missing.is_empty() => {
                        return (doc, missing);
                    }
                    Ok((_, missing)) => Outcome {
                        result: Err(unavailable(&missing.join(", "))),
                        missing,
                    },
                    Err(outcome) => outcome,
                },
                Err(f) => Outcome::done(Err(f)),
            }
        } else {
            self.call_inner(method, params, strict).await
        };
        let doc = match &outcome.result {
            Ok(v) => uyuni_api::codec::render_response(v).unwrap_or_else(|e| {
                uyuni_api::codec::render_fault(&Fault::internal(format!(
                    "answer not representable: {e}"
                )))
            }),
            Err(f) => uyuni_api::codec::render_fault(f),
        };
        (doc, outcome.missing)
    }

    /// The merged list as a document, or (when the nodes' text does not allow the fast path,
    /// or nothing but faults came back) the outcome of the decoding path.
    async fn merged_raw(
        &self,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Result<(String, Vec<String>), Outcome> {
        let (nodes, mut missing) = self.slotted();
        let calls = nodes
            .iter()
            .map(|n| self.pool.call_raw(&n.uyuni_api, cred, method, args.clone()));
        let answers = join_all(calls).await;
        let (parts, mut first_fault) = sort_answers(method, &nodes, answers, &mut missing);
        if parts.is_empty() {
            let result = match first_fault {
                Some(f) => Err(f),
                None if !missing.is_empty() => Err(unavailable(&missing.join(", "))),
                None => Ok(Value::Array(Vec::new())),
            };
            return Err(Outcome { result, missing });
        }
        if let Some(doc) = crate::rawmerge::concat_systems(parts.clone()) {
            return Ok((doc, missing));
        }
        // Decode after all (same answers, no second call).
        let mut values = Vec::new();
        for (slot, text) in parts {
            match uyuni_api::codec::parse_response(&text) {
                Ok(Ok(v)) => values.push(ids_out(v, slot, &[("id", IdKind::System)])),
                Ok(Err(f)) => {
                    first_fault.get_or_insert(f);
                }
                Err(e) => tracing::warn!(error = %e, "malformed answer left out"),
            }
        }
        Err(Outcome {
            result: Ok(merge(Merge::Concat, values)),
            missing,
        })
    }

    /// The credentials of the session key in `params[0]`, and the remaining parameters.
    async fn session_args(&self, params: Vec<Value>) -> Result<(Credentials, Vec<Value>), Fault> {
        let key = match params.first() {
            Some(Value::String(k)) => k.clone(),
            other => {
                return Err(Fault::invalid_session(
                    &other.map(value_text).unwrap_or_default(),
                ));
            }
        };
        let cred = self.credentials(&key).await?;
        Ok((cred, params[1..].to_vec()))
    }

    async fn route(
        &self,
        route: Route,
        ids: &'static [(&'static str, IdKind)],
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

    fn slotted(&self) -> (Vec<NodeView>, Vec<String>) {
        let mut up = Vec::new();
        let mut missing = Vec::new();
        for n in self.meta.nodes() {
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
        ids: &'static [(&'static str, IdKind)],
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> Outcome {
        let (nodes, mut missing) = self.slotted();
        let calls = nodes.iter().map(|n| {
            self.pool
                .call(&n.uyuni_api, Some(cred), method, args.clone())
        });
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
        self.meta.nodes().into_iter().find(|n| n.slot == Some(slot))
    }

    async fn on_owner(
        &self,
        kind: IdKind,
        arg: usize,
        ids: &'static [(&'static str, IdKind)],
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
                Some(id) if kind == IdKind::System => Outcome::done(Err(Fault::no_such_system(id))),
                Some(id) => Outcome::done(Err(Fault::xmlrpc(
                    -1,
                    format!("No such action - id = {id}"),
                ))),
                None => self.by_ids(cred, method, args).await,
            };
        };
        let Some(node) = self.node_of_slot(slot) else {
            let id = uyuni_api::value::as_i64(given).unwrap_or_default();
            return Outcome::done(Err(match kind {
                IdKind::System => Fault::no_such_system(id),
                IdKind::Action => Fault::xmlrpc(-1, format!("No such action - id = {id}")),
            }));
        };
        if !node.healthy() {
            return Outcome {
                result: Err(unavailable(&node.name)),
                missing: vec![node.name],
            };
        }
        args[arg] = uyuni_api::value::int(local);
        let answer = self
            .pool
            .call(&node.uyuni_api, Some(cred), method, args)
            .await;
        self.single(&node, answer, ids)
    }

    fn single(
        &self,
        node: &NodeView,
        answer: Answer,
        ids: &'static [(&'static str, IdKind)],
    ) -> Outcome {
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

    /// Calls taking an array of ids: every node gets its own; one answer back (the first
    /// node's: `1`, or an action id). A call spanning nodes is made on each of them.
    async fn split(
        &self,
        arg: usize,
        kind: IdKind,
        ids: &'static [(&'static str, IdKind)],
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
        let nodes = self.meta.nodes();
        let mut targets = Vec::new();
        for (slot, local_ids) in parts {
            let Some(node) = nodes.iter().find(|n| n.slot == Some(slot)) else {
                let first = local_ids.first().and_then(uyuni_api::value::as_i64);
                let id = first
                    .and_then(|l| crate::ids::to_gateway(kind, slot, l))
                    .unwrap_or_default();
                return Outcome::done(Err(match kind {
                    IdKind::System => Fault::no_such_system(id),
                    IdKind::Action => Fault::xmlrpc(-1, format!("No such action - id = {id}")),
                }));
            };
            let mut a = args.clone();
            a[arg] = Value::Array(local_ids);
            targets.push((node.clone(), a));
        }
        let calls = targets
            .iter()
            .map(|(n, a)| self.pool.call(&n.uyuni_api, Some(cred), method, a.clone()));
        let answers = join_all(calls).await;
        let mut first: Option<Outcome> = None;
        let mut missing = Vec::new();
        for ((node, _), answer) in targets.iter().zip(answers) {
            let out = self.single(node, answer, ids);
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
        match crate::translate::owner_of_ids(&args) {
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
                let answer = self
                    .pool
                    .call(&node.uyuni_api, Some(cred), method, local)
                    .await;
                self.single(&node, answer, &[("id", IdKind::System)])
            }
            Err(crate::translate::SeveralNodes) => Outcome::done(Err(Fault::xmlrpc(
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
        let nodes = self.meta.nodes();
        let zones: std::collections::BTreeSet<String> =
            nodes.iter().map(|n| n.zone.clone()).collect();
        let mut first: Option<Result<Value, Fault>> = None;
        let mut missing = Vec::new();
        for zone in zones {
            let leader = match self.meta.zone_leader(&zone).await {
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
            let answer = self
                .pool
                .call(&node.uyuni_api, Some(cred), method, args.clone())
                .await;
            match answer {
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
        let calls = per_zone.values().map(|n| {
            self.pool
                .call(&n.uyuni_api, Some(cred), method, args.clone())
        });
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
    fn healthy_nodes(&self) -> Vec<NodeView> {
        self.meta
            .nodes()
            .into_iter()
            .filter(NodeView::healthy)
            .collect()
    }

    /// Any healthy node (turn by turn), unchanged; the next one if it does not answer.
    async fn any(&self, cred: Option<&Credentials>, method: &str, args: Vec<Value>) -> Outcome {
        let nodes = self.healthy_nodes();
        if nodes.is_empty() {
            return Outcome::done(Err(unavailable("no Uyuni node is up")));
        }
        let start = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tried = Vec::new();
        for i in 0..nodes.len() {
            let n = &nodes[(start + i) % nodes.len()];
            match self
                .pool
                .call(&n.uyuni_api, cred, method, args.clone())
                .await
            {
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

    // ---- sessions ----

    async fn login(&self, params: &[Value]) -> Result<Value, Fault> {
        let (Some(Value::String(user)), Some(Value::String(password))) =
            (params.first(), params.get(1))
        else {
            let types: Vec<&str> = params.iter().map(uyuni_api::value::type_name).collect();
            return Err(Fault::no_such_method(
                "auth.login",
                "com.redhat.rhn.frontend.xmlrpc.auth.AuthHandler",
                &types,
            ));
        };
        let ttl_ms = match params.get(2).and_then(uyuni_api::value::as_i64) {
            // At most a year: a session key is a credential.
            Some(s) if s > 0 => (s as u64).min(365 * 86_400) * 1000,
            _ => self.cfg.session_ttl.as_millis() as u64,
        };
        let cred = Credentials {
            user: user.clone(),
            password: password.clone(),
        };
        // The credentials are checked by a node: the user is common data, the same on all.
        self.check_password(user, password).await?;
        let key = self
            .sealer
            .new_key()
            .map_err(|e| Fault::internal(e.to_string()))?;
        let now = now_ms();
        let rec = crdt_store::SessionRecord {
            id: session_id(&key),
            user: cred.user.clone(),
            secret: self
                .sealer
                .seal(&cred.password)
                .map_err(|e| Fault::internal(e.to_string()))?,
            created_at: now,
            expires_at: now.saturating_add(ttl_ms),
            ttl_ms,
            updated_at: now,
        };
        self.meta
            .put_session(rec)
            .await
            .map_err(|e| Fault::internal(e.to_string()))?;
        tracing::info!(user = %cred.user, "gateway session opened");
        Ok(Value::String(key))
    }

    /// Check a password by logging in on a healthy node (users are common data, the same on
    /// every node); that node session is closed again at once.
    async fn check_password(&self, user: &str, password: &str) -> Result<(), Fault> {
        let nodes = self.healthy_nodes();
        let creds = vec![
            Value::String(user.to_string()),
            Value::String(password.to_string()),
        ];
        let mut tried = Vec::new();
        for n in &nodes {
            match self
                .pool
                .call(&n.uyuni_api, None, "auth.login", creds.clone())
                .await
            {
                Answer::Value(Value::String(key)) => {
                    let (pool, url) = (self.pool.clone(), n.uyuni_api.clone());
                    tokio::spawn(async move {
                        pool.call(&url, None, "auth.logout", vec![Value::String(key)])
                            .await;
                    });
                    return Ok(());
                }
                Answer::Value(_) => {
                    return Err(Fault::internal("auth.login answered without a key"));
                }
                Answer::Fault(f) => return Err(f),
                Answer::Unavailable(_) => tried.push(n.name.clone()),
            }
        }
        Err(unavailable(if tried.is_empty() {
            "no Uyuni node is up"
        } else {
            "no Uyuni node answered"
        }))
    }

    async fn logout(&self, params: &[Value]) -> Result<Value, Fault> {
        let Some(Value::String(key)) = params.first() else {
            return Err(Fault::invalid_session(""));
        };
        self.credentials(key).await?;
        self.meta
            .end_session(&session_id(key))
            .await
            .map_err(|e| Fault::internal(e.to_string()))?;
        Ok(uyuni_api::value::int(1))
    }

    /// The credentials behind a session key, or Uyuni's fault for an unknown or expired one.
    pub async fn credentials(&self, key: &str) -> Result<Credentials, Fault> {
        let invalid = || Fault::invalid_session(key);
        if !crate::sessions::looks_like_key(key) {
            return Err(invalid());
        }
        let id = session_id(key);
        let mut rec = self.meta.session(&id).ok_or_else(invalid)?;
        let now = now_ms();
        if now >= rec.expires_at || rec.secret.is_empty() {
            return Err(invalid());
        }
        let password = self.sealer.open(&rec.secret).map_err(|_| invalid())?;
        if needs_renewal(rec.expires_at, rec.ttl_ms, now) {
            rec.expires_at = now.saturating_add(rec.ttl_ms);
            rec.updated_at = now;
            if let Err(e) = self.meta.put_session(rec.clone()).await {
                tracing::warn!(error = %e, "could not extend a gateway session");
            }
        }
        Ok(Credentials {
            user: rec.user,
            password,
        })
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

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => uyuni_api::json::to_json(other).to_string(),
    }
}
