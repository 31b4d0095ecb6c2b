//! The controller's decisions without a swarm: which peer an anti-entropy round pulls from,
//! and where the join address goes.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use libp2p::{Multiaddr, PeerId};

use super::*;
use crate::membership::{AdvertisedAddrs, DetectorConfig, Heartbeat};

fn heartbeat(name: &str, root: &str, leaving: bool) -> Heartbeat {
    Heartbeat {
        name: name.into(),
        zone: "dc1".into(),
        role: "server".into(),
        incarnation: 1,
        seq: 1,
        interval_ms: 1000,
        addrs: AdvertisedAddrs::default(),
        http: None,
        root: root.into(),
        leaving,
        protocol: 1,
        min_protocol: 1,
        online: BTreeMap::new(),
        refutes: 0,
        suspects: Vec::new(),
        swim: false,
        legacy_copy: false,
    }
}

/// A table of alive members `(peer, root)`, plus one that left with a different root.
fn table(alive: &[(PeerId, &str)], left: PeerId) -> Membership {
    let mut m = Membership::new(
        PeerId::random().to_string(),
        "dc1".into(),
        DetectorConfig::lan(),
        DetectorConfig::wan(),
    );
    let now = Instant::now();
    for (i, (p, root)) in alive.iter().enumerate() {
        m.on_heartbeat(
            &p.to_string(),
            heartbeat(&format!("n{i}"), root, false),
            now,
        );
    }
    m.on_heartbeat(&left.to_string(), heartbeat("gone", "other", true), now);
    m
}

#[test]
fn anti_entropy_prefers_connected_alive_peers_whose_root_differs() {
    let (same, differs, unconnected, left) = (
        PeerId::random(),
        PeerId::random(),
        PeerId::random(),
        PeerId::random(),
    );
    let m = table(
        &[(same, "mine"), (differs, "theirs"), (unconnected, "theirs")],
        left,
    );
    let connected: HashSet<PeerId> = [same, differs, left].into_iter().collect();
    for round in 1..=10 {
        assert_eq!(
            anti_entropy_candidates(&m, "mine", &connected, round),
            vec![differs],
            "round {round}: only the connected, alive peer with another root"
        );
    }
}

#[test]
fn anti_entropy_with_equal_roots_checks_every_fifth_round() {
    let (a, b, left) = (PeerId::random(), PeerId::random(), PeerId::random());
    let m = table(&[(a, "mine"), (b, "mine")], left);
    let connected: HashSet<PeerId> = [a, b].into_iter().collect();
    let mut all = vec![a, b];
    all.sort();
    for round in 1..=10 {
        let want = if round % 5 == 0 {
            all.clone()
        } else {
            Vec::new()
        };
        assert_eq!(anti_entropy_candidates(&m, "mine", &connected, round), want);
    }
    // Nobody connected: nothing to pull from, whatever the round.
    assert!(anti_entropy_candidates(&m, "mine", &HashSet::new(), 5).is_empty());
}

#[test]
fn peer_of_reads_the_p2p_part_of_an_address() {
    let id = PeerId::random();
    let with: Multiaddr = format!("/ip4/127.0.0.1/tcp/4580/p2p/{id}")
        .parse()
        .expect("addr");
    let without: Multiaddr = "/ip4/127.0.0.1/tcp/4580".parse().expect("addr");
    assert_eq!(peer_of(&with), Some(id));
    assert_eq!(peer_of(&without), None);
}

#[test]
fn cross_zone_links_are_bounded_alive_first_and_differ_per_peer() {
    let others: Vec<(PeerId, bool)> = (0..20).map(|i| (PeerId::random(), i % 4 != 0)).collect();
    let none = HashSet::new();
    let a = cross_zone_choice("me-a", &others, &none, 3);
    assert_eq!(a.len(), 3);
    assert!(
        a.iter()
            .all(|p| others.iter().any(|(o, alive)| o == p && *alive)),
        "alive members first"
    );
    let b = cross_zone_choice("me-b", &others, &none, 3);
    assert_ne!(a, b, "rendezvous hashing spreads the links");
    assert_eq!(a, cross_zone_choice("me-a", &others, &none, 3), "stable");
    // Two already connected: one more is dialed; at the budget, none.
    let connected: HashSet<PeerId> = [others[1].0, others[2].0].into_iter().collect();
    assert_eq!(cross_zone_choice("me-a", &others, &connected, 3).len(), 1);
    let full: HashSet<PeerId> = others.iter().take(3).map(|(p, _)| *p).collect();
    assert!(cross_zone_choice("me-a", &others, &full, 3).is_empty());
}
