//! The network task's decisions, free of I/O and clocks (the caller passes `now`):
//!
//! - [`ConnChanges`]: connection changes the controller has not been handed yet, coalesced per
//!   peer, so the swarm never waits for a busy controller and still loses none of them.
//! - [`DropLog`]: a rate limit for the warning about events dropped because the controller's
//!   channel was full (gossip that anti-entropy repairs, requests the asker retries).
//! - [`LagMeter`] and [`PingPolicy`]: a failed ping closes its connection, unless this
//!   process's own event loop was behind when it failed (then the failure says more about us
//!   than about the link), up to a bound, so a dead connection is still closed under load.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A peer's connection changes not yet delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    /// The last state reported: at least one connection open.
    connected: bool,
    /// A disconnection was coalesced away: the controller must hear it before a later
    /// `connected` (it forgets the peer's sync state on a disconnection and catches up on a
    /// connection).
    saw_disconnect: bool,
}

/// Connection changes waiting for room in the controller's channel, one entry per peer, in
/// the order the peers first changed. `connected → disconnected` collapses to
/// `disconnected`; `disconnected → connected` is delivered as both, in that order.
#[derive(Debug)]
pub(crate) struct ConnChanges<P> {
    order: VecDeque<P>,
    pending: HashMap<P, Pending>,
}

impl<P> Default for ConnChanges<P> {
    fn default() -> Self {
        Self {
            order: VecDeque::new(),
            pending: HashMap::new(),
        }
    }
}

impl<P: Copy + Eq + Hash> ConnChanges<P> {
    /// Nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Peers with changes waiting.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Record that `peer` is now connected (`true`) or disconnected (`false`).
    pub(crate) fn record(&mut self, peer: P, connected: bool) {
        match self.pending.get_mut(&peer) {
            Some(p) => {
                if !connected {
                    p.saw_disconnect = true;
                }
                p.connected = connected;
            }
            None => {
                self.order.push_back(peer);
                self.pending.insert(
                    peer,
                    Pending {
                        connected,
                        saw_disconnect: !connected,
                    },
                );
            }
        }
    }

    /// The next change to deliver: `(peer, connected)`. A peer that disconnected and then
    /// connected again yields `false` first, then `true`.
    pub(crate) fn pop(&mut self) -> Option<(P, bool)> {
        let peer = *self.order.front()?;
        let Some(p) = self.pending.get_mut(&peer) else {
            self.order.pop_front();
            return self.pop();
        };
        if p.connected && p.saw_disconnect {
            p.saw_disconnect = false;
            return Some((peer, false));
        }
        let connected = p.connected;
        self.pending.remove(&peer);
        self.order.pop_front();
        Some((peer, connected))
    }
}

/// How often the warning about dropped events may be logged.
pub(crate) const DROP_WARN_EVERY: Duration = Duration::from_secs(10);

/// Counts dropped events between warnings, and says when the next warning is due.
#[derive(Debug, Default)]
pub(crate) struct DropLog {
    last_warn: Option<Instant>,
    since: u64,
}

impl DropLog {
    /// One more event dropped at `now`: `Some(n)` when a warning is due, `n` the events
    /// dropped since the last one (this one included).
    pub(crate) fn on_drop(&mut self, now: Instant) -> Option<u64> {
        self.since += 1;
        let due = self
            .last_warn
            .is_none_or(|t| now.saturating_duration_since(t) >= DROP_WARN_EVERY);
        if !due {
            return None;
        }
        self.last_warn = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

/// How late the network task's own timer fires: a task that wakes up late is behind, and so
/// are the connections it drives (libp2p's connection tasks share its runtime).
#[derive(Debug)]
pub(crate) struct LagMeter {
    period: Duration,
    threshold: Duration,
    window: Duration,
    last_tick: Option<Instant>,
    last_late: Option<Instant>,
    worst: Duration,
}

impl LagMeter {
    /// A meter for a timer of `period`; a tick later than `threshold` marks the loop as behind
    /// for `window`.
    pub(crate) fn new(period: Duration, threshold: Duration, window: Duration) -> Self {
        Self {
            period,
            threshold,
            window,
            last_tick: None,
            last_late: None,
            worst: Duration::ZERO,
        }
    }

    /// The timer fired at `now`; returns how late it was.
    pub(crate) fn tick(&mut self, now: Instant) -> Duration {
        let late = self.last_tick.map_or(Duration::ZERO, |t| {
            now.saturating_duration_since(t).saturating_sub(self.period)
        });
        self.last_tick = Some(now);
        if late > self.threshold {
            self.last_late = Some(now);
        }
        self.worst = self.worst.max(late);
        late
    }

    /// The loop was behind at some point in the last `window`.
    pub(crate) fn lagging(&self, now: Instant) -> bool {
        self.last_late
            .is_some_and(|t| now.saturating_duration_since(t) <= self.window)
    }

    /// The worst lateness seen since the last call (and reset it).
    pub(crate) fn take_worst(&mut self) -> Duration {
        std::mem::take(&mut self.worst)
    }
}

/// What to do with a connection whose ping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PingVerdict {
    /// Not enough failures yet.
    Keep,
    /// Enough failures, but this process was behind: not held against the link (yet).
    Excused,
    /// Close it: a link that drops packets without a reset would otherwise stay "connected"
    /// through TCP's retransmission back-off.
    Close,
}

/// Per connection: failures counted against the link and failures excused by our own lag.
#[derive(Debug, Default, Clone, Copy)]
struct Failures {
    counted: u32,
    excused: u32,
}

/// Counts consecutive ping failures per connection.
#[derive(Debug)]
pub(crate) struct PingPolicy<C> {
    max_failures: u32,
    max_excused: u32,
    failures: HashMap<C, Failures>,
}

impl<C: Copy + Eq + Hash> PingPolicy<C> {
    /// Close at the `max_failures`-th failure in a row (at least 1); a failure while this
    /// process lags is excused instead, at most `max_excused` times in a row per connection.
    pub(crate) fn new(max_failures: u32, max_excused: u32) -> Self {
        Self {
            max_failures: max_failures.max(1),
            max_excused,
            failures: HashMap::new(),
        }
    }

