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
use crate::sessions::{needs_renewal, session_id};
use crate::table::{Merge, Route, rule};

pub use crate::fanout::{Outcome, unavailable};

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
        self.pool.call(&node.uyuni_api, cred, method, args)
    }

    fn call_raw(
        &self,
        node: &NodeView,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Answer<String>> + Send {
        self.pool.call_raw(&node.uyuni_api, cred, method, args)
    }
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
        let live = self.live();
        let mut outcome = match rule.route {
            Route::Login => Outcome::done(self.login(&params).await),
            Route::Logout => Outcome::done(self.logout(&params).await),
            Route::Plain => self.fanout(&live).any(None, method, params).await,
            // A method the table does not know whose first parameter is no session key (one
            // of Uyuni's few calls without a session): passed through as it is.
            Route::Any if !matches!(params.first(), Some(Value::String(k)) if crate::sessions::looks_like_key(k)) => {
                self.fanout(&live).any(None, method, params).await
            }
            route => match self.session_args(params).await {
                Ok((cred, args)) => {
                    self.fanout(&live)
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
                Ok((cred, args)) => match self
                    .fanout(&self.live())
                    .merged_raw(&cred, method, args)
                    .await
                {
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

    fn live(&self) -> Live<'_, M> {
        Live {
            meta: &self.meta,
            pool: &self.pool,
        }
    }

    fn fanout<'a>(&'a self, live: &'a Live<'a, M>) -> Fanout<'a, Live<'a, M>> {
        Fanout::new(live, &self.turn)
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
        let nodes = self.fanout(&self.live()).healthy_nodes();
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

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => uyuni_api::json::to_json(other).to_string(),
    }
}
