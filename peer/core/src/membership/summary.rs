//! Zone summaries: what one zone tells the others on the global topic, how often, and what
//! a peer takes from another zone's (or its own zone's) summary.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::{Heartbeat, MemberStatus, Membership, MembershipEvent, SummaryEntry, ZoneSummary};

impl Membership {
    /// Zones known (this one included): those with a member not known to have left.
    ///
    /// Counted again only after a change that may move it: counting the zones of 500
    /// members several times a round was a visible share of an idle peer's CPU in the
    /// 500-peer WAN bed, while the status changes of a churning table do not move it.
    pub fn zone_count(&self) -> usize {
        if let Some(n) = self.zone_count.get() {
            return n;
        }
        let n = self.count_zones();
        self.zone_count.set(Some(n));
        n
    }

    fn count_zones(&self) -> usize {
        let mut zones: BTreeSet<&str> = self
            .members
            .values()
            .filter(|m| m.status != MemberStatus::Left)
            .map(|m| m.info.zone.as_str())
            .collect();
        zones.insert(self.my_zone.as_str());
        zones.len()
    }

    /// How many `summary_interval`s a zone's summary period lasts: ⌈zones /
    /// `summaries_per_interval`⌉ (at least 1). Every zone sends one summary per period, so
    /// the global topic carries at most `summaries_per_interval` per interval in all, and a
    /// peer's share of it stays constant as zones are added (issue 17: with a fixed period a
    /// peer received zones/2 s summaries, each several times over the gossip mesh and each
    /// copy signature-checked, and from ~50 zones the one-process bed fell behind).
    pub fn summary_factor(&self) -> u32 {
        let per = self.swim.summaries_per_interval.max(1);
        self.zone_count().div_ceil(per).max(1) as u32
    }

    /// This zone's summary period: `summary_interval × summary_factor`.
    pub fn summary_period(&self) -> Duration {
        self.swim.summary_interval * self.summary_factor()
    }

    /// Whether this peer sends its zone's summary in the round of `now_ms` (rounds of
    /// `period`, shifted by an offset per zone so that the zones' summaries spread over the
    /// period instead of bunching at its start): the members of the zone that are alive (this
    /// one included), by peer id, take turns.
    pub fn is_summary_sender(&self, now_ms: u64, period: Duration) -> bool {
        self.summary_round(now_ms, period).is_some()
    }

    /// The round of `now_ms` (see [`Membership::is_summary_sender`]) if this peer is its
    /// sender: the caller publishes once per round.
    pub fn summary_round(&self, now_ms: u64, period: Duration) -> Option<u64> {
        let period_ms = (period.as_millis() as u64).max(1);
        let h = blake3::hash(self.my_zone.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.as_bytes()[..8]);
        let offset = u64::from_le_bytes(b) % period_ms;
        let round = now_ms.saturating_add(offset) / period_ms;
        let mut alive: Vec<&str> = self
            .local_members()
            .filter(|m| m.status == MemberStatus::Alive)
            .map(|m| m.peer_id.as_str())
            .chain(std::iter::once(self.my_peer_id.as_str()))
            .collect();
        alive.sort_unstable();
        let i = (round % alive.len() as u64) as usize;
        (alive.get(i) == Some(&self.my_peer_id.as_str())).then_some(round)
    }

    /// This zone's summary: `me` (this peer's heartbeat) and the zone's members.
    pub fn summary(&self, mut me: Heartbeat, now_ms: u64) -> ZoneSummary {
        me.suspects.clear();
        let status = if me.leaving {
            MemberStatus::Left
        } else {
            MemberStatus::Alive
        };
        let mut members = vec![SummaryEntry {
            peer_id: self.my_peer_id.clone(),
            status,
            info: me,
        }];
        members.extend(
            self.local_members()
                .filter(|m| !m.legacy && m.info.incarnation != 0)
                .map(|m| SummaryEntry {
                    peer_id: m.peer_id.clone(),
                    status: m.status,
                    info: m.info.clone(),
                }),
        );
        ZoneSummary {
            zone: self.my_zone.clone(),
            at_ms: now_ms,
            members,
            period_ms: self.summary_period().as_millis() as u64,
        }
    }

