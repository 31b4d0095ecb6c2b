//! One Uyuni call answered for the whole cluster: the I/O shell around the routing core
//! ([`crate::fanout`]). Here are the session check, the overall deadline, `strict`, and the
//! [`Cluster`] the core runs on: the metastore's nodes and zone leaders, and the HTTP pool
//! ([`crate::pool`]) that bounds each node's call.

use std::future::Future;

use uyuni_api::{Fault, Value};

use crate::Gateway;
use crate::fanout::{Cluster, Fanout};
use crate::ids::IdKind;
use crate::metastore::{Metastore, MetastoreError, NodeView};
use crate::pool::{Answer, Credentials, Pool};
use crate::sessions::{Roles, session_id};
use crate::table::{Merge, Route, rule, rule_for_call};

use crate::fanout::stream::{Format, RawChunks, Streamed};
pub use crate::fanout::{Outcome, unavailable};

/// Whether the call `method(params)` (the session key first) answers a merged list of
/// systems, streamed as it arrives (the rule "merge, concatenate" with the system `id`
/// translated, of the overload the parameters match).
pub fn streamed(method: &str, params: &[Value]) -> bool {
    let rule = rule_for_call(method, params);
    rule.route == Route::Merge(Merge::Concat) && rule.ids_out == [("id", IdKind::System)]
}

/// An XML-RPC answer: a whole document, or a merged list being streamed.
#[derive(Debug)]
pub enum XmlAnswer {
    /// The whole `methodResponse` (a value or a fault).
    Doc {
        /// The document.
        text: String,
        /// Nodes whose part the answer lacks.
        missing: Vec<String>,
        /// Not a fault.
        ok: bool,
    },
    /// A merged list, sent as it arrives.
    Stream(Streamed),
}

/// The live cluster: the metastore's view of the nodes, called through the pool.
#[derive(Debug)]
struct Live<'a, M> {
    meta: &'a M,
    pool: &'a Pool,
}

