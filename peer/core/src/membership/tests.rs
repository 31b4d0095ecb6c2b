//! The membership table's tests: probing and suspicion, rumours and refutation, leaving,
//! versions and identities; the zones' summaries are in `tests/summaries.rs`.

use super::*;

const S: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;

fn hb(name: &str, zone: &str, inc: u64, seq: u64) -> Heartbeat {
    Heartbeat {
        name: name.into(),
        zone: zone.into(),
        role: "server".into(),
        incarnation: inc,
        seq,
        interval_ms: 1000,
        addrs: AdvertisedAddrs::default(),
        http: None,
        root: String::new(),
        leaving: false,
        protocol: 1,
        min_protocol: 1,
        online: Default::default(),
        refutes: 0,
        suspects: Vec::new(),
        swim: false,
        legacy_copy: false,
    }
}

fn table() -> Membership {
    Membership::new(
        "me".into(),
        "z1".into(),
        DetectorConfig::lan(),
        DetectorConfig::wan(),
    )
    .with_incarnation(100)
}

fn status(m: &Membership, p: &str) -> MemberStatus {
    m.get(p).expect("member").status
}

fn changes(evs: &[MembershipEvent]) -> usize {
    evs.iter()
        .filter(|e| matches!(e, MembershipEvent::Status { .. }))
        .count()
}

#[test]
fn a_failed_probe_suspects_and_lifeguard_times_the_suspicion() {
    let t0 = Instant::now();
    let mut m = table();
    m.on_heartbeat("a", hb("a", "z1", 1, 1), t0);
    m.on_heartbeat("b", hb("b", "z1", 1, 1), t0);
    assert_eq!(status(&m, "a"), MemberStatus::Alive);
    // Heartbeats carry no liveness by their timing: a long silence alone changes nothing.
    assert!(m.tick(t0 + S(60)).is_empty());
    let t1 = t0 + S(60);
    m.on_probe_failed("a", t1);
    assert_eq!(status(&m, "a"), MemberStatus::Suspect);
    assert_eq!(m.rumours().len(), 1, "our own suspicion is piggybacked");
    // Zone of 3: one confirmation expected; without it Lifeguard waits 2 × 2 s.
    m.tick(t1 + MS(3900));
    assert_eq!(status(&m, "a"), MemberStatus::Suspect);
    m.tick(t1 + S(4));
    assert_eq!(status(&m, "a"), MemberStatus::Down);
    // With a confirmation from b, the minimum (2 s) applies.
    let t2 = t1 + S(10);
    m.on_heartbeat("a", hb("a", "z1", 2, 1), t2);
    assert_eq!(status(&m, "a"), MemberStatus::Alive, "a restart comes back");
    m.on_probe_failed("a", t2);
    let mut from_b = hb("b", "z1", 1, 2);
    from_b.suspects = vec![Rumour {
        peer_id: "a".into(),
        incarnation: 2,
        refutes: 0,
        down: false,
    }];
    m.on_heartbeat("b", from_b, t2 + MS(100));
    m.tick(t2 + MS(1900));
    assert_eq!(status(&m, "a"), MemberStatus::Suspect);
    m.tick(t2 + S(2));
    assert_eq!(status(&m, "a"), MemberStatus::Down);
    assert!(m.rumours().iter().any(|r| r.peer_id == "a" && r.down));
}

