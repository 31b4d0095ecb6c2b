//! The emulator's shaping over real sockets: bandwidth measured within a tolerance, UDP
//! latency, seeded UDP loss, WAN links finding the dialer's zone.

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::LinkEmulator;

/// A TCP sink: returns (bytes, time from the first byte to the last) once the sender closes.
fn tcp_sink() -> (SocketAddr, std::thread::JoinHandle<(usize, Duration)>) {
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = server.local_addr().expect("addr");
    let h = std::thread::spawn(move || {
        let (mut s, _) = server.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let (mut total, mut first) = (0usize, None);
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    first.get_or_insert_with(Instant::now);
                    total += n;
                }
            }
        }
        (total, first.map(|f| f.elapsed()).unwrap_or_default())
    });
    (addr, h)
}

#[test]
fn bandwidth_holds_a_tcp_stream_to_its_rate_one_way() {
    let emu = LinkEmulator::new().expect("emu");
    let (addr, sink) = tcp_sink();
    let link = emu.add_link("a", "b").expect("link");
    link.set_target(addr);
    // 200 KB/s from a to b, 16 KB bursts: 400 KB take ~(400 - 16) / 200 = 1.92 s.
    emu.set_bandwidth("a", "b", Some((200_000, 16_000)));
    let mut c = std::net::TcpStream::connect(link.addr).expect("connect");
    let chunk = vec![7u8; 8000];
    for _ in 0..50 {
        c.write_all(&chunk).expect("write");
    }
    drop(c);
    let (total, took) = sink.join().expect("sink");
    assert_eq!(total, 400_000);
    let rate = (total - 16_000) as f64 / took.as_secs_f64();
    assert!(
        (rate - 200_000.0).abs() < 0.15 * 200_000.0,
        "measured {rate:.0} B/s over {took:?}, want 200 000 ± 15 %"
    );
}

#[test]
fn the_other_direction_of_a_limited_link_is_not_limited() {
    let emu = LinkEmulator::new().expect("emu");
    let (addr, sink) = tcp_sink();
    let link = emu.add_link("a", "b").expect("link");
    link.set_target(addr);
    emu.set_bandwidth("b", "a", Some((10_000, 1000)));
    let t = Instant::now();
    let mut c = std::net::TcpStream::connect(link.addr).expect("connect");
    c.write_all(&vec![1u8; 1_000_000]).expect("write");
    drop(c);
    let (total, _) = sink.join().expect("sink");
    assert_eq!(total, 1_000_000);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// A UDP echo server; returns its address and a counter of datagrams received.
fn udp_echo() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = s.local_addr().expect("addr");
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = s.send_to(&buf[..n], from);
        }
    });
    (addr, count)
}

#[test]
fn udp_datagrams_carry_the_latency_both_ways_and_stop_at_a_cut() {
    let emu = LinkEmulator::new().expect("emu");
    let (addr, _) = udp_echo();
    let link = emu.add_udp_link("a", "b").expect("link");
    link.set_target(addr);
    emu.set_latency("a", "b", Duration::from_millis(60));
    let c = UdpSocket::bind("127.0.0.1:0").expect("bind");
    c.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let t = Instant::now();
    c.send_to(b"ping", link.addr).expect("send");
    let mut buf = [0u8; 16];
    let (n, from) = c.recv_from(&mut buf).expect("echo");
    assert_eq!((&buf[..n], from), (&b"ping"[..], link.addr));
    let rtt = t.elapsed();
    assert!(
        rtt >= Duration::from_millis(120),
        "one delay each way: {rtt:?}"
    );
    emu.partition("a", "b");
    c.set_read_timeout(Some(Duration::from_millis(400)))
        .expect("timeout");
    c.send_to(b"ping", link.addr).expect("send");
    assert!(c.recv_from(&mut buf).is_err(), "nothing crosses a cut");
    emu.heal("a", "b");
    c.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    c.send_to(b"pong", link.addr).expect("send");
    let (n, _) = c.recv_from(&mut buf).expect("healed");
    assert_eq!(&buf[..n], b"pong");
}

