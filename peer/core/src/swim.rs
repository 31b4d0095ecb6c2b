//! SWIM probing inside a zone with Lifeguard's local health, free of I/O and clocks.
//!
//! Every `probe_interval` the [`Prober`] picks the next member of its zone (a shuffled
//! round-robin, so every member is probed within `n - 1` periods by each observer, and about
//! once a period by the zone as a whole) and asks for a direct ack. Without an ack after
//! `probe_timeout` it asks `indirect_probes` other members to probe the target for it
//! (`PingReq`); an ack through any of them counts. Without any ack by the end of the period the
//! target has **failed a probe**: the caller suspects it ([`crate::membership`] runs the
//! suspicion, its timeout and the refutation by incarnation). A member another peer suspects
//! is probed at once ([`Prober::probe_soon`]), beside the round-robin, so independent
//! confirmations arrive within about a period.
//!
//! **Local health** (Lifeguard, arXiv 1707.00788): a prober that is itself slow should not
//! accuse others. Its score `lhm` (0 ..= `local_health_max`) rises by one for every helper of a
//! failed probe that sends neither an ack nor a nack in time (the helpers are alive, so the
//! silence is more likely ours), when its own timer fires late by more than half a period (a
//! stalled process), and when it hears itself accused; it falls by one with every probe that
//! succeeds. A failed probe whose helpers all nacked, or that had no helper to ask (a zone of
//! two), does not count: the target alone is silent, so a dead member's missed acks never
//! stretch the timeouts that detect the next one. Every timeout
//! and the probe interval are stretched by `lhm + 1`, so a busy peer probes more slowly and
//! waits longer instead of declaring healthy members suspect.
//!
//! **A zone of two** has nobody to confirm a failed probe or to probe for us: one probe that
//! a busy process answered late would be the whole case against a healthy member (issue 17:
//! in the 100-peer bed the two members of a zone called each other down within seconds of
//! meeting, and every other zone took their word). So a probe that failed with no helper to
//! ask is repeated once at once, with twice the timeout and period, and only a second failure
//! in a row suspects the target. A dead mate is found one doubled period later.
//!
//! The caller drives it with [`Prober::tick`] (often, e.g. every 100 ms), reports answers with
//! [`Prober::on_ack`] / [`Prober::on_nack`], and carries out the returned [`ProbeAction`]s.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Probe tuning (`[membership]` `probe_*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// Period between probes started by this peer.
    pub interval: Duration,
    /// Wait this long for a direct ack before asking helpers.
    pub timeout: Duration,
    /// Helpers asked for an indirect probe.
    pub indirect: usize,
    /// Upper bound of the local health score.
    pub lhm_max: u32,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(1000),
            timeout: Duration::from_millis(500),
            indirect: 3,
            lhm_max: 8,
        }
    }
}

/// What the caller should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// Send `Ping` to `target`; report an ack with `on_ack(target, seq)`.
    Ping {
        /// Peer id.
        target: String,
        /// Probe number.
        seq: u64,
    },
    /// Ask `via` to probe `target` within `timeout`; report `Ack` with `on_ack(target, seq)`,
    /// `Nack` with `on_nack(seq)`.
    PingReq {
        /// The helper.
        via: String,
        /// The probed peer.
        target: String,
        /// Probe number.
        seq: u64,
        /// How long the helper waits.
        timeout: Duration,
    },
    /// `target` failed a probe: suspect it.
    Failed {
        /// Peer id.
        target: String,
    },
}

#[derive(Debug)]
struct Probe {
    target: String,
    seq: u64,
    started: Instant,
    indirect_sent: usize,
    nacks: usize,
    acked: bool,
    /// Started by the round-robin (one at a time), not as a confirmation.
    regular: bool,
    /// Its timeout and period are multiplied by this: 1, or 2 for the repeat of a probe that
    /// failed with nobody to ask.
    patience: u32,
}

/// The prober of one peer.
#[derive(Debug)]
pub struct Prober {
    cfg: ProbeConfig,
    rng: StdRng,
    order: Vec<String>,
    seq: u64,
    current: Vec<Probe>,
    soon: Vec<String>,
    next_at: Option<Instant>,
    lhm: u32,
    last_tick: Option<Instant>,
    tick_every: Duration,
}