#[test]
fn a_suspect_refutes_with_a_newer_key_and_stale_rumours_do_not_apply() {
    let t0 = Instant::now();
    let mut m = table();
    m.on_heartbeat("a", hb("a", "z1", 1, 1), t0);
    m.on_heartbeat("b", hb("b", "z1", 1, 1), t0);
    let mut from_b = hb("b", "z1", 1, 2);
    from_b.suspects = vec![Rumour {
        peer_id: "a".into(),
        incarnation: 1,
        refutes: 0,
        down: false,
    }];
    m.on_heartbeat("b", from_b.clone(), t0 + S(1));
    assert_eq!(status(&m, "a"), MemberStatus::Suspect);
    assert!(
        m.rumours().is_empty(),
        "b's suspicion, not ours: not repeated"
    );
    // More heartbeats of the same key do not clear the suspicion...
    m.on_heartbeat("a", hb("a", "z1", 1, 2), t0 + S(1));
    assert_eq!(status(&m, "a"), MemberStatus::Suspect);
    // ...a refutation does.
    let mut refuted = hb("a", "z1", 1, 3);
    refuted.refutes = 1;
    m.on_heartbeat("a", refuted, t0 + S(2));
    assert_eq!(status(&m, "a"), MemberStatus::Alive);
    // b's old rumour (key (1, 0)) no longer applies.
    from_b.seq = 3;
    m.on_heartbeat("b", from_b, t0 + S(3));
    assert_eq!(status(&m, "a"), MemberStatus::Alive);
}

#[test]
fn a_rumour_about_this_peer_is_refuted() {
    let t0 = Instant::now();
    let mut m = table();
    let mut from_a = hb("a", "z1", 1, 1);
    from_a.suspects = vec![Rumour {
        peer_id: "me".into(),
        incarnation: 100,
        refutes: 0,
        down: true,
    }];
    let evs = m.on_heartbeat("a", from_a.clone(), t0);
    assert!(
        evs.iter()
            .any(|e| matches!(e, MembershipEvent::Refuted { by } if by == "a")),
        "{evs:?}"
    );
    assert_eq!(m.my_refutes(), 1);
    // The same rumour again (older than our key now) is not refuted twice.
    from_a.seq = 2;
    let evs = m.on_heartbeat("a", from_a, t0);
    assert!(
        !evs.iter()
            .any(|e| matches!(e, MembershipEvent::Refuted { .. }))
    );
    assert_eq!(m.my_refutes(), 1);
}

/// The phi-accrual detector this table used before issue 17, reduced to its arithmetic:
/// inter-arrival samples recorded only while the member is alive, phi = silence / mean.
struct OldPhi {
    intervals: VecDeque<f64>,
    last: f64,
    alive: bool,
}

impl OldPhi {
    fn heartbeat(&mut self, t: f64) -> bool {
        if self.alive {
            if self.intervals.len() == 100 {
                self.intervals.pop_front();
            }
            self.intervals.push_back((t - self.last).max(0.001));
        }
        self.last = t;
        let flipped = !self.alive;
        self.alive = true;
        flipped
    }

    fn tick(&mut self, t: f64) -> bool {
        let mean = if self.intervals.is_empty() {
            1.0
        } else {
            self.intervals.iter().sum::<f64>() / self.intervals.len() as f64
        };
        if self.alive && (t - self.last) / mean >= 8.0 {
            self.alive = false;
            return true;
        }
        false
    }
}

use std::collections::VecDeque;

