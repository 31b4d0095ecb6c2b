//! Deterministic tests of the state machine: seeded RNG, synthetic clock, canned answers.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::peers::PeerMemory;

const MIN: Duration = Duration::from_secs(60);

fn settings(once: bool) -> Settings {
    Settings {
        knock_interval: MIN,
        orphan_interval: Duration::from_secs(10),
        max_backoff: Duration::from_secs(300),
        once,
    }
}

fn machine_with(peers: &[&str], master: Option<&str>, once: bool) -> Machine<StdRng> {
    let peers = PeerSet::new(
        peers.iter().map(|p| p.parse().unwrap()).collect(),
        &PeerMemory::default(),
        Duration::from_secs(300),
    );
    Machine::new(
        settings(once),
        peers,
        master.map(|m| m.parse().unwrap()),
        StdRng::seed_from_u64(1),
    )
}

fn machine(master: Option<&str>) -> Machine<StdRng> {
    machine_with(&["a:1", "b:1"], master, false)
}

fn hp(s: &str) -> HostPort {
    s.parse().unwrap()
}

fn peer(s: &str) -> PeerAddr {
    s.parse().unwrap()
}

fn reply(code: u16, body: &str, headers: &[(&str, &str)]) -> Outcome {
    Outcome::Reply(Reply {
        code,
        body: body.to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    })
}

fn status(letter: &str) -> Outcome {
    reply(200, letter, &[])
}

fn onboarded(node: &str) -> Outcome {
    reply(200, "o", &[(header::NODE, node)])
}

/// The next action must be a request; returns where to and what.
#[track_caller]
fn sends(m: &mut Machine<StdRng>, now: Instant) -> (PeerAddr, Request) {
    match m.poll(now) {
        Action::Send { peer, request } => (peer, request),
        other => panic!("expected a request, got {other:?}"),
    }
}

/// The next action must be a sleep of `nominal` ±20 %; returns its end.
#[track_caller]
fn sleeps(m: &mut Machine<StdRng>, now: Instant, nominal: Duration) -> Instant {
    match m.poll(now) {
        Action::Sleep(until) => {
            let d = until - now;
            assert!(
                d >= nominal.mul_f64(0.8) && d <= nominal.mul_f64(1.2),
                "slept {d:?}, expected {nominal:?} ±20 %"
            );
            until
        }
        other => panic!("expected a sleep of {nominal:?}, got {other:?}"),
    }
}

#[track_caller]
fn applies(m: &mut Machine<StdRng>, now: Instant) -> Effect {
    match m.poll(now) {
        Action::Apply(e) => e,
        other => panic!("expected an effect, got {other:?}"),
    }
}

fn ok() -> Result<(), String> {
    Ok(())
}

/// Knock, answer `outcome`.
fn knock(m: &mut Machine<StdRng>, now: Instant, outcome: Outcome) -> PeerAddr {
    let (p, r) = sends(m, now);
    assert_eq!(r, Request::Status);
    m.on_outcome(now, outcome);
    p
}

#[test]
fn unknown_registers_then_keeps_knocking() {
    let t = Instant::now();
    let mut m = machine(None);
    knock(&mut m, t, status("u"));
    assert_eq!(sends(&mut m, t), (peer("a:1"), Request::Register));
    m.on_outcome(t, reply(200, "{}", &[]));
    // Knocks again at once to learn the new status.
    knock(&mut m, t, status("n"));
    assert_eq!(m.last_status(), Some(Status::New));
    sleeps(&mut m, t, MIN);
}

#[test]
fn still_unknown_right_after_registering_does_not_loop() {
    let t = Instant::now();
    let mut m = machine(None);
    knock(&mut m, t, status("u"));
    sends(&mut m, t);
    m.on_outcome(t, reply(200, "{}", &[]));
    knock(&mut m, t, status("u"));
    let next = sleeps(&mut m, t, MIN);
    // The next heartbeat that still says unknown registers again.
    knock(&mut m, next, status("u"));
    assert_eq!(sends(&mut m, next).1, Request::Register);
}

