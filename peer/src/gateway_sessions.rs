//! Gateway sessions across the cluster's gateways: a client may send each call to any gateway
//! (behind a load balancer, or after a failover), so a gateway that does not know a session key
//! asks the others.
//!
//! - The route `GET /gateway/sessions/{id}` answers the session this peer's gateway holds, in
//!   its sealed form ([`gateway::sessions::Session`]: user, roles, expiry, the nodes' session
//!   keys sealed under a key derived from the client's session key, which never travels);
//!   `DELETE` ends it (a logout at another gateway). Behind the admin door, and for `peer`
//!   certificates only (403 for operators and readers): only gateways call it.
//! - [`PeerCalls`] is the calling side: the other live gateway members (role `gateway`), over
//!   TLS with this peer's own certificate, each call bounded by [`CALL_TIMEOUT`]. It also
//!   carries the gateway's other calls to a peer's admin door ("Apply cluster update" on the
//!   Leader Node's peer).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cluster_core::client::Client;
use cluster_core::membership::MemberStatus;
use cluster_core::serve::ConnInfo;
use cluster_core::tls::Role;
use cluster_core::{ApiError, Members, SelfInfo, now_ms};
use gateway::session_file::SessionStore;
use gateway::sessions::Session;
use rustls::pki_types::CertificateDer;

/// How long one gateway waits for another's answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The route's state: this peer's gateway sessions, if it runs a gateway.
#[derive(Debug, Clone, Default)]
pub struct Sessions(pub Option<Arc<SessionStore>>);

/// Only a peer certificate (or development mode's plain HTTP) may read or end sessions.
pub(crate) fn check_caller(info: Option<&ConnInfo>) -> Result<(), ApiError> {
    match info {
        Some(ConnInfo {
            client: Some(id), ..
        }) if id.role == Role::Peer => Ok(()),
        Some(ConnInfo {
            client: Some(id), ..
        }) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the gateways' routes (sessions, cluster actions) are for the cluster's gateways only (a peer certificate); {} is an {} certificate",
                id.name,
                id.role.as_str()
            ),
        )),
        Some(ConnInfo {
            client: None,
            tls: false,
            ..
        }) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the gateways' routes (sessions, cluster actions) need a peer certificate",
        )),
    }
}

fn store(s: &Sessions) -> Result<&SessionStore, ApiError> {
    s.0.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "this peer runs no gateway ([gateway] listen)",
        )
    })
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a session id is 64 hex digits (SHA-256 of the key)",
        ))
    }
}