    /// Every zone's latest summary as this peer holds it, for a peer that just started
    /// ([`crate::net::wire::SwimRequest::Zones`]): [`Membership::summaries_since`] an asker
    /// that holds nothing.
    pub fn summaries(&self, me: Heartbeat, now_ms: u64) -> Vec<ZoneSummary> {
        self.summaries_since(me, now_ms, &BTreeMap::new())
    }

    /// The `at_ms` of every zone's newest summary this peer took (its own zone's: the newest
    /// it published or took): what it sends in a periodic pull
    /// ([`crate::net::wire::SwimRequest::ZonesSince`]) so the answer holds only what it lacks.
    /// Its own zone is asked for too: in a zone of two whose link fails, each member calls
    /// the other down, and the refutation a member published reaches its mate by gossip or
    /// not at all (issue 17's bed: p0166 held p0416 down for minutes after p0416 refuted,
    /// while every other zone held p0416's summary saying so).
    pub fn zones_digest(&self) -> BTreeMap<String, u64> {
        let mut d: BTreeMap<String, u64> = self
            .zones
            .iter()
            .map(|(z, (_, at_ms, _))| (z.clone(), *at_ms))
            .collect();
        d.insert(self.my_zone.clone(), self.own_zone_at);
        d
    }

    /// This peer published its zone's summary made at `at_ms` (no pull brings it back).
    pub fn published_summary(&mut self, at_ms: u64) {
        self.own_zone_at = self.own_zone_at.max(at_ms);
    }

    /// The zones' summaries an asker holding `held` (zone → `at_ms` of its newest summary)
    /// lacks, built from this view:
    /// - this zone's own summary, made now, when the asker holds none of it from the last
    ///   period (it missed the zone's turn);
    /// - one per other zone heard of whose newest summary taken here is newer than the
    ///   asker's, with the members this view holds in it, their statuses as held, and that
    ///   summary's `at_ms` and period (so a newer one the asker has wins, and the same one
    ///   does not restart its silence timer).
    ///
    /// A zone held silent here (no member alive) is left out: its old summary would pass for
    /// news. The start's pull asks with nothing held; the periodic one (memberlist's
    /// push-pull) repairs what gossip lost, in one answer instead of the zones' next turns.
    pub fn summaries_since(
        &self,
        me: Heartbeat,
        now_ms: u64,
        held: &BTreeMap<String, u64>,
    ) -> Vec<ZoneSummary> {
        let newer = |zone: &str, at_ms: u64| held.get(zone).is_none_or(|h| *h < at_ms);
        let mut by_zone: BTreeMap<&str, Vec<SummaryEntry>> = BTreeMap::new();
        for m in self.members.values() {
            if self.local(m) || m.legacy || m.info.incarnation == 0 {
                continue;
            }
            if let Some((_, at_ms, _)) = self.zones.get(m.info.zone.as_str())
                && newer(&m.info.zone, *at_ms)
            {
                by_zone
                    .entry(m.info.zone.as_str())
                    .or_default()
                    .push(SummaryEntry {
                        peer_id: m.peer_id.clone(),
                        status: m.status,
                        info: m.info.clone(),
                    });
            }
        }
        let period_ms = self.summary_period().as_millis() as u64;
        let mut out = Vec::new();
        if newer(&self.my_zone, now_ms.saturating_sub(period_ms)) {
            out.push(self.summary(me, now_ms));
        }
        by_zone.retain(|_, members| members.iter().any(|e| e.status == MemberStatus::Alive));
        out.extend(by_zone.into_iter().filter_map(|(zone, members)| {
            let (_, at_ms, period_ms) = self.zones.get(zone)?;
            Some(ZoneSummary {
                zone: zone.to_string(),
                at_ms: *at_ms,
                members,
                period_ms: *period_ms,
            })
        }));
        out
    }

    /// A zone's summary arrived on the global topic.
    pub fn on_summary(&mut self, s: ZoneSummary, now: Instant) -> Vec<MembershipEvent> {
        let events = self.take_summary(s, now);
        self.changed(events)
    }