/// Datagrams of 100 sent (paced) through a link losing 30 % with `seed` that reach the far
/// side.
fn udp_delivered(seed: u64) -> usize {
    let emu = LinkEmulator::new().expect("emu");
    let (addr, count) = udp_echo();
    let link = emu.add_udp_link("a", "b").expect("link");
    link.set_target(addr);
    emu.set_loss("a", "b", 0.3, Duration::ZERO, seed);
    let c = UdpSocket::bind("127.0.0.1:0").expect("bind");
    // Paced gently: a burst overflowed a socket buffer while the suite's other tests held
    // both cores (CI: 217 of 400 arrived), and a drop outside the emulator is not its loss.
    for i in 0..400u32 {
        c.send_to(&i.to_be_bytes(), link.addr).expect("send");
        if i % 5 == 4 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Wait until the count has stopped moving for three polls in a row.
    let (mut last, mut still) = (usize::MAX, 0);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = count.load(std::sync::atomic::Ordering::SeqCst);
        still = if now == last { still + 1 } else { 0 };
        if still == 3 {
            return now;
        }
        last = now;
    }
}

#[test]
fn udp_loss_drops_datagrams_by_the_seed() {
    let a = udp_delivered(7);
    assert!((220..=340).contains(&a), "{a} of 400 with 30 % loss");
    assert_eq!(
        a,
        udp_delivered(7),
        "the same seed loses the same datagrams"
    );
}

#[test]
fn udp_bandwidth_spaces_datagrams_at_the_rate() {
    let emu = LinkEmulator::new().expect("emu");
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = s.local_addr().expect("addr");
    let link = emu.add_udp_link("a", "b").expect("link");
    link.set_target(addr);
    // 100 KB/s, 5 KB burst; 120 datagrams of 1000 bytes offered at ~200 KB/s.
    emu.set_bandwidth("a", "b", Some((100_000, 5000)));
    let c = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let sender = std::thread::spawn(move || {
        for _ in 0..120 {
            c.send_to(&[0u8; 1000], link.addr).expect("send");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    s.set_read_timeout(Some(Duration::from_millis(800)))
        .expect("timeout");
    let mut buf = [0u8; 2048];
    let (mut got, mut first, mut last) = (0usize, None, Instant::now());
    while s.recv_from(&mut buf).is_ok() {
        let now = Instant::now();
        first.get_or_insert(now);
        last = now;
        got += 1;
    }
    sender.join().expect("sender");
    let first = first.expect("something arrived");
    // After the burst, datagrams arrive one per 10 ms.
    let rate = ((got - 5) * 1000) as f64 / last.duration_since(first).as_secs_f64();
    assert!(
        (rate - 100_000.0).abs() < 0.15 * 100_000.0,
        "measured {rate:.0} B/s from {got} datagrams"
    );
}

#[test]
fn a_wan_link_shapes_by_the_zone_of_the_dialer_port() {
    let emu = LinkEmulator::new().expect("emu");
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let link = emu.add_wan_link("b").expect("link");
    link.set_target(server.local_addr().expect("addr"));
    std::thread::spawn(move || {
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
    emu.set_latency("far", "b", Duration::from_millis(80));
    let rtt_from = |zone: Option<&str>| {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let port = sock.local_addr().expect("addr").port();
        drop(sock);
        if let Some(z) = zone {
            emu.name_port(port, &format!("peer-{port}"));
            emu.set_zone(&format!("peer-{port}"), z);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let s = tokio::net::TcpSocket::new_v4().expect("socket");
        s.bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .expect("bind");
        let stream = rt.block_on(s.connect(link.addr)).expect("connect");
        let mut c = stream.into_std().expect("std");
        c.set_nonblocking(false).expect("blocking");
        let t = Instant::now();
        c.write_all(b"x").expect("write");
        let mut buf = [0u8; 1];
        c.read_exact(&mut buf).expect("read");
        t.elapsed()
    };
    let far = rtt_from(Some("far"));
    assert!(far >= Duration::from_millis(160), "{far:?}");
    let near = rtt_from(Some("b"));
    assert!(near < Duration::from_millis(80), "{near:?}");
    assert_eq!(emu.identified_connections(), 2);
}