/// Issue 17: after a 30 s cut the far side's queued heartbeats arrive in a burst. The old
/// detector filled its window with near-zero intervals and then flapped on every ordinary
/// 1 s gap for minutes; this table changes status once (down → alive, by the refutation)
/// and then never again.
#[test]
fn a_burst_of_queued_heartbeats_after_a_heal_flaps_no_more() {
    // The schedule (the case: a cut right after start-up): heartbeats every 1 s for
    // 3 s, a 30 s cut, then the 30 queued ones within 30 ms, then every 1 s again for 200 s.
    // Ticks every 100 ms.
    const HEAL: f64 = 33.0;
    let mut arrivals: Vec<f64> = (0..3).map(f64::from).collect();
    arrivals.extend((0..30).map(|k| HEAL + f64::from(k) * 0.001));
    arrivals.extend((1..=200).map(|k| HEAL + f64::from(k)));
    // Old detector: count its status changes after the heal.
    let mut old = OldPhi {
        intervals: VecDeque::new(),
        last: 0.0,
        alive: true,
    };
    let mut old_flaps_after_heal = 0;
    let mut next = 0;
    for step in 0..2400 {
        let t = f64::from(step) / 10.0;
        while next < arrivals.len() && arrivals[next] <= t {
            if old.heartbeat(arrivals[next]) && t >= HEAL {
                old_flaps_after_heal += 1;
            }
            next += 1;
        }
        if old.tick(t) && t >= HEAL {
            old_flaps_after_heal += 1;
        }
    }
    assert!(
        old_flaps_after_heal > 100,
        "the old detector flapped ({old_flaps_after_heal} changes)"
    );

    // This table, same schedule. During the cut a's probes fail (it goes down); after the
    // heal, a hears our rumour and refutes once.
    let t0 = Instant::now();
    let at = |t: f64| t0 + Duration::from_secs_f64(t);
    let mut m = table();
    m.on_heartbeat("b", hb("b", "z1", 1, 1), t0);
    let mut seq = 0;
    let mut changes_after_heal = 0;
    let mut refuted = false;
    let mut next = 0;
    for step in 0..2400 {
        let t = f64::from(step) / 10.0;
        while next < arrivals.len() && arrivals[next] <= t {
            seq += 1;
            let mut h = hb("a", "z1", 1, seq);
            h.refutes = u32::from(refuted);
            let evs = m.on_heartbeat("a", h, at(t));
            if t >= HEAL {
                changes_after_heal += changes(&evs);
            }
            next += 1;
        }
        if (4.0..HEAL).contains(&t) && step % 10 == 0 {
            m.on_probe_failed("a", at(t));
        }
        // a learns it is held down with the burst (our heartbeat reaches it) and refutes.
        if t >= HEAL && !refuted && m.rumours().iter().any(|r| r.peer_id == "a") {
            refuted = true;
        }
        let evs = m.tick(at(t));
        if t >= HEAL {
            changes_after_heal += changes(&evs);
        }
        if (28.0..HEAL).contains(&t) {
            assert_eq!(status(&m, "a"), MemberStatus::Down, "down during the cut");
        }
    }
    assert_eq!(status(&m, "a"), MemberStatus::Alive);
    assert_eq!(changes_after_heal, 1, "down → alive once, then settled");
}

#[test]
fn leave_is_not_failure_and_old_messages_are_ignored() {
    let t0 = Instant::now();
    let mut m = table();
    m.on_heartbeat("a", hb("a", "z1", 5, 1), t0);
    let mut bye = hb("a", "z1", 5, 2);
    bye.leaving = true;
    m.on_heartbeat("a", bye, t0 + S(1));
    assert_eq!(status(&m, "a"), MemberStatus::Left);
    m.on_probe_failed("a", t0 + S(2));
    m.tick(t0 + S(1000));
    assert_eq!(
        status(&m, "a"),
        MemberStatus::Left,
        "a left member is never suspected"
    );
    // A delayed heartbeat of the same life does not resurrect it.
    m.on_heartbeat("a", hb("a", "z1", 5, 1), t0 + S(1001));
    assert_eq!(status(&m, "a"), MemberStatus::Left);
    m.on_heartbeat("a", hb("a", "z1", 6, 1), t0 + S(1002));
    assert_eq!(status(&m, "a"), MemberStatus::Alive);
}

#[test]
fn known_members_go_down_unless_heard() {
    let t0 = Instant::now();
    let mut m = table();
    m.add_known("k".into(), hb("k", "z1", 0, 0), t0);
    m.add_known("me".into(), hb("me", "z1", 0, 0), t0);
    assert!(m.get("me").is_none(), "never lists itself");
    assert_eq!(status(&m, "k"), MemberStatus::Suspect);
    m.tick(t0 + S(2));
    assert_eq!(status(&m, "k"), MemberStatus::Down);
    m.on_heartbeat("k", hb("k", "z1", 9, 1), t0 + S(11));
    assert_eq!(status(&m, "k"), MemberStatus::Alive);
}

#[test]
fn zone_specific_addresses() {
    let mut a = AdvertisedAddrs {
        default: vec!["/ip4/1.1.1.1/tcp/1".into()],
        ..Default::default()
    };
    a.per_zone
        .insert("store".into(), vec!["/ip4/127.0.0.9/tcp/9".into()]);
    assert_eq!(a.for_zone("store"), ["/ip4/127.0.0.9/tcp/9"]);
    assert_eq!(a.for_zone("dc"), ["/ip4/1.1.1.1/tcp/1"]);
}

