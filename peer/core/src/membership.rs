//! Cluster membership and failure detection, free of I/O and clocks.
//!
//! Every peer publishes a [`Heartbeat`] on the membership gossip topic every
//! `heartbeat_interval`. Gossip relays it to every member, so each member keeps, for every other
//! one, the arrival times of its heartbeats and runs a **phi-accrual** failure detector on them
//! (as Cassandra and chitchat do): `phi = elapsed since the last heartbeat / mean inter-arrival
//! time`.
//!
//! State machine of a member as seen by one observer:
//!
//! ```text
//!             heartbeat                 phi >= threshold          suspicion_timeout
//!   (new) ──────────────▶ alive ─────────────────────────▶ suspect ─────────────────▶ down
//!                           ▲   ◀──────── heartbeat ─────────┘                          │
//!                           └──────────── heartbeat (same or newer incarnation) ────────┘
//!   any ── leave message ──▶ left   (planned shutdown: never suspected, never "down")
//!   left ── heartbeat of a newer incarnation ──▶ alive
//! ```
//!
//! Members of the observer's own zone use the LAN [`DetectorConfig`]; members of other zones
//! the WAN one (store links are slow and lossy: a longer suspicion saves false alarms).
//! Heartbeats are ordered by `(incarnation, seq)`; the incarnation is the start time of the
//! member's process, so a restarted member supersedes everything its previous life said.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Addresses a member can be dialed at, possibly different per dialer zone (a store peer is
/// reached on its LAN address from its own zone and on a NATed WAN address from the others).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvertisedAddrs {
    /// Addresses for dialers of any zone without an entry of its own.
    #[serde(default)]
    pub default: Vec<String>,
    /// Addresses for dialers of a given zone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_zone: BTreeMap<String, Vec<String>>,
}

impl AdvertisedAddrs {
    /// The addresses a dialer in `zone` should use.
    pub fn for_zone(&self, zone: &str) -> &[String] {
        self.per_zone.get(zone).unwrap_or(&self.default)
    }
}

/// What a member says about itself, every heartbeat interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// Role (`server`).
    pub role: String,
    /// Start time of the member's process (Unix ms): a restart supersedes older heartbeats.
    pub incarnation: u64,
    /// Counter within the incarnation.
    pub seq: u64,
    /// The member's heartbeat interval, which seeds the detector's mean.
    pub interval_ms: u64,
    /// Where to dial it.
    pub addrs: AdvertisedAddrs,
    /// Its HTTP API (`host:port`), for the CLI and agents.
    #[serde(default)]
    pub http: Option<String>,
    /// Root digest of its metastore: differing roots trigger anti-entropy.
    #[serde(default)]
    pub root: String,
    /// Set in the last message of a planned shutdown.
    #[serde(default)]
    pub leaving: bool,
    /// The member's wire protocol ([`crate::net::wire::WIRE_PROTOCOL`]); absent (1) from a
    /// peer before versions were sent.
    #[serde(
        default = "crate::net::wire::v1",
        skip_serializing_if = "crate::net::wire::is_v1"
    )]
    pub protocol: u32,
    /// The oldest wire protocol the member works beside.
    #[serde(
        default = "crate::net::wire::v1",
        skip_serializing_if = "crate::net::wire::is_v1"
    )]
    pub min_protocol: u32,
    /// Systems online by recent heartbeat as this member's agent endpoint saw them, per
    /// assigned node (load statistics; kept in memory, shared only here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub online: BTreeMap<String, u64>,
}

/// Liveness of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    /// Heartbeats arrive.
    Alive,
    /// Heartbeats are late (phi above the threshold).
    Suspect,
    /// Silent for longer than the suspicion timeout.
    Down,
    /// Announced a planned shutdown.
    Left,
}

impl MemberStatus {
    /// Lowercase name, as in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Suspect => "suspect",
            Self::Down => "down",
            Self::Left => "left",
        }
    }
}