    fn take_summary(&mut self, s: ZoneSummary, now: Instant) -> Vec<MembershipEvent> {
        let mut events = Vec::new();
        if s.zone == self.my_zone {
            // Our own zone's liveness is ours to probe; a summary only introduces members we
            // have not heard of, and passes on what a member alive in it said last (its
            // addresses: a peer that joined through another zone, or restarted on new ports,
            // learns its neighbours' here; a newer key than the one we condemned brings it
            // back, as its own heartbeat would).
            self.own_zone_at = self.own_zone_at.max(s.at_ms);
            let by = s
                .members
                .first()
                .map(|e| e.peer_id.clone())
                .unwrap_or_default();
            for e in s.members {
                if e.peer_id == self.my_peer_id {
                    // A zone member holds this peer suspect or down (its summary tells every
                    // zone so): refute it here too. Its heartbeat rumour may never come when
                    // the connection between us is what failed, and until then the other
                    // zones would take the two senders' words in turn (alive, down, alive...).
                    if matches!(e.status, MemberStatus::Suspect | MemberStatus::Down)
                        && e.info.incarnation == self.my_incarnation
                        && e.info.refutes >= self.my_refutes
                    {
                        self.my_refutes = e.info.refutes + 1;
                        events.push(MembershipEvent::Refuted { by: by.clone() });
                    }
                    continue;
                }
                if !self.compatible(&e.info) || (self.is_legacy(&e.peer_id) && !e.info.swim) {
                    continue;
                }
                let known = self.members.contains_key(&e.peer_id);
                if (!known && e.status != MemberStatus::Left)
                    || (known && e.status == MemberStatus::Alive)
                {
                    let peer_id = e.peer_id.clone();
                    events.extend(self.take_info(&peer_id, e.info, now, true));
                    if !known && let Some(m) = self.members.get_mut(&peer_id) {
                        m.second_hand_since = Some(now);
                    }
                }
            }
            return events;
        }
        // An older summary, or the same one again (a pulled copy of what this peer holds
        // must not restart the zone's silence timer).
        if self
            .zones
            .get(&s.zone)
            .is_some_and(|(_, at, _)| *at >= s.at_ms)
        {
            return events;
        }
        self.zones
            .insert(s.zone.clone(), (now, s.at_ms, s.period_ms));
        for e in s.members {
            if e.peer_id == self.my_peer_id
                || e.info.zone != s.zone
                || !self.compatible(&e.info)
                || (self.is_legacy(&e.peer_id) && !e.info.swim)
            {
                continue;
            }
            // A suspicion stays in its zone: other zones take the zone's word on deaths and
            // departures, and read a member it merely suspects as alive (SWIM's suspect is
            // still a member, and most suspicions are refuted within a probe period). Taking
            // it turned every flap in a zone of two into ~1 000 status changes in the other
            // zones' views of issue 17's 500-peer bed, each undone only by the refutation's
            // summary, and that churn kept the one-process bed from ever settling.
            let said = e.status;
            let status = match said {
                MemberStatus::Suspect => MemberStatus::Alive,
                s => s,
            };
            let (entry_key, entry_incarnation) = (e.info.key(), e.info.incarnation);
            let prior_key = self.members.get(&e.peer_id).map(|m| m.info.key());
            let known = prior_key.is_some();
            events.extend(self.take_info(&e.peer_id, e.info, now, false));
            let Some(m) = self.members.get_mut(&e.peer_id) else {
                continue;
            };
            if !known {
                // take_info made it alive (or left); the zone's word decides.
                // Report one first sighting with the zone's status, not two changes.
                if m.set(status, now).is_some()
                    && let Some(MembershipEvent::Status { to, .. }) = events.last_mut()
                {
                    *to = status;
                }
                continue;
            }
            if entry_key < m.info.key() {
                continue;
            }
            // Down outranks suspect for the same key (SWIM's precedence): the zone's members
            // confirm a death within milliseconds of each other, and another sender's summary
            // of the same moment may still say suspect. Taking it turned a confirmed death
            // back into a suspicion for a whole summary period (issue 17: a view of another
            // zone took 5.3 s). A refutation comes with a newer key.
            if m.status == MemberStatus::Down
                && said == MemberStatus::Suspect
                && prior_key.is_some_and(|k| entry_key <= k)
            {
                continue;
            }
            if m.status == MemberStatus::Left && status != MemberStatus::Left {
                // Left stays left until a newer incarnation speaks (take_info saw to that).
                if entry_incarnation <= m.info.incarnation {
                    continue;
                }
            }
            if status == MemberStatus::Alive {
                m.last_heard = now;
            }
            events.extend(m.set(status, now));
        }
        events
    }
}
