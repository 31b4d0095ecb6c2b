//! Cluster membership and failure detection, free of I/O and clocks (issue 17).
//!
//! **Inside a zone** (full connections): liveness comes from SWIM probing
//! ([`crate::swim::Prober`] decides when a member *failed a probe*; this table runs what
//! follows). Every peer also publishes a [`Heartbeat`] on its zone's gossip topic every
//! `heartbeat_interval`: it carries what the others show about the member (addresses, HTTP,
//! root digest, online counts) and, piggybacked, this peer's **rumours**: the members it
//! suspects by its own failed probe and those it holds down. Heartbeats carry no liveness by
//! their timing: a burst of queued heartbeats after a heal cannot upset anything.
//!
//! ```text
//!             heartbeat               failed probe / suspect rumour        suspicion timeout
//!   (new) ──────────────▶ alive ──────────────────────────────────▶ suspect ────────────────▶ down
//!                           ▲ ◀── heartbeat with a newer key (refuted or restarted) ─┘        │
//!                           └───────────────── heartbeat with a newer key ─────────────────────┘
//!   alive/suspect ── down rumour (key ≥ ours) ──▶ down
//!   any ── leave message ──▶ left   (planned shutdown: never suspected, never "down")
//!   left ── heartbeat of a newer incarnation ──▶ alive
//! ```
//!
//! A member's **key** is `(incarnation, refutes)`: the incarnation is its process start time
//! (a restart supersedes everything), `refutes` counts the suspicions it refuted in this life.
//! A rumour about a member applies only if its key is at least the one we hold; a member that
//! hears itself suspected or declared down raises `refutes` and says so in its next heartbeat
//! (sent at once), which brings it back to alive everywhere. The suspicion timeout follows
//! Lifeguard: `suspicion_max_multiplier × suspicion_timeout` without confirmations, falling to
//! `suspicion_timeout` as other members' independent suspicions arrive.
//!
//! **Across zones** (a bounded number of connections): every `summary_interval` one member of
//! each zone, rotating, publishes a [`ZoneSummary`] (its zone's members, their states and
//! latest heartbeats) on the global topic. Members of other zones take their status from the
//! newest summary of their zone; a zone whose summaries stop for `summary_timeout` has its
//! members suspected, and declared down after the WAN `suspicion_timeout`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

mod detect;
mod messages;
pub use messages::{AdvertisedAddrs, Heartbeat, Rumour, SummaryEntry, ZoneSummary};

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
    /// Unused since SWIM replaced phi accrual (issue 17); still accepted so that older
    /// configuration files load.
    #[serde(default)]
    pub phi_threshold: f64,
    /// LAN: the shortest suspicion before a zone member is declared down (Lifeguard starts at
    /// `suspicion_max_multiplier` times this). WAN: how long a member of another zone whose
    /// summaries stopped stays suspect before it is declared down. (LAN 2 s, WAN 60 s.)
    #[serde(with = "crate::config::duration_ms", rename = "suspicion_timeout_ms")]
    pub suspicion_timeout: Duration,
    /// Unused since SWIM replaced phi accrual (issue 17); still accepted.
    #[serde(default)]
    pub window: usize,
}