/// Failure-detector tuning. Defaults in [`DetectorConfig::lan`] and [`DetectorConfig::wan`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Suspect a member once phi reaches this (LAN 8, WAN 12).
    pub phi_threshold: f64,
    /// Declare a suspect down after this long (LAN 10 s, WAN 60 s).
    #[serde(with = "crate::config::duration_ms", rename = "suspicion_timeout_ms")]
    pub suspicion_timeout: Duration,
    /// Inter-arrival samples kept per member (100).
    pub window: usize,
}

impl DetectorConfig {
    /// Defaults for members of the observer's own zone.
    pub fn lan() -> Self {
        Self {
            phi_threshold: 8.0,
            suspicion_timeout: Duration::from_secs(10),
            window: 100,
        }
    }

    /// Defaults for members of other zones.
    pub fn wan() -> Self {
        Self {
            phi_threshold: 12.0,
            suspicion_timeout: Duration::from_secs(60),
            window: 100,
        }
    }
}

/// One member as seen by this peer.
#[derive(Debug, Clone)]
pub struct Member {
    /// libp2p peer id (string form).
    pub peer_id: String,
    /// Latest heartbeat.
    pub info: Heartbeat,
    /// Current liveness.
    pub status: MemberStatus,
    /// When the latest heartbeat arrived.
    pub last_heard: Instant,
    suspect_since: Option<Instant>,
    /// When the status last changed.
    since: Instant,
    intervals: VecDeque<f64>,
}

impl Member {
    fn mean_interval_s(&self) -> f64 {
        if self.intervals.is_empty() {
            (self.info.interval_ms.max(1) as f64) / 1000.0
        } else {
            self.intervals.iter().sum::<f64>() / self.intervals.len() as f64
        }
    }

    /// When the status last changed.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// The phi value at `now`.
    pub fn phi(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.last_heard).as_secs_f64() / self.mean_interval_s()
    }
}

/// A change worth logging or acting on.
#[derive(Debug, Clone, PartialEq)]
pub enum MembershipEvent {
    /// A member changed status (`from` is `None` the first time it is seen).
    Status {
        /// The member's peer id.
        peer_id: String,
        /// Its name.
        name: String,
        /// Previous status.
        from: Option<MemberStatus>,
        /// New status.
        to: MemberStatus,
    },
    /// A member was dropped from the table: down or left for longer than `forget_after`, or
    /// replaced by a new peer id under the same node name.
    Forgotten {
        /// Its peer id.
        peer_id: String,
        /// Its name.
        name: String,
    },
    /// A peer was refused: it speaks a wire protocol this one does not work beside (first
    /// heartbeat only; it stays refused while it speaks it).
    Refused {
        /// Its peer id.
        peer_id: String,
        /// Its name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// A peer refused for its wire protocol, as `/cluster/members` lists it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Its last heartbeat.
    pub info: Heartbeat,
    /// Why.
    pub reason: String,
    /// When it was last heard.
    pub last_heard: Instant,
}

/// The membership table of one peer.
#[derive(Debug)]
pub struct Membership {
    my_peer_id: String,
    my_zone: String,
    lan: DetectorConfig,
    wan: DetectorConfig,
    forget_after: Duration,
    members: BTreeMap<String, Member>,
    /// This peer's wire protocol and the oldest it works beside.
    protocol: (u32, u32),
    /// Peers refused for their wire protocol, by peer id.
    refused: BTreeMap<String, Refusal>,
}

impl Membership {
    /// An empty table for the peer `my_peer_id` in `my_zone`.
    pub fn new(
        my_peer_id: String,
        my_zone: String,
        lan: DetectorConfig,
        wan: DetectorConfig,
    ) -> Self {
        Self {
            my_peer_id,
            my_zone,
            lan,
            wan,
            forget_after: Duration::from_secs(24 * 3600),
            members: BTreeMap::new(),
            protocol: crate::net::wire::spoken(),
            refused: BTreeMap::new(),
        }
    }

    /// Speak `protocol`, working beside `min` and newer (tests; see `wire::speak`).
    pub fn set_protocol(&mut self, protocol: u32, min: u32) {
        self.protocol = (protocol, min);
    }

