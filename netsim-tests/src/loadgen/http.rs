//! The load generator's HTTP side: one keep-alive connection pool shared by every simulated
//! agent, a bound on requests in flight, and request statistics.
//!
//! Tens of thousands of agent tasks must not mean tens of thousands of sockets: a request
//! first takes a permit of a semaphore sized `max_in_flight`, then a connection from hyper's
//! pool. A connection is only opened when no idle one to that peer is free, so the number of
//! sockets stays at most `max_in_flight` per peer, and connections are reused across agents
//! (HTTP/1.1 keep-alive), as a real fleet behind a few NATs would look to a peer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderMap};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The address or path does not make a URI.
    #[error("bad request URI: {0}")]
    Uri(#[from] hyper::http::Error),
    /// Connecting, sending or reading the head failed (peer down, connection reset).
    #[error("request failed: {0}")]
    Send(#[from] hyper_util::client::legacy::Error),
    /// Reading the body failed.
    #[error("reading the body: {0}")]
    Body(#[from] hyper::Error),
    /// No answer within the pool's timeout.
    #[error("timed out")]
    Timeout,
    /// The pool was closed.
    #[error("pool closed")]
    Closed,
}

/// An HTTP answer, body read in full.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// A header as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sub-buckets per power of two in [`Latency`]: about 9 % resolution.
const SUB: u32 = 8;
/// Buckets: enough for latencies up to 2^40 µs.
const BUCKETS: usize = (SUB as usize) * 40;

/// A lock-free latency histogram (log-linear buckets of microseconds).
#[derive(Debug)]
pub struct Latency {
    buckets: Vec<AtomicU64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < u64::from(SUB) {
        return us as usize;
    }
    let p = 63 - us.leading_zeros(); // >= 3
    let sub = (us >> (p - 3)) & u64::from(SUB - 1);
    ((SUB * (p - 2)) as usize + sub as usize).min(BUCKETS - 1)
}

/// The upper bound (µs) of bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    let sub = u64::from(SUB);
    if (i as u64) < sub {
        return i as u64;
    }
    let p = i as u64 / sub + 2;
    let s = i as u64 % sub;
    ((sub + s + 1) << (p - 3)) - 1
}

impl Latency {
    /// Record one sample.
    pub fn record(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// Samples so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `p`-th percentile (0..=100) as the upper bound of its bucket; zero when empty.
    pub fn percentile(&self, p: f64) -> Duration {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(bucket_upper(i));
            }
        }
        Duration::from_micros(bucket_upper(BUCKETS - 1))
    }

    /// Forget every sample.
    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// Figures of a pool.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Requests answered (any status).
    pub answered: AtomicU64,
    /// Requests without an answer (connection errors, timeouts).
    pub failed: AtomicU64,
    /// Latency of answered requests, from taking a permit to the last body byte.
    pub latency: Latency,
    /// The last failure, described (what the failed requests ran into).
    pub last_error: std::sync::Mutex<Option<String>>,
}

/// See the module documentation. Cheap to clone; clones share the pool and the bound.
#[derive(Debug, Clone)]
pub struct HttpPool {
    client: Client<HttpConnector, Full<Bytes>>,
    permits: Arc<Semaphore>,
    timeout: Duration,
    stats: Arc<PoolStats>,
}

impl HttpPool {
    /// A pool allowing `max_in_flight` requests at once, each given up after `timeout`.
    /// Must be called inside a tokio runtime.
    pub fn new(max_in_flight: usize, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_in_flight)
            .build(connector);
        Self {
            client,
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            timeout,
            stats: Arc::new(PoolStats::default()),
        }
    }

    /// The pool's figures.
    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    /// `GET http://{addr}{path}`.
    pub async fn get(&self, addr: &str, path: &str) -> Result<Reply, RequestError> {
        self.send(Method::GET, addr, path, None, None).await
    }

    /// `GET http://{addr}{path}` showing an agent `token` (`X-Uyuni-Agent-Token`).
    pub async fn get_with_token(
        &self,
        addr: &str,
        path: &str,
        token: Option<&str>,
    ) -> Result<Reply, RequestError> {
        self.send(Method::GET, addr, path, None, token).await
    }

    /// `POST http://{addr}{path}` with a JSON body.
    pub async fn post_json(
        &self,
        addr: &str,
        path: &str,
        body: Bytes,
    ) -> Result<Reply, RequestError> {
        self.send(Method::POST, addr, path, Some(body), None).await
    }

    async fn send(
        &self,
        method: Method,
        addr: &str,
        path: &str,
        body: Option<Bytes>,
        token: Option<&str>,
    ) -> Result<Reply, RequestError> {
        let uri: Uri = format!("http://{addr}{path}")
            .parse()
            .map_err(hyper::http::Error::from)?;
        let mut req = Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        if let Some(t) = token {
            req = req.header(agent_proto::TOKEN_HEADER, t);
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| RequestError::Closed)?;
        let started = Instant::now();
        let answer = tokio::time::timeout(self.timeout, async {
            let res = self.client.request(req).await?;
            let (parts, body) = res.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, RequestError>(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        })
        .await
        .unwrap_or(Err(RequestError::Timeout));
        match &answer {
            Ok(_) => {
                self.stats.answered.fetch_add(1, Ordering::Relaxed);
                self.stats.latency.record(started.elapsed());
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                let mut last = self
                    .stats
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *last = Some(format!("{e} ({e:?})"));
            }
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bound_their_samples() {
        let mut last = 0;
        for us in [
            0, 1, 7, 8, 9, 15, 16, 100, 1000, 12_345, 1_000_000, 60_000_000,
        ] {
            let b = bucket_of(us);
            assert!(b >= last, "{us}");
            last = b;
            assert!(bucket_upper(b) >= us, "{us} <= upper of its bucket");
            assert!(
                bucket_upper(b) as f64 <= us as f64 * 1.13 + 1.0,
                "{us}: resolution"
            );
        }
        let h = Latency::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.percentile(50.0).as_millis();
        assert!((48..=55).contains(&p50), "{p50}");
        assert_eq!(h.count(), 100);
    }
}
