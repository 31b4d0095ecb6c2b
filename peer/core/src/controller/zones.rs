//! The zones' summaries from this peer's side: its turn to publish, the out-of-turn
//! publications (a death confirmed here, a refutation, a new zone mate, its own start), and
//! the pull of every zone's latest summary from the first peers it connects to.
//!
//! ```text
//!   start ──► connect to a peer ──► SwimRequest::Zones ──► every zone it holds, one answer
//!         └─► this zone's sender publishes out of turn: the other zones hear of it
//!   every zones_pull_interval ──► one connected peer, in turn ──► SwimRequest::ZonesSince
//!         (what this peer holds) ──► only the summaries newer than that
//! ```
//!
//! Until issue 17's 500-peer bed, a newcomer learned the other zones by a chain: every zone's
//! sender, seeing a member for the first time, published out of turn. With Z zones each start
//! cost Z broadcasts, every copy signature-checked by every peer: the start-up's load.

use std::collections::BTreeMap;
use std::time::Instant;

use libp2p::PeerId;
use tokio::task::JoinSet;

use super::{Controller, ProbeReply, spawn_job};
use crate::membership::{MembershipEvent, ZoneSummary};
use crate::net::wire::{Gossip, SwimRequest, SwimResponse, TOPIC_ZONES};

/// From how many peers a starting peer pulls every zone's summary: one. What the first
/// answer lacked (its peer may itself have just started) comes with the periodic pull of
/// what is newer, within `zones_pull_interval` (it was two answers before that pull).
pub(super) const PULL_FROM: u32 = 1;

/// How many peers a starting peer asks at most (an older peer cannot answer). Later, the
/// zones' turns and the periodic pull of what is newer keep the view.
pub(super) const PULL_ASK: u32 = 4;

/// A starting peer's pulls of the zones' summaries.
#[derive(Debug, Default)]
pub(super) struct ZonesPull {
    /// Answers taken.
    pub(super) done: u32,
    /// Pulls sent.
    pub(super) asked: u32,
    /// A pull awaiting its answer.
    pub(super) in_flight: bool,
    /// Periodic pulls sent (the next asks the connected peer after the last one asked).
    pub(super) rounds: u64,
    /// A periodic pull awaiting its answer.
    pub(super) since_in_flight: bool,
}

impl Controller {
    /// Publish this zone's summary if it is this peer's turn and it has not yet in this round
    /// (rounds last the summary period, which grows with the number of zones).
    pub(super) fn summary(&mut self, jobs: &mut JoinSet<()>) {
        let now_ms = crate::now_ms();
        let round = {
            let members = self.shared.members.lock();
            members.summary_round(now_ms, members.summary_period())
        };
        if let Some(r) = round
            && self.last_summary_round != Some(r)
        {
            self.last_summary_round = Some(r);
            self.publish_summary(jobs);
        }
    }

    /// Publish this zone's summary now: at this peer's turn, and out of turn (urgent) when a
    /// death in the zone is confirmed here or this peer refuted a suspicion of itself.
    pub(super) fn publish_summary(&mut self, jobs: &mut JoinSet<()>) {
        let now_ms = crate::now_ms();
        let Gossip::Heartbeat(me) = self.make_heartbeat(false) else {
            return;
        };
        let msg = {
            let mut members = self.shared.members.lock();
            members.published_summary(now_ms);
            Gossip::Summary(members.summary(me, now_ms)).encode()
        };
        let net = self.shared.net.clone();
        crate::metrics::metrics().membership_messages.inc();
        spawn_job(jobs, async move {
            if let Err(e) = net.publish(TOPIC_ZONES, msg).await {
                tracing::debug!("summary: {e}");
            }
        });
    }

    /// Publish this zone's summary out of turn if this peer is the round's sender, at most
    /// every quarter summary period: a member of this zone heard of for the first time (a
    /// mate that just started), or this peer's own start, reaches the other zones now rather
    /// than at the zone's turn.
    pub(super) fn announce(&mut self, jobs: &mut JoinSet<()>) {
        let now = Instant::now();
        let (sender, period) = {
            let members = self.shared.members.lock();
            let period = members.summary_period();
            (members.is_summary_sender(crate::now_ms(), period), period)
        };
        let quiet = self
            .last_newcomer_summary
            .is_none_or(|t| now.saturating_duration_since(t) >= period / 4);
        if quiet && sender {
            self.last_newcomer_summary = Some(now);
            self.publish_summary(jobs);
        }
    }

    /// Whether `evs` name a member of this zone for the first time.
    pub(super) fn new_zone_mate(&self, evs: &[MembershipEvent]) -> bool {
        let members = self.shared.members.lock();
        evs.iter().any(|ev| {
            matches!(ev, MembershipEvent::Status { peer_id, from: None, .. }
                if members.get(peer_id).is_some_and(|m| m.info.zone == self.shared.me.zone))
        })
    }

