//! A user-space link emulator for loopback clusters.
//!
//! A [`Link`] is a TCP relay listening on `127.0.0.1:0` that carries connections *from* dialers
//! of one zone *to* one peer. Cutting a zone pair ([`LinkEmulator::partition`]) severs every
//! live connection between the two zones and black-holes new ones (accepted, never answered,
//! like a WAN outage); [`LinkEmulator::heal`] lets traffic through again. Latency is applied
//! per zone pair, to every chunk relayed. Loss is modelled the way an application over TCP
//! sees it: a lost segment is retransmitted after a timeout, so with probability `p` a chunk
//! is held for the retransmission timeout on top of the latency (seeded, reproducible).
//!
//! Partitions **inside a zone** cut single peers off ([`LinkEmulator::isolate`]): a peer
//! dials from its listening port (libp2p's TCP transport reuses it), so the relay knows the
//! dialer from the connection's source port ([`LinkEmulator::name_port`]) and the target from
//! the link ([`Link::set_peer`]); a connection with an isolated peer at either end is severed
//! and new ones are black-holed. A dial from another port (libp2p falls back to a fresh port
//! when reuse fails) is only cut by its target; [`LinkEmulator::identified_connections`]
//! counts how many connections had a known dialer.
//!
//! **Bandwidth** ([`LinkEmulator::set_bandwidth`]) is a token bucket per direction of a zone
//! pair, shared by every connection and datagram flow of that direction (a store's uplink),
//! computed in [`shaping`] (pure). Latency is pipelined: each chunk is released at its own
//! time, in order, so a long link still carries a full window.
//!
//! **UDP** ([`LinkEmulator::add_udp_link`], [`udp`]): iroh's QUIC runs over UDP; a UDP link
//! relays datagrams per source address with the same latency and bandwidth, and loses a
//! datagram (dropped, seeded) where a TCP chunk would wait for its retransmission.
//!
//! **WAN links** ([`LinkEmulator::add_wan_link`]): for hundreds of zones one link per peer and
//! dialer zone is too many listeners; a WAN link serves dialers of every zone and finds the
//! dialer's zone from its source port ([`LinkEmulator::name_port`], [`LinkEmulator::set_zone`]).
//!
//! The emulator runs on its own tokio runtime, so tests using it can be plain synchronous code.

pub mod shaping;
#[cfg(test)]
mod tests_shaping;
pub mod udp;

use shaping::{Fate, LinkSpec, Shaper, TokenBucket};

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

type Pair = (String, String);

/// The dialer zone of a WAN link ([`LinkEmulator::add_wan_link`]): any, found per connection.
pub const ANY_ZONE: &str = "*";
/// The zone of a WAN link's dialer whose source port names no peer (nothing is shaped).
pub const UNKNOWN_ZONE: &str = "?";
/// How long a WAN link holds a connection from a port not yet named before it relays it as
/// from [`UNKNOWN_ZONE`].
const WAN_NAME_WAIT: Duration = Duration::from_secs(3);

