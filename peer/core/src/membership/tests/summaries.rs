//! The zones' summaries: what other zones take from them, the senders' turns and period,
//! a zone's own summary, and the pull of every zone's summary.

use super::*;

#[test]
fn other_zones_follow_their_summaries_and_their_silence() {
    let t0 = Instant::now();
    let mut m = table();
    let summary = |at_ms: u64, st: MemberStatus, seq: u64| ZoneSummary {
        zone: "z2".into(),
        at_ms,
        period_ms: 0,
        members: vec![
            SummaryEntry {
                peer_id: "x".into(),
                status: MemberStatus::Alive,
                info: hb("x", "z2", 1, seq),
            },
            SummaryEntry {
                peer_id: "y".into(),
                status: st,
                info: hb("y", "z2", 1, seq),
            },
        ],
    };
    let evs = m.on_summary(summary(1000, MemberStatus::Alive, 1), t0);
    assert_eq!(changes(&evs), 2);
    assert_eq!(status(&m, "y"), MemberStatus::Alive);
    // A suspicion stays in its zone: the other zones still read y alive.
    let evs = m.on_summary(summary(3000, MemberStatus::Suspect, 2), t0 + S(2));
    assert_eq!(changes(&evs), 0, "{evs:?}");
    assert_eq!(status(&m, "y"), MemberStatus::Alive);
    m.on_summary(summary(5000, MemberStatus::Down, 3), t0 + S(4));
    assert_eq!(status(&m, "y"), MemberStatus::Down, "the zone's word");
    // An older summary (another sender, earlier round) is ignored.
    m.on_summary(summary(4000, MemberStatus::Alive, 3), t0 + S(4));
    assert_eq!(status(&m, "y"), MemberStatus::Down);
    // The zone falls silent: its members are suspected after 6 s, down after 60 s more.
    m.tick(t0 + S(9));
    assert_eq!(status(&m, "x"), MemberStatus::Alive);
    m.tick(t0 + S(10));
    assert_eq!(status(&m, "x"), MemberStatus::Suspect);
    m.tick(t0 + S(69));
    assert_eq!(status(&m, "x"), MemberStatus::Suspect);
    m.tick(t0 + S(70));
    assert_eq!(status(&m, "x"), MemberStatus::Down);
    // It speaks again: alive, with no flapping afterwards while summaries keep coming.
    let mut total = 0;
    for k in 0..100u64 {
        let t = t0 + S(100 + 2 * k);
        total +=
            changes(&m.on_summary(summary(100_000 + 2000 * k, MemberStatus::Alive, 10 + k), t));
        total += changes(&m.tick(t + S(1)));
    }
    assert_eq!(status(&m, "x"), MemberStatus::Alive);
    assert_eq!(total, 2, "x and y back once each");
}

#[test]
fn a_summary_that_still_says_suspect_does_not_revive_a_confirmed_death() {
    let t0 = Instant::now();
    let mut m = table();
    let summary = |at_ms: u64, st: MemberStatus, incarnation: u64| ZoneSummary {
        zone: "z2".into(),
        at_ms,
        period_ms: 0,
        members: vec![SummaryEntry {
            peer_id: "y".into(),
            status: st,
            info: hb("y", "z2", incarnation, 1),
        }],
    };
    m.on_summary(summary(1000, MemberStatus::Alive, 1), t0);
    m.on_summary(summary(2000, MemberStatus::Suspect, 1), t0 + S(1));
    m.on_summary(summary(3000, MemberStatus::Down, 1), t0 + S(2));
    // A second sender of the zone published a moment later, before its own timer fired.
    let evs = m.on_summary(summary(3001, MemberStatus::Suspect, 1), t0 + S(2));
    assert_eq!(changes(&evs), 0, "{evs:?}");
    assert_eq!(status(&m, "y"), MemberStatus::Down);
    // A restart (newer incarnation) brings it back, even one its zone already suspects
    // again: the other zones hear of deaths, not of suspicions.
    m.on_summary(summary(4000, MemberStatus::Suspect, 2), t0 + S(3));
    assert_eq!(status(&m, "y"), MemberStatus::Alive);
}

