//! Clients of the nodes' Uyuni APIs: one per (user, password, node), keeping that node's
//! session; plus one without credentials per node for calls that take none.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use uyuni_api::{ApiError, ClientConfig, Fault, UyuniClient, Value};

/// How one node answered.
#[derive(Debug, Clone)]
pub enum Answer<T = Value> {
    /// A value (or, from [`Pool::call_raw`], the answer's text).
    Value(T),
    /// A fault of the node's own (passed on unchanged).
    Fault(Fault),
    /// No answer: unreachable, timed out, or garbage.
    Unavailable(String),
}

/// Credentials of a gateway session.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

type ClientKey = (String, [u8; 32], String);

/// See the module documentation.
#[derive(Debug)]
pub struct Pool {
    clients: Mutex<HashMap<ClientKey, Arc<UyuniClient>>>,
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

    fn client(&self, cred: Option<&Credentials>, url: &str) -> Result<Arc<UyuniClient>, String> {
        let (user, password) = cred.map_or(("", ""), |c| (c.user.as_str(), c.password.as_str()));
        let key: ClientKey = (
            user.to_string(),
            Sha256::digest(password.as_bytes()).into(),
            url.to_string(),
        );
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let mut cfg = ClientConfig::new(url, user, password);
        cfg.ca_file = self.ca_file.clone();
        cfg.timeout = self.timeout;
        // One quick retry for a dropped keep-alive connection; the caller's bound is firm.
        cfg.retries = 1;
        cfg.backoff_initial = Duration::from_millis(50);
        let c = Arc::new(UyuniClient::new(cfg).map_err(|e| e.to_string())?);
        clients.insert(key, c.clone());
        Ok(c)
    }

    /// Call `method` on the node at `url` as `cred` (the session key is the pool's own),
    /// or without a session when `cred` is `None`.
    pub async fn call(
        &self,
        url: &str,
        cred: Option<&Credentials>,
        method: &str,
        params: Vec<Value>,
    ) -> Answer {
        let client = match self.client(cred, url) {
            Ok(c) => c,
            Err(e) => return Answer::Unavailable(e),
        };
        let call = async {
            match cred {
                Some(_) => client.call(method, params).await,
                None => client.call_plain(method, params).await,
            }
        };
        self.bounded(call).await
    }

    /// Like [`Pool::call`] with a session, but a value comes back as the node's own text.
    pub async fn call_raw(
        &self,
        url: &str,
        cred: &Credentials,
        method: &str,
        params: Vec<Value>,
    ) -> Answer<String> {
        let client = match self.client(Some(cred), url) {
            Ok(c) => c,
            Err(e) => return Answer::Unavailable(e),
        };
        self.bounded(client.call_raw(method, params)).await
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