    /// A ping on `conn` succeeded.
    pub(crate) fn on_success(&mut self, conn: C) {
        self.failures.remove(&conn);
    }

    /// `conn` closed.
    pub(crate) fn on_closed(&mut self, conn: C) {
        self.failures.remove(&conn);
    }

    /// A ping on `conn` failed; `lagging` says whether this process was behind.
    pub(crate) fn on_failure(&mut self, conn: C, lagging: bool) -> PingVerdict {
        let f = self.failures.entry(conn).or_default();
        if f.counted + 1 < self.max_failures {
            f.counted += 1;
            return PingVerdict::Keep;
        }
        if lagging && f.excused < self.max_excused {
            f.excused += 1;
            return PingVerdict::Excused;
        }
        self.failures.remove(&conn);
        PingVerdict::Close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_changes_coalesce_per_peer_and_keep_a_cycle() {
        let mut c = ConnChanges::default();
        c.record(1, true);
        c.record(2, true);
        c.record(1, false); // 1: connected then gone → just gone
        c.record(3, false);
        c.record(3, true); // 3: gone then back → both, in order
        c.record(2, false);
        c.record(2, true); // 2: connected, gone, back → gone, then connected
        assert_eq!(c.len(), 3);
        let mut out = Vec::new();
        while let Some(x) = c.pop() {
            out.push(x);
        }
        assert_eq!(
            out,
            vec![(1, false), (2, false), (2, true), (3, false), (3, true)]
        );
        assert!(c.is_empty());
    }

    #[test]
    fn a_single_change_is_delivered_as_is() {
        let mut c = ConnChanges::default();
        c.record(7, true);
        assert_eq!(c.pop(), Some((7, true)));
        assert_eq!(c.pop(), None);
        c.record(7, false);
        assert_eq!(c.pop(), Some((7, false)));
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn drop_warnings_are_rate_limited_and_carry_the_count() {
        let t0 = Instant::now();
        let mut d = DropLog::default();
        assert_eq!(d.on_drop(t0), Some(1));
        for i in 1..=5 {
            assert_eq!(d.on_drop(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(d.on_drop(t0 + DROP_WARN_EVERY), Some(6));
        assert_eq!(d.on_drop(t0 + DROP_WARN_EVERY), None);
    }

    #[test]
    fn the_lag_meter_marks_late_ticks_for_a_window() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut m = LagMeter::new(ms(500), ms(400), ms(10_000));
        assert_eq!(m.tick(t0), Duration::ZERO);
        assert_eq!(m.tick(t0 + ms(600)), ms(100));
        assert!(!m.lagging(t0 + ms(600)));
        assert_eq!(m.tick(t0 + ms(1600)), ms(500));
        assert!(m.lagging(t0 + ms(1600)));
        assert!(m.lagging(t0 + ms(11_600)));
        assert!(!m.lagging(t0 + ms(11_601)));
        assert_eq!(m.take_worst(), ms(500));
        assert_eq!(m.take_worst(), Duration::ZERO);
    }

    #[test]
    fn a_failed_ping_closes_at_once_when_we_are_not_behind() {
        let mut p = PingPolicy::new(1, 3);
        assert_eq!(p.on_failure(1, false), PingVerdict::Close);
    }

    #[test]
    fn failures_while_behind_are_excused_a_bounded_number_of_times() {
        let mut p = PingPolicy::new(1, 2);
        assert_eq!(p.on_failure(1, true), PingVerdict::Excused);
        assert_eq!(p.on_failure(1, true), PingVerdict::Excused);
        // A dead connection is closed even if the process stays behind.
        assert_eq!(p.on_failure(1, true), PingVerdict::Close);
        // A success in between starts over.
        assert_eq!(p.on_failure(2, true), PingVerdict::Excused);
        p.on_success(2);
        assert_eq!(p.on_failure(2, true), PingVerdict::Excused);
        assert_eq!(p.on_failure(2, true), PingVerdict::Excused);
        assert_eq!(p.on_failure(2, false), PingVerdict::Close);
    }

    #[test]
    fn several_failures_are_needed_when_configured() {
        let mut p = PingPolicy::new(2, 0);
        assert_eq!(p.on_failure(1, false), PingVerdict::Keep);
        assert_eq!(p.on_failure(1, true), PingVerdict::Close);
        p.on_closed(1);
        assert_eq!(p.on_failure(1, false), PingVerdict::Keep);
    }
}
