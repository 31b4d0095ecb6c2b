//! Serving the HTTP API router on a TCP listener, over TLS or (development only) plain.
//!
//! ```text
//!   serve (one task: the accept loop, until `cancel`)
//!     └─ per connection, in a JoinSet: [TLS handshake, bounded by `handshake_timeout`]
//!        → HTTP/1.1 (hyper), closed gracefully when `cancel` fires
//! ```
//!
//! A connection that never completes its handshake is dropped after `handshake_timeout`; one
//! that sends garbage fails its own handshake (or gets a 400) without touching the others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How long a client may take to send a request's headers once connected (and handshaken).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// On shutdown, how long in-flight requests get to finish before their connections are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(500);

/// How the listener speaks.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// TLS configuration; `None` serves plain HTTP (`--dev-plain-http`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Time a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
}

/// Serve `router` on `listener` until `cancel` fires, then let open requests finish (for at
/// most [`SHUTDOWN_GRACE`]) and return.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ServeOptions,
    cancel: CancellationToken,
) {
    let acceptor = opts.tls.map(TlsAcceptor::from);
    let mut conns: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(res) = conns.join_next() => {
                if let Err(e) = res && e.is_panic() {
                    tracing::error!("HTTP connection task panicked: {e}");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let conn = connection(
                        stream,
                        remote,
                        acceptor.clone(),
                        router.clone(),
                        opts.handshake_timeout,
                        cancel.clone(),
                    );
                    conns.spawn(conn.in_current_span());
                }
                Err(e) if is_per_connection(&e) => {
                    tracing::debug!("HTTP accept: {e}");
                }
                Err(e) => {
                    tracing::warn!("HTTP accept: {e}");
                    if cancel.run_until_cancelled(tokio::time::sleep(ACCEPT_ERROR_PAUSE)).await.is_none() {
                        break;
                    }
                }
            },
        }
    }
    drop(listener);
    // Every connection watches `cancel` and closes gracefully; cut the stragglers.
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), drain)
        .await
        .is_err()
    {
        conns.shutdown().await;
    }
}

/// Errors of `accept` that concern only the connection being accepted.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    router: Router,
    handshake_timeout: Duration,
    cancel: CancellationToken,
) {
    let Some(acceptor) = acceptor else {
        return http(stream, remote, router, cancel).await;
    };
    let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(stream));
    match cancel.run_until_cancelled(handshake).await {
        None => {}
        Some(Err(_elapsed)) => {
            tracing::debug!(%remote, "TLS handshake timed out after {handshake_timeout:?}");
        }
        Some(Ok(Err(e))) => tracing::debug!(%remote, "TLS handshake failed: {e}"),
        Some(Ok(Ok(tls))) => http(tls, remote, router, cancel).await,
    }
}

/// HTTP/1.1 on one established connection.
async fn http<I>(io: I, remote: SocketAddr, router: Router, cancel: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(%remote, "HTTP connection: {e}");
            }
        }
        () = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            if tokio::time::timeout(SHUTDOWN_GRACE, conn).await.is_err() {
                tracing::debug!(%remote, "HTTP connection cut at shutdown");
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new().route("/health", get(|| async { "\"ok\"" }));
        let cancel = CancellationToken::new();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let opts = ServeOptions {
            tls,
            handshake_timeout: handshake,
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
        let cfg = tls::server_config(&leaf.cert, &leaf.key).expect("config");
        let srv = start(Some(cfg), Duration::from_millis(300)).await;

        // A client that connects and never speaks holds nothing for long.
        let addr = srv.addr;
        let stalled = tokio::task::spawn_blocking(move || {
            closed_by_server(addr, b"", Duration::from_secs(10))
        });
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
}