impl<M: Metastore> Cluster for Live<'_, M> {
    fn nodes(&self) -> Vec<NodeView> {
        self.meta.nodes()
    }

    fn zone_leader(
        &self,
        zone: &str,
    ) -> impl Future<Output = Result<String, MetastoreError>> + Send {
        self.meta.zone_leader(zone)
    }

    fn call(
        &self,
        node: &NodeView,
        cred: Option<&Credentials>,
        method: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Answer> + Send {
        let session = cred.map(|c| (c.nodes.get(&node.name).cloned(), c.key.clone()));
        let url = node.uyuni_api.clone();
        async move {
            match session {
                None => self.pool.call(&url, None, method, args).await,
                Some((Some(node_key), key)) => {
                    let answer = self.pool.call(&url, Some(&node_key), method, args).await;
                    session_fault(answer, &key)
                }
                // A node that joined after the login: no session there (as a single server
                // that forgot it would answer; the client logs in again).
                Some((None, key)) => Answer::Fault(Fault::invalid_session(&key)),
            }
        }
    }

    fn relocate(
        &self,
        slot: u32,
        local: i64,
    ) -> impl Future<Output = crate::metastore::Relocation> + Send {
        self.meta.relocate_system(slot, local)
    }

    fn peer_cluster_action(&self, id: i64) -> impl Future<Output = Option<Vec<i64>>> + Send {
        self.meta.peer_cluster_action(id)
    }

    fn peer_action_tags(&self) -> impl Future<Output = Vec<u32>> + Send {
        self.meta.peer_action_tags()
    }

    fn open_raw(
        &self,
        node: &NodeView,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Answer<RawChunks>> + Send {
        let node_key = cred.nodes.get(&node.name).cloned();
        let key = cred.key.clone();
        let url = node.uyuni_api.clone();
        async move {
            match node_key {
                Some(node_key) => {
                    let answer = self.pool.open_raw(&url, &node_key, method, args).await;
                    session_fault(answer, &key)
                }
                None => Answer::Fault(Fault::invalid_session(&key)),
            }
        }
    }
}

/// A node's "no such session" names the gateway's key, not the node's own.
fn session_fault<T>(answer: Answer<T>, key: &str) -> Answer<T> {
    match answer {
        Answer::Fault(f) if f.is_invalid_session() => Answer::Fault(Fault::invalid_session(key)),
        other => other,
    }
}

/// Count and log one answered call; an answer lacking nodes (the partial policy let it
/// through) gets a warn line naming them and `gateway_partial_answers_total{method}`.
fn observe(method: &str, ok: bool, started: std::time::Instant, missing: &[String]) {
    if ok && !missing.is_empty() {
        tracing::warn!(
            method = %crate::metrics::method_label(method),
            nodes = %missing.join(","),
            "partial answer: these nodes' part is missing"
        );
    }
    crate::metrics::metrics().observe(method, ok, started.elapsed(), missing.len());
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl<M: Metastore> Gateway<M> {
    /// Answer `method(params)` (the session key, if any, first) for the cluster. `strict`:
    /// a merged answer missing a node becomes a fault.
    pub async fn call(&self, method: &str, params: Vec<Value>, strict: bool) -> Outcome {
        let started = std::time::Instant::now();
        let out = match tokio::time::timeout(
            self.deadline(method),
            self.call_inner(method, params, strict),
        )
        .await
        {
            Ok(out) => out,
            Err(_) => Outcome::done(Err(unavailable("the cluster did not answer in time"))),
        };
        observe(method, out.result.is_ok(), started, &out.missing);
        out
    }

    /// One request's bound, whatever it fans out to (nodes tried one after another, zones
    /// written in turn): three node timeouts, and for a common-data write also the wait until
    /// every node has it (`common_visible_timeout_ms`).
    fn deadline(&self, method: &str) -> std::time::Duration {
        let base = self.cfg.node_timeout * 3;
        if rule(method).route == Route::CommonWrite {
            base + self.cfg.common_visible_timeout
        } else {
            base
        }
    }

    async fn call_inner(&self, method: &str, params: Vec<Value>, strict: bool) -> Outcome {
        let rule = rule_for_call(method, &params);
        let live = self.live();
        let mut outcome = match rule.route {
            Route::Login => Outcome::done(self.login(&params).await),
            Route::Logout => Outcome::done(self.logout(&params).await),
            Route::Plain => self.fanout(&live).any(None, method, params).await,
            // Unknown methods, node-local ones, calls by system certificate: refused before
            // any node is asked (docs/GATEWAY.md#refused-in-a-cluster).
            Route::Refuse(why) => Outcome::done(Err(why.fault(method))),
            route => match self.session_args(params).await {
                Ok((cred, args)) => {
                    self.fanout(&live)
                        .fail_on_partial(strict)
                        .route(route, rule.ids_out, &cred, method, args)
                        .await
                }
                Err(f) => Outcome::done(Err(f)),
            },
        };
        if strict && !outcome.missing.is_empty() && outcome.result.is_ok() {
            outcome.result = Err(unavailable(&outcome.missing.join(", ")));
        }
        outcome
    }

    /// Answer a call as an XML-RPC `methodResponse`. Lists of systems merged from several
    /// nodes are streamed as they arrive ([`crate::fanout::stream`]); everything else is
    /// [`Gateway::call`] rendered. The overall deadline bounds the call until its answer
    /// begins; a streamed answer's pieces are then each bounded by the node timeout.
    pub async fn call_xml(&self, method: &str, params: Vec<Value>, strict: bool) -> XmlAnswer {
        let started = std::time::Instant::now();
        let call = self.call_xml_inner(method, params, strict);
        let answer = match tokio::time::timeout(self.deadline(method), call).await {
            Ok(a) => a,
            Err(_) => XmlAnswer::Doc {
                text: uyuni_api::codec::render_fault(&unavailable(
                    "the cluster did not answer in time",
                )),
                missing: Vec::new(),
                ok: false,
            },
        };
        let (ok, missing) = match &answer {
            XmlAnswer::Doc { ok, missing, .. } => (*ok, missing.as_slice()),
            XmlAnswer::Stream(s) => (true, s.missing.as_slice()),
        };
        observe(method, ok, started, missing);
        answer
    }

    async fn call_xml_inner(&self, method: &str, params: Vec<Value>, strict: bool) -> XmlAnswer {
        let outcome = if streamed(method, &params) {
            match self.stream_inner(method, params, strict, Format::Xml).await {
                Ok(s) => return XmlAnswer::Stream(s),
                Err(f) => Outcome::done(Err(f)),
            }
        } else {
            self.call_inner(method, params, strict).await
        };
        let text = match &outcome.result {
            Ok(v) => uyuni_api::codec::render_response(v).unwrap_or_else(|e| {
                uyuni_api::codec::render_fault(&Fault::internal(format!(
                    "answer not representable: {e}"
                )))
            }),
            Err(f) => uyuni_api::codec::render_fault(f),
        };
        XmlAnswer::Doc {
            text,
            ok: outcome.result.is_ok(),
            missing: outcome.missing,
        }
    }

    /// A merged list of systems ([`streamed`] methods) streamed in `format`, or the fault
    /// to answer with. Bounded by the overall deadline until the answer begins.
    pub async fn call_stream(
        &self,
        method: &str,
        params: Vec<Value>,
        strict: bool,
        format: Format,
    ) -> Result<Streamed, Fault> {
        let started = std::time::Instant::now();
        let call = self.stream_inner(method, params, strict, format);
        let out = match tokio::time::timeout(self.deadline(method), call).await {
            Ok(out) => out,
            Err(_) => Err(unavailable("the cluster did not answer in time")),
        };
        let missing = out.as_ref().map_or(&[][..], |s| s.missing.as_slice());
        observe(method, out.is_ok(), started, missing);
        out
    }

    async fn stream_inner(
        &self,
        method: &str,
        params: Vec<Value>,
        strict: bool,
        format: Format,
    ) -> Result<Streamed, Fault> {
        let (cred, args) = self.session_args(params).await?;
        self.fanout(&self.live())
            .merged_stream(&cred, method, args, strict, format)
            .await
    }

    fn live(&self) -> Live<'_, M> {
        Live {
            meta: &self.meta,
            pool: &self.pool,
        }
    }

    fn fanout<'a>(&'a self, live: &'a Live<'a, M>) -> Fanout<'a, Live<'a, M>> {
        Fanout::new(live, &self.turn)
            .visible_within(self.cfg.common_visible_timeout)
            .in_order(self.cfg.merged_order)
            .with_cluster_actions(&self.actions)
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

    // ---- sessions ----

    /// `auth.login`: log in to every healthy node with the user's password (concurrently),
    /// read their roles with one of those node sessions, and keep the node session keys (never
    /// the password) under a new gateway key.
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
        let ttl_s = match params.get(2).and_then(uyuni_api::value::as_i64) {
            // At most a year: a session key is a credential.
            Some(s) if s > 0 => (s as u64).min(365 * 86_400),
            _ => self.cfg.session_ttl.as_secs().max(1),
        };
        let nodes = self.fanout(&self.live()).healthy_nodes();
        if nodes.is_empty() {
            return Err(unavailable("no Uyuni node is up"));
        }
        let creds = vec![
            Value::String(user.clone()),
            Value::String(password.clone()),
            uyuni_api::value::int(i64::try_from(ttl_s).unwrap_or(i64::from(i32::MAX))),
        ];
        let answers = futures::future::join_all(nodes.iter().map(|n| {
            self.pool
                .call(&n.uyuni_api, None, "auth.login", creds.clone())
        }))
        .await;
        drop(creds);
        let mut keys = std::collections::BTreeMap::new();
        let mut fault = None;
        for (n, a) in nodes.iter().zip(answers) {
            match a {
                Answer::Value(Value::String(k)) => {
                    keys.insert(n.name.clone(), k);
                }
                Answer::Value(_) => tracing::warn!(node = %n.name, "auth.login gave no key"),
                Answer::Fault(f) => {
                    tracing::info!(node = %n.name, user = %user, code = f.code,
                        "a node refused a gateway login");
                    fault.get_or_insert(f);
                }
                Answer::Unavailable(e) => {
                    tracing::info!(node = %n.name, error = %e, "node unavailable at login");
                }
            }
        }
        let Some((first, first_key)) = keys.iter().next() else {
            return Err(fault.unwrap_or_else(|| unavailable("no Uyuni node answered")));
        };
        let url = nodes
            .iter()
            .find(|n| &n.name == first)
            .map(|n| n.uyuni_api.clone())
            .unwrap_or_default();
        let roles = self.read_roles(&url, first_key, user).await;
        let key = crate::sessions::new_key().map_err(|e| Fault::internal(e.to_string()))?;
        let now = now_ms();
        let session = crate::sessions::Session {
            id: session_id(&key),
            user: user.clone(),
            roles,
            created_at: now,
            expires_at: now.saturating_add(ttl_s * 1000),
            nodes: crate::sessions::seal_node_keys(&key, &keys)
                .map_err(|e| Fault::internal(e.to_string()))?,
        };
        self.sessions
            .insert(session)
            .map_err(|e| Fault::internal(e.to_string()))?;
        tracing::info!(user = %user, nodes = keys.len(), "gateway session opened");
        Ok(Value::String(key))
    }

    /// The user's organisation and roles, read with their own node session
    /// (`user.getDetails`, `user.listRoles`). A node that cannot say gives none (a plain
    /// user, the safe side).
    async fn read_roles(&self, url: &str, node_key: &str, user: &str) -> Roles {
        let me = || vec![Value::String(user.to_string())];
        let (details, roles) = futures::future::join(
            self.pool.call(url, Some(node_key), "user.getDetails", me()),
            self.pool.call(url, Some(node_key), "user.listRoles", me()),
        )
        .await;
        let mut out = Roles::default();
        match details {
            Answer::Value(Value::Struct(d)) => {
                out.org_id = d
                    .get("org_id")
                    .and_then(uyuni_api::value::as_i64)
                    .unwrap_or(0);
            }
            other => tracing::warn!(user, answer = ?other, "user.getDetails failed at login"),
        }
        match roles {
            Answer::Value(Value::Array(rs)) => {
                out.roles = rs
                    .into_iter()
                    .filter_map(|r| match r {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect();
            }
            other => tracing::warn!(user, answer = ?other, "user.listRoles failed at login"),
        }
        out
    }

    /// `auth.logout`: the session is removed from the table (memory and disk), and the nodes'
    /// sessions are logged out (best effort).
    async fn logout(&self, params: &[Value]) -> Result<Value, Fault> {
        let Some(Value::String(key)) = params.first() else {
            return Err(Fault::invalid_session(""));
        };
        let cred = self.credentials(key).await?;
        let id = session_id(key);
        self.sessions
            .remove(&id)
            .map_err(|e| Fault::internal(e.to_string()))?;
        self.meta.end_peer_session(&id).await;
        let urls: std::collections::BTreeMap<String, String> = self
            .meta
            .nodes()
            .into_iter()
            .map(|n| (n.name, n.uyuni_api))
            .collect();
        for (node, node_key) in cred.nodes {
            if let Some(url) = urls.get(&node).cloned() {
                let pool = self.pool.clone();
                tokio::spawn(async move {
                    pool.call(&url, None, "auth.logout", vec![Value::String(node_key)])
                        .await;
                });
            }
        }
        tracing::info!(user = %cred.user, "gateway session closed");
        Ok(uyuni_api::value::int(1))
    }

    /// The session behind a key and its credentials, or Uyuni's fault for an unknown or
    /// expired one.
    pub async fn session(
        &self,
        key: &str,
    ) -> Result<(crate::sessions::Session, Credentials), Fault> {
        let invalid = || Fault::invalid_session(key);
        if !crate::sessions::looks_like_key(key) {
            return Err(invalid());
        }
        let id = session_id(key);
        let s = match self.sessions.get(&id, now_ms()) {
            Some(s) => s,
            None => self.session_elsewhere(&id).await.ok_or_else(invalid)?,
        };
        let nodes = crate::sessions::open_node_keys(key, &s.nodes).map_err(|_| invalid())?;
        let cred = Credentials {
            user: s.user.clone(),
            key: key.to_string(),
            nodes,
        };
        Ok((s, cred))
    }

    /// A session another gateway opened, asked for once (unknown ids are remembered for a
    /// while) and then kept here as if opened here.
    async fn session_elsewhere(&self, id: &str) -> Option<crate::sessions::Session> {
        let now = now_ms();
        if lock(&self.unknown).contains(id, now) {
            return None;
        }
        let found = self
            .meta
            .peer_session(id)
            .await
            .filter(|s| s.id == id && s.expires_at > now);
        match &found {
            Some(s) => {
                if let Err(e) = self.sessions.insert(s.clone()) {
                    tracing::warn!(error = %e, "a session from another gateway was not kept");
                }
                tracing::debug!(user = %s.user, "session opened by another gateway");
            }
            None => lock(&self.unknown).insert(id, now),
        }
        found
    }

    /// The credentials behind a session key, or Uyuni's fault for an unknown or expired one.
    pub async fn credentials(&self, key: &str) -> Result<Credentials, Fault> {
        self.session(key).await.map(|(_, c)| c)
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => uyuni_api::json::to_json(other).to_string(),
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