#[test]
fn one_summary_sender_per_zone_and_round() {
    let t0 = Instant::now();
    let ids = ["p1", "p2", "p3"];
    let tables: Vec<Membership> = ids
        .iter()
        .map(|me| {
            let mut m = Membership::new(
                (*me).into(),
                "z".into(),
                DetectorConfig::lan(),
                DetectorConfig::wan(),
            );
            for o in ids.iter().filter(|o| *o != me) {
                m.on_heartbeat(o, hb(o, "z", 1, 1), t0);
            }
            m
        })
        .collect();
    let mut senders = std::collections::BTreeSet::new();
    for round in 0..30u64 {
        let now_ms = 1_700_000_000_000 + round * 2000 + 500;
        let who: Vec<usize> = (0..3)
            .filter(|&i| tables[i].is_summary_sender(now_ms, S(2)))
            .collect();
        assert_eq!(who.len(), 1, "round {round}: {who:?}");
        senders.insert(who[0]);
    }
    assert_eq!(senders.len(), 3, "the role rotates");
    let s = tables[0].summary(hb("p1", "z", 1, 5), 42);
    assert_eq!(s.members.len(), 3);
    assert_eq!(s.members[0].peer_id, "p1");
}

#[test]
fn a_summary_of_our_own_zone_passes_on_new_addresses_and_newer_lives() {
    // Restarted on new ports: the member known from the metastore (stale address) was held
    // down; a summary of our zone sent by another member carries its new life and address.
    let t0 = Instant::now();
    let mut m = table();
    let mut stale = hb("k", "z1", 0, 0);
    stale.addrs.default = vec!["/ip4/127.0.0.1/tcp/1".into()];
    m.add_known("k".into(), stale, t0);
    m.tick(t0 + S(3));
    assert_eq!(status(&m, "k"), MemberStatus::Down);
    let mut fresh = hb("k", "z1", 7, 3);
    fresh.addrs.default = vec!["/ip4/127.0.0.1/tcp/2".into()];
    let s = ZoneSummary {
        zone: "z1".into(),
        at_ms: 1,
        period_ms: 0,
        members: vec![SummaryEntry {
            peer_id: "k".into(),
            status: MemberStatus::Alive,
            info: fresh,
        }],
    };
    m.on_summary(s, t0 + S(4));
    assert_eq!(status(&m, "k"), MemberStatus::Alive);
    assert_eq!(
        m.get("k").expect("k").info.addrs.default,
        ["/ip4/127.0.0.1/tcp/2"]
    );
}

#[test]
fn the_summary_period_grows_with_the_zones_and_the_timeout_with_it() {
    let t0 = Instant::now();
    let mut m = Membership::new(
        "me".into(),
        "z00".into(),
        DetectorConfig::lan(),
        DetectorConfig::wan(),
    );
    assert_eq!(m.zone_count(), 1);
    assert_eq!(m.summary_period(), S(2));
    // 49 other zones of two peers: 50 zones, ⌈50 / 20⌉ = 3 intervals.
    for z in 1..50 {
        for k in 0..2 {
            let id = format!("p{z}-{k}");
            let s = ZoneSummary {
                zone: format!("z{z:02}"),
                at_ms: 1 + k,
                period_ms: 0,
                members: vec![SummaryEntry {
                    peer_id: id.clone(),
                    status: MemberStatus::Alive,
                    info: hb(&id, &format!("z{z:02}"), 1, 1),
                }],
            };
            m.on_summary(s, t0);
        }
    }
    assert_eq!(m.zone_count(), 50);
    assert_eq!(m.summary_factor(), 3);
    assert_eq!(m.summary_period(), S(6));
    assert_eq!(m.summary(hb("me", "z00", 1, 1), 5).period_ms, 6000);
    // One summary per round: over 60 s of 500 ms ticks this peer (alone in its zone) is the
    // sender of 10 rounds, not 30.
    let rounds: BTreeSet<u64> = (0..120u64)
        .filter_map(|i| m.summary_round(1_700_000_000_000 + i * 500, m.summary_period()))
        .collect();
    assert!((10..=11).contains(&rounds.len()), "{rounds:?}");
    // Silent for 6 s (the base timeout) is no longer enough to suspect another zone; 18 s is.
    let alive = |m: &Membership| {
        m.members()
            .filter(|x| x.status == MemberStatus::Alive)
            .count()
    };
    m.tick(t0 + S(7));
    assert_eq!(alive(&m), 98, "no suspicion before 3 × 6 s");
    m.tick(t0 + S(18));
    assert_eq!(
        alive(&m),
        0,
        "every other zone suspected after 18 s of silence"
    );

    // A receiver that knows fewer zones than the sender waits by the sender's period.
    let mut small = table();
    let s = ZoneSummary {
        zone: "z2".into(),
        at_ms: 1,
        period_ms: 26_000,
        members: vec![SummaryEntry {
            peer_id: "x".into(),
            status: MemberStatus::Alive,
            info: hb("x", "z2", 1, 1),
        }],
    };
    small.on_summary(s, t0);
    assert_eq!(small.summary_factor(), 1);
    small.tick(t0 + S(60));
    assert_eq!(small.get("x").map(|x| x.status), Some(MemberStatus::Alive));
    small.tick(t0 + S(78));
    assert_eq!(
        small.get("x").map(|x| x.status),
        Some(MemberStatus::Suspect)
    );
}

