//! Clients of the nodes' Uyuni APIs: one per node, shared by every session (the caller puts
//! the node's session key of the user in front of the parameters; no client logs in by
//! itself, so the pool holds no password).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uyuni_api::{ApiError, ClientConfig, Fault, UyuniClient, Value};

/// How one node answered.
#[derive(Debug, Clone)]
pub enum Answer<T = Value> {
    /// A value (or, from [`Pool::open_raw`], the answer's body).
    Value(T),
    /// A fault of the node's own (passed on unchanged).
    Fault(Fault),
    /// No answer: unreachable, timed out, or garbage.
    Unavailable(String),
}

/// What a gateway session calls the nodes with: the nodes' own session keys, taken when the
/// user logged in (the password is not kept). Its `Debug` shows no key.
#[derive(Clone)]
pub struct Credentials {
    /// Uyuni login.
    pub user: String,
    /// The gateway session key (faults about the session name it, as a single server would).
    pub key: String,
    /// Node name → that node's session key for this user.
    pub nodes: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Pool {
    clients: Mutex<HashMap<String, Arc<UyuniClient>>>,
    timeout: Duration,
    ca_file: Option<PathBuf>,
}

impl Pool {
    /// A pool whose calls give up after `timeout`.
    pub fn new(timeout: Duration, ca_file: Option<PathBuf>) -> Self {
        Self {
            clients: Mutex::new(HashMap::new()),
            timeout,
            ca_file,
        }
    }

    fn client(&self, url: &str) -> Result<Arc<UyuniClient>, String> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(url) {
            return Ok(c.clone());
        }
        let mut cfg = ClientConfig::new(url, "", "");
        cfg.ca_file = self.ca_file.clone();
        cfg.timeout = self.timeout;
        // One quick retry for a dropped keep-alive connection; the caller's bound is firm.
        cfg.retries = 1;
        cfg.backoff_initial = Duration::from_millis(50);
        let c = Arc::new(UyuniClient::new(cfg).map_err(|e| e.to_string())?);
        clients.insert(url.to_string(), c.clone());
        Ok(c)
    }

    /// Call `method` on the node at `url` with the node session key `session` put first, or
    /// without a session when `None`.
    pub async fn call(
        &self,
        url: &str,
        session: Option<&str>,
        method: &str,
        params: Vec<Value>,
    ) -> Answer {
        let client = match self.client(url) {
            Ok(c) => c,
            Err(e) => return Answer::Unavailable(e),
        };
        self.bounded(client.call_plain(method, with_key(session, params)))
            .await
    }

    /// Like [`Pool::call`] with a session, but the answer's body comes back as it arrives
    /// (once the node answered HTTP 200; a fault is in the body).
    pub async fn open_raw(
        &self,
        url: &str,
        session: &str,
        method: &str,
        params: Vec<Value>,
    ) -> Answer<crate::fanout::stream::RawChunks> {
        let client = match self.client(url) {
            Ok(c) => c,
            Err(e) => return Answer::Unavailable(e),
        };
        let opened = self
            .bounded(client.open_raw_plain(method, with_key(Some(session), params)))
            .await;
        match opened {
            Answer::Value(body) => Answer::Value(Box::pin(futures::stream::unfold(
                body,
                |mut body| async move {
                    let piece = body.chunk().await?;
                    Some((piece.map_err(|e| e.to_string()), body))
                },
            ))),
            Answer::Fault(f) => Answer::Fault(f),
            Answer::Unavailable(why) => Answer::Unavailable(why),
        }
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Answer<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Answer::Unavailable(format!("no answer within {:?}", self.timeout)),
            Ok(Ok(v)) => Answer::Value(v),
            Ok(Err(ApiError::Fault { fault, .. } | ApiError::Login { fault, .. })) => {
                Answer::Fault(fault)
            }
            Ok(Err(e)) => Answer::Unavailable(e.to_string()),
        }
    }
}

fn with_key(session: Option<&str>, params: Vec<Value>) -> Vec<Value> {
    match session {
        Some(k) => std::iter::once(Value::String(k.to_string()))
            .chain(params)
            .collect(),
        None => params,
    }
}