    /// Peers refused for their wire protocol.
    pub fn refused(&self) -> impl Iterator<Item = (&String, &Refusal)> {
        self.refused.iter()
    }

    /// Whether `peer_id` is refused for its wire protocol.
    pub fn is_refused(&self, peer_id: &str) -> bool {
        self.refused.contains_key(peer_id)
    }

    /// Drop members that have been down or left for this long (default 24 h).
    pub fn with_forget_after(mut self, d: Duration) -> Self {
        self.forget_after = d;
        self
    }

    fn cfg_for(&self, zone: &str) -> DetectorConfig {
        if zone == self.my_zone {
            self.lan
        } else {
            self.wan
        }
    }

    /// Seed a member known from the metastore but not heard from yet: it starts as `suspect`
    /// (so it is dialed, and declared down if it stays silent).
    pub fn add_known(&mut self, peer_id: String, info: Heartbeat, now: Instant) {
        if peer_id == self.my_peer_id || self.members.contains_key(&peer_id) {
            return;
        }
        self.members.insert(
            peer_id.clone(),
            Member {
                peer_id,
                info,
                status: MemberStatus::Suspect,
                last_heard: now,
                suspect_since: Some(now),
                since: now,
                intervals: VecDeque::new(),
            },
        );
    }

    /// A heartbeat published by `peer_id` (the authenticated gossip source) arrived.
    pub fn on_heartbeat(
        &mut self,
        peer_id: &str,
        hb: Heartbeat,
        now: Instant,
    ) -> Vec<MembershipEvent> {
        if peer_id == self.my_peer_id {
            return Vec::new();
        }
        if let Err(reason) =
            crate::net::wire::compatible(self.protocol, (hb.protocol, hb.min_protocol))
        {
            // Refused, not mis-merged: it is no member (no liveness, no systems, no sync), and
            // `/cluster/members` shows it with the reason.
            let name = hb.name.clone();
            let first = !self.refused.contains_key(peer_id);
            self.members.remove(peer_id);
            self.refused.insert(
                peer_id.to_string(),
                Refusal {
                    info: hb,
                    reason: reason.clone(),
                    last_heard: now,
                },
            );
            return if first {
                vec![MembershipEvent::Refused {
                    peer_id: peer_id.to_string(),
                    name,
                    reason,
                }]
            } else {
                Vec::new()
            };
        }
        self.refused.remove(peer_id);
        let window = self.cfg_for(&hb.zone).window;
        let to = if hb.leaving {
            MemberStatus::Left
        } else {
            MemberStatus::Alive
        };
        match self.members.get_mut(peer_id) {
            None => {
                let name = hb.name.clone();
                // A node that came back under a new identity (restored from scratch) replaces
                // its old entry, once that one is down or gone.
                let replaced: Vec<String> = self
                    .members
                    .values()
                    .filter(|m| {
                        m.info.name == name
                            && matches!(m.status, MemberStatus::Down | MemberStatus::Left)
                    })
                    .map(|m| m.peer_id.clone())
                    .collect();
                let mut events: Vec<MembershipEvent> = replaced
                    .into_iter()
                    .filter_map(|old| self.members.remove(&old))
                    .map(|m| MembershipEvent::Forgotten {
                        peer_id: m.peer_id,
                        name: m.info.name,
                    })
                    .collect();
                self.members.insert(
                    peer_id.to_string(),
                    Member {
                        peer_id: peer_id.to_string(),
                        info: hb,
                        status: to,
                        last_heard: now,
                        suspect_since: None,
                        since: now,
                        intervals: VecDeque::new(),
                    },
                );
                events.push(MembershipEvent::Status {
                    peer_id: peer_id.to_string(),
                    name,
                    from: None,
                    to,
                });
                events
            }
            Some(m) => {
                let newer = (hb.incarnation, hb.seq) > (m.info.incarnation, m.info.seq);
                let known_seed = m.info.incarnation == 0;
                if !newer && !known_seed {
                    return Vec::new();
                }
                // A member that left stays left until a new incarnation speaks.
                if m.status == MemberStatus::Left
                    && !hb.leaving
                    && hb.incarnation <= m.info.incarnation
                {
                    return Vec::new();
                }
                if hb.incarnation == m.info.incarnation && m.status == MemberStatus::Alive {
                    let dt = now.saturating_duration_since(m.last_heard).as_secs_f64();
                    if m.intervals.len() == window {
                        m.intervals.pop_front();
                    }
                    m.intervals.push_back(dt.max(0.001));
                } else if hb.incarnation != m.info.incarnation {
                    m.intervals.clear();
                }
                m.info = hb;
                m.last_heard = now;
                m.suspect_since = None;
                let from = m.status;
                m.status = to;
                if from != to {
                    m.since = now;
                }
                if from == to {
                    Vec::new()
                } else {
                    vec![MembershipEvent::Status {
                        peer_id: peer_id.to_string(),
                        name: m.info.name.clone(),
                        from: Some(from),
                        to,
                    }]
                }
            }
        }
    }