/// Two peers of one zone whose connection failed each tell the other zones their own view
/// (issue 17's WAN bed: the zones took the two senders' words in turn, alive, down, alive).
/// The one held down hears it from its zone-mate's summary too, and refutes at once.
#[test]
fn a_peer_held_down_in_its_own_zones_summary_refutes() {
    let t0 = Instant::now();
    let mut m = table();
    let mut me = hb("me", "z1", 100, 9);
    me.refutes = 0;
    let s = |status: MemberStatus, refutes: u32| {
        let mut me = me.clone();
        me.refutes = refutes;
        ZoneSummary {
            zone: "z1".into(),
            at_ms: 1,
            period_ms: 0,
            members: vec![
                SummaryEntry {
                    peer_id: "a".into(),
                    status: MemberStatus::Alive,
                    info: hb("a", "z1", 1, 1),
                },
                SummaryEntry {
                    peer_id: "me".into(),
                    status,
                    info: me,
                },
            ],
        }
    };
    let evs = m.on_summary(s(MemberStatus::Alive, 0), t0);
    assert!(
        !evs.iter()
            .any(|e| matches!(e, MembershipEvent::Refuted { .. }))
    );
    let evs = m.on_summary(s(MemberStatus::Down, 0), t0);
    assert!(
        evs.iter()
            .any(|e| matches!(e, MembershipEvent::Refuted { by } if by == "a")),
        "{evs:?}"
    );
    assert_eq!(m.my_refutes(), 1);
    // An older word (refuted already) changes nothing.
    let evs = m.on_summary(s(MemberStatus::Suspect, 0), t0);
    assert!(
        !evs.iter()
            .any(|e| matches!(e, MembershipEvent::Refuted { .. }))
    );
    assert_eq!(m.my_refutes(), 1);
}

/// Issue 17's WAN bed: a zone mate named only by the zone's summary was probed before any
/// connection to it existed, failed at once (and the repeat) and was suspected within seconds
/// of start-up. It is now probed once heard first-hand, or after the grace.
#[test]
fn a_mate_named_only_by_the_summary_is_probed_once_contacted_or_after_the_grace() {
    let t0 = Instant::now();
    let mut m = table();
    let mate = |name: &str| SummaryEntry {
        peer_id: name.into(),
        status: MemberStatus::Alive,
        info: hb(name, "z1", 5, 1),
    };
    let s = ZoneSummary {
        zone: "z1".into(),
        at_ms: 1,
        period_ms: 0,
        members: vec![mate("sender"), mate("a"), mate("b"), mate("c")],
    };
    m.on_summary(s, t0);
    assert_eq!(status(&m, "a"), MemberStatus::Alive);
    assert!(m.probe_targets(t0).is_empty(), "nobody contacted yet");
    // Connected to a; b's own heartbeat arrives; c stays silent.
    m.on_contact("a");
    m.on_heartbeat("b", hb("b", "z1", 5, 2), t0 + S(1));
    assert_eq!(m.probe_targets(t0 + S(1)), vec!["a", "b"]);
    let grace = SwimTimings::default().summary_timeout * SECOND_HAND_GRACE;
    assert_eq!(
        m.probe_targets(t0 + grace - MS(1)),
        vec!["a", "b"],
        "c is not probed within the grace"
    );
    assert_eq!(
        m.probe_targets(t0 + grace),
        vec!["a", "b", "c", "sender"],
        "after the grace a mate never reached is probed, so a dead one is still found"
    );
    // A mate first heard by its own heartbeat is probed at once, as before.
    m.on_heartbeat("d", hb("d", "z1", 5, 1), t0 + S(2));
    assert!(m.probe_targets(t0 + S(2)).contains(&"d".to_string()));
}

