//! Which peer to ask: the entry-point list and failover, without I/O or clocks (the caller
//! passes `now`).
//!
//! Candidates are tried in this order, each at most once per *round*:
//! 1. the peer that answered last (sticky, so a healthy peer keeps getting the heartbeats);
//! 2. the node's peer (`X-Uyuni-Node-Peer`), which the protocol asks agents to prefer;
//! 3. the configured entry points, in configuration order;
//! 4. peers learned from `X-Uyuni-Peers`, newest first.
//!
//! When every candidate has failed in a round the round is *exhausted*: the caller backs off
//! and starts a new round. A node peer that failed recently is not switched to again for
//! `avoid_for`, so a dead node peer does not cost a failed connection on every heartbeat.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::addr::PeerAddr;

/// At most this many learned peers are kept (oldest dropped first). Peers announce 5 at a time;
/// 16 covers a few answers' worth without letting the state file grow without bound.
pub const MAX_LEARNED: usize = 16;

/// What survives a restart (the state file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerMemory {
    /// Peers learned from `X-Uyuni-Peers`, newest first.
    pub learned: Vec<String>,
    /// The last `X-Uyuni-Node-Peer`.
    pub node_peer: Option<String>,
    /// The token of the last registration (protocol 2); `None` from [`PeerSet::memory`], the
    /// machine fills it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The entry points and their health.
#[derive(Debug, Clone)]
pub struct PeerSet {
    configured: Vec<PeerAddr>,
    learned: Vec<PeerAddr>,
    node_peer: Option<PeerAddr>,
    current: Option<PeerAddr>,
    failed_in_round: Vec<PeerAddr>,
    last_failure: HashMap<PeerAddr, Instant>,
    avoid_for: Duration,
}

impl PeerSet {
    /// Entry points from the configuration plus what a previous run learned. Entries of
    /// `memory` that do not parse are dropped.
    pub fn new(configured: Vec<PeerAddr>, memory: &PeerMemory, avoid_for: Duration) -> Self {
        let learned = memory
            .learned
            .iter()
            .filter_map(|s| s.parse::<PeerAddr>().ok())
            .filter(|p| !configured.contains(p))
            .take(MAX_LEARNED)
            .collect();
        let node_peer = memory.node_peer.as_deref().and_then(|s| s.parse().ok());
        Self {
            configured,
            learned,
            current: node_peer.clone(),
            node_peer,
            failed_in_round: Vec::new(),
            last_failure: HashMap::new(),
            avoid_for,
        }
    }

