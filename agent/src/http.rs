//! The HTTP shell: turns a [`Request`] to a peer into an [`Outcome`] with a blocking `ureq`
//! agent (no async runtime). TLS is rustls with the ring provider and trusts only the cluster CA
//! file — no web PKI roots, no platform verifier. Plain HTTP only in development mode.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_proto::{Registration, SignError, Signer};
use rand::Rng as _;
use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::addr::PeerAddr;
use crate::config::Transport;
use crate::wire::{Outcome, PROTOCOL_VERSION, Reply, Request, header};

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
    /// The registration could not be signed or encoded.
    #[error("signing the registration: {0}")]
    Sign(#[from] SignError),
}

/// Who the agent registers as: the minion's keys and names.
#[derive(Debug)]
pub struct Identity {
    /// The PEM text of `minion.pub`, exactly as on disk (its fingerprint is the identity).
    pub public_key: String,
    /// The minion id.
    pub minion_id: String,
    /// The host name, when known.
    pub hostname: Option<String>,
    /// The minion's private key (`minion.pem`).
    pub signer: Signer,
}

impl Identity {
    /// A registration signed now, with a fresh nonce (`now`: Unix seconds).
    pub fn registration(&self, now: u64) -> Result<Registration, SignError> {
        let nonce = hex_nonce(rand::rng().random());
        Registration::signed(
            &self.public_key,
            &self.minion_id,
            self.hostname.as_deref().unwrap_or(""),
            now,
            &nonce,
            &self.signer,
        )
    }
}

/// 16 random bytes as 32 hex digits.
fn hex_nonce(bytes: [u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The wall clock in Unix seconds (0 before 1970: the peer then refuses the timestamp).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A blocking client for the agent endpoints of any peer.
#[derive(Debug)]
pub struct PeerClient {
    agent: ureq::Agent,
    scheme: &'static str,
    fingerprint: String,
    identity: Identity,
}

impl PeerClient {
    /// A client for `transport` with a per-request `timeout`, registering as `identity`.
    pub fn new(
        transport: &Transport,
        timeout: Duration,
        identity: Identity,
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
        // Signing once here proves the key works before the agent starts knocking.
        let fingerprint = identity.registration(unix_now())?.fingerprint;
        Ok(Self {
            agent: config.build().new_agent(),
            scheme: transport.scheme(),
            fingerprint,
            identity,
        })
    }

    /// The fingerprint registered.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Send `request` to `peer`, status and orphan queries with `token`; a registration is
    /// signed afresh. Every answer, whatever its status code, is a [`Outcome::Reply`]; only
    /// transport failures are [`Outcome::Failed`].
    pub fn send(&self, peer: &PeerAddr, request: Request, token: Option<&str>) -> Outcome {
        let url = peer.url(self.scheme, request.path());
        let version = PROTOCOL_VERSION.to_string();
        let result = match request {
            Request::Status | Request::Orphan => {
                let mut req = self
                    .agent
                    .get(&url)
                    .header(header::PROTOCOL, &version)
                    .query("fp", &self.fingerprint);
                if let Some(t) = token {
                    req = req.header(header::TOKEN, t);
                }
                req.call()
            }
            Request::Register => {
                let body = match self
                    .identity
                    .registration(unix_now())
                    .map_err(|e| e.to_string())
                    .and_then(|r| serde_json::to_vec(&r).map_err(|e| e.to_string()))
                {
                    Ok(b) => b,
                    Err(e) => return Outcome::Failed(format!("signing the registration: {e}")),
                };
                self.agent
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(header::PROTOCOL, &version)
                    .send(&body[..])
            }
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

    const MINION_PUB: &str = include_str!("../../agent-proto/tests/data/minion.pub");
    const MINION_PEM: &str = include_str!("../../agent-proto/tests/data/minion.pem");

    fn identity() -> Identity {
        Identity {
            public_key: MINION_PUB.into(),
            minion_id: "web1".into(),
            hostname: Some("web1.example.org".into()),
            signer: Signer::from_pem(MINION_PEM).unwrap(),
        }
    }

    #[test]
    fn registrations_are_signed_afresh_and_verify() {
        let id = identity();
        let a = id.registration(1_800_000_000).unwrap();
        let b = id.registration(1_800_000_000).unwrap();
        assert_ne!(a.nonce, b.nonce, "a fresh nonce each time");
        assert_eq!(a.nonce.len(), 32);
        assert_eq!(agent_proto::verify(&a, 1_800_000_000, 300), Ok(()));
        let json: serde_json::Value = serde_json::to_value(&a).unwrap();
        for k in [
            "fingerprint",
            "minion_id",
            "hostname",
            "public_key",
            "timestamp",
            "nonce",
            "signature",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
        assert_eq!(json["hostname"], "web1.example.org");
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
        let client =
            PeerClient::new(&Transport::PlainHttp, Duration::from_secs(2), identity()).unwrap();
        // A port nobody listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let peer: PeerAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(matches!(
            client.send(&peer, Request::Status, None),
            Outcome::Failed(_)
        ));
    }
}