#[test]
fn gone_members_are_forgotten_and_new_identities_replace_old_ones() {
    let t0 = Instant::now();
    let mut m = table().with_forget_after(S(100));
    m.on_heartbeat("old", hb("srv1", "z1", 1, 1), t0);
    m.on_heartbeat("other", hb("srv2", "z1", 1, 1), t0);
    m.on_probe_failed("old", t0 + S(1));
    m.on_probe_failed("other", t0 + S(1));
    m.tick(t0 + S(18));
    assert_eq!(status(&m, "old"), MemberStatus::Down);
    // srv1 restored with a fresh identity: the old entry goes.
    let ev = m.on_heartbeat("new", hb("srv1", "z1", 2, 1), t0 + S(20));
    assert!(
        ev.iter()
            .any(|e| matches!(e, MembershipEvent::Forgotten { peer_id, .. } if peer_id == "old"))
    );
    assert!(m.get("old").is_none());
    assert_eq!(status(&m, "new"), MemberStatus::Alive);
    // An entry seeded from the metastore that only goes down after the new identity spoke
    // is dropped as soon as it does.
    m.add_known("older".into(), hb("srv1", "z1", 0, 0), t0 + S(20));
    m.on_heartbeat("new", hb("srv1", "z1", 2, 2), t0 + S(30));
    let ev = m.tick(t0 + S(31));
    assert!(
        ev.iter()
            .any(|e| matches!(e, MembershipEvent::Forgotten { peer_id, .. } if peer_id == "older")),
        "{ev:?}"
    );
    // srv2 stays down; after forget_after it is dropped.
    assert!(m.get("other").is_some());
    m.tick(t0 + S(18 + 99));
    assert!(m.get("other").is_some());
    let ev = m.tick(t0 + S(18 + 100));
    assert!(
        ev.iter()
            .any(|e| matches!(e, MembershipEvent::Forgotten { name, .. } if name == "srv2"))
    );
    assert!(m.get("other").is_none());
}

#[test]
fn a_peer_of_an_incompatible_version_is_refused_not_merged() {
    let mut m = table();
    m.set_protocol(2, 1);
    let t = Instant::now();
    let mut future = hb("f1", "z1", 1, 1);
    future.protocol = 3;
    future.min_protocol = 3;
    let evs = m.on_heartbeat("pf", future.clone(), t);
    assert!(
        matches!(&evs[..], [MembershipEvent::Refused { name, reason, .. }]
            if name == "f1" && reason.contains("upgrade this peer")),
        "{evs:?}"
    );
    assert!(m.get("pf").is_none(), "no member");
    assert!(m.is_refused("pf"));
    future.seq = 2;
    assert!(m.on_heartbeat("pf", future, t).is_empty(), "said once");
    // A version 1 peer (no version fields) works beside this one.
    let evs = m.on_heartbeat("p1", hb("old", "z1", 1, 1), t);
    assert!(!evs.is_empty() && m.get("p1").is_some());
    // The refused peer upgraded (or downgraded) to a compatible version: a member again.
    let mut fixed = hb("f1", "z1", 2, 1);
    fixed.protocol = 2;
    m.on_heartbeat("pf", fixed, t);
    assert!(m.get("pf").is_some() && !m.is_refused("pf"));
}