#[test]
fn the_zones_summaries_pulled_from_one_view_give_a_new_peer_every_zone() {
    let t0 = Instant::now();
    let mut old = table();
    old.on_heartbeat("mate", hb("mate", "z1", 1, 1), t0);
    let zone = |z: &str, at_ms: u64, members: Vec<(&str, MemberStatus)>| ZoneSummary {
        zone: z.into(),
        at_ms,
        period_ms: 2000,
        members: members
            .into_iter()
            .map(|(p, st)| SummaryEntry {
                peer_id: p.into(),
                status: st,
                info: hb(p, z, 1, 1),
            })
            .collect(),
    };
    old.on_summary(zone("z2", 100, vec![("a", MemberStatus::Alive)]), t0);
    old.on_summary(
        zone(
            "z3",
            200,
            vec![("b", MemberStatus::Alive), ("c", MemberStatus::Down)],
        ),
        t0,
    );
    old.on_summary(zone("z4", 300, vec![("d", MemberStatus::Alive)]), t0);
    old.on_summary(zone("z5", 300, vec![("e", MemberStatus::Alive)]), t0);
    // z5 falls silent past the timeout: suspected here, and left out of the answer.
    for (z, at) in [("z2", 1100), ("z4", 1300)] {
        let mut s = zone(
            z,
            at,
            vec![(if z == "z2" { "a" } else { "d" }, MemberStatus::Alive)],
        );
        s.members[0].info.seq = 2;
        old.on_summary(s, t0 + S(6));
    }
    let mut s = zone(
        "z3",
        1200,
        vec![("b", MemberStatus::Suspect), ("c", MemberStatus::Down)],
    );
    s.members[0].info.seq = 2;
    old.on_summary(s, t0 + S(6));
    old.tick(t0 + S(7));
    assert_eq!(status(&old, "e"), MemberStatus::Suspect);
    let pulled = old.summaries(hb("me", "z1", 7, 3), 5000);
    assert_eq!(
        pulled.len(),
        4,
        "this zone first, then one per zone not silent"
    );
    assert_eq!(pulled[0].zone, "z1");
    assert_eq!(
        pulled[0].members.len(),
        2,
        "the answering peer and its mate"
    );
    let z3 = pulled.iter().find(|s| s.zone == "z3").expect("z3");
    assert_eq!((z3.at_ms, z3.period_ms, z3.members.len()), (1200, 2000, 2));
    assert!(!pulled.iter().any(|s| s.zone == "z5"));

    // The new peer (zone z2) already holds a newer summary of z4.
    let mut new = Membership::new(
        "new".into(),
        "z2".into(),
        DetectorConfig::lan(),
        DetectorConfig::wan(),
    );
    new.on_summary(zone("z4", 1400, vec![("d", MemberStatus::Down)]), t0);
    for s in pulled.iter().cloned() {
        new.on_summary(s, t0 + S(8));
    }
    assert_eq!(new.zone_count(), 4);
    // The same answer again changes nothing, and does not restart a silence timer.
    for s in pulled {
        assert_eq!(changes(&new.on_summary(s, t0 + S(9))), 0);
    }
    assert_eq!(status(&new, "me"), MemberStatus::Alive);
    assert_eq!(status(&new, "mate"), MemberStatus::Alive);
    assert_eq!(
        status(&new, "a"),
        MemberStatus::Alive,
        "a zone mate, introduced"
    );
    assert_eq!(
        status(&new, "b"),
        MemberStatus::Alive,
        "a suspicion stays in its zone"
    );
    assert_eq!(status(&new, "c"), MemberStatus::Down);
    assert_eq!(
        status(&new, "d"),
        MemberStatus::Down,
        "its newer summary kept"
    );
}

/// One zone's summary at `at_ms`: its members (peer id = name) with a status and a key.
fn zone_at(z: &str, at_ms: u64, members: &[(&str, MemberStatus, u32)]) -> ZoneSummary {
    ZoneSummary {
        zone: z.into(),
        at_ms,
        period_ms: 2000,
        members: members
            .iter()
            .map(|(p, st, refutes)| SummaryEntry {
                peer_id: (*p).into(),
                status: *st,
                info: Heartbeat {
                    refutes: *refutes,
                    ..hb(p, z, 1, 1 + u64::from(*refutes))
                },
            })
            .collect(),
    }
}

