//! An async client of one Uyuni server's XML-RPC API, with a session.
//!
//! * [`UyuniClient::call`] puts the session key in front of the parameters, logging in first
//!   when there is none. When the server answers `Could not find session` (it restarted, or
//!   the key expired), the client logs in again once and repeats the call.
//! * Transport failures and HTTP 502/503/504 are retried with exponential backoff
//!   (`backoff_initial` doubling up to `backoff_max`, `retries` times); faults are answers,
//!   never retried.
//! * Every failure is an [`ApiError`]; a fault keeps Uyuni's code and string.
//!
//! https trusts exactly the CA in `ca_file` (Uyuni's `RHN-ORG-TRUSTED-SSL-CERT`), no public roots.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dxr::Value;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::sync::Mutex;

use crate::codec::{parse_response, render_call};
use crate::fault::Fault;

/// Largest response body accepted (a 10k-system listing is about 7 MB).
const MAX_BODY: usize = 256 << 20;

/// Where and how to reach a Uyuni server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The XML-RPC endpoint, `http(s)://host[:port]/rpc/api`.
    pub url: String,
    /// API user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// PEM CA certificate(s) trusted for https.
    pub ca_file: Option<PathBuf>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after a transport failure.
    pub retries: u32,
    /// First retry delay.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl ClientConfig {
    /// Defaults for `url`: 30 s timeout, 5 retries from 200 ms to 5 s.
    pub fn new(url: &str, user: &str, password: &str) -> Self {
        Self {
            url: url.to_string(),
            user: user.to_string(),
            password: password.to_string(),
            ca_file: None,
            timeout: Duration::from_secs(30),
            retries: 5,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The server answered with a fault.
    #[error("{method}: {fault}")]
    Fault {
        /// The method called.
        method: String,
        /// Uyuni's fault, code and string as sent.
        fault: Fault,
    },
    /// `auth.login` was refused.
    #[error("login to {url} as {user} refused: {fault}")]
    Login {
        /// The endpoint.
        url: String,
        /// The user.
        user: String,
        /// Uyuni's fault.
        fault: Fault,
    },
    /// The server could not be reached (after the retries).
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an HTTP error instead of XML-RPC.
    #[error("{url}: HTTP {status}")]
    Http {
        /// The endpoint.
        url: String,
        /// The status.
        status: u16,
    },
    /// The answer was not XML-RPC.
    #[error("{url}: malformed answer: {reason}")]
    Decode {
        /// The endpoint.
        url: String,
        /// Why.
        reason: String,
    },
    /// The client could not be set up (bad URL, unreadable CA file).
    #[error("Uyuni client configuration: {0}")]
    Config(String),
}

impl ApiError {
    /// The fault, if the server sent one.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Self::Fault { fault, .. } | Self::Login { fault, .. } => Some(fault),
            _ => None,
        }
    }

    /// Worth trying again later (the server is away or overloaded: no answer, or HTTP
    /// 502/503/504), as opposed to an answer (a fault, another HTTP status, a malformed body).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Http { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client of one Uyuni server. Cheap to clone; clones share the session.
#[derive(Debug, Clone)]
pub struct UyuniClient {
    cfg: Arc<ClientConfig>,
    uri: hyper::Uri,
    http: HyperClient<Https, Full<Bytes>>,
    session: Arc<Mutex<Option<String>>>,
}