#[test]
fn a_peer_of_the_previous_release_lives_by_its_heartbeats_on_the_old_topic() {
    let t0 = Instant::now();
    let mut m = table();
    // A new peer of the zone (probed) and an old one (flooded heartbeats, no SWIM).
    let mut new = hb("n", "z1", 10, 1);
    new.swim = true;
    m.on_heartbeat("new", new, t0);
    assert!(!m.has_legacy());
    // A new peer's copy on the old topic is not taken for an old peer.
    let mut copy = hb("n", "z1", 10, 2);
    copy.swim = true;
    copy.legacy_copy = true;
    assert!(m.on_legacy_heartbeat("new", copy, t0).is_empty());
    assert!(!m.get("new").expect("new").is_legacy());
    m.on_legacy_heartbeat("old", hb("o", "z1", 20, 1), t0);
    assert!(
        m.has_legacy(),
        "this peer now copies its heartbeat to the old topic"
    );
    assert_eq!(status(&m, "old"), MemberStatus::Alive);
    assert_eq!(
        m.probe_targets(t0),
        vec!["new".to_string()],
        "old peers answer no probes"
    );
    // Alive while its heartbeats come (every second), whatever the probes say.
    for s in 1..=10 {
        m.on_legacy_heartbeat("old", hb("o", "z1", 20, 1 + s), t0 + S(s));
        m.tick(t0 + S(s) + MS(500));
    }
    assert_eq!(status(&m, "old"), MemberStatus::Alive);
    // Silent: suspect after three intervals, down after the suspicion timeout more.
    m.tick(t0 + S(13) + MS(100));
    assert_eq!(status(&m, "old"), MemberStatus::Suspect);
    m.tick(t0 + S(15) + MS(200));
    assert_eq!(status(&m, "old"), MemberStatus::Down);
    // A heartbeat again: alive (no refutation needed, as before issue 17).
    m.on_legacy_heartbeat("old", hb("o", "z1", 20, 30), t0 + S(16));
    assert_eq!(status(&m, "old"), MemberStatus::Alive);
    // Left out of this zone's summary (other zones hear it on the old topic themselves).
    let s = m.summary(hb("me", "z1", 100, 1), 1);
    assert!(s.members.iter().all(|e| e.peer_id != "old"));
    // Upgraded: its heartbeat on the zone topic makes it a probed member.
    let mut up = hb("o", "z1", 40, 1);
    up.swim = true;
    m.on_heartbeat("old", up, t0 + S(17));
    assert!(!m.get("old").expect("old").is_legacy());
    assert!(!m.has_legacy());
    assert_eq!(m.probe_targets(t0).len(), 2);
}

/// Issue 17's WAN bed at 100 peers / 50 zones: with a fixed 2 s period every peer received 25
/// summaries a second (each several times over the mesh) and membership never settled. The
/// period stretches with the zones so the global topic carries at most
/// `summaries_per_interval` per interval; the silence that makes a zone suspect stretches
/// with it (the sender's word counts when it knows more zones).
#[test]
fn the_generation_moves_with_what_the_table_shows_not_with_every_heartbeat() {
    let t0 = Instant::now();
    let mut m = table();
    let g0 = m.generation();
    m.on_heartbeat("a", hb("a", "z1", 1, 1), t0);
    let g1 = m.generation();
    assert!(g1 > g0, "a new member moves it");
    m.on_heartbeat("a", hb("a", "z1", 1, 2), t0 + S(1));
    m.on_heartbeat("a", hb("a", "z1", 1, 3), t0 + S(2));
    assert_eq!(
        m.generation(),
        g1,
        "heartbeats that say nothing new leave it"
    );
    assert_eq!(m.zone_count(), 1);
    let mut moved = hb("a", "z1", 1, 4);
    moved.http = Some("127.0.0.1:9".into());
    m.on_heartbeat("a", moved, t0 + S(3));
    let g2 = m.generation();
    assert!(g2 > g1, "a new HTTP address moves it");
    m.on_probe_failed("a", t0 + S(4));
    let g3 = m.generation();
    assert!(g3 > g2, "a status change moves it");
    m.on_heartbeat("b", hb("b", "z2", 1, 1), t0 + S(4));
    assert_eq!(
        m.zone_count(),
        2,
        "the cached zone count follows the generation"
    );
    assert!(m.generation() > g3);
    let g4 = m.generation();
    assert!(m.tick(t0 + S(4)).is_empty());
    assert_eq!(m.generation(), g4, "a round that changes nothing leaves it");
}

/// A peer that just started asks one peer for every zone's summary (issue 17: instead of
/// every zone's sender publishing out of turn for it). What it takes from the answer is the
/// answering view: every zone and member, deaths and departures as held, a suspicion read as
/// alive, and a newer summary it already holds not overwritten.
mod summaries;
