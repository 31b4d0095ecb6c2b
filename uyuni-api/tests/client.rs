//! The client against a small in-process XML-RPC server that forgets sessions, fails with 503
//! and answers faults, as a real Uyuni server does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use uyuni_api::codec::{parse_call, render_fault, render_response};
use uyuni_api::{ApiError, ClientConfig, Fault, UyuniClient, Value};

#[derive(Default)]
struct Server {
    logins: AtomicU32,
    calls: AtomicU32,
    /// Answer 503 to this many requests first.
    unavailable: AtomicU32,
}

async fn handle(server: Arc<Server>, body: String) -> (StatusCode, String) {
    if server
        .unavailable
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, String::new());
    }
    let call = match parse_call(&body) {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::OK,
                render_fault(&Fault::internal(e.to_string())),
            );
        }
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    let reply = match call.method.as_str() {
        "auth.login" => {
            if call.params.get(1).map(text).as_deref() != Some("secret") {
                Err(Fault::login_failed())
            } else {
                let n = server.logins.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Value::String(format!("{n}x{}", "a".repeat(64))))
            }
        }
        "system.getDetails" => {
            server.calls.fetch_add(1, Ordering::SeqCst);
            let key = call.params.first().map(text).unwrap_or_default();
            // The server "restarted" after the first login: only the second key is valid.
            if !key.starts_with("2x") {
                Err(Fault::invalid_session(&key))
            } else {
                Err(Fault::no_such_system(42))
            }
        }
        "api.getVersion" => Ok(Value::String("31".into())),
        _ => Err(Fault::internal("unexpected")),
    };
    let xml = match reply {
        Ok(v) => render_response(&v).unwrap_or_default(),
        Err(f) => render_fault(&f),
    };
    (StatusCode::OK, xml)
}

async fn start(server: Arc<Server>) -> String {
    let app = axum::Router::new().route(
        "/rpc/api",
        post(move |body: String| handle(server.clone(), body)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/rpc/api")
}

fn config(url: &str, password: &str) -> ClientConfig {
    let mut c = ClientConfig::new(url, "admin", password);
    c.backoff_initial = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(20);
    c.retries = 3;
    c
}

#[tokio::test]
async fn a_forgotten_session_is_renewed_once_and_faults_keep_their_code() {
    let server = Arc::new(Server::default());
    let url = start(server.clone()).await;
    let client = UyuniClient::new(config(&url, "secret")).expect("client");
    let err = client
        .call("system.getDetails", vec![Value::Integer(42)])
        .await
        .expect_err("no such system");
    let fault = err.fault().expect("a fault");
    assert_eq!(fault.code, -208);
    assert_eq!(
        fault.string,
        "redstone.xmlrpc.XmlRpcFault: No such system - sid = 42"
    );
    assert_eq!(
        server.logins.load(Ordering::SeqCst),
        2,
        "logged in again once"
    );
    assert_eq!(
        server.calls.load(Ordering::SeqCst),
        2,
        "and repeated the call once"
    );
}

#[tokio::test]
async fn unavailable_servers_are_retried_and_bad_logins_are_typed() {
    let server = Arc::new(Server::default());
    server.unavailable.store(2, Ordering::SeqCst);
    let url = start(server.clone()).await;
    let client = UyuniClient::new(config(&url, "secret")).expect("client");
    let v = client
        .call_plain("api.getVersion", vec![])
        .await
        .expect("retried past two 503s");
    assert_eq!(v, Value::String("31".into()));

    server.unavailable.store(10, Ordering::SeqCst);
    let err = client
        .call_plain("api.getVersion", vec![])
        .await
        .expect_err("gives up after the retries");
    assert!(matches!(err, ApiError::Http { status: 503, .. }), "{err}");
    assert!(err.is_transient());
    server.unavailable.store(0, Ordering::SeqCst);

    let bad = UyuniClient::new(config(&url, "wrong")).expect("client");
    let err = bad
        .call("system.getDetails", vec![Value::Integer(1)])
        .await
        .expect_err("login refused");
    assert!(
        matches!(&err, ApiError::Login { fault, .. } if fault.code == 2950),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/rpc/api", listener.local_addr().expect("addr"));
    drop(listener);
    let client = UyuniClient::new(config(&url, "secret")).expect("client");
    let err = client
        .call_plain("api.getVersion", vec![])
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, ApiError::Unreachable { .. }), "{err}");
    assert!(UyuniClient::new(config("not a url", "x")).is_err());
}