impl Prober {
    /// A prober ticked about every `tick_every` (for late-timer detection), randomised by
    /// `seed`.
    pub fn new(cfg: ProbeConfig, tick_every: Duration, seed: u64) -> Self {
        Self {
            cfg,
            rng: StdRng::seed_from_u64(seed),
            order: Vec::new(),
            seq: 0,
            current: Vec::new(),
            soon: Vec::new(),
            next_at: None,
            lhm: 0,
            last_tick: None,
            tick_every,
        }
    }

    /// The local health score (0 = healthy).
    pub fn local_health(&self) -> u32 {
        self.lhm
    }

    fn stretch(&self, d: Duration) -> Duration {
        d * (self.lhm + 1)
    }

    fn worse(&mut self) {
        self.lhm = (self.lhm + 1).min(self.cfg.lhm_max);
    }

    /// This process was behind since the last tick (its network task's timer fired late):
    /// Lifeguard counts it against its own health, so the probes in flight and the next ones
    /// wait longer instead of blaming members for our own slowness.
    pub fn on_lag(&mut self) {
        self.worse();
    }

    /// This peer was accused (a rumour said it is suspect): Lifeguard counts it against its
    /// own health.
    pub fn on_accused(&mut self) {
        self.worse();
    }

    /// Advance to `now`. `members` are the zone members that may be probed (alive or
    /// suspect, never this peer).
    pub fn tick(&mut self, now: Instant, members: &[String]) -> Vec<ProbeAction> {
        let mut out = Vec::new();
        if let Some(last) = self.last_tick
            && now.saturating_duration_since(last) > self.tick_every + self.cfg.interval / 2
        {
            // Our own timer fired late: this process is slow, not the others.
            self.worse();
        }
        self.last_tick = Some(now);
        let timeout = self.stretch(self.cfg.timeout);
        let period = self.stretch(self.cfg.interval);
        let wait = period.saturating_sub(timeout) * 4 / 5;
        for i in 0..self.current.len() {
            let p = &self.current[i];
            if p.acked
                || p.indirect_sent != 0
                || now.saturating_duration_since(p.started) < timeout * p.patience
            {
                continue;
            }
            let target = p.target.clone();
            let seq = p.seq;
            let mut helpers: Vec<&String> = members.iter().filter(|m| **m != target).collect();
            helpers.shuffle(&mut self.rng);
            let mut sent = 0;
            for via in helpers.into_iter().take(self.cfg.indirect) {
                out.push(ProbeAction::PingReq {
                    via: via.clone(),
                    target: target.clone(),
                    seq,
                    timeout: wait,
                });
                sent += 1;
            }
            // Nobody to ask: remember that the indirect phase is over all the same.
            self.current[i].indirect_sent = if sent == 0 { usize::MAX } else { sent };
        }
        let (over, running): (Vec<Probe>, Vec<Probe>) = std::mem::take(&mut self.current)
            .into_iter()
            .partition(|p| now.saturating_duration_since(p.started) >= period * p.patience);
        self.current = running;
        let mut repeat = Vec::new();
        for p in over {
            if p.acked {
                self.lhm = self.lhm.saturating_sub(1);
                continue;
            }
            let asked = if p.indirect_sent == usize::MAX {
                0
            } else {
                p.indirect_sent
            };
            // Lifeguard (as memberlist does it): a failed probe counts against this peer only
            // by the helpers that said nothing at all (they are alive, so the silence is more
            // likely ours). Helpers that nacked vouch for this peer's health: the target alone
            // is silent, which says nothing about us. With nobody to ask (a zone of two, or
            // every other member suspect) a failed probe says nothing about us either, and
            // counting it would stretch every timeout because of the dead peer's own missed
            // acks (issue 17: a second death in a shrunk zone took 7.4 s); a stalled process
            // is still caught by its late timer and by accusations.
            for _ in p.nacks.min(asked)..asked {
                self.worse();
            }
            if !members.contains(&p.target) {
                continue;
            }
            if asked == 0 && p.patience == 1 {
                // Nobody could confirm it: ask the target once more, with more patience.
                repeat.push((p.target, p.regular));
            } else {
                out.push(ProbeAction::Failed { target: p.target });
            }
        }
        for (target, regular) in repeat {
            self.start_with(target, now, regular, 2, &mut out);
        }
        // Confirmation probes: a member another one suspects is probed at once, beside the
        // round-robin, so that independent confirmations (or the refutation) come soon.
        // A probe of the target that was already answered dates from before the news (the
        // connection closed after the ack): it is retired as a success and a fresh one
        // started, or a member killed right after acking waited for the round-robin (up to
        // n - 1 periods; issue 17: a second kill took 5.5 s to be called down). An unanswered
        // probe in flight already covers it.
        for target in std::mem::take(&mut self.soon) {
            if !members.contains(&target)
                || self.current.iter().any(|p| p.target == target && !p.acked)
            {
                continue;
            }
            let before = self.current.len();
            self.current.retain(|p| p.target != target);
            let answered = before - self.current.len();
            self.lhm = self.lhm.saturating_sub(answered as u32);
            self.start(target, now, false, &mut out);
        }
        let due = self.next_at.is_none_or(|t| now >= t);
        if !self.current.iter().any(|p| p.regular) && due {
            if let Some(target) = self.next_target(members) {
                self.start(target, now, true, &mut out);
            }
            self.next_at = Some(now + period);
        }
        out
    }

