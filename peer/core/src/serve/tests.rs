//! The listener against stalls, garbage, floods and client certificates.

use std::io::{Read, Write};

use axum::routing::get;

use super::*;
use crate::client::Client;
use crate::tls;

struct Server {
    url: String,
    addr: SocketAddr,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start(tls: Option<Arc<rustls::ServerConfig>>, handshake: Duration) -> Server {
    start_with(tls, handshake, ConnLimits::default()).await
}

/// `/health`, `/whoami` (the connection's client identity as JSON) and `/echo` (POST: the
/// body's length).
async fn start_with(
    tls: Option<Arc<rustls::ServerConfig>>,
    handshake: Duration,
    limits: ConnLimits,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new()
        .route("/health", get(|| async { "\"ok\"" }))
        .route(
            "/whoami",
            get(
                |axum::Extension(info): axum::Extension<ConnInfo>| async move {
                    axum::Json(info.client)
                },
            ),
        )
        .route(
            "/echo",
            axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        );
    let cancel = CancellationToken::new();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let opts = ServeOptions {
        tls,
        handshake_timeout: handshake,
        limits,
    };
    let task = tokio::spawn(serve(listener, router, opts, cancel.clone()));
    Server {
        url: format!("{scheme}://{addr}"),
        addr,
        cancel,
        task,
    }
}

async fn fetch(client: Client) -> Result<String, crate::client::ClientError> {
    tokio::task::spawn_blocking(move || client.get::<String>("/health"))
        .await
        .expect("join")
}

/// Connect and send `bytes` (or nothing), then wait for the server to close: Ok if it did
/// within `within`.
fn closed_by_server(addr: SocketAddr, bytes: &[u8], within: Duration) -> bool {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(within)).expect("timeout");
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_serves_its_ca_only_and_shrugs_off_stalls_and_garbage() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = tls::init_ca(dir.path(), false).expect("ca");
    let leaf = tls::issue(dir.path(), "node", &[]).expect("issue");
    let cfg = tls::server_config(&leaf.cert, &leaf.key, None).expect("config");
    let srv = start(Some(cfg), Duration::from_millis(300)).await;

    // A client that connects and never speaks holds nothing for long.
    let addr = srv.addr;
    let stalled =
        tokio::task::spawn_blocking(move || closed_by_server(addr, b"", Duration::from_secs(10)));
    // Garbage and plain HTTP fail their handshakes, one connection at a time.
    for bytes in [
        &b"\x00\xff garbage garbage\r\n\r\n"[..],
        b"GET /health HTTP/1.1\r\n\r\n",
    ] {
        let closed = tokio::task::spawn_blocking(move || {
            closed_by_server(addr, bytes, Duration::from_secs(10))
        });
        assert!(closed.await.expect("join"));
    }
    assert!(
        fetch(Client::new(&format!("http://{}", srv.addr)))
            .await
            .is_err()
    );
    // Meanwhile, a client trusting the CA is served.
    let ok = Client::with_ca(&srv.url, &ca.cert).expect("client");
    assert_eq!(fetch(ok).await.expect("https"), "ok");
    assert!(
        stalled.await.expect("join"),
        "stalled handshake was dropped"
    );
    // Neither a client trusting nothing nor one trusting another CA gets an answer.
    let err = fetch(Client::new(&srv.url)).await.expect_err("no CA");
    assert!(
        matches!(err, crate::client::ClientError::Tls { .. }),
        "{err}"
    );
    let other = tempfile::tempdir().expect("dir");
    let other_ca = tls::init_ca(other.path(), false).expect("ca");
    let err = fetch(Client::with_ca(&srv.url, &other_ca.cert).expect("client"))
        .await
        .expect_err("other CA");
    assert!(
        matches!(err, crate::client::ClientError::Tls { .. }),
        "{err}"
    );

