//! The agent's reading of a peer's answers (`agent::machine::Machine::on_outcome`): status
//! bodies, `X-Uyuni-Node`, `X-Uyuni-Node-Peer`, `X-Uyuni-Peers`, `X-Uyuni-Heartbeat`,
//! `Retry-After`, any status code. The machine is driven as the runner drives it (synthetic
//! clock, seeded RNG, effects succeed) through a sequence of answers. Input: answers separated
//! by 0xFF; each is a 2-byte status code, `name: value` header lines, an empty line, the body.
//! Invariants: the heartbeat stays within the protocol's bounds, a repoint's node becomes the
//! master, and the machine never sends again after it exited.
#![no_main]

use std::time::{Duration, Instant};

use agent::machine::{Action, Effect, Machine, Settings};
use agent::peers::{PeerMemory, PeerSet};
use agent::wire::{Outcome, Reply};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn answer(bytes: &[u8]) -> Outcome {
    if bytes.len() < 2 {
        return Outcome::Failed("connection refused".into());
    }
    let code = u16::from_be_bytes([bytes[0], bytes[1]]) % 600;
    let text = String::from_utf8_lossy(&bytes[2..]);
    let (head, body) = text.split_once("\n\n").unwrap_or(("", &text));
    let headers = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.to_owned()))
        .collect();
    Outcome::Reply(Reply {
        code,
        body: body.to_owned(),
        headers,
    })
}

fuzz_target!(|data: &[u8]| {
    let configured = vec![
        "peer-a:8443".parse().expect("a peer"),
        "10.0.0.2:8443".parse().expect("a peer"),
    ];
    let peers = PeerSet::new(configured, &PeerMemory::default(), Duration::from_secs(300));
    let settings = Settings {
        knock_interval: Duration::from_secs(60),
        orphan_interval: Duration::from_secs(10),
        max_backoff: Duration::from_secs(300),
        once: data.first().is_some_and(|b| b & 1 == 1),
    };
    let master = Some("node-1".parse().expect("a master"));
    let mut m = Machine::new(settings, peers, master, StdRng::seed_from_u64(7));
    let mut answers = data.get(1..).unwrap_or_default().split(|&b| b == 0xFF);
    let mut now = Instant::now();
    let mut exited = false;
    for _ in 0..256 {
        match m.poll(now) {
            Action::Send { .. } => {
                assert!(!exited, "sent after exiting");
                let Some(a) = answers.next() else {
                    return;
                };
                m.on_outcome(now, answer(a));
            }
            Action::Apply(effect) => {
                m.on_effect(now, &effect, Ok::<(), String>(()));
                if let Effect::Repoint(node) | Effect::Restart(node) = &effect {
                    assert_eq!(m.master(), Some(node), "repointed master");
                }
            }
            Action::Persist(_) => {}
            Action::Sleep(until) => {
                assert!(until >= now, "sleeps into the past");
                now = until;
            }
            Action::Exit(_) => exited = true,
        }
        let hb = m.heartbeat();
        assert!(
            hb >= Duration::from_secs(1) && hb <= Duration::from_secs(24 * 3600),
            "heartbeat {hb:?} out of bounds"
        );
        if exited {
            return;
        }
    }
});