    /// Take zones' summaries (one gossiped, or a pull's answer), under one lock: a mate
    /// connected before any summary named it was heard first-hand already (the connection
    /// found no member to mark).
    pub(super) fn take_summaries(
        &mut self,
        summaries: impl IntoIterator<Item = ZoneSummary>,
        jobs: &mut JoinSet<()>,
    ) {
        let connected = self.shared.net.connected();
        let evs = {
            let mut members = self.shared.members.lock();
            let now = Instant::now();
            let mut evs = Vec::new();
            for s in summaries {
                evs.extend(members.on_summary(s, now));
            }
            for e in &evs {
                if let MembershipEvent::Status {
                    peer_id,
                    from: None,
                    ..
                } = e
                    && peer_id.parse().is_ok_and(|p| connected.contains(&p))
                {
                    members.on_contact(peer_id);
                }
            }
            evs
        };
        self.after_events(&evs, jobs);
    }

    /// A connection came up: while this peer has pulled from fewer than [`PULL_FROM`] peers
    /// (and asked fewer than [`PULL_ASK`]), ask this one for every zone's summary.
    pub(super) fn pull_zones(&mut self, peer: PeerId, jobs: &mut JoinSet<()>) {
        let pull = &mut self.zones_pull;
        if pull.done >= PULL_FROM || pull.asked >= PULL_ASK || pull.in_flight {
            return;
        }
        pull.in_flight = true;
        pull.asked += 1;
        let (net, tx) = (self.shared.net.clone(), self.probe_tx.clone());
        spawn_job(jobs, async move {
            let answer = match net.swim(peer, SwimRequest::Zones).await {
                Ok(SwimResponse::Zones(s)) => Ok(s),
                Ok(other) => Err(format!("unexpected answer {other:?}")),
                Err(e) => Err(e.to_string()),
            };
            let _ = tx
                .send(ProbeReply::Zones {
                    peer,
                    answer,
                    start: true,
                })
                .await;
        });
    }

    /// The periodic pull (memberlist's push-pull): ask one connected peer, in turn, for the
    /// zones' summaries newer than this peer holds. A summary gossip lost (the mesh drops a
    /// message it cannot forward within a second) comes back within an interval instead of
    /// the zone's next turn, a whole summary period later; and a late summary that outranked
    /// a refutation is overtaken as soon as any peer asked holds the newer one.
    pub(super) fn pull_zones_since(&mut self, jobs: &mut JoinSet<()>) {
        if self.zones_pull.since_in_flight {
            return;
        }
        let mut peers: Vec<PeerId> = self.shared.net.connected().into_iter().collect();
        if peers.is_empty() {
            return;
        }
        peers.sort_unstable();
        let peer = peers[(self.zones_pull.rounds % peers.len() as u64) as usize];
        self.zones_pull.rounds += 1;
        self.zones_pull.since_in_flight = true;
        let held = self.shared.members.lock().zones_digest();
        let (net, tx) = (self.shared.net.clone(), self.probe_tx.clone());
        spawn_job(jobs, async move {
            let answer = match net.swim(peer, SwimRequest::ZonesSince { held }).await {
                Ok(SwimResponse::Zones(s)) => Ok(s),
                Ok(other) => Err(format!("unexpected answer {other:?}")),
                Err(e) => Err(e.to_string()),
            };
            let _ = tx
                .send(ProbeReply::Zones {
                    peer,
                    answer,
                    start: false,
                })
                .await;
        });
    }

    /// The answer to a pull: every summary taken as if gossiped; after the start's first,
    /// this peer's zone is announced once (a zone of one has no mate to announce it).
    pub(super) fn on_zones(
        &mut self,
        peer: PeerId,
        answer: Result<Vec<ZoneSummary>, String>,
        start: bool,
        jobs: &mut JoinSet<()>,
    ) {
        if !start {
            self.zones_pull.since_in_flight = false;
            match answer {
                Ok(s) if !s.is_empty() => {
                    crate::metrics::metrics()
                        .zones_pulled
                        .inc_by(s.len() as u64);
                    tracing::debug!(%peer, zones = s.len(), "pulled newer zones' summaries");
                    self.take_summaries(s, jobs);
                }
                Ok(_) => {}
                // An older peer, or one that went away: the next round asks another.
                Err(e) => tracing::debug!(%peer, "pulling newer zones' summaries: {e}"),
            }
            return;
        }
        self.zones_pull.in_flight = false;
        let summaries = match answer {
            Ok(s) => s,
            Err(e) => {
                // An older peer, or one that went away: the next connection is asked.
                tracing::debug!(%peer, "pulling the zones' summaries: {e}");
                return;
            }
        };
        self.zones_pull.done += 1;
        tracing::debug!(%peer, zones = summaries.len(), "pulled the zones' summaries");
        self.take_summaries(summaries, jobs);
        if self.zones_pull.done == 1 {
            self.announce(jobs);
        }
    }

    /// Answer [`SwimRequest::Zones`] (nothing `held`) or [`SwimRequest::ZonesSince`] from
    /// this peer's view.
    pub(super) fn zones_answer(&mut self, held: &BTreeMap<String, u64>) -> SwimResponse {
        let now_ms = crate::now_ms();
        let Gossip::Heartbeat(me) = self.make_heartbeat(false) else {
            return SwimResponse::Zones(Vec::new());
        };
        SwimResponse::Zones(self.shared.members.lock().summaries_since(me, now_ms, held))
    }
}
