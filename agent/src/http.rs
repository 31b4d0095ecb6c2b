//! The HTTP shell: turns a [`Request`] to a peer into an [`Outcome`] with a blocking `ureq`
//! agent (no async runtime). TLS is rustls with the ring provider and trusts only the cluster CA
//! file — no web PKI roots, no platform verifier. Plain HTTP only in development mode.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::addr::PeerAddr;
use crate::config::Transport;
use crate::wire::{Outcome, Reply, Request};

/// Bodies larger than this are cut (the protocol's answers are a byte, a host name or a small
/// JSON record).
const BODY_LIMIT: u64 = 64 * 1024;

/// The agent's `User-Agent`.
const USER_AGENT: &str = concat!("uyuni-cluster-agent/", env!("CARGO_PKG_VERSION"));

/// Setting up the client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The CA file could not be read.
    #[error("CA file {path}: {source}")]
    CaRead {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("CA file {path}: {reason}")]
    CaParse {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The registration body could not be encoded.
    #[error("encoding the registration: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The body of `POST /system/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    /// The `salt-key -F` fingerprint.
    pub fingerprint: String,
    /// The minion id.
    pub minion_id: String,
    /// The host name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The minion's public key (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// A blocking client for the agent endpoints of any peer.
#[derive(Debug)]
pub struct PeerClient {
    agent: ureq::Agent,
    scheme: &'static str,
    fingerprint: String,
    registration: Vec<u8>,
}

impl PeerClient {
    /// A client for `transport` with a per-request `timeout`, identifying as `registration`.
    pub fn new(
        transport: &Transport,
        timeout: Duration,
        registration: &Registration,
    ) -> Result<Self, ClientError> {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(0)
            // Peers are reached directly; proxy variables of the environment are not used.
            .proxy(None)
            .user_agent(USER_AGENT);
        if let Transport::Tls { ca_file } = transport {
            config = config.https_only(true).tls_config(tls_config(ca_file)?);
        }
        Ok(Self {
            agent: config.build().new_agent(),
            scheme: transport.scheme(),
            fingerprint: registration.fingerprint.clone(),
            registration: serde_json::to_vec(registration)?,
        })
    }

    /// Send `request` to `peer`. Every answer, whatever its status code, is a
    /// [`Outcome::Reply`]; only transport failures are [`Outcome::Failed`].
    pub fn send(&self, peer: &PeerAddr, request: Request) -> Outcome {
        let url = peer.url(self.scheme, request.path());
        let result = match request {
            Request::Status | Request::Orphan => {
                self.agent.get(&url).query("fp", &self.fingerprint).call()
            }
            Request::Register => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(&self.registration[..]),
        };
        match result {
            Ok(mut response) => {
                let code = response.status().as_u16();
                let headers = response
                    .headers()
                    .iter()
                    .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect();
                let body = match response
                    .body_mut()
                    .with_config()
                    .limit(BODY_LIMIT)
                    .read_to_string()
                {
                    Ok(b) => b,
                    Err(e) => return Outcome::Failed(format!("reading the answer: {e}")),
                };
                Outcome::Reply(Reply {
                    code,
                    body,
                    headers,
                })
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

/// rustls with ring, trusting exactly the certificates of `ca_file`.
fn tls_config(ca_file: &Path) -> Result<TlsConfig, ClientError> {
    let shown = ca_file.display().to_string();
    let pem = std::fs::read(ca_file).map_err(|source| ClientError::CaRead {
        path: shown.clone(),
        source,
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(ClientError::CaParse {
                    path: shown,
                    reason: e.to_string(),
                });
            }
        }
    }
    if certs.is_empty() {
        return Err(ClientError::CaParse {
            path: shown,
            reason: "no certificate in it".into(),
        });
    }
    Ok(TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::new_with_certs(&certs))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_json_matches_the_protocol() {
        let r = Registration {
            fingerprint: "aa:bb".into(),
            minion_id: "web1".into(),
            hostname: Some("web1.example.org".into()),
            public_key: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"fingerprint":"aa:bb","minion_id":"web1","hostname":"web1.example.org"}"#
        );
    }

    #[test]
    fn ca_files_must_hold_a_certificate() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ca.pem");
        assert!(matches!(tls_config(&path), Err(ClientError::CaRead { .. })));
        std::fs::write(&path, "not a certificate\n").unwrap();
        assert!(matches!(
            tls_config(&path),
            Err(ClientError::CaParse { .. })
        ));
    }

    #[test]
    fn an_unreachable_peer_is_a_failed_outcome() {
        let r = Registration {
            fingerprint: "aa".into(),
            minion_id: "m".into(),
            hostname: None,
            public_key: None,
        };
        let client = PeerClient::new(&Transport::PlainHttp, Duration::from_secs(2), &r).unwrap();
        // A port nobody listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let peer: PeerAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(matches!(
            client.send(&peer, Request::Status),
            Outcome::Failed(_)
        ));
    }
}
