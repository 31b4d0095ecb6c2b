//! The table's timers: each round re-evaluates every member (a suspicion timed out, another
//! zone silent too long, a legacy member silent) and forgets those down or gone long enough.

use std::time::{Duration, Instant};

use super::{LEGACY_SILENT_INTERVALS, MemberStatus, Membership, MembershipEvent};

impl Membership {
    /// Re-evaluate every member at `now`.
    pub fn tick(&mut self, now: Instant) -> Vec<MembershipEvent> {
        let mut events = Vec::new();
        let zone_size = 1 + self
            .local_members()
            .filter(|m| {
                !m.legacy && matches!(m.status, MemberStatus::Alive | MemberStatus::Suspect)
            })
            .count();
        let expected = self.swim.indirect_probes.min(zone_size.saturating_sub(2));
        let min = self.lan.suspicion_timeout;
        let max = min * self.swim.suspicion_max_multiplier.max(1);
        let (my_zone, wan) = (self.my_zone.clone(), self.wan);
        let summary_timeout = self.swim.summary_timeout;
        // The timeout stretches with the summary period: this peer's own factor, or the
        // sender's if it said a longer period (it may know more zones than this peer).
        let own_factor = self.summary_factor();
        let base_ms = (self.swim.summary_interval.as_millis() as u64).max(1);
        for m in self.members.values_mut() {
            let local = m.info.zone == my_zone;
            if m.legacy {
                // As before issue 17: silence decides (no probes to ask).
                let silent = now.saturating_duration_since(m.last_heard);
                let grace =
                    Duration::from_millis(m.info.interval_ms.max(1)) * LEGACY_SILENT_INTERVALS;
                let suspicion = if local { min } else { wan.suspicion_timeout };
                let to = match m.status {
                    MemberStatus::Alive if silent >= grace => Some(MemberStatus::Suspect),
                    MemberStatus::Suspect if silent >= grace + suspicion => {
                        Some(MemberStatus::Down)
                    }
                    _ => None,
                };
                if let Some(to) = to {
                    events.extend(m.set(to, now));
                }
                continue;
            }
            let to = match m.status {
                MemberStatus::Suspect => {
                    let since = m.suspect_since.unwrap_or(now);
                    let timeout = if !local {
                        wan.suspicion_timeout
                    } else if m.info.incarnation == 0 {
                        min
                    } else {
                        crate::swim::suspicion_timeout(
                            min,
                            max,
                            m.suspectors.len().saturating_sub(1),
                            expected,
                        )
                    };
                    (now.saturating_duration_since(since) >= timeout).then_some(MemberStatus::Down)
                }
                MemberStatus::Alive if !local => {
                    let zone = self.zones.get(&m.info.zone);
                    let heard = zone.map_or(m.last_heard, |(t, _, _)| (*t).max(m.last_heard));
                    let factor = zone.map_or(own_factor, |(_, _, period_ms)| {
                        own_factor.max(period_ms.div_ceil(base_ms).min(u32::MAX as u64) as u32)
                    });
                    (now.saturating_duration_since(heard) >= summary_timeout * factor)
                        .then_some(MemberStatus::Suspect)
                }
                _ => None,
            };
            if let Some(to) = to {
                events.extend(m.set(to, now));
            }
        }
        let forget_after = self.forget_after;
        // Most rounds find nobody down or gone: then there is nothing to forget. A member
        // down or gone is also forgotten when another identity is alive under its name;
        // whether one is changes only with the table, so that set of every alive member's
        // name is built only after a change (building it four times a second while any
        // member was down cost 6 % of the 500-peer WAN bed's CPU once it churned).
        let mut stale: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                matches!(m.status, MemberStatus::Down | MemberStatus::Left)
                    && now.saturating_duration_since(m.since) >= forget_after
            })
            .map(|m| m.peer_id.clone())
            .collect();
        let any_gone = self
            .members
            .values()
            .any(|m| matches!(m.status, MemberStatus::Down | MemberStatus::Left));
        if any_gone && self.names_checked.get() != Some(self.generation) {
            self.names_checked.set(Some(self.generation));
            let alive_names: std::collections::HashSet<&str> = self
                .members
                .values()
                .filter(|m| m.status == MemberStatus::Alive)
                .map(|m| m.info.name.as_str())
                .collect();
            stale.extend(
                self.members
                    .values()
                    .filter(|m| {
                        matches!(m.status, MemberStatus::Down | MemberStatus::Left)
                            && alive_names.contains(m.info.name.as_str())
                            && now.saturating_duration_since(m.since) < forget_after
                    })
                    .map(|m| m.peer_id.clone()),
            );
        }
        for p in stale {
            if let Some(m) = self.members.remove(&p) {
                events.push(MembershipEvent::Forgotten {
                    peer_id: m.peer_id,
                    name: m.info.name,
                });
            }
        }
        self.changed(events)
    }
}
