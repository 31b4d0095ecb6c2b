//! A scripted stand-in for a peer's agent endpoints (`docs/AGENT-PROTOCOL.md`).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// One answer of `GET /system/status`.
#[derive(Debug, Clone)]
pub struct StatusAnswer {
    pub letter: &'static str,
    pub node: Option<String>,
}

pub fn st(letter: &'static str) -> StatusAnswer {
    StatusAnswer { letter, node: None }
}

pub fn onboarded(node: &str) -> StatusAnswer {
    StatusAnswer {
        letter: "o",
        node: Some(node.to_owned()),
    }
}

/// The script and what the peer saw.
#[derive(Debug, Default)]
pub struct MockState {
    /// Answers of the status endpoint, in order; the last one repeats.
    pub statuses: VecDeque<StatusAnswer>,
    /// Answers of the orphan endpoint, in order (`None`: 204); the last one repeats.
    pub orphans: VecDeque<Option<String>>,
    /// Answer every request with this code instead (e.g. 503).
    pub fail_with: Option<u16>,
    /// `X-Uyuni-Peers`.
    pub peers_header: Option<String>,
    /// `X-Uyuni-Node-Peer` (sent with status `o`).
    pub node_peer: Option<String>,
    /// Registration bodies received.
    pub registrations: Vec<serde_json::Value>,
    /// `METHOD path fp=…` of every request.
    pub requests: Vec<String>,
    /// Answer status and orphan queries without the registration's token with `401` (a
    /// wrong token is always refused).
    pub require_token: bool,
    /// Answer the next this many requests with `429` and `Retry-After: 1`.
    pub limit_next: u32,
    /// Nonces of the registrations accepted (a replay is refused with `409`).
    pub nonces: Vec<String>,
}

/// The token the mock issues for `fp`.
pub fn token_for(fp: &str) -> String {
    format!("mock-token-{fp}")
}

/// `None` to go on; else the answer that refuses the query: `429` while limited, `401` for a
/// wrong token, or for none when tokens are required.
fn guard(s: &mut MockState, headers: &HeaderMap, fp: &str) -> Option<Response> {
    if s.limit_next > 0 {
        s.limit_next -= 1;
        return Some((StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "{}").into_response());
    }
    match headers
        .get("x-uyuni-agent-token")
        .and_then(|v| v.to_str().ok())
    {
        Some(t) if t == token_for(fp) => None,
        None if !s.require_token => None,
        _ => Some((StatusCode::UNAUTHORIZED, r#"{"error":"token"}"#).into_response()),
    }
}

type Shared = Arc<Mutex<MockState>>;

/// A running mock peer.
pub struct MockPeer {
    pub addr: SocketAddr,
    pub state: Shared,
}

impl MockPeer {
    /// `host:port` for the agent's peer list, with `host` as given (TLS needs a name the
    /// certificate holds).
    pub fn entry(&self, host: &str) -> String {
        format!("{host}:{}", self.addr.port())
    }

    pub fn script(&self, statuses: Vec<StatusAnswer>) {
        self.state.lock().unwrap().statuses = statuses.into();
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut MockState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

fn pop_or_repeat<T: Clone>(q: &mut VecDeque<T>) -> Option<T> {
    if q.len() > 1 {
        q.pop_front()
    } else {
        q.front().cloned()
    }
}

fn common_headers(s: &MockState, node: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    };
    put("x-uyuni-agent-protocol", "2");
    if let Some(p) = &s.peers_header {
        put("x-uyuni-peers", p);
    }
    if let Some(n) = node {
        put("x-uyuni-node", n);
        if let Some(np) = &s.node_peer {
            put("x-uyuni-node-peer", np);
        }
    }
    h
}

fn failure(code: u16) -> Response {
    let code = StatusCode::from_u16(code).unwrap();
    (code, r#"{"error":"scripted failure"}"#).into_response()
}

async fn status(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().unwrap();
    let fp = q.get("fp").cloned().unwrap_or_default();
    s.requests.push(format!("GET /system/status fp={fp}"));
    if let Some(code) = s.fail_with {
        return failure(code);
    }
    if let Some(refused) = guard(&mut s, &headers, &fp) {
        return refused;
    }
    let answer = pop_or_repeat(&mut s.statuses).unwrap_or(st("u"));
    let headers = common_headers(&s, answer.node.as_deref());
    (StatusCode::OK, headers, answer.letter).into_response()
}

async fn register(State(s): State<Shared>, body: axum::Json<serde_json::Value>) -> Response {
    let mut s = s.lock().unwrap();
    s.requests.push("POST /system/register".to_owned());
    if let Some(code) = s.fail_with {
        return failure(code);
    }
    if s.limit_next > 0 {
        s.limit_next -= 1;
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "{}").into_response();
    }
    s.registrations.push(body.0.clone());
    // The peer's checks, with the peer's code: the signature and the fingerprint.
    let reg: agent_proto::Registration = match serde_json::from_value(body.0.clone()) {
        Ok(r) => r,
        Err(_) => return failure(400),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if agent_proto::verify(&reg, now, 300).is_err() {
        return failure(401);
    }
    if s.nonces.contains(&reg.nonce) {
        return failure(409);
    }
    s.nonces.push(reg.nonce.clone());
    let mut headers = common_headers(&s, None);
    headers.insert(
        HeaderName::from_static("x-uyuni-agent-token"),
        HeaderValue::from_str(&token_for(&reg.fingerprint)).unwrap(),
    );
    (StatusCode::OK, headers, axum::Json(body.0)).into_response()
}

async fn orphan(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().unwrap();
    let fp = q.get("fp").cloned().unwrap_or_default();
    s.requests.push(format!("GET /system/orphan fp={fp}"));
    if let Some(code) = s.fail_with {
        return failure(code);
    }
    if let Some(refused) = guard(&mut s, &headers, &fp) {
        return refused;
    }
    let headers = common_headers(&s, None);
    match pop_or_repeat(&mut s.orphans).flatten() {
        Some(node) => (StatusCode::OK, headers, node).into_response(),
        None => (StatusCode::NO_CONTENT, headers).into_response(),
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/system/status", get(status))
        .route("/system/register", post(register))
        .route("/system/orphan", get(orphan))
        .with_state(state)
}

/// A tokio runtime that serves mock peers for the length of a test.
pub struct Harness {
    rt: tokio::runtime::Runtime,
}

impl Harness {
    pub fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        Self { rt }
    }

    /// A plain-HTTP mock peer on 127.0.0.1:0.
    pub fn plain_peer(&self) -> MockPeer {
        let state = Shared::default();
        let app = router(state.clone());
        let listener = self
            .rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        self.rt
            .spawn(async move { axum::serve(listener, app).await });
        MockPeer { addr, state }
    }

    /// A TLS mock peer on 127.0.0.1:0 presenting `cert_pem` (signed by the test CA).
    pub fn tls_peer(&self, cert_pem: &str, key_pem: &str) -> MockPeer {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let certs = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("cert")];
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server cert");
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
        let state = Shared::default();
        let app = router(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _guard = self.rt.enter();
        let server = axum_server::from_tcp_rustls(listener, tls).expect("tls server");
        self.rt
            .spawn(async move { server.serve(app.into_make_service()).await });
        MockPeer { addr, state }
    }
}

/// A CA and a server certificate for `localhost` / 127.0.0.1 signed by it, all PEM.
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl TestPki {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "uyuni-cluster test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server cert");
        Self {
            ca_pem: ca_cert.pem(),
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
        }
    }
}