#[test]
fn a_refused_registration_waits_a_heartbeat() {
    let t = Instant::now();
    let mut m = machine(None);
    knock(&mut m, t, status("u"));
    sends(&mut m, t);
    m.on_outcome(t, reply(400, r#"{"error":"bad fingerprint"}"#, &[]));
    let next = sleeps(&mut m, t, MIN);
    assert_eq!(sends(&mut m, next).1, Request::Status);
}

#[test]
fn new_keeps_knocking_with_jittered_heartbeats() {
    let mut t = Instant::now();
    let mut m = machine(None);
    let mut waits = Vec::new();
    for _ in 0..20 {
        knock(&mut m, t, status("n"));
        let next = sleeps(&mut m, t, MIN);
        waits.push(next - t);
        // Polling early keeps sleeping until the same instant.
        assert_eq!(m.poll(t + Duration::from_secs(1)), Action::Sleep(next));
        t = next;
    }
    waits.sort();
    assert!(
        waits[19] - waits[0] > Duration::from_secs(5),
        "no spread: {waits:?}"
    );
}

#[test]
fn onboarded_repoints_only_when_the_node_differs() {
    let t = Instant::now();
    let mut m = machine(Some("old.example.org"));
    knock(&mut m, t, onboarded("srv2.example.org:4507"));
    let effect = applies(&mut m, t);
    assert_eq!(effect, Effect::Repoint(hp("srv2.example.org:4507")));
    m.on_effect(t, &effect, ok());
    assert_eq!(m.master(), Some(&hp("srv2.example.org:4507")));
    let next = sleeps(&mut m, t, MIN);
    // Same node again: nothing to do.
    knock(&mut m, next, onboarded("SRV2.example.org:4507"));
    sleeps(&mut m, next, MIN);
}

#[test]
fn the_default_salt_port_counts_as_the_same_master() {
    let t = Instant::now();
    let mut m = machine(Some("srv1"));
    knock(&mut m, t, onboarded("srv1:4506"));
    sleeps(&mut m, t, MIN);
}

#[test]
fn a_failed_repoint_is_retried_on_the_next_heartbeat() {
    let t = Instant::now();
    let mut m = machine(Some("old"));
    knock(&mut m, t, onboarded("srv2"));
    let effect = applies(&mut m, t);
    m.on_effect(t, &effect, Err("systemctl failed"));
    assert_eq!(m.master(), Some(&hp("old")));
    let next = sleeps(&mut m, t, MIN);
    knock(&mut m, next, onboarded("srv2"));
    assert_eq!(applies(&mut m, next), Effect::Repoint(hp("srv2")));
}

#[test]
fn onboarded_without_a_usable_node_keeps_heartbeating() {
    let t = Instant::now();
    let mut m = machine(Some("old"));
    knock(&mut m, t, status("o"));
    let next = sleeps(&mut m, t, MIN);
    knock(&mut m, next, onboarded("bad host\nmaster: evil"));
    sleeps(&mut m, next, MIN);
    assert_eq!(m.master(), Some(&hp("old")));
}

#[test]
fn orphan_stops_the_minion_waits_for_a_node_and_repoints() {
    let t = Instant::now();
    let mut m = machine(Some("srv1"));
    knock(&mut m, t, status("r"));
    let stop = applies(&mut m, t);
    assert_eq!(stop, Effect::Stop);
    m.on_effect(t, &stop, ok());
    // Asks at once, then after Retry-After.
    assert_eq!(sends(&mut m, t).1, Request::Orphan);
    m.on_outcome(t, reply(204, "", &[(header::RETRY_AFTER, "5")]));
    let t2 = sleeps(&mut m, t, Duration::from_secs(5));
    assert_eq!(sends(&mut m, t2).1, Request::Orphan);
    // Without Retry-After: the orphan interval.
    m.on_outcome(t2, reply(204, "", &[]));
    let t3 = sleeps(&mut m, t2, Duration::from_secs(10));
    assert_eq!(sends(&mut m, t3).1, Request::Orphan);
    m.on_outcome(t3, reply(200, "srv2.example.org\n", &[]));
    let repoint = applies(&mut m, t3);
    assert_eq!(repoint, Effect::Repoint(hp("srv2.example.org")));
    m.on_effect(t3, &repoint, ok());
    // Back to heartbeats.
    let t4 = sleeps(&mut m, t3, MIN);
    assert_eq!(sends(&mut m, t4).1, Request::Status);
}

#[test]
fn an_orphan_sent_back_to_its_old_node_restarts_the_minion() {
    let t = Instant::now();
    let mut m = machine(Some("srv1"));
    knock(&mut m, t, status("r"));
    let stop = applies(&mut m, t);
    m.on_effect(t, &stop, ok());
    sends(&mut m, t);
    m.on_outcome(t, reply(200, "srv1", &[]));
    assert_eq!(applies(&mut m, t), Effect::Restart(hp("srv1")));
}

#[test]
fn a_stopped_minion_is_started_when_onboarded_again() {
    // Orphan → unknown fingerprint (404) → register → onboarded on the same master.
    let t = Instant::now();
    let mut m = machine(Some("srv1"));
    knock(&mut m, t, status("r"));
    let stop = applies(&mut m, t);
    m.on_effect(t, &stop, ok());
    sends(&mut m, t);
    m.on_outcome(t, reply(404, r#"{"error":"unknown"}"#, &[]));
    assert_eq!(sends(&mut m, t).1, Request::Register);
    m.on_outcome(t, reply(200, "{}", &[]));
    knock(&mut m, t, onboarded("srv1"));
    assert_eq!(applies(&mut m, t), Effect::Restart(hp("srv1")));
}

#[test]
fn a_failed_repoint_of_an_orphan_is_retried_soon() {
    let t = Instant::now();
    let mut m = machine(None);
    knock(&mut m, t, status("r"));
    let stop = applies(&mut m, t);
    m.on_effect(t, &stop, ok());
    sends(&mut m, t);
    m.on_outcome(t, reply(200, "srv2", &[]));
    let e = applies(&mut m, t);
    m.on_effect(t, &e, Err("disk full"));
    let t2 = sleeps(&mut m, t, Duration::from_secs(10));
    assert_eq!(sends(&mut m, t2).1, Request::Orphan);
}

#[test]
fn deleted_stops_the_minion_and_exits() {
    let t = Instant::now();
    let mut m = machine(Some("srv1"));
    knock(&mut m, t, status("d"));
    let stop = applies(&mut m, t);
    assert_eq!(stop, Effect::Stop);
    // Even when stopping fails, a deleted system exits.
    m.on_effect(t, &stop, Err("no systemd"));
    assert_eq!(m.poll(t), Action::Exit(Exit::Deleted));
    assert_eq!(Exit::Deleted.code(), 4);
}

#[test]
fn gone_while_orphan_stops_and_exits() {
    let t = Instant::now();
    let mut m = machine(None);
    knock(&mut m, t, status("r"));
    let stop = applies(&mut m, t);
    m.on_effect(t, &stop, ok());
    sends(&mut m, t);
    m.on_outcome(t, reply(410, r#"{"error":"banned"}"#, &[]));
    let stop = applies(&mut m, t);
    m.on_effect(t, &stop, ok());
    assert_eq!(m.poll(t), Action::Exit(Exit::Deleted));
}

#[test]
fn fails_over_on_connection_errors_and_5xx_without_waiting() {
    let t = Instant::now();
    let mut m = machine_with(&["a:1", "b:1", "c:1"], None, false);
    assert_eq!(
        knock(&mut m, t, Outcome::Failed("connection refused".into())),
        peer("a:1")
    );
    assert_eq!(
        knock(&mut m, t, reply(503, r#"{"error":"disk full"}"#, &[])),
        peer("b:1")
    );
    assert_eq!(knock(&mut m, t, status("n")), peer("c:1"));
    let next = sleeps(&mut m, t, MIN);
    // Sticks to the peer that answered.
    assert_eq!(knock(&mut m, next, status("n")), peer("c:1"));
}

#[test]
fn garbage_or_unexpected_codes_count_as_a_failing_peer() {
    let t = Instant::now();
    let mut m = machine(None);
    assert_eq!(knock(&mut m, t, status("<html>")), peer("a:1"));
    assert_eq!(knock(&mut m, t, reply(404, "not found", &[])), peer("b:1"));
    // Both failed: back off.
    sleeps(&mut m, t, MIN);
}

#[test]
fn backs_off_exponentially_up_to_the_cap_and_resets_on_an_answer() {
    let mut t = Instant::now();
    let mut m = machine(None);
    for nominal in [60, 120, 240, 300, 300] {
        knock(&mut m, t, Outcome::Failed("refused".into()));
        knock(&mut m, t, Outcome::Failed("refused".into()));
        t = sleeps(&mut m, t, Duration::from_secs(nominal));
    }
    knock(&mut m, t, status("n"));
    t = sleeps(&mut m, t, MIN);
    knock(&mut m, t, Outcome::Failed("refused".into()));
    knock(&mut m, t, Outcome::Failed("refused".into()));
    sleeps(&mut m, t, MIN);
}

#[test]
fn orphan_back_off_starts_from_the_orphan_interval() {
    let t = Instant::now();
    let mut m = machine(None);
    knock(&mut m, t, status("r"));
    let stop = applies(&mut m, t);
    m.on_effect(t, &stop, ok());
    for _ in 0..2 {
        let (_, r) = sends(&mut m, t);
        assert_eq!(r, Request::Orphan);
        m.on_outcome(t, Outcome::Failed("refused".into()));
    }
    sleeps(&mut m, t, Duration::from_secs(10));
}

#[test]
fn honours_the_cluster_heartbeat() {
    let t = Instant::now();
    let mut m = machine(None);
    knock(&mut m, t, reply(200, "n", &[(header::HEARTBEAT, "30")]));
    assert_eq!(m.heartbeat(), Duration::from_secs(30));
    let next = sleeps(&mut m, t, Duration::from_secs(30));
    // Absurd values are clamped; garbage is ignored.
    knock(&mut m, next, reply(200, "n", &[(header::HEARTBEAT, "0")]));
    assert_eq!(m.heartbeat(), Duration::from_secs(1));
    knock(
        &mut m,
        next + Duration::from_secs(2),
        reply(200, "n", &[(header::HEARTBEAT, "x")]),
    );
    assert_eq!(m.heartbeat(), Duration::from_secs(1));
}

#[test]
fn learns_peers_persists_them_and_fails_over_to_them() {
    let t = Instant::now();
    let mut m = machine_with(&["a:1"], None, false);
    knock(
        &mut m,
        t,
        reply(200, "n", &[(header::PEERS, "x:1, y:1, bad host")]),
    );
    match m.poll(t) {
        Action::Persist(mem) => assert_eq!(mem.learned, ["x:1", "y:1"]),
        other => panic!("expected persist, got {other:?}"),
    }
    let next = sleeps(&mut m, t, MIN);
    assert_eq!(
        knock(&mut m, next, Outcome::Failed("down".into())),
        peer("a:1")
    );
    assert_eq!(knock(&mut m, next, status("n")), peer("x:1"));
}

#[test]
fn prefers_the_node_peer() {
    let t = Instant::now();
    let mut m = machine(Some("srv9"));
    let headers = [(header::NODE, "srv9"), (header::NODE_PEER, "srv9:4581")];
    knock(&mut m, t, reply(200, "o", &headers));
    match m.poll(t) {
        Action::Persist(mem) => assert_eq!(mem.node_peer.as_deref(), Some("srv9:4581")),
        other => panic!("expected persist, got {other:?}"),
    }
    let next = sleeps(&mut m, t, MIN);
    assert_eq!(
        knock(&mut m, next, reply(200, "o", &headers)),
        peer("srv9:4581")
    );
}

#[test]
fn once_stops_after_one_cycle() {
    let t = Instant::now();
    let mut m = machine_with(&["a:1"], None, true);
    knock(&mut m, t, status("n"));
    assert_eq!(m.poll(t), Action::Exit(Exit::Done(Status::New)));

    let mut m = machine_with(&["a:1"], None, true);
    knock(&mut m, t, status("u"));
    sends(&mut m, t);
    m.on_outcome(t, reply(200, "{}", &[]));
    knock(&mut m, t, status("n"));
    assert_eq!(m.poll(t), Action::Exit(Exit::Done(Status::New)));

    let mut m = machine_with(&["a:1"], Some("old"), true);
    knock(&mut m, t, onboarded("srv2"));
    let e = applies(&mut m, t);
    m.on_effect(t, &e, ok());
    assert_eq!(m.poll(t), Action::Exit(Exit::Done(Status::Onboarded)));
}

#[test]
fn once_reports_failures() {
    let t = Instant::now();
    let mut m = machine_with(&["a:1", "b:1"], None, true);
    knock(&mut m, t, Outcome::Failed("down".into()));
    knock(&mut m, t, Outcome::Failed("down".into()));
    assert_eq!(m.poll(t), Action::Exit(Exit::Unreachable));

    let mut m = machine_with(&["a:1"], Some("old"), true);
    knock(&mut m, t, onboarded("srv2"));
    let e = applies(&mut m, t);
    m.on_effect(t, &e, Err("no"));
    assert_eq!(m.poll(t), Action::Exit(Exit::Failed));

    let mut m = machine_with(&["a:1"], None, true);
    knock(&mut m, t, status("r"));
    let e = applies(&mut m, t);
    m.on_effect(t, &e, ok());
    sends(&mut m, t);
    m.on_outcome(t, reply(204, "", &[]));
    assert_eq!(m.poll(t), Action::Exit(Exit::OrphanWaiting));

    let codes: Vec<u8> = [
        Exit::Done(Status::New),
        Exit::Failed,
        Exit::Unreachable,
        Exit::Deleted,
        Exit::OrphanWaiting,
    ]
    .iter()
    .map(|e| e.code())
    .collect();
    assert_eq!(codes, [0, 1, 3, 4, 5]);
}

#[test]
fn same_seed_same_schedule() {
    let run = || {
        let t = Instant::now();
        let mut m = machine(None);
        let mut out = Vec::new();
        let mut now = t;
        for _ in 0..5 {
            knock(&mut m, now, status("n"));
            let Action::Sleep(next) = m.poll(now) else {
                panic!("expected sleep")
            };
            out.push(next - now);
            now = next;
        }
        out
    };
    assert_eq!(run(), run());
}

#[test]
fn a_401_registers_and_the_token_is_kept_and_persisted() {
    let t = Instant::now();
    let mut m = machine(None);
    assert_eq!(m.token(), None);
    knock(&mut m, t, reply(401, "{}", &[]));
    assert_eq!(sends(&mut m, t).1, Request::Register);
    m.on_outcome(t, reply(200, "{}", &[(header::TOKEN, "2.99.mac")]));
    assert_eq!(m.token(), Some("2.99.mac"));
    match m.poll(t) {
        Action::Persist(memory) => assert_eq!(memory.token.as_deref(), Some("2.99.mac")),
        other => panic!("expected the token to be persisted, got {other:?}"),
    }
    knock(&mut m, t, status("n"));
    sleeps(&mut m, t, MIN);
}

#[test]
fn a_401_right_after_registering_waits_a_heartbeat_instead_of_looping() {
    let t = Instant::now();
    let mut m = machine(None).with_token(Some("stale".into()));
    knock(&mut m, t, reply(401, "{}", &[]));
    assert_eq!(m.token(), None, "a refused token is dropped");
    assert!(matches!(m.poll(t), Action::Persist(_)));
    assert_eq!(sends(&mut m, t).1, Request::Register);
    m.on_outcome(t, reply(200, "{}", &[(header::TOKEN, "fresh")]));
    assert!(matches!(m.poll(t), Action::Persist(_)));
    knock(&mut m, t, reply(401, "{}", &[]));
    assert!(matches!(m.poll(t), Action::Persist(_)));
    let next = sleeps(&mut m, t, MIN);
    knock(&mut m, next, reply(401, "{}", &[]));
    assert_eq!(sends(&mut m, next).1, Request::Register);
}

#[test]
fn a_429_waits_its_retry_after_at_the_same_peer_without_failing_it() {
    let t = Instant::now();
    let mut m = machine(None);
    let p = knock(&mut m, t, reply(429, "{}", &[(header::RETRY_AFTER, "30")]));
    sleeps(&mut m, t, Duration::from_secs(30));
    let later = t + Duration::from_secs(40);
    let (again, request) = sends(&mut m, later);
    assert_eq!((again, request), (p, Request::Status));
    // A limited registration waits too, and registers afterwards.
    m.on_outcome(later, reply(401, "{}", &[]));
    sends(&mut m, later);
    m.on_outcome(later, reply(429, "{}", &[(header::RETRY_AFTER, "5")]));
    sleeps(&mut m, later, Duration::from_secs(5));
    assert_eq!(
        sends(&mut m, later + Duration::from_secs(10)).1,
        Request::Register
    );
}

#[test]
fn once_a_429_fails_the_cycle() {
    let t = Instant::now();
    let mut m = machine_with(&["a:1"], None, true);
    knock(&mut m, t, reply(429, "{}", &[(header::RETRY_AFTER, "30")]));
    assert_eq!(m.poll(t), Action::Exit(Exit::Failed));
}