fn pair(a: &str, b: &str) -> Pair {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

#[derive(Debug, Default)]
struct State {
    cut: HashSet<Pair>,
    latency: HashMap<Pair, Duration>,
    /// Loss probability and retransmission timeout per pair.
    loss: HashMap<Pair, (f64, Duration)>,
    seed: u64,
    /// Cancelled when the pair is cut: severs the pair's live connections.
    live: HashMap<Pair, CancellationToken>,
    /// Listening port → peer name (dialers are known by their source port).
    ports: HashMap<u16, String>,
    /// Peers cut off from every other peer.
    isolated: HashSet<String>,
    /// Cancelled when the peer is isolated: severs its live connections.
    live_peer: HashMap<String, CancellationToken>,
    /// Live connections by source port, cancelled when the peer that port belongs to is
    /// isolated: a connection dialled before the harness named the port (a peer dials as
    /// soon as it starts, before its ready line is read) is cut too.
    live_port: HashMap<u16, CancellationToken>,
    /// Bandwidth (bytes/s, burst) per directed zone pair.
    rates: HashMap<Pair, (u64, u64)>,
    /// The buckets of [`State::rates`], shared by every connection of the direction.
    buckets: HashMap<Pair, TokenBucket>,
    /// Peer name → zone (WAN links find the dialer's zone through it).
    zones: HashMap<String, String>,
}

impl State {
    /// A connection from `dialer` over a link of `p` to `target` may not pass.
    fn blocked(&self, p: &Pair, dialer: Option<&str>, target: Option<&str>) -> bool {
        self.cut.contains(p)
            || dialer.is_some_and(|d| self.isolated.contains(d))
            || target.is_some_and(|t| self.isolated.contains(t))
    }

    /// The shaping of traffic from `from` to `to`, and that direction's bucket.
    fn spec(&mut self, from: &str, to: &str) -> (LinkSpec, Option<&mut TokenBucket>) {
        let p = pair(from, to);
        let (loss, rto) = self.loss.get(&p).copied().unwrap_or((0.0, Duration::ZERO));
        let dir = (from.to_string(), to.to_string());
        let rate = self.rates.get(&dir).copied();
        let spec = LinkSpec {
            latency: self.latency.get(&p).copied().unwrap_or_default(),
            loss,
            rto,
            rate,
        };
        let bucket = match rate {
            Some((r, b)) => Some(
                self.buckets
                    .entry(dir)
                    .or_insert_with(|| TokenBucket::new(r, b)),
            ),
            None => None,
        };
        (spec, bucket)
    }

    /// The zone of the dialer behind `source_port` on a link whose dialer zone is `from`
    /// ([`ANY_ZONE`] for a WAN link: known by the port's peer, else [`UNKNOWN_ZONE`]).
    fn dialer_zone(&self, from: &str, dialer: Option<&str>) -> String {
        if from != ANY_ZONE {
            return from.to_string();
        }
        dialer
            .and_then(|d| self.zones.get(d))
            .cloned()
            .unwrap_or_else(|| UNKNOWN_ZONE.to_string())
    }

    fn peer_token(&mut self, peer: Option<&str>) -> CancellationToken {
        match peer {
            Some(p) => self.live_peer.entry(p.to_string()).or_default().clone(),
            None => CancellationToken::new(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Bumped on every change, so black-holed connections re-check.
    changed: watch::Sender<u64>,
    relayed: std::sync::atomic::AtomicU64,
    identified: std::sync::atomic::AtomicU64,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The emulator. Dropping it stops every link.
#[derive(Debug)]
pub struct LinkEmulator {
    inner: Arc<Inner>,
    rt: tokio::runtime::Runtime,
    stop: CancellationToken,
}

/// One relay: dialers of `from_zone` reach the peer behind it at [`Link::addr`].
#[derive(Debug, Clone)]
pub struct Link {
    /// Zone of the dialers that use this link.
    pub from_zone: String,
    /// Zone of the peer behind it.
    pub to_zone: String,
    /// Where dialers connect.
    pub addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    peer: Arc<Mutex<Option<String>>>,
}

impl Link {
    /// Point the link at the peer's real address (after it started or restarted).
    pub fn set_target(&self, target: SocketAddr) {
        *self
            .target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(target);
    }

    /// Name the peer behind the link (for [`LinkEmulator::isolate`]).
    pub fn set_peer(&self, name: &str) {
        *self
            .peer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(name.to_string());
    }

    fn peer(&self) -> Option<String> {
        self.peer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The multiaddr dialers use.
    pub fn multiaddr(&self) -> String {
        format!("/ip4/{}/tcp/{}", self.addr.ip(), self.addr.port())
    }
}

impl LinkEmulator {
    /// Start an emulator with its own runtime.
    pub fn new() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let (changed, _) = watch::channel(0);
        Ok(Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                changed,
                relayed: std::sync::atomic::AtomicU64::new(0),
                identified: std::sync::atomic::AtomicU64::new(0),
            }),
            rt,
            stop: CancellationToken::new(),
        })
    }

    /// Add a relay from dialers of `from_zone` to a peer of `to_zone`.
    pub fn add_link(&self, from_zone: &str, to_zone: &str) -> std::io::Result<Link> {
        let listener = self
            .rt
            .block_on(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))))?;
        let link = Link {
            from_zone: from_zone.to_string(),
            to_zone: to_zone.to_string(),
            addr: listener.local_addr()?,
            target: Arc::new(Mutex::new(None)),
            peer: Arc::new(Mutex::new(None)),
        };
        let (inner, stop, l) = (self.inner.clone(), self.stop.clone(), link.clone());
        self.rt.spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    acc = listener.accept() => {
                        let Ok((sock, _)) = acc else { continue };
                        tokio::spawn(relay(inner.clone(), l.clone(), sock, stop.clone()));
                    }
                }
            }
        });
        Ok(link)
    }

    /// Add a relay from dialers of **any** zone to a peer of `to_zone`: each connection's
    /// dialer zone comes from its source port ([`Self::name_port`] and [`Self::set_zone`]).
    pub fn add_wan_link(&self, to_zone: &str) -> std::io::Result<Link> {
        self.add_link(ANY_ZONE, to_zone)
    }

    /// The peer `name` is in `zone` (for WAN links).
    pub fn set_zone(&self, name: &str, zone: &str) {
        self.inner
            .lock()
            .zones
            .insert(name.to_string(), zone.to_string());
    }

    /// Limit traffic from zone `from` to zone `to` to `bytes_per_s` with bursts of `burst`
    /// bytes (a token bucket shared by every connection and flow of that direction); `None`
    /// lifts the limit. Applies to live connections from their next chunk.
    pub fn set_bandwidth(&self, from: &str, to: &str, rate: Option<(u64, u64)>) {
        let mut st = self.inner.lock();
        let dir = (from.to_string(), to.to_string());
        st.buckets.remove(&dir);
        match rate {
            Some(r) => st.rates.insert(dir, r),
            None => st.rates.remove(&dir),
        };
    }

    /// Cut zones `a` and `b` apart (both directions).
    pub fn partition(&self, a: &str, b: &str) {
        let p = pair(a, b);
        {
            let mut st = self.inner.lock();
            st.cut.insert(p.clone());
            if let Some(tok) = st.live.remove(&p) {
                tok.cancel();
            }
        }
        self.inner.changed.send_modify(|g| *g += 1);
    }

    /// Cut zones `a` and `b` apart **without resets**, as a WAN outage does: live
    /// connections stay open but nothing crosses them (bytes in flight are held, and
    /// delivered if the cut heals while the connection still stands); new connections are
    /// black-holed as with [`LinkEmulator::partition`]. Only the peers' own liveness checks
    /// can notice.
    pub fn blackhole(&self, a: &str, b: &str) {
        self.inner.lock().cut.insert(pair(a, b));
        self.inner.changed.send_modify(|g| *g += 1);
    }

    /// The peer `name` listens (and so dials) on `port`.
    pub fn name_port(&self, port: u16, name: &str) {
        let mut st = self.inner.lock();
        st.ports.retain(|_, n| n != name);
        st.ports.insert(port, name.to_string());
    }

    /// Cut the peer `name` off from every other peer, inside its zone too.
    pub fn isolate(&self, name: &str) {
        {
            let mut st = self.inner.lock();
            st.isolated.insert(name.to_string());
            if let Some(tok) = st.live_peer.remove(name) {
                tok.cancel();
            }
            let ports: Vec<u16> = st
                .ports
                .iter()
                .filter(|(_, n)| *n == name)
                .map(|(p, _)| *p)
                .collect();
            for port in ports {
                if let Some(tok) = st.live_port.remove(&port) {
                    tok.cancel();
                }
            }
        }
        self.inner.changed.send_modify(|g| *g += 1);
    }

    /// Let the peer `name` reach the others again.
    pub fn rejoin(&self, name: &str) {
        self.inner.lock().isolated.remove(name);
        self.inner.changed.send_modify(|g| *g += 1);
    }

    /// Connections relayed whose dialer was known by its source port.
    pub fn identified_connections(&self) -> u64 {
        self.inner
            .identified
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Let traffic between `a` and `b` flow again.
    pub fn heal(&self, a: &str, b: &str) {
        self.inner.lock().cut.remove(&pair(a, b));
        self.inner.changed.send_modify(|g| *g += 1);
    }

    /// Delay every chunk relayed between `a` and `b` by `d` (live connections included).
    pub fn set_latency(&self, a: &str, b: &str, d: Duration) {
        self.inner.lock().latency.insert(pair(a, b), d);
    }

    /// Lose each chunk between `a` and `b` with probability `p` (0..=1): it arrives one
    /// retransmission timeout `rto` late, as over TCP. Randomness is seeded by `seed`.
    pub fn set_loss(&self, a: &str, b: &str, p: f64, rto: Duration, seed: u64) {
        let mut st = self.inner.lock();
        st.loss.insert(pair(a, b), (p.clamp(0.0, 1.0), rto));
        st.seed = seed;
    }

    /// Connections relayed so far (a sanity figure for tests: traffic does pass through).
    pub fn relayed_connections(&self) -> u64 {
        self.inner
            .relayed
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for LinkEmulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn relay(inner: Arc<Inner>, link: Link, inbound: TcpStream, stop: CancellationToken) {
    let source = inbound.peer_addr().map(|a| a.port()).unwrap_or(0);
    let mut dialer = inner.lock().ports.get(&source).cloned();
    // A WAN link shapes by the dialer's zone: a peer may dial before the test named its port
    // (it dials as soon as it starts), so wait a little for the name.
    let named_by = tokio::time::Instant::now() + WAN_NAME_WAIT;
    while dialer.is_none() && link.from_zone == ANY_ZONE && tokio::time::Instant::now() < named_by {
        tokio::time::sleep(Duration::from_millis(20)).await;
        dialer = inner.lock().ports.get(&source).cloned();
    }
    let from_zone = inner.lock().dialer_zone(&link.from_zone, dialer.as_deref());
    let p = pair(&from_zone, &link.to_zone);
    let target_peer = link.peer();
    let (dialer, target_peer) = (dialer.as_deref(), target_peer.as_deref());
    let mut changed = inner.changed.subscribe();
    // Black hole while cut: hold the connection, never answer, drop it once healed (the
    // dialer has given up on it by then and dials again).
    if inner.lock().blocked(&p, dialer, target_peer) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                r = changed.changed() => if r.is_err() { return },
            }
            if !inner.lock().blocked(&p, dialer, target_peer) {
                return;
            }
        }
    }
    let target = *link
        .target
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(target) = target else { return };
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (token, from_token, to_token, port_token) = {
        let mut st = inner.lock();
        if st.blocked(&p, dialer, target_peer) {
            return;
        }
        (
            st.live.entry(p.clone()).or_default().clone(),
            st.peer_token(dialer),
            st.peer_token(target_peer),
            st.live_port.entry(source).or_default().clone(),
        )
    };
    let conn = inner
        .relayed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if dialer.is_some() {
        inner
            .identified
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let seed = inner.lock().seed ^ conn.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let (ri, wi) = inbound.into_split();
    let (ro, wo) = outbound.into_split();
    let up = Dir {
        from: &from_zone,
        to: &link.to_zone,
        pair: &p,
    };
    let down = Dir {
        from: &link.to_zone,
        to: &from_zone,
        pair: &p,
    };
    tokio::select! {
        () = stop.cancelled() => {}
        () = token.cancelled() => {}
        () = from_token.cancelled() => {}
        () = to_token.cancelled() => {}
        () = port_token.cancelled() => {}
        () = pump(ri, wo, &inner, up, seed) => {}
        () = pump(ro, wi, &inner, down, seed ^ 1) => {}
    }
}

