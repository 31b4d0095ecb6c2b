//! A small blocking HTTP client for the CLI commands (`members`, `systems ...`).
//!
//! Peers serve `https://` with a certificate from the cluster CA (see [`crate::tls`]); a client
//! trusts exactly the CA it is given ([`Client::with_ca`]) and no public roots. `http://`
//! works against peers started with `--dev-plain-http`.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use serde::de::DeserializeOwned;

/// Environment variable naming the cluster CA certificate client commands trust.
pub const ENV_CA: &str = "UYUNI_CLUSTER_CA";
/// Environment variable naming the client certificate (PEM) client commands present.
pub const ENV_CERT: &str = "UYUNI_CLUSTER_CERT";
/// Environment variable naming the private key of [`ENV_CERT`].
pub const ENV_KEY: &str = "UYUNI_CLUSTER_KEY";

/// Errors talking to a peer's API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The peer could not be reached.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The peer answered with an error.
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The peer's message.
        message: String,
    },
    /// The TLS handshake failed: most often the peer's certificate is not from the CA this
    /// client trusts (or no CA was given), or the URL says `https` to a plain-HTTP peer.
    #[error(
        "TLS with {url} failed: {reason} (is the cluster CA trusted? --ca FILE or UYUNI_CLUSTER_CA)"
    )]
    Tls {
        /// The URL.
        url: String,
        /// rustls's complaint.
        reason: String,
    },
    /// The CA file, or the client certificate or key, could not be read.
    #[error(transparent)]
    Ca(#[from] crate::tls::TlsError),
    /// The client identity is incomplete.
    #[error("{0}")]
    Identity(String),
    /// The answer did not parse.
    #[error("{url}: unexpected answer: {reason}")]
    Decode {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Client of one peer's HTTP API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for `base` (`http://host:port`, or `https://host:port`, which then fails
    /// because no CA is trusted: use [`Client::with_ca`] for https).
    pub fn new(base: &str) -> Self {
        Self::with_roots(base, Vec::new())
    }

    /// A client for `base` that trusts the CA certificate(s) in the PEM file `ca` for https.
    pub fn with_ca(base: &str, ca: &Path) -> Result<Self, ClientError> {
        Ok(Self::with_roots(base, crate::tls::read_certs(ca)?))
    }

    /// [`Client::with_ca`] when `ca` is given, else [`Client::new`].
    pub fn with_optional_ca(base: &str, ca: Option<&Path>) -> Result<Self, ClientError> {
        match ca {
            Some(ca) => Self::with_ca(base, ca),
            None => Ok(Self::new(base)),
        }
    }

    /// A client for `base` that trusts exactly `roots` for https (rustls with ring).
    pub fn with_roots(base: &str, roots: Vec<CertificateDer<'static>>) -> Self {
        Self::build(base, roots, None)
    }

    /// A client for `base` that trusts the CA in `ca` (if given) and presents the client
    /// certificate `cert` with its key `key` (`uyuni-cluster ca issue --client`): what the
    /// admin API asks for over TLS.
    pub fn with_identity(
        base: &str,
        ca: Option<&Path>,
        cert: &Path,
        key: &Path,
    ) -> Result<Self, ClientError> {
        let roots = match ca {
            Some(ca) => crate::tls::read_certs(ca)?,
            None => Vec::new(),
        };
        Self::with_roots_and_identity(base, roots, cert, key)
    }

    /// [`Client::with_identity`] trusting exactly `roots`.
    pub fn with_roots_and_identity(
        base: &str,
        roots: Vec<CertificateDer<'static>>,
        cert: &Path,
        key: &Path,
    ) -> Result<Self, ClientError> {
        let chain: Vec<ureq::tls::Certificate<'static>> = crate::tls::read_certs(cert)?
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        // Checked by rustls's parser first, for its clear error.
        crate::tls::read_key(key)?;
        let pem = std::fs::read(key)
            .map_err(|e| ClientError::Identity(format!("{}: {e}", key.display())))?;
        let private = ureq::tls::PrivateKey::from_pem(&pem)
            .map_err(|e| ClientError::Identity(format!("{}: {e}", key.display())))?;
        let identity = ureq::tls::ClientCert::new_with_certs(&chain, private);
        Ok(Self::build(base, roots, Some(identity)))
    }

    /// [`Client::with_identity`] when both `cert` and `key` are given, else
    /// [`Client::with_optional_ca`]; one without the other is an error.
    pub fn for_cli(
        base: &str,
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, ClientError> {
        match (cert, key) {
            (Some(cert), Some(key)) => Self::with_identity(base, ca, cert, key),
            (None, None) => Self::with_optional_ca(base, ca),
            (Some(_), None) | (None, Some(_)) => Err(ClientError::Identity(
                "--cert and --key go together (UYUNI_CLUSTER_CERT, UYUNI_CLUSTER_KEY)".into(),
            )),
        }
    }

    fn build(
        base: &str,
        roots: Vec<CertificateDer<'static>>,
        identity: Option<ureq::tls::ClientCert>,
    ) -> Self {
        let roots: Vec<ureq::tls::Certificate<'static>> = roots
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(crate::tls::provider())
            // Never the web PKI: only the cluster CA vouches for a peer.
            .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
            .client_cert(identity)
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .tls_config(tls)
            .build()
            .new_agent();
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Turn a transport result into the raw answer (status, headers, body), mapping
    /// connection and TLS failures to their errors.
    fn receive(
        url: &str,
        res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<RawResponse, ClientError> {
        let mut res = res.map_err(|e| match tls_cause(&e) {
            Some(t) => ClientError::Tls {
                url: url.to_string(),
                reason: t.to_string(),
            },
            None => ClientError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            },
        })?;
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = res
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::Decode {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        Ok(RawResponse {
            status: res.status().as_u16(),
            headers,
            body,
        })
    }

    fn finish<T: DeserializeOwned>(
        url: String,
        res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let RawResponse { status, body, .. } = Self::receive(&url, res)?;
        if status >= 400 {
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
                .unwrap_or(body);
            return Err(ClientError::Status {
                url,
                status,
                message,
            });
        }
        serde_json::from_str(&body).map_err(|e| ClientError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// GET `path` (with its query string) and decode JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let res = self.agent.get(&url).call();
        Self::finish(url, res)
    }

    /// DELETE `path` and decode JSON.
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let res = self.agent.delete(&url).call();
        Self::finish(url, res)
    }

    /// POST a JSON body to `path` and decode JSON.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let res = self.agent.post(&url).send_json(body);
        Self::finish(url, res)
    }

    /// Send `method` to `path` (with a JSON body for POST) and return the raw answer, any
    /// status included.
    pub fn request_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<RawResponse, ClientError> {
        let url = format!("{}{path}", self.base);
        let res = match (method, body) {
            ("POST", Some(b)) => self.agent.post(&url).send_json(b),
            ("POST", None) => self.agent.post(&url).send_empty(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            _ => self.agent.get(&url).call(),
        };
        Self::receive(&url, res)
    }

    /// POST an empty body to `path` and copy a binary answer into `out` (a backup); an error
    /// status is the peer's message. Returns the bytes copied.
    pub fn post_download(
        &self,
        path: &str,
        out: &mut impl std::io::Write,
    ) -> Result<u64, ClientError> {
        let url = format!("{}{path}", self.base);
        let res = self.agent.post(&url).send_empty();
        let mut res = res.map_err(|e| match tls_cause(&e) {
            Some(t) => ClientError::Tls {
                url: url.clone(),
                reason: t.to_string(),
            },
            None => ClientError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            },
        })?;
        let status = res.status().as_u16();
        let decode = |e: std::io::Error| ClientError::Decode {
            url: url.clone(),
            reason: e.to_string(),
        };
        if status >= 400 {
            let body = res
                .body_mut()
                .read_to_string()
                .map_err(|e| decode(std::io::Error::other(e)))?;
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
                .unwrap_or(body);
            return Err(ClientError::Status {
                url: url.clone(),
                status,
                message,
            });
        }
        let mut reader = res.body_mut().with_config().limit(u64::MAX).reader();
        std::io::copy(&mut reader, out).map_err(decode)
    }

    /// GET `path` and return the raw answer (status, headers, body), any status included:
    /// for the agent endpoints, whose answers are not JSON.
    pub fn get_raw(&self, path: &str) -> Result<RawResponse, ClientError> {
        let url = format!("{}{path}", self.base);
        let res = self.agent.get(&url).call();
        Self::receive(&url, res)
    }
}

/// An answer as received.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers (names lowercase).
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl RawResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The rustls error behind a failed request, if TLS is what failed.
fn tls_cause(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(t) => Some(t),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}