#[test]
fn the_periodic_pull_answers_only_what_the_asker_lacks_and_repairs_a_late_death() {
    let t0 = Instant::now();
    // The answering view, in z1 with a mate; it holds z2, z3 and z4.
    let mut old = table();
    old.on_heartbeat("mate", hb("mate", "z1", 1, 1), t0);
    old.on_summary(zone_at("z2", 100, &[("a", MemberStatus::Alive, 0)]), t0);
    old.on_summary(zone_at("z3", 300, &[("b", MemberStatus::Alive, 1)]), t0);
    old.on_summary(zone_at("z4", 300, &[("c", MemberStatus::Alive, 0)]), t0);
    old.published_summary(4500);
    let digest = old.zones_digest();
    assert_eq!(
        digest.into_iter().collect::<Vec<_>>(),
        [
            ("z1".to_string(), 4500),
            ("z2".to_string(), 100),
            ("z3".to_string(), 300),
            ("z4".to_string(), 300),
        ],
        "every zone held at its newest summary, this peer's own at the one it published"
    );

    // An asker (zone z9) holding z2 as new as this view, an older z3, no z4, nothing of z1.
    let held: BTreeMap<String, u64> = [("z2", 100), ("z3", 150), ("z9", u64::MAX)]
        .into_iter()
        .map(|(z, at)| (z.to_string(), at))
        .collect();
    let answer = old.summaries_since(hb("me", "z1", 7, 3), 5000, &held);
    let zones: Vec<&str> = answer.iter().map(|s| s.zone.as_str()).collect();
    assert_eq!(zones, ["z1", "z3", "z4"], "only what the asker lacks");
    // An asker with this zone's summary from within the last period is not sent it again.
    let recent: BTreeMap<String, u64> = [("z1".to_string(), 4000)].into_iter().collect();
    let zones: Vec<String> = old
        .summaries_since(hb("me", "z1", 7, 3), 5000, &recent)
        .into_iter()
        .map(|s| s.zone)
        .collect();
    assert_eq!(zones, ["z2", "z3", "z4"]);
    // Asked with everything this view holds: nothing.
    let all = old.zones_digest();
    assert!(
        old.summaries_since(hb("me", "z1", 7, 3), 5000, &all)
            .is_empty()
    );

    // The asker took z3's summary of b's death late (gossip delivered it after the zone's
    // newer summary, which it lost): b refuted meanwhile, with a newer key.
    let mut asker = Membership::new(
        "asker".into(),
        "z9".into(),
        DetectorConfig::lan(),
        DetectorConfig::wan(),
    );
    asker.on_summary(zone_at("z3", 150, &[("b", MemberStatus::Down, 0)]), t0);
    assert_eq!(status(&asker, "b"), MemberStatus::Down);
    let answer = old.summaries_since(hb("me", "z1", 7, 3), 5000, &asker.zones_digest());
    let mut evs = Vec::new();
    for s in answer.iter().cloned() {
        evs.extend(asker.on_summary(s, t0 + S(1)));
    }
    assert_eq!(
        status(&asker, "b"),
        MemberStatus::Alive,
        "the refutation taken"
    );
    assert_eq!(
        status(&asker, "c"),
        MemberStatus::Alive,
        "the zone it lacked"
    );
    assert!(changes(&evs) >= 3, "b back, and z1's and z4's members new");
    // The next pull brings nothing, and the same answer again changes nothing.
    assert!(
        old.summaries_since(hb("me", "z1", 7, 3), 5100, &asker.zones_digest())
            .is_empty()
    );
    for s in answer {
        assert_eq!(changes(&asker.on_summary(s, t0 + S(2))), 0);
    }
}

#[test]
fn a_refutation_a_mate_missed_comes_back_in_a_pull_of_its_own_zone() {
    let t0 = Instant::now();
    // In a zone of two whose link failed, this peer called its mate b down.
    let mut me = table();
    me.on_heartbeat("b", hb("b", "z1", 1, 1), t0);
    me.on_probe_failed("b", t0);
    me.tick(t0 + S(60));
    assert_eq!(status(&me, "b"), MemberStatus::Down);
    me.published_summary(2000);
    // b refuted (a newer key) in its own summary, which another zone took and this peer
    // never received.
    let mut other = Membership::new(
        "x".into(),
        "z2".into(),
        DetectorConfig::lan(),
        DetectorConfig::wan(),
    );
    let mut z1 = zone_at(
        "z1",
        3000,
        &[("b", MemberStatus::Alive, 1), ("me", MemberStatus::Down, 0)],
    );
    z1.members[1].info.incarnation = 100;
    other.on_summary(z1, t0);
    let answer = other.summaries_since(hb("x", "z2", 1, 1), 5000, &me.zones_digest());
    let zones: Vec<&str> = answer.iter().map(|s| s.zone.as_str()).collect();
    assert_eq!(
        zones,
        ["z2", "z1"],
        "its own zone's newer summary is pulled too"
    );
    let mut evs = Vec::new();
    for s in answer {
        evs.extend(me.on_summary(s, t0 + S(61)));
    }
    assert_eq!(
        status(&me, "b"),
        MemberStatus::Alive,
        "the mate's refutation taken"
    );
    assert!(
        evs.iter()
            .any(|e| matches!(e, MembershipEvent::Refuted { .. })),
        "and this peer refutes the down that zone holds of it"
    );
    assert_eq!(
        me.zones_digest().get("z1"),
        Some(&3000),
        "the next pull asks from there"
    );
}