    fn start(&mut self, target: String, now: Instant, regular: bool, out: &mut Vec<ProbeAction>) {
        self.start_with(target, now, regular, 1, out);
    }

    fn start_with(
        &mut self,
        target: String,
        now: Instant,
        regular: bool,
        patience: u32,
        out: &mut Vec<ProbeAction>,
    ) {
        self.seq += 1;
        out.push(ProbeAction::Ping {
            target: target.clone(),
            seq: self.seq,
        });
        self.current.push(Probe {
            target,
            seq: self.seq,
            started: now,
            indirect_sent: 0,
            nacks: 0,
            acked: false,
            regular,
            patience,
        });
    }

    fn next_target(&mut self, members: &[String]) -> Option<String> {
        loop {
            if self.order.is_empty() {
                if members.is_empty() {
                    return None;
                }
                self.order = members.to_vec();
                self.order.shuffle(&mut self.rng);
            }
            let t = self.order.pop()?;
            if members.contains(&t) {
                return Some(t);
            }
        }
    }

    /// Probe `target` now (another member suspects it: an independent check confirms or
    /// clears the suspicion sooner than the round-robin would).
    pub fn probe_soon(&mut self, target: &str) {
        if !self.soon.iter().any(|t| t == target) {
            self.soon.push(target.to_string());
        }
    }

    /// `target` acked probe `seq` (directly or through a helper).
    pub fn on_ack(&mut self, target: &str, seq: u64) {
        if let Some(p) = self
            .current
            .iter_mut()
            .find(|p| p.seq == seq && p.target == target)
        {
            p.acked = true;
        }
    }

    /// A helper answered probe `seq` with a nack (it is alive; the target did not answer it).
    pub fn on_nack(&mut self, seq: u64) {
        if let Some(p) = self.current.iter_mut().find(|p| p.seq == seq) {
            p.nacks += 1;
        }
    }
}

