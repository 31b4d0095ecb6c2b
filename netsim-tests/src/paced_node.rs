//! A node "on a host of its own" for benchmarks on this two-core machine: an HTTP front of a
//! Uyuni stand-in that answers one recorded call (`system.listSystems`) by replaying the
//! node's own recorded answer at the pace the node produced it when it ran alone, and passes
//! every other request through to the stand-in.
//!
//! Why: ten stand-ins rendering their answers at once share the gateway's two cores, so the
//! slowest of them takes ~1.5 × its time alone before any gateway is involved (the bed's floor,
//! docs/PERFORMANCE.md). Real nodes run on machines of their own. A paced replay spends almost
//! no CPU (the bytes are in memory; the wait is a timer), so every node answers in its solo
//! time however many answer at once, and what a benchmark then measures beyond that is the
//! gateway's own cost. The pace is a deadline per piece: a piece is never sent before the time
//! the node reached it alone, and later if the reader holds it back (backpressure stays real).
//!
//! Bench-only (netsim-tests); plain HTTP/1.1 with `Content-Length` or chunked request bodies,
//! keep-alive, one thread per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One recorded answer and the node's solo timing of it.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The XML-RPC method whose calls are replayed (matched in the request body).
    pub method: String,
    /// The answer's body, byte for byte.
    pub body: Arc<Vec<u8>>,
    /// When the node's head (status and headers) arrived, alone.
    pub head: Duration,
    /// When its last byte arrived, alone.
    pub total: Duration,
}

/// A running paced front; it lives as long as the process (bench use).
#[derive(Debug)]
pub struct PacedNode {
    url: String,
}

impl PacedNode {
    /// Listen on 127.0.0.1:0 in front of the stand-in at `upstream` (`http://…/rpc/api`).
    pub fn spawn(upstream: &str, rec: Recording) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/rpc/api", listener.local_addr()?);
        let base = upstream
            .split("/rpc/api")
            .next()
            .unwrap_or(upstream)
            .to_string();
        let rec = Arc::new(rec);
        // One client for every passed-through call (it keeps its connections to the stand-in).
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (base, rec, agent) = (base.clone(), rec.clone(), agent.clone());
                std::thread::spawn(move || {
                    if let Err(e) = serve(conn, &base, &rec, &agent) {
                        tracing::debug!(error = %e, "paced node connection ended");
                    }
                });
            }
        });
        Ok(Self { url })
    }

    /// The front's XML-RPC URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// One request read off a connection.
struct Request {
    method: String,
    path: String,
    content_type: String,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> anyhow::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let (mut length, mut chunked, mut content_type) = (0usize, false, String::new());
    loop {
        let mut h = String::new();
        anyhow::ensure!(r.read_line(&mut h)? > 0, "connection closed in the headers");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse()?,
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "content-type" => content_type = value.to_string(),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(Request {
        method,
        path,
        content_type,
        body,
    }))
}

fn serve(conn: TcpStream, base: &str, rec: &Recording, agent: &ureq::Agent) -> anyhow::Result<()> {
    conn.set_nodelay(true)?;
    let mut out = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let marker = format!("<methodName>{}</methodName>", rec.method);
    while let Some(req) = read_request(&mut r)? {
        if contains(&req.body, marker.as_bytes()) {
            replay(&mut out, rec)?;
        } else {
            pass(&mut out, base, &req, agent)?;
        }
    }
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The recorded answer, each 64 KiB piece not before the time the node reached it alone.
fn replay(out: &mut TcpStream, rec: &Recording) -> anyhow::Result<()> {
    const PIECE: usize = 64 * 1024;
    let start = Instant::now();
    // A sleep overshoots by up to a millisecond: pieces due within one are sent at once (the
    // deadlines are absolute, so the pace does not drift), else 200 pieces of a fast answer
    // added ~150 ms of oversleeping.
    let wait_until = |at: Duration| {
        let now = start.elapsed();
        if at > now + Duration::from_millis(1) {
            std::thread::sleep(at - now);
        }
    };
    wait_until(rec.head);
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        rec.body.len()
    )?;
    let pieces = rec.body.len().div_ceil(PIECE).max(1);
    let span = rec.total.saturating_sub(rec.head);
    for (i, piece) in rec.body.chunks(PIECE).enumerate() {
        wait_until(rec.head + span.mul_f64((i + 1) as f64 / pieces as f64));
        out.write_all(piece)?;
    }
    out.flush()?;
    Ok(())
}

/// Any other request, sent on to the stand-in and its answer back.
fn pass(out: &mut TcpStream, base: &str, req: &Request, agent: &ureq::Agent) -> anyhow::Result<()> {
    let url = format!("{base}{}", req.path);
    let mut resp = if req.method == "GET" {
        agent.get(&url).call()?
    } else {
        agent
            .post(&url)
            .header("Content-Type", &req.content_type)
            .send(&req.body[..])?
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/xml")
        .to_string();
    let body = resp.body_mut().with_config().limit(1 << 30).read_to_vec()?;
    write!(
        out,
        "HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    out.write_all(&body)?;
    out.flush()?;
    Ok(())
}