/// One direction of a relayed connection or flow.
#[derive(Debug, Clone, Copy)]
struct Dir<'a> {
    from: &'a str,
    to: &'a str,
    pair: &'a Pair,
}

impl Inner {
    /// When a chunk of `n` bytes read now may leave in direction `d` (`None`: dropped).
    fn shape(
        &self,
        d: Dir<'_>,
        shaper: &mut Shaper,
        rng: &mut rand_chacha::ChaCha8Rng,
        n: usize,
        datagram: bool,
    ) -> Option<tokio::time::Instant> {
        use rand::Rng;
        let now = std::time::Instant::now();
        let fate = {
            let mut st = self.lock();
            let (spec, bucket) = st.spec(d.from, d.to);
            let lost = spec.loss > 0.0 && rng.random_bool(spec.loss);
            shaper.release(&spec, bucket, n, now, lost, datagram)
        };
        match fate {
            Fate::At(at) => Some(tokio::time::Instant::from_std(at)),
            Fate::Dropped => None,
        }
    }
}

/// Chunks waiting to leave, per direction: this many before the reader stops reading (the
/// sender then sees TCP back-pressure, as behind a full bottleneck queue).
const QUEUE_CHUNKS: usize = 64;

/// Copy one direction: the reader stamps each chunk with its release time (latency, the
/// direction's bandwidth, loss), the writer writes it then. The pair's settings are read per
/// chunk, so changing them affects live connections too.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    inner: &Inner,
    d: Dir<'_>,
    seed: u64,
) {
    use rand::SeedableRng;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(QUEUE_CHUNKS);
    let reader = async move {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut shaper = Shaper::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut changed = inner.changed.subscribe();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // A silent cut (`blackhole`): hold the bytes until it heals.
            while inner.lock().cut.contains(d.pair) {
                if changed.changed().await.is_err() {
                    return;
                }
            }
            let Some(at) = inner.shape(d, &mut shaper, &mut rng, n, false) else {
                continue;
            };
            if tx.send((at, buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    let writer = async {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    // The reader ending (EOF) lets the writer drain what is queued, then both are done.
    let ((), ()) = tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn relays_and_really_cuts() {
        let emu = LinkEmulator::new().expect("emu");
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let link = emu.add_link("a", "b").expect("link");
        link.set_target(server.local_addr().expect("addr"));
        let echo = std::thread::spawn(move || {
            for s in server.incoming().take(1) {
                let mut s = s.expect("accept");
                let mut buf = [0u8; 5];
                s.read_exact(&mut buf).expect("read");
                s.write_all(&buf).expect("write");
                // Keep it open until the client goes.
                let _ = s.read(&mut buf);
            }
        });
        let mut c = std::net::TcpStream::connect(link.addr).expect("connect");
        c.write_all(b"hello").expect("write");
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).expect("read");
        assert_eq!(&buf, b"hello");
        // Cutting severs the live connection.
        emu.partition("b", "a");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let n = c.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "connection severed by the partition");
        echo.join().expect("echo thread");
        // New connections are black-holed: accepted, but nothing comes back.
        let mut c = std::net::TcpStream::connect(link.addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        c.write_all(b"hello").expect("write");
        let err = c.read(&mut buf).expect_err("nothing answers during a cut");
        assert!(matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
        assert_eq!(emu.relayed_connections(), 1);
    }

    #[test]
    fn an_isolated_peer_is_cut_by_its_source_port_and_by_its_link() {
        let emu = LinkEmulator::new().expect("emu");
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let link = emu.add_link("a", "a").expect("link");
        link.set_target(server.local_addr().expect("addr"));
        link.set_peer("q");
        let _accepting = std::thread::spawn(move || {
            for s in server.incoming() {
                let Ok(mut s) = s else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1];
                    while s.read_exact(&mut buf).is_ok() {
                        if s.write_all(&buf).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let echo = |c: &mut std::net::TcpStream| {
            c.set_read_timeout(Some(Duration::from_millis(500)))
                .expect("timeout");
            let mut buf = [0u8; 1];
            c.write_all(b"x").is_ok() && c.read_exact(&mut buf).is_ok()
        };
        // A dialer from its own port ("p") reaches q until p is isolated.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind");
        let port = sock.local_addr().expect("local").port();
        let stream = rt.block_on(sock.connect(link.addr)).expect("connect");
        let mut c = stream.into_std().expect("std");
        c.set_nonblocking(false).expect("blocking");
        assert!(echo(&mut c), "passes before");
        // Named after it connected (a peer dials before its ready line is read): still cut.
        emu.name_port(port, "p");
        emu.isolate("p");
        assert!(!echo(&mut c), "severed when the dialer is isolated");
        emu.rejoin("p");
        // The target isolated: new connections from anyone are black-holed.
        emu.isolate("q");
        let mut c = std::net::TcpStream::connect(link.addr).expect("connect");
        assert!(!echo(&mut c), "black-holed while the target is isolated");
        emu.rejoin("q");
        // Polled: a connection made once the rejoin is seen passes again.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut c = std::net::TcpStream::connect(link.addr).expect("connect");
            if echo(&mut c) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "passes again");
        }
    }

    #[test]
    fn latency_and_loss_apply_to_live_connections() {
        let emu = LinkEmulator::new().expect("emu");
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let link = emu.add_link("a", "b").expect("link");
        link.set_target(server.local_addr().expect("addr"));
        let echo = std::thread::spawn(move || {
            let (mut s, _) = server.accept().expect("accept");
            let mut buf = [0u8; 1];
            while s.read_exact(&mut buf).is_ok() {
                if s.write_all(&buf).is_err() {
                    return;
                }
            }
        });
        let mut c = std::net::TcpStream::connect(link.addr).expect("connect");
        let mut rtt = || {
            let t = std::time::Instant::now();
            c.write_all(b"x").expect("write");
            let mut buf = [0u8; 1];
            c.read_exact(&mut buf).expect("read");
            t.elapsed()
        };
        let before = rtt();
        emu.set_latency("a", "b", Duration::from_millis(60));
        let after = rtt();
        assert!(
            after >= Duration::from_millis(120),
            "one delay each way: {after:?}"
        );
        assert!(before < Duration::from_millis(60), "{before:?}");
        drop(c);
        echo.join().expect("echo");
    }
}