impl UyuniClient {
    /// A client for `cfg.url`.
    pub fn new(cfg: ClientConfig) -> Result<Self, ApiError> {
        let uri: hyper::Uri = cfg
            .url
            .parse()
            .map_err(|e| ApiError::Config(format!("url {:?}: {e}", cfg.url)))?;
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &cfg.ca_file {
            let certs = CertificateDer::pem_file_iter(ca)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ApiError::Config(format!("CA file {}: {e}", ca.display())))?;
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| ApiError::Config(format!("CA file {}: {e}", ca.display())))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ApiError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            cfg: Arc::new(cfg),
            uri,
            http,
            session: Arc::new(Mutex::new(None)),
        })
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.cfg.url
    }

    /// Call a method that takes no session (`api.getVersion`, `auth.login`).
    pub async fn call_plain(&self, method: &str, params: Vec<Value>) -> Result<Value, ApiError> {
        self.send(method, &params)
            .await?
            .map_err(|fault| ApiError::Fault {
                method: method.to_string(),
                fault,
            })
    }

    /// Call a method with the session key as its first parameter, logging in when needed and
    /// once more if the server has forgotten the session.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, ApiError> {
        let text = self.call_raw(method, params).await?;
        match parse_response(&text) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(fault)) => Err(ApiError::Fault {
                method: method.to_string(),
                fault,
            }),
            Err(e) => Err(ApiError::Decode {
                url: self.cfg.url.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// Like [`UyuniClient::call`], but the answer is returned as the server sent it (the whole
    /// `methodResponse` document) when it is not a fault, for callers that rewrite large
    /// answers without decoding them.
    pub async fn call_raw(&self, method: &str, params: Vec<Value>) -> Result<String, ApiError> {
        let mut relogged = false;
        loop {
            let key = self.session_key().await?;
            let mut full = Vec::with_capacity(params.len() + 1);
            full.push(Value::String(key.clone()));
            full.extend(params.iter().cloned());
            let body = render_call(method, &full).map_err(|e| ApiError::Config(e.to_string()))?;
            let text = self.fetch(method, &body).await?;
            if !crate::codec::is_fault_response(&text) {
                return Ok(text);
            }
            let fault = match parse_response(&text) {
                Ok(Err(f)) => f,
                Ok(Ok(_)) => return Ok(text),
                Err(e) => {
                    return Err(ApiError::Decode {
                        url: self.cfg.url.clone(),
                        reason: e.to_string(),
                    });
                }
            };
            if fault.is_invalid_session() && !relogged {
                tracing::info!(method, "Uyuni session expired; logging in again");
                let mut s = self.session.lock().await;
                if s.as_deref() == Some(key.as_str()) {
                    *s = None;
                }
                relogged = true;
                continue;
            }
            return Err(ApiError::Fault {
                method: method.to_string(),
                fault,
            });
        }
    }

    /// Like [`UyuniClient::call_plain`] (the caller puts a session key of its own in
    /// `params`, and a fault is returned as it is: no login), but a value comes back as the
    /// server's own `methodResponse` text.
    pub async fn call_raw_plain(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<String, ApiError> {
        let body = render_call(method, &params).map_err(|e| ApiError::Config(e.to_string()))?;
        let text = self.fetch(method, &body).await?;
        if !crate::codec::is_fault_response(&text) {
            return Ok(text);
        }
        match parse_response(&text) {
            Ok(Err(fault)) => Err(ApiError::Fault {
                method: method.to_string(),
                fault,
            }),
            Ok(Ok(_)) => Ok(text),
            Err(e) => Err(ApiError::Decode {
                url: self.cfg.url.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// Log in now (also done lazily by [`UyuniClient::call`]); returns the session key.
    pub async fn login(&self) -> Result<String, ApiError> {
        let v = self
            .send(
                "auth.login",
                &[
                    Value::String(self.cfg.user.clone()),
                    Value::String(self.cfg.password.clone()),
                ],
            )
            .await?;
        match v {
            Ok(Value::String(key)) => Ok(key),
            Ok(other) => Err(ApiError::Decode {
                url: self.cfg.url.clone(),
                reason: format!("auth.login returned {other:?}"),
            }),
            Err(fault) => Err(ApiError::Login {
                url: self.cfg.url.clone(),
                user: self.cfg.user.clone(),
                fault,
            }),
        }
    }

    /// Like [`UyuniClient::call_raw_plain`], but the answer's body is handed back as it
    /// arrives ([`RawBody`]) once the server has answered HTTP 200, for callers that stream a
    /// large answer on (the gateway's merged lists). A fault is not recognised here: it is in
    /// the body. Transport failures before the status are retried as for every call; the
    /// body's chunks are each bounded by the timeout.
    pub async fn open_raw_plain(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<RawBody, ApiError> {
        let body = render_call(method, &params).map_err(|e| ApiError::Config(e.to_string()))?;
        let mut delay = self.cfg.backoff_initial;
        let mut attempt = 0;
        loop {
            match self.open_once(&body).await {
                Err(e) if e.is_transient() && attempt < self.cfg.retries => {
                    tracing::debug!(method, attempt, error = %e, "retrying Uyuni call");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.cfg.backoff_max);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn open_once(&self, body: &str) -> Result<RawBody, ApiError> {
        let resp = self.request(body).await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(ApiError::Http {
                url: self.cfg.url.clone(),
                status,
            });
        }
        Ok(RawBody {
            url: self.cfg.url.clone(),
            timeout: self.cfg.timeout,
            body: resp.into_body(),
        })
    }

    async fn request(
        &self,
        body: &str,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ApiError> {
        let url = &self.cfg.url;
        let req = hyper::Request::post(self.uri.clone())
            .header(hyper::header::CONTENT_TYPE, "text/xml")
            .header(hyper::header::USER_AGENT, "uyuni-cluster")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| ApiError::Config(e.to_string()))?;
        let unreachable = |reason: String| ApiError::Unreachable {
            url: url.clone(),
            reason,
        };
        tokio::time::timeout(self.cfg.timeout, self.http.request(req))
            .await
            .map_err(|_| unreachable(format!("no answer within {:?}", self.cfg.timeout)))?
            .map_err(|e| unreachable(error_chain(&e)))
    }

    /// Log out (best effort) and forget the session.
    pub async fn logout(&self) {
        let key = self.session.lock().await.take();
        if let Some(key) = key {
            let _ = self.send("auth.logout", &[Value::String(key)]).await;
        }
    }

    async fn session_key(&self) -> Result<String, ApiError> {
        let mut s = self.session.lock().await;
        if let Some(k) = s.as_ref() {
            return Ok(k.clone());
        }
        let key = self.login().await?;
        *s = Some(key.clone());
        Ok(key)
    }

    /// One call with transport retries; `Ok(Err(fault))` is the server's fault.
    async fn send(&self, method: &str, params: &[Value]) -> Result<Result<Value, Fault>, ApiError> {
        let body = render_call(method, params).map_err(|e| ApiError::Config(e.to_string()))?;
        let text = self.fetch(method, &body).await?;
        parse_response(&text).map_err(|e| ApiError::Decode {
            url: self.cfg.url.clone(),
            reason: e.to_string(),
        })
    }

    /// POST `body` with transport retries; the answer's text.
    async fn fetch(&self, method: &str, body: &str) -> Result<String, ApiError> {
        let mut delay = self.cfg.backoff_initial;
        let mut attempt = 0;
        loop {
            match self.send_once(body).await {
                Err(e) if e.is_transient() && attempt < self.cfg.retries => {
                    tracing::debug!(method, attempt, error = %e, "retrying Uyuni call");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.cfg.backoff_max);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self, body: &str) -> Result<String, ApiError> {
        let url = &self.cfg.url;
        let unreachable = |reason: String| ApiError::Unreachable {
            url: url.clone(),
            reason,
        };
        let resp = self.request(body).await?;
        let status = resp.status().as_u16();
        if matches!(status, 502..=504) {
            return Err(ApiError::Http {
                url: url.clone(),
                status,
            });
        }
        let bytes = tokio::time::timeout(
            self.cfg.timeout,
            http_body_util::Limited::new(resp.into_body(), MAX_BODY).collect(),
        )
        .await
        .map_err(|_| unreachable("body timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
        if status != 200 {
            return Err(ApiError::Http {
                url: url.clone(),
                status,
            });
        }
        String::from_utf8(bytes.to_vec()).map_err(|e| ApiError::Decode {
            url: url.clone(),
            reason: e.to_string(),
        })
    }
}

/// The body of an answer as it arrives ([`UyuniClient::open_raw_plain`]). Dropping it closes
/// the connection's stream (and so tells the server to stop).
#[derive(Debug)]
pub struct RawBody {
    url: String,
    timeout: Duration,
    body: hyper::body::Incoming,
}

impl RawBody {
    /// The next piece of the body; `None` at its end. A piece that does not come within the
    /// client's timeout, or a broken connection, is [`ApiError::Unreachable`].
    pub async fn chunk(&mut self) -> Option<Result<Bytes, ApiError>> {
        loop {
            let frame = match tokio::time::timeout(self.timeout, self.body.frame()).await {
                Err(_) => {
                    return Some(Err(ApiError::Unreachable {
                        url: self.url.clone(),
                        reason: format!("body stalled for {:?}", self.timeout),
                    }));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => {
                    return Some(Err(ApiError::Unreachable {
                        url: self.url.clone(),
                        reason: error_chain(&e),
                    }));
                }
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data() {
                return Some(Ok(data));
            }
            // Trailers: nothing of the answer.
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
