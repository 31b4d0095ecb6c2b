//! Serving the HTTP API router on a TCP listener, over TLS or (development only) plain.
//!
//! ```text
//!   serve (one task: the accept loop, until `cancel`)
//!     └─ per admitted connection, in a JoinSet: [TLS handshake, bounded by `handshake_timeout`]
//!        → HTTP/1.1 (hyper), closed when idle, gracefully when `cancel` fires
//! ```
//!
//! Bounds ([`ConnLimits`]): connections in all and per client address (more are closed at
//! once), the time to send headers, the time to send a whole body ([`conn::DeadlineBody`]),
//! and the time a connection may sit idle. A connection that never completes its handshake is
//! dropped after `handshake_timeout`; one that sends garbage fails its own handshake (or gets
//! a 400) without touching the others.
//!
//! Every request carries a [`ConnInfo`] extension: the client's address and, when it
//! presented a certificate from the cluster CA, who that certificate names. The admin door's
//! middleware (the peer binary's `http` module) decides from it.

mod conn;
mod limits;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use conn::BodyTimeout;
pub use limits::ConnLimits;

use crate::tls::ClientIdentity;

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
    /// Connection limits and timeouts.
    pub limits: ConnLimits,
}

/// What the listener knows of the connection a request came on (a request extension).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The verified client certificate's identity, if the client presented one.
    pub client: Option<ClientIdentity>,
}

/// Serve `router` on `listener` until `cancel` fires, then let open requests finish (for at
/// most [`SHUTDOWN_GRACE`]) and return.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ServeOptions,
    cancel: CancellationToken,
) {
    let acceptor = opts.tls.clone().map(TlsAcceptor::from);
    let admission = limits::Admission::new(&opts.limits);
    let mut refused_logged = false;
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
                    let ticket = match admission.admit(remote.ip()) {
                        Ok(t) => t,
                        Err(why) => {
                            // Closing at once is the answer; say so once per burst.
                            if !refused_logged {
                                tracing::warn!(%remote, ?why, "HTTP connection refused: limit reached");
                                refused_logged = true;
                            }
                            drop(stream);
                            continue;
                        }
                    };
                    refused_logged = false;
                    let _ = stream.set_nodelay(true);
                    let conn = connection(
                        stream,
                        remote,
                        acceptor.clone(),
                        router.clone(),
                        opts.clone(),
                        cancel.clone(),
                    );
                    conns.spawn(async move {
                        conn.await;
                        drop(ticket);
                    }.in_current_span());
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
    opts: ServeOptions,
    cancel: CancellationToken,
) {
    let Some(acceptor) = acceptor else {
        let info = ConnInfo {
            remote,
            tls: false,
            client: None,
        };
        return http(stream, info, router, &opts.limits, cancel).await;
    };
    let handshake = tokio::time::timeout(opts.handshake_timeout, acceptor.accept(stream));
    match cancel.run_until_cancelled(handshake).await {
        None => {}
        Some(Err(_elapsed)) => {
            tracing::debug!(%remote, "TLS handshake timed out after {:?}", opts.handshake_timeout);
        }
        Some(Ok(Err(e))) => tracing::debug!(%remote, "TLS handshake failed: {e}"),
        Some(Ok(Ok(tls))) => {
            // The handshake verified any certificate against the cluster CA already.
            let client = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| crate::tls::client_identity(leaf.as_ref()));
            let info = ConnInfo {
                remote,
                tls: true,
                client,
            };
            http(tls, info, router, &opts.limits, cancel).await;
        }
    }
}

/// HTTP/1.1 on one established connection.
async fn http<I>(
    io: I,
    info: ConnInfo,
    router: Router,
    limits: &ConnLimits,
    cancel: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let remote = info.remote;
    let watch = conn::Watch::new();
    let body_timeout = limits.body_timeout;
    let svc_watch = watch.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let busy = svc_watch.busy();
        let mut req = req.map(|b| axum::body::Body::new(conn::DeadlineBody::new(b, body_timeout)));
        req.extensions_mut()
            .insert(crate::remote_addr::RemoteAddr(info.remote));
        req.extensions_mut().insert(info.clone());
        let mut router = router.clone();
        async move {
            let res = tower_service::Service::call(&mut router, req).await;
            drop(busy);
            res
        }
    });
    let io = conn::Watched {
        io,
        watch: watch.clone(),
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(io), svc);
    let mut conn = std::pin::pin!(conn);
    let idle = limits.idle_timeout;
    let mut tick = tokio::time::interval((idle / 4).max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%remote, "HTTP connection: {e}");
                }
                return;
            }
            () = cancel.cancelled() => {
                conn.as_mut().graceful_shutdown();
                if tokio::time::timeout(SHUTDOWN_GRACE, conn).await.is_err() {
                    tracing::debug!(%remote, "HTTP connection cut at shutdown");
                }
                return;
            }
            _ = tick.tick() => {
                if watch.idle_for(idle) {
                    tracing::debug!(%remote, "HTTP connection idle for {idle:?}: closed");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
