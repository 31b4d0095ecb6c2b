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
//! The emulator runs on its own tokio runtime, so tests using it can be plain synchronous code.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

type Pair = (String, String);

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
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Bumped on every change, so black-holed connections re-check.
    changed: watch::Sender<u64>,
    relayed: std::sync::atomic::AtomicU64,
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
}

impl Link {
    /// Point the link at the peer's real address (after it started or restarted).
    pub fn set_target(&self, target: SocketAddr) {
        *self
            .target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(target);
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
    let p = pair(&link.from_zone, &link.to_zone);
    let mut changed = inner.changed.subscribe();
    // Black hole while cut: hold the connection, never answer, drop it once healed (the
    // dialer has given up on it by then and dials again).
    if inner.lock().cut.contains(&p) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                r = changed.changed() => if r.is_err() { return },
            }
            if !inner.lock().cut.contains(&p) {
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
    let token = {
        let mut st = inner.lock();
        if st.cut.contains(&p) {
            return;
        }
        st.live.entry(p.clone()).or_default().clone()
    };
    let conn = inner
        .relayed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = inner.lock().seed ^ conn.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let (ri, wi) = inbound.into_split();
    let (ro, wo) = outbound.into_split();
    tokio::select! {
        () = stop.cancelled() => {}
        () = token.cancelled() => {}
        () = pump(ri, wo, &inner, &p, seed) => {}
        () = pump(ro, wi, &inner, &p, seed ^ 1) => {}
    }
}

/// Copy one direction; the pair's latency is read per chunk, so changing it affects live
/// connections too.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    inner: &Inner,
    p: &Pair,
    seed: u64,
) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut changed = inner.changed.subscribe();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // A silent cut (`blackhole`): hold the bytes until it heals.
        while inner.lock().cut.contains(p) {
            if changed.changed().await.is_err() {
                return;
            }
        }
        let (latency, loss) = {
            let st = inner.lock();
            (st.latency.get(p).copied(), st.loss.get(p).copied())
        };
        let mut delay = latency.unwrap_or_default();
        if let Some((prob, rto)) = loss
            && rng.random_bool(prob)
        {
            delay += rto;
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
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