async fn read(
    State(s): State<Sessions>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<Session>, ApiError> {
    check_caller(req.extensions().get::<ConnInfo>())?;
    check_id(&id)?;
    store(&s)?
        .get(&id, now_ms())
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such session here"))
}

async fn end(
    State(s): State<Sessions>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_caller(req.extensions().get::<ConnInfo>())?;
    check_id(&id)?;
    store(&s)?
        .remove(&id)
        .map_err(cluster_core::api_error::internal)?;
    Ok(Json(serde_json::json!({ "ended": id })))
}

/// `GET|DELETE /gateway/sessions/{id}` (behind the admin door).
pub fn routes(s: Sessions) -> Router {
    Router::new()
        .route("/gateway/sessions/{id}", get(read).delete(end))
        .with_state(s)
}

/// This peer's credentials for calling other peers: its own certificate and the cluster CA.
#[derive(Debug, Clone)]
struct PeerTls {
    roots: Vec<CertificateDer<'static>>,
    cert: PathBuf,
    key: PathBuf,
}

/// The calling side: asks the other gateways of the cluster.
#[derive(Debug, Clone)]
pub struct PeerCalls {
    members: Members,
    me: Arc<SelfInfo>,
    tls: Option<PeerTls>,
}

impl PeerCalls {
    /// Calls from `me` over TLS with `cert`/`key`, trusting the CA in `ca` (all from `[tls]`);
    /// plain HTTP when `tls` is `None` (development mode).
    pub fn new(
        members: Members,
        me: Arc<SelfInfo>,
        tls: Option<(PathBuf, PathBuf, PathBuf)>,
    ) -> Result<Self, cluster_core::tls::TlsError> {
        let tls = match tls {
            Some((cert, key, ca)) => Some(PeerTls {
                roots: cluster_core::tls::read_certs(&ca)?,
                cert,
                key,
            }),
            None => None,
        };
        Ok(Self { members, me, tls })
    }

    /// The HTTP API (`host:port`) of every other live gateway member.
    fn gateways(&self) -> Vec<String> {
        self.members
            .lock()
            .members()
            .filter(|m| {
                m.info.role == "gateway"
                    && m.info.name != self.me.name
                    && matches!(m.status, MemberStatus::Alive | MemberStatus::Suspect)
            })
            .filter_map(|m| m.info.http.clone())
            .collect()
    }

    fn client(&self, http: &str) -> Result<Client, cluster_core::client::ClientError> {
        match &self.tls {
            Some(t) => Client::with_roots_and_identity(
                &format!("https://{http}"),
                t.roots.clone(),
                &t.cert,
                &t.key,
            ),
            None => Ok(Client::new(&format!("http://{http}"))),
        }
    }

    /// Send `method` for session `id` to every other gateway at once; the answers that came
    /// back within [`CALL_TIMEOUT`] (200s only).
    async fn ask_all(&self, method: &'static str, id: &str) -> Vec<String> {
        self.ask_each(self.gateways(), method, format!("/gateway/sessions/{id}"))
            .await
    }

    /// `GET path` of every other live member at once (any role: every peer may embed a
    /// gateway; one without answers 404); the bodies of the 200s within [`CALL_TIMEOUT`].
    pub async fn get_from_members(&self, path: &str) -> Vec<String> {
        let others: Vec<String> = self
            .members
            .lock()
            .members()
            .filter(|m| {
                m.info.name != self.me.name
                    && matches!(m.status, MemberStatus::Alive | MemberStatus::Suspect)
            })
            .filter_map(|m| m.info.http.clone())
            .collect();
        self.ask_each(others, "GET", path.to_string()).await
    }

    /// `method path` (no body) at every HTTP API in `targets` at once; the bodies of the 200s
    /// that came back within [`CALL_TIMEOUT`]. A 404 (nothing of that name there) is no
    /// answer; any other status is logged as a refusal.
    async fn ask_each(
        &self,
        targets: Vec<String>,
        method: &'static str,
        path: String,
    ) -> Vec<String> {
        let mut calls = tokio::task::JoinSet::new();
        for http in targets {
            let me = self.clone();
            let path = path.clone();
            calls.spawn(async move {
                match me.call(method, &http, &path, None, CALL_TIMEOUT).await {
                    Ok(r) if r.status == 200 => Some(r.body),
                    Ok(r) if r.status == 404 => None,
                    Ok(r) => {
                        tracing::warn!(peer = %http, status = r.status, body = %r.body,
                            %path, "another peer refused a gateway call");
                        None
                    }
                    Err(e) => {
                        tracing::debug!(peer = %http, error = %e, %path, "another peer did not answer");
                        None
                    }
                }
            });
        }
        let mut out = Vec::new();
        while let Some(r) = calls.join_next().await {
            if let Ok(Some(body)) = r {
                out.push(body);
            }
        }
        out
    }

    /// Send `method` (with a JSON `body` for POST) to `path` of the member named `name` (its
    /// admin door, with this peer's certificate), within `timeout`: its answer, or why there is
    /// none.
    pub async fn call_member(
        &self,
        method: &'static str,
        name: &str,
        path: &str,
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<cluster_core::client::RawResponse, String> {
        let http = if name == self.me.name {
            Some(self.me.http.clone())
        } else {
            self.members
                .lock()
                .members()
                .find(|m| m.info.name == name)
                .and_then(|m| m.info.http.clone())
        }
        .ok_or_else(|| format!("{name} is not a member this peer knows an address of"))?;
        self.call(method, &http, path, body, timeout)
            .await
            .map_err(|e| format!("{name}: {e}"))
    }

    /// One call to the peer API at `http` (`host:port`), bounded by `timeout`.
    async fn call(
        &self,
        method: &'static str,
        http: &str,
        path: &str,
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<cluster_core::client::RawResponse, String> {
        let client = self.client(http).map_err(|e| e.to_string())?;
        let path = path.to_string();
        let call =
            tokio::task::spawn_blocking(move || client.request_raw(method, &path, body.as_ref()));
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(Ok(r))) => Ok(r),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }

    /// The session `id` as another gateway holds it (the latest expiry if several do).
    pub async fn find(&self, id: &str) -> Option<Session> {
        self.ask_all("GET", id)
            .await
            .into_iter()
            .filter_map(|body| serde_json::from_str::<Session>(&body).ok())
            .filter(|s| s.id == id)
            .max_by_key(|s| s.expires_at)
    }

    /// End session `id` at every other gateway (best effort: expiry ends it anyway).
    pub async fn end(&self, id: &str) {
        self.ask_all("DELETE", id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_core::tls::ClientIdentity;

    fn info(tls: bool, client: Option<(&str, Role)>) -> ConnInfo {
        ConnInfo {
            remote: "127.0.0.1:1".parse().expect("addr"),
            tls,
            client: client.map(|(name, role)| ClientIdentity {
                name: name.into(),
                role,
            }),
        }
    }

    #[test]
    fn only_peers_may_read_sessions() {
        assert!(check_caller(Some(&info(true, Some(("gw2", Role::Peer))))).is_ok());
        let op = check_caller(Some(&info(true, Some(("ops", Role::Operator)))));
        assert_eq!(op.map_err(|e| e.status()), Err(StatusCode::FORBIDDEN));
        let reader = check_caller(Some(&info(true, Some(("ro", Role::Reader)))));
        assert_eq!(reader.map_err(|e| e.status()), Err(StatusCode::FORBIDDEN));
        let anon = check_caller(Some(&info(true, None)));
        assert_eq!(anon.map_err(|e| e.status()), Err(StatusCode::UNAUTHORIZED));
        assert!(
            check_caller(Some(&info(false, None))).is_ok(),
            "development mode"
        );
        assert!(check_caller(None).is_err());
    }

    #[test]
    fn ids_are_sha256_hex() {
        assert!(check_id(&"a".repeat(64)).is_ok());
        assert!(check_id("../../etc").is_err());
        assert!(check_id(&"g".repeat(64)).is_err());
    }
}