    /// Every known peer in the order they are tried, without duplicates.
    pub fn candidates(&self) -> Vec<&PeerAddr> {
        let mut out: Vec<&PeerAddr> = Vec::new();
        let all = self
            .current
            .iter()
            .chain(self.node_peer.iter())
            .chain(self.configured.iter())
            .chain(self.learned.iter());
        for p in all {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The peer to ask next, or `None` when every candidate failed in this round.
    pub fn pick(&self) -> Option<PeerAddr> {
        self.candidates()
            .into_iter()
            .find(|p| !self.failed_in_round.contains(p))
            .cloned()
    }

    /// Start a new round: every candidate may be tried again.
    pub fn new_round(&mut self) {
        self.failed_in_round.clear();
    }

    /// `peer` did not answer (or answered 5xx) at `now`.
    pub fn failed(&mut self, peer: &PeerAddr, now: Instant) {
        if !self.failed_in_round.contains(peer) {
            self.failed_in_round.push(peer.clone());
        }
        self.last_failure.insert(peer.clone(), now);
        if self.current.as_ref() == Some(peer) {
            self.current = None;
        }
    }

    /// `peer` answered at `now`, announcing `others` (`X-Uyuni-Peers`) and `node_peer`
    /// (`X-Uyuni-Node-Peer`, `None` when the system has no node). Returns whether the
    /// [`PeerMemory`] changed (and should be persisted).
    pub fn answered(
        &mut self,
        peer: &PeerAddr,
        now: Instant,
        others: &[PeerAddr],
        node_peer: Option<PeerAddr>,
    ) -> bool {
        self.failed_in_round.clear();
        self.last_failure.remove(peer);
        self.current = Some(peer.clone());
        let before = self.learned.clone();
        for p in others.iter().rev() {
            if self.configured.contains(p) {
                continue;
            }
            self.learned.retain(|q| q != p);
            self.learned.insert(0, p.clone());
        }
        self.learned.truncate(MAX_LEARNED);
        let mut changed = before != self.learned;
        if self.node_peer != node_peer {
            self.node_peer = node_peer;
            changed = true;
        }
        if let Some(np) = &self.node_peer
            && np != peer
            && !self.failed_recently(np, now)
        {
            // Prefer the node's own peer from the next request on.
            self.current = Some(np.clone());
        }
        changed
    }

    fn failed_recently(&self, peer: &PeerAddr, now: Instant) -> bool {
        self.last_failure
            .get(peer)
            .is_some_and(|t| now.saturating_duration_since(*t) < self.avoid_for)
    }

    /// What to persist.
    pub fn memory(&self) -> PeerMemory {
        PeerMemory {
            learned: self.learned.iter().map(ToString::to_string).collect(),
            node_peer: self.node_peer.as_ref().map(ToString::to_string),
            token: None,
        }
    }

    /// The peer that answered last.
    pub fn current(&self) -> Option<&PeerAddr> {
        self.current.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PeerAddr {
        s.parse().unwrap()
    }

    fn set(configured: &[&str]) -> PeerSet {
        PeerSet::new(
            configured.iter().map(|s| p(s)).collect(),
            &PeerMemory::default(),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn tries_each_configured_peer_once_per_round() {
        let t = Instant::now();
        let mut s = set(&["a:1", "b:1"]);
        assert_eq!(s.pick(), Some(p("a:1")));
        s.failed(&p("a:1"), t);
        assert_eq!(s.pick(), Some(p("b:1")));
        s.failed(&p("b:1"), t);
        assert_eq!(s.pick(), None);
        s.new_round();
        assert_eq!(s.pick(), Some(p("a:1")));
    }

    #[test]
    fn sticks_to_the_peer_that_answered() {
        let t = Instant::now();
        let mut s = set(&["a:1", "b:1"]);
        s.failed(&p("a:1"), t);
        assert!(!s.answered(&p("b:1"), t, &[], None));
        assert_eq!(s.pick(), Some(p("b:1")));
        // A new failure of b goes back to a.
        s.failed(&p("b:1"), t);
        assert_eq!(s.pick(), Some(p("a:1")));
    }

    #[test]
    fn learns_peers_newest_first_capped_and_persists_them() {
        let t = Instant::now();
        let mut s = set(&["a:1"]);
        assert!(s.answered(&p("a:1"), t, &[p("x:1"), p("a:1"), p("y:1")], None));
        assert_eq!(s.memory().learned, ["x:1", "y:1"]);
        // The same announcement again changes nothing.
        assert!(!s.answered(&p("a:1"), t, &[p("x:1"), p("y:1")], None));
        let many: Vec<PeerAddr> = (0..40).map(|i| p(&format!("h{i}:1"))).collect();
        s.answered(&p("a:1"), t, &many, None);
        assert_eq!(s.memory().learned.len(), MAX_LEARNED);
        assert_eq!(s.memory().learned[0], "h0:1");
        let names: Vec<String> = s.candidates().iter().map(|c| c.to_string()).collect();
        assert_eq!(names[0], "a:1");
    }

    #[test]
    fn prefers_the_node_peer_unless_it_failed_recently() {
        let t = Instant::now();
        let mut s = set(&["a:1"]);
        assert!(s.answered(&p("a:1"), t, &[], Some(p("n:1"))));
        assert_eq!(s.pick(), Some(p("n:1")));
        s.failed(&p("n:1"), t);
        assert_eq!(s.pick(), Some(p("a:1")));
        // a answers and names n again: n failed 10 s ago, so stay on a.
        s.answered(&p("a:1"), t + Duration::from_secs(10), &[], Some(p("n:1")));
        assert_eq!(s.pick(), Some(p("a:1")));
        // After avoid_for, n is preferred again.
        s.answered(&p("a:1"), t + Duration::from_secs(301), &[], Some(p("n:1")));
        assert_eq!(s.pick(), Some(p("n:1")));
        // The system lost its node: the node peer is forgotten.
        assert!(s.answered(&p("n:1"), t, &[], None));
        assert_eq!(s.memory().node_peer, None);
    }

    #[test]
    fn restores_memory_and_starts_at_the_node_peer() {
        let memory = PeerMemory {
            learned: vec!["x:1".into(), "bad host".into(), "a:1".into()],
            node_peer: Some("n:1".into()),
            token: None,
        };
        let s = PeerSet::new(vec![p("a:1")], &memory, Duration::from_secs(1));
        let names: Vec<String> = s.candidates().iter().map(|c| c.to_string()).collect();
        assert_eq!(names, ["n:1", "a:1", "x:1"]);
    }
}