impl DetectorConfig {
    /// Defaults for members of the observer's own zone.
    pub fn lan() -> Self {
        Self {
            phi_threshold: 8.0,
            suspicion_timeout: Duration::from_secs(2),
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

/// A member of the previous release is suspected after this many of its heartbeat intervals
/// without one.
pub const LEGACY_SILENT_INTERVALS: u32 = 3;

/// A zone mate named only by its zone's summary is not probed for this many summary timeouts
/// (2 × 6 s by default) unless it is heard first-hand before ([`Membership::probe_targets`]).
pub const SECOND_HAND_GRACE: u32 = 2;

/// SWIM and summary timings the table needs (`[membership]` keys).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwimTimings {
    /// Suspicion without confirmations lasts this many LAN suspicion timeouts (2).
    pub suspicion_max_multiplier: u32,
    /// Helpers per indirect probe: the number of confirmations Lifeguard expects (3).
    pub indirect_probes: usize,
    /// A zone silent this long has its members suspected (6 s), while the summary period is
    /// `summary_interval`; it stretches with the period.
    pub summary_timeout: Duration,
    /// Base period of a zone's summaries (2 s).
    pub summary_interval: Duration,
    /// Zone summaries the whole cluster sends per `summary_interval` at most (20): with more
    /// zones the period stretches to `summary_interval × ⌈zones / this⌉`, so that a peer
    /// receives at most this many summaries per interval however many zones there are.
    pub summaries_per_interval: usize,
}

impl Default for SwimTimings {
    fn default() -> Self {
        Self {
            suspicion_max_multiplier: 2,
            indirect_probes: 3,
            summary_timeout: Duration::from_secs(6),
            summary_interval: Duration::from_secs(2),
            summaries_per_interval: 20,
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
    /// When the latest heartbeat (or, for other zones, summary naming it) arrived.
    pub last_heard: Instant,
    suspect_since: Option<Instant>,
    /// When the status last changed.
    since: Instant,
    /// Members whose independent suspicion of this one we heard (this peer included when its
    /// own probe failed): Lifeguard's confirmations.
    suspectors: BTreeSet<String>,
    /// A peer of the previous release (flooded heartbeats, no SWIM): its liveness follows
    /// the timing of its heartbeats on the old topic; it is neither probed nor asked to help.
    legacy: bool,
    /// When a zone mate was first named to this peer by its zone's summary, until it is heard
    /// first-hand (its heartbeat, a connection, an answered probe): it is not probed before it
    /// could be dialled ([`Membership::probe_targets`]).
    second_hand_since: Option<Instant>,
}

impl Member {
    fn new(peer_id: String, info: Heartbeat, status: MemberStatus, now: Instant) -> Self {
        Self {
            peer_id,
            info,
            status,
            last_heard: now,
            suspect_since: (status == MemberStatus::Suspect).then_some(now),
            since: now,
            suspectors: BTreeSet::new(),
            legacy: false,
            second_hand_since: None,
        }
    }

    /// A peer of the previous release (heard on the old heartbeat topic only).
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// When the status last changed.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// Silence at `now`, in the member's announced heartbeat intervals (diagnostics only: it
    /// no longer decides liveness; the name stays for the JSON field and metric).
    pub fn phi(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.last_heard).as_secs_f64()
            / ((self.info.interval_ms.max(1) as f64) / 1000.0)
    }

    fn set(&mut self, to: MemberStatus, now: Instant) -> Option<MembershipEvent> {
        let from = self.status;
        if from == to {
            return None;
        }
        self.status = to;
        self.since = now;
        if to == MemberStatus::Suspect {
            self.suspect_since = Some(now);
        } else {
            self.suspect_since = None;
            self.suspectors.clear();
        }
        Some(MembershipEvent::Status {
            peer_id: self.peer_id.clone(),
            name: self.info.name.clone(),
            from: Some(from),
            to,
        })
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
    /// This peer heard itself suspected or declared down and refuted it (its key grew):
    /// publish a heartbeat now.
    Refuted {
        /// The rumour's author (peer id).
        by: String,
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
    swim: SwimTimings,
    forget_after: Duration,
    members: BTreeMap<String, Member>,
    /// This peer's wire protocol and the oldest it works beside.
    protocol: (u32, u32),
    /// Peers refused for their wire protocol, by peer id.
    refused: BTreeMap<String, Refusal>,
    /// This peer's key: incarnation and refutations.
    my_incarnation: u64,
    my_refutes: u32,
    /// Per other zone: when its newest summary arrived, the sender's clock on it and the
    /// sender's summary period (ms, 0 if it did not say).
    zones: BTreeMap<String, (Instant, u64, u64)>,
    /// The sender's clock on the newest summary of this peer's own zone it published or took
    /// ([`Membership::zones_digest`]: a pull brings the zone's newer ones back).
    own_zone_at: u64,
    /// Counts changes of what the table shows (members added or dropped, a status, a name,
    /// zone, role or address): [`Membership::generation`].
    generation: u64,
    /// [`Membership::zone_count`], `None` after a change that may move it (a member added,
    /// dropped, leaving or back, or in a new zone): it is asked several times a round.
    zone_count: std::cell::Cell<Option<usize>>,
    /// The generation at which `tick` last looked for members down or gone under the name of
    /// an alive one (the answer changes only with the table).
    names_checked: std::cell::Cell<Option<u64>>,
    /// [`Membership::mates`] and the generation it was listed at.
    mates: std::cell::RefCell<Option<(u64, Arc<[String]>)>>,
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
            swim: SwimTimings::default(),
            forget_after: Duration::from_secs(24 * 3600),
            members: BTreeMap::new(),
            protocol: crate::net::wire::spoken(),
            refused: BTreeMap::new(),
            my_incarnation: 0,
            my_refutes: 0,
            zones: BTreeMap::new(),
            own_zone_at: 0,
            generation: 0,
            zone_count: std::cell::Cell::new(None),
            names_checked: std::cell::Cell::new(None),
            mates: std::cell::RefCell::new(None),
        }
    }

    /// A number that changes whenever a member is added or dropped, changes status, or says
    /// a new name, zone, role or address (not on every heartbeat): readers that derive
    /// something from the whole table (the Load Driver's agent hints, the zone count) redo
    /// it only when this moved. Walking every member every round cost an idle peer of the
    /// 500-peer WAN bed more than its gossip did.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// `events` are what a change did: a non-empty list moves the generation.
    fn changed(&mut self, events: Vec<MembershipEvent>) -> Vec<MembershipEvent> {
        if !events.is_empty() {
            self.generation += 1;
        }
        let zones_may_move = events.iter().any(|e| match e {
            MembershipEvent::Status { from, to, .. } => {
                from.is_none() || *from == Some(MemberStatus::Left) || *to == MemberStatus::Left
            }
            MembershipEvent::Forgotten { .. } => true,
            MembershipEvent::Refuted { .. } | MembershipEvent::Refused { .. } => false,
        });
        if zones_may_move {
            self.zone_count.set(None);
        }
        events
    }

    /// Use these SWIM and summary timings (defaults: [`SwimTimings::default`]).
    pub fn with_swim(mut self, swim: SwimTimings) -> Self {
        self.swim = swim;
        self
    }

    /// This peer's incarnation (rumours about an older one are not refuted).
    pub fn with_incarnation(mut self, incarnation: u64) -> Self {
        self.my_incarnation = incarnation;
        self
    }

    /// This peer's refutation count, for its heartbeat.
    pub fn my_refutes(&self) -> u32 {
        self.my_refutes
    }

    /// This peer's zone.
    pub fn my_zone(&self) -> &str {
        &self.my_zone
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

    fn local(&self, m: &Member) -> bool {
        m.info.zone == self.my_zone
    }

    /// The peer ids of this zone's members (whatever their status), listed again only when
    /// the [`Membership::generation`] moves (a member added or dropped, or a new zone). The
    /// prober asks ten times a second: filtering 500 members by zone name each time, in each
    /// of the WAN bed's 500 peers, was its largest share of CPU (`memcmp`).
    fn mates(&self) -> Arc<[String]> {
        if let Some((g, ids)) = &*self.mates.borrow()
            && *g == self.generation
        {
            return ids.clone();
        }
        let ids: Arc<[String]> = self
            .members
            .values()
            .filter(|m| self.local(m))
            .map(|m| m.peer_id.clone())
            .collect();
        *self.mates.borrow_mut() = Some((self.generation, ids.clone()));
        ids
    }

    /// This zone's members (whatever their status; this peer is not one), listed once per
    /// change of the table rather than filtered from every member at each call.
    pub fn local_members(&self) -> impl Iterator<Item = &Member> {
        let ids = self.mates();
        (0..ids.len()).filter_map(move |i| self.members.get(ids[i].as_str()))
    }

    /// Seed a member known from the metastore but not heard from yet: it starts as `suspect`
    /// (so it is dialed, and declared down if it stays silent).
    pub fn add_known(&mut self, peer_id: String, info: Heartbeat, now: Instant) {
        if peer_id == self.my_peer_id || self.members.contains_key(&peer_id) {
            return;
        }
        let m = Member::new(peer_id.clone(), info, MemberStatus::Suspect, now);
        self.members.insert(peer_id, m);
        self.generation += 1;
        self.zone_count.set(None);
    }

    /// A heartbeat published by `peer_id` (the authenticated gossip source) on this peer's
    /// zone topic arrived.
    pub fn on_heartbeat(
        &mut self,
        peer_id: &str,
        hb: Heartbeat,
        now: Instant,
    ) -> Vec<MembershipEvent> {
        let events = self.take_heartbeat(peer_id, hb, now);
        self.changed(events)
    }

    fn take_heartbeat(
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
            if self.members.remove(peer_id).is_some() {
                self.generation += 1;
                self.zone_count.set(None);
            }
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
        self.on_contact(peer_id);
        let rumours = hb.suspects.clone();
        let mut events = self.take_info(peer_id, hb, now, true);
        if !events.is_empty() || self.members.contains_key(peer_id) {
            events.extend(self.on_rumours(peer_id, &rumours, now));
        }
        events
    }

    /// A heartbeat on the old cluster-wide topic ([`crate::net::wire::TOPIC_MEMBERS`]), where
    /// only peers of the previous release publish on their own (flooded heartbeats, no SWIM
    /// probes answered). Peers of this release copy their heartbeat there (marked `swim`)
    /// while such a peer is known ([`Membership::has_legacy`]) so that it sees them: those
    /// copies are ignored here. A legacy member is alive while its heartbeats come: suspect
    /// after [`LEGACY_SILENT_INTERVALS`] of its intervals of silence, down after the
    /// suspicion timeout more, as before issue 17.
    pub fn on_legacy_heartbeat(
        &mut self,
        peer_id: &str,
        hb: Heartbeat,
        now: Instant,
    ) -> Vec<MembershipEvent> {
        if hb.swim || peer_id == self.my_peer_id {
            return Vec::new();
        }
        let newer = self
            .members
            .get(peer_id)
            .is_none_or(|m| (hb.incarnation, hb.seq) > (m.info.incarnation, m.info.seq));
        let leaving = hb.leaving;
        let mut events = self.on_heartbeat(peer_id, hb, now);
        if let Some(m) = self.members.get_mut(peer_id) {
            m.legacy = true;
            if newer {
                m.last_heard = now;
                if !leaving && matches!(m.status, MemberStatus::Suspect | MemberStatus::Down) {
                    events.extend(m.set(MemberStatus::Alive, now));
                }
            }
        }
        self.changed(events)
    }

    /// Whether a peer of the previous release is alive or suspect here: this peer then also
    /// publishes its heartbeat on the old topic.
    pub fn has_legacy(&self) -> bool {
        self.members
            .values()
            .any(|m| m.legacy && matches!(m.status, MemberStatus::Alive | MemberStatus::Suspect))
    }

    /// Record `hb` as `peer_id`'s latest word. `direct`: from the member itself (its status
    /// follows its key); else from a summary (the caller sets the status).
    fn take_info(
        &mut self,
        peer_id: &str,
        mut hb: Heartbeat,
        now: Instant,
        direct: bool,
    ) -> Vec<MembershipEvent> {
        hb.suspects.clear();
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
                    Member::new(peer_id.to_string(), hb, to, now),
                );
                self.generation += 1;
                self.zone_count.set(None);
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
                let refuted = hb.key() > m.info.key() || known_seed;
                if hb.swim {
                    // Upgraded: probed from now on.
                    m.legacy = false;
                }
                if (
                    &m.info.name,
                    &m.info.zone,
                    &m.info.role,
                    &m.info.http,
                    &m.info.addrs,
                ) != (&hb.name, &hb.zone, &hb.role, &hb.http, &hb.addrs)
                {
                    self.generation += 1;
                    self.zone_count.set(None);
                }
                m.info = hb;
                m.last_heard = now;
                if !direct {
                    return Vec::new();
                }
                // Liveness follows keys, not timing: a suspect or down member comes back only
                // by refuting (or restarting), so a burst of queued heartbeats changes nothing.
                let back = match m.status {
                    MemberStatus::Alive => false,
                    MemberStatus::Suspect | MemberStatus::Down | MemberStatus::Left => refuted,
                };
                if to == MemberStatus::Left || back {
                    m.set(to, now).into_iter().collect()
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Rumours from `from` (piggybacked on its heartbeat).
    fn on_rumours(&mut self, from: &str, rumours: &[Rumour], now: Instant) -> Vec<MembershipEvent> {
        let mut events = Vec::new();
        for r in rumours {
            if r.peer_id == self.my_peer_id {
                if r.incarnation == self.my_incarnation && r.refutes >= self.my_refutes {
                    self.my_refutes = r.refutes + 1;
                    events.push(MembershipEvent::Refuted {
                        by: from.to_string(),
                    });
                }
                continue;
            }
            let my_zone = self.my_zone.clone();
            let Some(m) = self.members.get_mut(&r.peer_id) else {
                continue;
            };
            if m.info.zone != my_zone
                || m.status == MemberStatus::Left
                || (r.incarnation, r.refutes) < m.info.key()
            {
                continue;
            }
            if r.down {
                events.extend(m.set(MemberStatus::Down, now));
            } else {
                match m.status {
                    MemberStatus::Alive => {
                        events.extend(m.set(MemberStatus::Suspect, now));
                        m.suspectors.insert(from.to_string());
                    }
                    MemberStatus::Suspect => {
                        m.suspectors.insert(from.to_string());
                    }
                    _ => {}
                }
            }
        }
        events
    }

    /// This peer's own probe of `peer_id` failed ([`crate::swim::Prober`]): suspect it.
    pub fn on_probe_failed(&mut self, peer_id: &str, now: Instant) -> Vec<MembershipEvent> {
        let me = self.my_peer_id.clone();
        let Some(m) = self.members.get_mut(peer_id) else {
            return Vec::new();
        };
        let mut events = Vec::new();
        match m.status {
            MemberStatus::Alive => {
                events.extend(m.set(MemberStatus::Suspect, now));
                m.suspectors.insert(me);
            }
            MemberStatus::Suspect => {
                m.suspectors.insert(me);
            }
            _ => {}
        }
        self.changed(events)
    }

    /// `peer_id` was heard first-hand: connected, answered a probe, or its own heartbeat.
    pub fn on_contact(&mut self, peer_id: &str) {
        if let Some(m) = self.members.get_mut(peer_id) {
            m.second_hand_since = None;
        }
    }

    /// Members of this zone worth probing at `now`: alive or suspect, except a mate that only
    /// its zone's summary has named so far, for [`SECOND_HAND_GRACE`] summary timeouts after
    /// that (issue 17's WAN bed: such a mate, probed before any connection to it existed,
    /// failed its probe and the repeat at once and was suspected by its zone mate within
    /// seconds of start-up: 338 own-zone status changes in 200 s at 500 peers / 250 zones).
    /// After the grace a mate never reached is probed like any other, so one that is dead is
    /// still found.
    pub fn probe_targets(&self, now: Instant) -> Vec<String> {
        let grace = self.swim.summary_timeout * SECOND_HAND_GRACE;
        self.local_members()
            .filter(|m| !m.legacy)
            .filter(|m| matches!(m.status, MemberStatus::Alive | MemberStatus::Suspect))
            .filter(|m| {
                m.second_hand_since
                    .is_none_or(|at| now.saturating_duration_since(at) >= grace)
            })
            .map(|m| m.peer_id.clone())
            .collect()
    }

    /// The rumours this peer piggybacks: zone members it suspects by its own failed probe,
    /// and those it holds down.
    pub fn rumours(&self) -> Vec<Rumour> {
        self.local_members()
            .filter(|m| !m.legacy)
            .filter(|m| {
                m.status == MemberStatus::Down
                    || (m.status == MemberStatus::Suspect
                        && m.suspectors.contains(&self.my_peer_id))
            })
            .map(|m| Rumour {
                peer_id: m.peer_id.clone(),
                incarnation: m.info.incarnation,
                refutes: m.info.refutes,
                down: m.status == MemberStatus::Down,
            })
            .collect()
    }

    /// Whether `peer_id` is a member of the previous release (its own heartbeats decide).
    fn is_legacy(&self, peer_id: &str) -> bool {
        self.members.get(peer_id).is_some_and(|m| m.legacy)
    }

    fn compatible(&self, hb: &Heartbeat) -> bool {
        crate::net::wire::compatible(self.protocol, (hb.protocol, hb.min_protocol)).is_ok()
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

mod summary;

#[cfg(test)]
mod tests;
