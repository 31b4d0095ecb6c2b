//! UDP links: iroh's QUIC (content blobs) runs over UDP, so a zone pair's latency, loss and
//! bandwidth must apply to datagrams too.
//!
//! A [`UdpLink`] listens on `127.0.0.1:0`. Each source address that sends to it gets a *flow*:
//! an upstream socket of its own, connected to the target, so the target's answers come back
//! on it and are relayed to that source. Every datagram is shaped like a TCP chunk (latency,
//! the direction's token bucket) except loss: a lost datagram is **dropped** (QUIC recovers
//! on its own), and so is one that finds its direction's queue full. While the zone pair is
//! cut, or either end isolated, datagrams are dropped. Flows live as long as the emulator.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::shaping::Shaper;
use super::{Dir, Inner, LinkEmulator, Pair, QUEUE_CHUNKS, pair};

type Queue = mpsc::Sender<(tokio::time::Instant, Vec<u8>)>;

/// One UDP relay: datagrams from `from_zone` (or, for [`super::ANY_ZONE`], the zone of the
/// sender's port) to the peer behind it at [`UdpLink::addr`].
#[derive(Debug, Clone)]
pub struct UdpLink {
    /// Zone of the senders that use this link.
    pub from_zone: String,
    /// Zone of the peer behind it.
    pub to_zone: String,
    /// Where senders send.
    pub addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    peer: Arc<Mutex<Option<String>>>,
}

impl UdpLink {
    /// Point the link at the peer's real UDP address.
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

    fn target(&self) -> Option<SocketAddr> {
        *self
            .target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl LinkEmulator {
    /// Add a UDP relay from senders of `from_zone` to a peer of `to_zone`.
    pub fn add_udp_link(&self, from_zone: &str, to_zone: &str) -> std::io::Result<UdpLink> {
        let sock = self
            .rt
            .block_on(UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))))?;
        let link = UdpLink {
            from_zone: from_zone.to_string(),
            to_zone: to_zone.to_string(),
            addr: sock.local_addr()?,
            target: Arc::new(Mutex::new(None)),
            peer: Arc::new(Mutex::new(None)),
        };
        self.rt.spawn(serve(
            self.inner.clone(),
            link.clone(),
            Arc::new(sock),
            self.stop.clone(),
        ));
        Ok(link)
    }
}

/// One sender's flow.
struct Flow {
    from_zone: String,
    pair: Pair,
    dialer: Option<String>,
    shaper: Shaper,
    rng: rand_chacha::ChaCha8Rng,
    up: Queue,
}

async fn serve(inner: Arc<Inner>, link: UdpLink, sock: Arc<UdpSocket>, stop: CancellationToken) {
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, src) = tokio::select! {
            () = stop.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(_) => continue,
            },
        };
        let flow = match flows.entry(src) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Some(flow) = open_flow(&inner, &link, &sock, src, &stop).await else {
                    continue;
                };
                e.insert(flow)
            }
        };
        let target_peer = link.peer();
        if inner
            .lock()
            .blocked(&flow.pair, flow.dialer.as_deref(), target_peer.as_deref())
        {
            continue;
        }
        if flow.up.capacity() == 0 {
            continue; // a full queue drops it before the bottleneck, as a router's does
        }
        let d = Dir {
            from: &flow.from_zone,
            to: &link.to_zone,
            pair: &flow.pair,
        };
        if let Some(at) = inner.shape(d, &mut flow.shaper, &mut flow.rng, n, true) {
            let _ = flow.up.try_send((at, buf[..n].to_vec()));
        }
    }
}

/// Open the upstream socket of a new sender `src` and the tasks that carry both directions.
async fn open_flow(
    inner: &Arc<Inner>,
    link: &UdpLink,
    sock: &Arc<UdpSocket>,
    src: SocketAddr,
    stop: &CancellationToken,
) -> Option<Flow> {
    let target = link.target()?;
    let upstream = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .ok()?;
    upstream.connect(target).await.ok()?;
    let upstream = Arc::new(upstream);
    let (dialer, from_zone, seed) = {
        let st = inner.lock();
        let dialer = st.ports.get(&src.port()).cloned();
        let from_zone = st.dialer_zone(&link.from_zone, dialer.as_deref());
        (dialer, from_zone, st.seed)
    };
    let conn = inner
        .relayed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    if dialer.is_some() {
        inner
            .identified
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let p = pair(&from_zone, &link.to_zone);
    let (up_tx, mut up_rx) = mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(QUEUE_CHUNKS);
    let (down_tx, mut down_rx) = mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(QUEUE_CHUNKS);
    // Upstream writer: datagrams leave for the target at their release time.
    let (up, s) = (upstream.clone(), stop.clone());
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                () = s.cancelled() => return,
                item = up_rx.recv() => item,
            };
            let Some((at, bytes)) = item else { return };
            tokio::time::sleep_until(at).await;
            let _ = up.send(&bytes).await;
        }
    });
    // Downstream reader: the target's answers, shaped in the reverse direction.
    let (up, s, inn, l) = (upstream.clone(), stop.clone(), inner.clone(), link.clone());
    let (fz, pp, dl) = (from_zone.clone(), p.clone(), dialer.clone());
    tokio::spawn(async move {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ conn ^ 1);
        let mut shaper = Shaper::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = tokio::select! {
                () = s.cancelled() => return,
                r = up.recv(&mut buf) => match r {
                    Ok(n) => n,
                    Err(_) => continue,
                },
            };
            let target_peer = l.peer();
            if inn
                .lock()
                .blocked(&pp, dl.as_deref(), target_peer.as_deref())
            {
                continue;
            }
            if down_tx.capacity() == 0 {
                continue;
            }
            let d = Dir {
                from: &l.to_zone,
                to: &fz,
                pair: &pp,
            };
            if let Some(at) = inn.shape(d, &mut shaper, &mut rng, n, true) {
                let _ = down_tx.try_send((at, buf[..n].to_vec()));
            }
        }
    });
    // Downstream writer: back to the sender from the link's own address.
    let (sock, s) = (sock.clone(), stop.clone());
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                () = s.cancelled() => return,
                item = down_rx.recv() => item,
            };
            let Some((at, bytes)) = item else { return };
            tokio::time::sleep_until(at).await;
            let _ = sock.send_to(&bytes, src).await;
        }
    });
    Some(Flow {
        from_zone,
        pair: p,
        dialer,
        shaper: Shaper::new(),
        rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ conn),
        up: up_tx,
    })
}