/// Lifeguard's dynamic suspicion timeout: `max` without independent confirmations, falling
/// logarithmically to `min` once `expected` other members have confirmed the suspicion
/// (`expected` = min(indirect probes, zone size - 2); with none to expect, `min`).
pub fn suspicion_timeout(
    min: Duration,
    max: Duration,
    confirmations: usize,
    expected: usize,
) -> Duration {
    if expected == 0 || max <= min {
        return min;
    }
    let frac = ((confirmations as f64) + 1.0).ln() / ((expected as f64) + 1.0).ln();
    let span = (max - min).as_secs_f64() * (1.0 - frac.min(1.0));
    min + Duration::from_secs_f64(span.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn zone() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    /// Tick every 100 ms from `t0 + from` to `t0 + to`, answering pings with `answer`
    /// (target, seq) -> Some(ack delay) or None; collect failures.
    fn run(
        p: &mut Prober,
        t0: Instant,
        from: u64,
        to: u64,
        members: &[String],
        answer: &dyn Fn(&str) -> Option<u64>,
    ) -> Vec<String> {
        let mut failed = Vec::new();
        let mut acks: Vec<(u64, String, u64)> = Vec::new();
        let mut t = from;
        while t <= to {
            acks.retain(|(at, target, seq)| {
                if *at <= t {
                    p.on_ack(target, *seq);
                    false
                } else {
                    true
                }
            });
            for a in p.tick(t0 + MS(t), members) {
                match a {
                    ProbeAction::Ping { target, seq } => {
                        if let Some(d) = answer(&target) {
                            acks.push((t + d, target, seq));
                        }
                    }
                    ProbeAction::PingReq {
                        via, target, seq, ..
                    } => {
                        // Helpers reach the target like we do; a dead target earns a nack.
                        if answer(&via).is_some() {
                            match answer(&target) {
                                Some(d) => acks.push((t + d + 2, target, seq)),
                                None => p.on_nack(seq),
                            }
                        }
                    }
                    ProbeAction::Failed { target } => failed.push(target),
                }
            }
            t += 100;
        }
        failed
    }

    #[test]
    fn every_member_is_probed_and_a_dead_one_fails_within_two_periods() {
        let t0 = Instant::now();
        let mut p = Prober::new(ProbeConfig::default(), MS(100), 7);
        let z = zone();
        let failed = run(&mut p, t0, 0, 10_000, &z, &|_| Some(5));
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(p.local_health(), 0);
        // "c" dies: each observer reaches it within n periods, and it fails that probe.
        let failed = run(&mut p, t0, 10_100, 14_000, &z, &|t| (t != "c").then_some(5));
        assert_eq!(failed.first().map(String::as_str), Some("c"), "{failed:?}");
        assert!(failed.iter().all(|f| f == "c"));
    }

    #[test]
    fn in_a_zone_of_two_one_late_ack_is_not_a_failure_but_two_misses_are() {
        let t0 = Instant::now();
        let mut p = Prober::new(ProbeConfig::default(), MS(100), 3);
        let mate = vec!["b".to_string()];
        // The mate misses one probe (busy), then answers slowly within the doubled timeout.
        let missed = std::cell::Cell::new(false);
        let failed = run(&mut p, t0, 0, 10_000, &mate, &|_| {
            if missed.replace(true) {
                Some(800)
            } else {
                None
            }
        });
        assert!(failed.is_empty(), "{failed:?}");
        // The mate dies: it fails after the first probe and its doubled repeat (≤ 1 + 2 s
        // from the first probe that went unanswered, plus the wait for that probe).
        let failed = run(&mut p, t0, 10_100, 14_200, &mate, &|_| None);
        assert_eq!(failed, vec!["b".to_string()]);
    }

    #[test]
    fn a_dead_member_does_not_stretch_the_timeouts_for_the_next_one() {
        // Three others, one dead: the helpers nack, so local health stays at 0 and the probe
        // period stays 1 s however long the dead member is probed.
        let t0 = Instant::now();
        let mut p = Prober::new(ProbeConfig::default(), MS(100), 11);
        let z = zone();
        let failed = run(&mut p, t0, 0, 20_000, &z, &|t| (t != "c").then_some(5));
        assert!(failed.iter().any(|f| f == "c"), "{failed:?}");
        assert_eq!(p.local_health(), 0, "nacked failures count against nobody");
        // A zone of two: nobody to ask, a failed probe says nothing about this peer.
        let mut p = Prober::new(ProbeConfig::default(), MS(100), 12);
        let two = vec!["a".to_string()];
        let failed = run(&mut p, t0, 0, 10_000, &two, &|_| None);
        // Each failure is a probe and its doubled repeat: 1 s + 2 s.
        assert!(failed.len() >= 3, "{failed:?}");
        assert_eq!(p.local_health(), 0);
        // Helpers that stay silent do count: the silence is more likely ours.
        let mut p = Prober::new(ProbeConfig::default(), MS(100), 13);
        let _ = run(&mut p, t0, 0, 3_000, &z, &|_| None);
        assert!(p.local_health() >= 2, "lhm {}", p.local_health());
    }

    #[test]
    fn an_indirect_ack_saves_the_target() {
        let t0 = Instant::now();
        let mut p = Prober::new(ProbeConfig::default(), MS(100), 1);
        let z = zone();
        let acts = p.tick(t0, &z);
        let ProbeAction::Ping { target, seq } = acts[0].clone() else {
            panic!("{acts:?}")
        };
        assert!(p.tick(t0 + MS(400), &z).is_empty());
        let acts = p.tick(t0 + MS(500), &z);
        assert_eq!(acts.len(), 2, "both other members help: {acts:?}");
        assert!(
            acts.iter()
                .all(|a| matches!(a, ProbeAction::PingReq { target: t, .. } if *t == target))
        );
        p.on_ack(&target, seq);
        let acts = p.tick(t0 + MS(1000), &z);
        assert!(
            !acts.iter().any(|a| matches!(a, ProbeAction::Failed { .. })),
            "{acts:?}"
        );
    }

    #[test]
    fn a_busy_peer_that_acks_late_is_not_suspected() {
        // "b" is busy: its acks take 800 ms, past the probe timeout (helpers are asked) but
        // within the period. It is never reported.
        let t0 = Instant::now();
        let mut p = Prober::new(ProbeConfig::default(), MS(100), 3);
        let z = zone();
        let failed = run(&mut p, t0, 0, 30_000, &z, &|t| {
            Some(if t == "b" { 800 } else { 5 })
        });
        assert!(failed.is_empty(), "{failed:?}");
    }

    #[test]
    fn a_slow_prober_stretches_its_timeouts_instead_of_accusing() {
        // This peer is the slow one: its timer fires every 1.6 s instead of every 100 ms, and
        // acks, though sent at once, reach it only 1.2 s later (its event loop is behind).
        // Local health rises and the stretched period lets the acks count.
        let t0 = Instant::now();
        let mut p = Prober::new(ProbeConfig::default(), MS(100), 5);
        let z = zone();
        let mut failed = Vec::new();
        let mut acks: Vec<(u64, String, u64)> = Vec::new();
        let mut t = 0;
        while t <= 60_000 {
            acks.retain(|(at, target, seq)| {
                if *at <= t {
                    p.on_ack(target, *seq);
                    false
                } else {
                    true
                }
            });
            for a in p.tick(t0 + MS(t), &z) {
                match a {
                    ProbeAction::Ping { target, seq } => acks.push((t + 1200, target, seq)),
                    ProbeAction::PingReq { .. } => {}
                    ProbeAction::Failed { target } => failed.push((t, target)),
                }
            }
            t += 1600;
        }
        assert!(p.local_health() >= 2, "lhm {}", p.local_health());
        // The first probe or two may fail before the health score catches up; after that none.
        let late: Vec<_> = failed.iter().filter(|(t, _)| *t > 10_000).collect();
        assert!(late.is_empty(), "accused while itself slow: {failed:?}");
    }

    /// A prober of [`zone`] whose first probe (at `t0`) was answered; returns its target.
    fn first_probe_answered(t0: Instant) -> (Prober, String) {
        let mut p = Prober::new(ProbeConfig::default(), MS(100), 9);
        let first = p.tick(t0, &zone());
        let ProbeAction::Ping { target, seq } = first[0].clone() else {
            panic!("{first:?}")
        };
        p.on_ack(&target, seq);
        (p, target)
    }

    #[test]
    fn a_member_suspected_by_another_is_probed_next() {
        let t0 = Instant::now();
        let z = zone();
        let (mut p, target) = first_probe_answered(t0);
        let other = z.iter().find(|m| **m != target).expect("another").clone();
        p.probe_soon(&other);
        let mut next = Vec::new();
        for t in 1..=10 {
            next.extend(p.tick(t0 + MS(100 * t), &z));
        }
        assert!(
            next.iter()
                .any(|a| matches!(a, ProbeAction::Ping { target, .. } if *target == other)),
            "{next:?}"
        );
    }

    #[test]
    fn news_of_a_closed_connection_reprobes_a_member_that_had_already_acked() {
        // The member acked this period's probe, then its connection closed: the answered
        // probe must not hide the news until the round-robin comes back to it.
        let t0 = Instant::now();
        let z = zone();
        let (mut p, target) = first_probe_answered(t0);
        p.probe_soon(&target);
        let next = p.tick(t0 + MS(100), &z);
        assert!(
            next.iter()
                .any(|a| matches!(a, ProbeAction::Ping { target: t, .. } if *t == target)),
            "{next:?}"
        );
        // The dead member now fails within one period of the news.
        let mut failed = Vec::new();
        for t in 2..=12 {
            for a in p.tick(t0 + MS(100 * t), &z) {
                match a {
                    ProbeAction::Failed { target } => failed.push(target),
                    ProbeAction::PingReq { seq, .. } => p.on_nack(seq),
                    ProbeAction::Ping { .. } => {}
                }
            }
        }
        assert_eq!(failed, vec![target], "failed by t0 + 1.2 s");
        assert_eq!(p.local_health(), 0);
    }

    #[test]
    fn suspicion_timeout_falls_with_confirmations() {
        let (min, max) = (MS(2000), MS(6000));
        assert_eq!(suspicion_timeout(min, max, 0, 0), min, "nobody to confirm");
        assert_eq!(suspicion_timeout(min, max, 0, 3), max);
        let one = suspicion_timeout(min, max, 1, 3);
        assert!(one < max && one > min, "{one:?}");
        assert_eq!(suspicion_timeout(min, max, 3, 3), min);
        assert_eq!(suspicion_timeout(min, max, 5, 3), min);
        assert_eq!(suspicion_timeout(min, max, 1, 1), min);
    }
}