    srv.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), srv.task)
        .await
        .expect("serve stops on cancel")
        .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_listener_serves_http_and_stops_on_cancel() {
    let srv = start(None, Duration::from_millis(300)).await;
    assert_eq!(fetch(Client::new(&srv.url)).await.expect("http"), "ok");
    let addr = srv.addr;
    let bad = tokio::task::spawn_blocking(move || {
        closed_by_server(addr, b"\x00\xff garbage\r\n\r\n", Duration::from_secs(10))
    });
    assert!(bad.await.expect("join"));
    assert_eq!(fetch(Client::new(&srv.url)).await.expect("http"), "ok");
    srv.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), srv.task)
        .await
        .expect("serve stops on cancel")
        .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_from_the_ca_name_their_holder_and_others_fail_the_handshake() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = tls::init_ca(dir.path(), false).expect("ca");
    let leaf = tls::issue(dir.path(), "node", &[]).expect("issue");
    let ops = tls::issue_client(dir.path(), "ops", tls::Role::Operator).expect("client");
    let reader = tls::issue_client(dir.path(), "audit", tls::Role::Reader).expect("client");
    let cfg = tls::server_config(&leaf.cert, &leaf.key, Some(&ca.cert)).expect("config");
    let srv = start(Some(cfg), Duration::from_secs(5)).await;
    let whoami = |c: Client| async move {
        tokio::task::spawn_blocking(move || c.get::<Option<tls::ClientIdentity>>("/whoami"))
            .await
            .expect("join")
    };
    // No certificate: connected, anonymous (the agents).
    let anon = Client::with_ca(&srv.url, &ca.cert).expect("client");
    assert_eq!(whoami(anon).await.expect("anonymous"), None);
    for (files, name, role) in [
        (&ops, "ops", tls::Role::Operator),
        (&reader, "audit", tls::Role::Reader),
        (&leaf, "node", tls::Role::Peer),
    ] {
        let c = Client::with_identity(&srv.url, Some(&ca.cert), &files.cert, &files.key)
            .expect("client");
        let id = whoami(c).await.expect("identified").expect("an identity");
        assert_eq!((id.name.as_str(), id.role), (name, role));
    }
    // A client certificate from another CA does not get a connection at all.
    let other = tempfile::tempdir().expect("dir");
    tls::init_ca(other.path(), false).expect("ca");
    let stranger = tls::issue_client(other.path(), "ops", tls::Role::Operator).expect("client");
    let c = Client::with_identity(&srv.url, Some(&ca.cert), &stranger.cert, &stranger.key)
        .expect("client");
    assert!(
        whoami(c).await.is_err(),
        "foreign client certificate refused"
    );
    srv.cancel.cancel();
}

fn connect_idle(addr: SocketAddr) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// Whether the server closes `s` (EOF or reset) before the read timeout.
fn is_closed(s: &mut std::net::TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_hold_more_than_its_share_and_idle_or_slow_connections_are_closed() {
    let limits = ConnLimits {
        max_connections: 8,
        max_connections_per_client: 2,
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(400),
    };
    let srv = start_with(None, Duration::from_secs(1), limits).await;
    let addr = srv.addr;
    let outcome = tokio::task::spawn_blocking(move || {
        // Two silent connections fill this client's share; a third is closed at once,
        // long before the idle timeout.
        let _a = connect_idle(addr);
        let _b = connect_idle(addr);
        std::thread::sleep(Duration::from_millis(50));
        let mut c = connect_idle(addr);
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let third_closed = is_closed(&mut c);
        drop((_a, _b));
        // A connection that answers one request and then sits idle is closed.
        let mut d = connect_idle(addr);
        let mut e = connect_idle(addr);
        d.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            .expect("write");
        let idle_closed = is_closed(&mut d);
        // A body that never completes is cut by the body timeout.
        e.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
            .expect("write");
        let t = std::time::Instant::now();
        let slow_closed = is_closed(&mut e);
        (third_closed, idle_closed, slow_closed, t.elapsed())
    })
    .await
    .expect("join");
    assert!(outcome.0, "third connection of one client closed at once");
    assert!(outcome.1, "idle keep-alive connection closed");
    assert!(outcome.2, "stalled body cut");
    assert!(outcome.3 < Duration::from_secs(5), "{:?}", outcome.3);
    // The listener still serves.
    assert_eq!(fetch(Client::new(&srv.url)).await.expect("http"), "ok");
    srv.cancel.cancel();
}