    /// Re-evaluate every member at `now`.
    pub fn tick(&mut self, now: Instant) -> Vec<MembershipEvent> {
        let mut events = Vec::new();
        let (my_zone, lan, wan) = (self.my_zone.clone(), self.lan, self.wan);
        for m in self.members.values_mut() {
            let cfg = if m.info.zone == my_zone { lan } else { wan };
            let from = m.status;
            match m.status {
                MemberStatus::Alive if m.phi(now) >= cfg.phi_threshold => {
                    m.status = MemberStatus::Suspect;
                    m.suspect_since = Some(now);
                }
                MemberStatus::Suspect => {
                    let since = m.suspect_since.unwrap_or(now);
                    if now.saturating_duration_since(since) >= cfg.suspicion_timeout {
                        m.status = MemberStatus::Down;
                    }
                }
                _ => {}
            }
            if m.status != from {
                m.since = now;
                events.push(MembershipEvent::Status {
                    peer_id: m.peer_id.clone(),
                    name: m.info.name.clone(),
                    from: Some(from),
                    to: m.status,
                });
            }
        }
        let forget_after = self.forget_after;
        let alive_names: std::collections::HashSet<&str> = self
            .members
            .values()
            .filter(|m| m.status == MemberStatus::Alive)
            .map(|m| m.info.name.as_str())
            .collect();
        let stale: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                matches!(m.status, MemberStatus::Down | MemberStatus::Left)
                    && (now.saturating_duration_since(m.since) >= forget_after
                        || alive_names.contains(m.info.name.as_str()))
            })
            .map(|m| m.peer_id.clone())
            .collect();
        for p in stale {
            if let Some(m) = self.members.remove(&p) {
                events.push(MembershipEvent::Forgotten {
                    peer_id: m.peer_id,
                    name: m.info.name,
                });
            }
        }
        events
    }

    /// Every member but this peer, by peer id.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// One member.
    pub fn get(&self, peer_id: &str) -> Option<&Member> {
        self.members.get(peer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }

    fn table() -> Membership {
        Membership::new(
            "me".into(),
            "z1".into(),
            DetectorConfig::lan(),
            DetectorConfig::wan(),
        )
    }

    fn status(m: &Membership, p: &str) -> MemberStatus {
        m.get(p).expect("member").status
    }

    #[test]
    fn alive_suspect_down_and_back() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut m = table();
        let ev = m.on_heartbeat("a", hb("a", "z1", 1, 1), t0);
        assert!(matches!(
            &ev[0],
            MembershipEvent::Status {
                from: None,
                to: MemberStatus::Alive,
                ..
            }
        ));
        for i in 2..=10 {
            m.on_heartbeat("a", hb("a", "z1", 1, i), t0 + s(i - 1));
        }
        let last = t0 + s(9);
        assert!(m.tick(last + s(7)).is_empty(), "phi 7 < 8: still alive");
        assert_eq!(status(&m, "a"), MemberStatus::Alive);
        m.tick(last + s(8));
        assert_eq!(status(&m, "a"), MemberStatus::Suspect);
        m.tick(last + s(17));
        assert_eq!(
            status(&m, "a"),
            MemberStatus::Suspect,
            "suspicion timeout 10 s not over"
        );
        m.tick(last + s(18));
        assert_eq!(status(&m, "a"), MemberStatus::Down);
        // A restart (newer incarnation) brings it back.
        m.on_heartbeat("a", hb("a", "z1", 2, 1), last + s(30));
        assert_eq!(status(&m, "a"), MemberStatus::Alive);
    }

    #[test]
    fn other_zones_use_wan_timeouts() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut m = table();
        m.on_heartbeat("b", hb("b", "z2", 1, 1), t0);
        m.tick(t0 + s(11));
        assert_eq!(
            status(&m, "b"),
            MemberStatus::Alive,
            "WAN phi threshold is 12"
        );
        m.tick(t0 + s(12));
        assert_eq!(status(&m, "b"), MemberStatus::Suspect);
        m.tick(t0 + s(60));
        assert_eq!(status(&m, "b"), MemberStatus::Suspect);
        m.tick(t0 + s(72));
        assert_eq!(status(&m, "b"), MemberStatus::Down);
    }

    #[test]
    fn leave_is_not_failure_and_old_messages_are_ignored() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut m = table();
        m.on_heartbeat("a", hb("a", "z1", 5, 1), t0);
        let mut bye = hb("a", "z1", 5, 2);
        bye.leaving = true;
        m.on_heartbeat("a", bye, t0 + s(1));
        assert_eq!(status(&m, "a"), MemberStatus::Left);
        m.tick(t0 + s(1000));
        assert_eq!(
            status(&m, "a"),
            MemberStatus::Left,
            "a left member is never suspected"
        );
        // A delayed heartbeat of the same life does not resurrect it.
        m.on_heartbeat("a", hb("a", "z1", 5, 1), t0 + s(1001));
        assert_eq!(status(&m, "a"), MemberStatus::Left);
        m.on_heartbeat("a", hb("a", "z1", 6, 1), t0 + s(1002));
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
        m.tick(t0 + Duration::from_secs(10));
        assert_eq!(status(&m, "k"), MemberStatus::Down);
        m.on_heartbeat("k", hb("k", "z1", 9, 1), t0 + Duration::from_secs(11));
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
        let s = Duration::from_secs;
        let mut m = table().with_forget_after(s(100));
        m.on_heartbeat("old", hb("srv1", "z1", 1, 1), t0);
        m.on_heartbeat("other", hb("srv2", "z1", 1, 1), t0);
        m.tick(t0 + s(8));
        m.tick(t0 + s(18));
        assert_eq!(status(&m, "old"), MemberStatus::Down);
        // srv1 restored with a fresh identity: the old entry goes.
        let ev = m.on_heartbeat("new", hb("srv1", "z1", 2, 1), t0 + s(20));
        assert!(
            ev.iter().any(
                |e| matches!(e, MembershipEvent::Forgotten { peer_id, .. } if peer_id == "old")
            )
        );
        assert!(m.get("old").is_none());
        assert_eq!(status(&m, "new"), MemberStatus::Alive);
        // An entry seeded from the metastore that only goes down after the new identity spoke
        // is dropped as soon as it does.
        m.add_known("older".into(), hb("srv1", "z1", 0, 0), t0 + s(20));
        m.on_heartbeat("new", hb("srv1", "z1", 2, 2), t0 + s(30));
        let ev = m.tick(t0 + s(31));
        assert!(
            ev.iter().any(
                |e| matches!(e, MembershipEvent::Forgotten { peer_id, .. } if peer_id == "older")
            ),
            "{ev:?}"
        );
        // srv2 stays down; after forget_after it is dropped.
        assert!(m.get("other").is_some());
        m.tick(t0 + s(18 + 99));
        assert!(m.get("other").is_some());
        let ev = m.tick(t0 + s(18 + 100));
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
}
