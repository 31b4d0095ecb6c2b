//! Link shaping, free of I/O and clocks: a token bucket per link direction (bandwidth) and the
//! release time of each chunk or datagram (latency, bandwidth and loss together).
//!
//! The emulator's pumps ask [`Shaper::release`] when a chunk read at `now` may be written on
//! the far side; the writer waits until then. Chunks of one direction never overtake each
//! other (a release is never earlier than the previous one), so a stream keeps its order while
//! the latency is pipelined: a 100 ms link carries more than one chunk per 100 ms.

use std::time::{Duration, Instant};

/// A token bucket: `rate` bytes per second, at most `burst` bytes at once. A chunk larger than
/// the tokens held goes into debt, and the next chunk waits until the debt is paid, so the
/// long-run rate is `rate` whatever the chunk sizes.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket of `burst` bytes refilled at `rate_bytes_per_s` (at least 1 B/s).
    pub fn new(rate_bytes_per_s: u64, burst: u64) -> Self {
        let burst = burst.max(1) as f64;
        Self {
            rate: rate_bytes_per_s.max(1) as f64,
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Take `n` bytes at `now`; returns how long the sender must wait before they may leave.
    pub fn take(&mut self, n: usize, now: Instant) -> Duration {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        }
        self.last = Some(now);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// What one direction of a link does to traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkSpec {
    /// One-way delay.
    pub latency: Duration,
    /// Loss probability (0..=1) of a chunk (TCP: held one `rto`) or a datagram (UDP: dropped).
    pub loss: f64,
    /// The retransmission timeout a lost TCP chunk waits.
    pub rto: Duration,
    /// Bandwidth in bytes per second (`None`: unlimited) and the bucket's burst in bytes.
    pub rate: Option<(u64, u64)>,
}

/// Release times of one direction of one connection (or datagram flow).
#[derive(Debug, Clone)]
pub struct Shaper {
    prev: Option<Instant>,
}

/// What happens to one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Write it at this instant.
    At(Instant),
    /// Drop it (UDP loss).
    Dropped,
}

impl Shaper {
    /// A direction with nothing sent yet.
    pub fn new() -> Self {
        Self { prev: None }
    }

    /// When a chunk of `n` bytes read at `now` may leave. `lost` is the loss draw (made by the
    /// caller from its seeded generator); `datagram` drops a lost chunk instead of holding it
    /// for `spec.rto`. The bucket (shared by every connection of the zone pair's direction) is
    /// charged even for a lost datagram: it crossed the bottleneck before it was lost.
    pub fn release(
        &mut self,
        spec: &LinkSpec,
        bucket: Option<&mut TokenBucket>,
        n: usize,
        now: Instant,
        lost: bool,
        datagram: bool,
    ) -> Fate {
        let wait = bucket.map(|b| b.take(n, now)).unwrap_or_default();
        if lost && datagram {
            return Fate::Dropped;
        }
        let mut at = now + wait + spec.latency;
        if lost {
            at += spec.rto;
        }
        if let Some(prev) = self.prev
            && at < prev
        {
            at = prev;
        }
        self.prev = Some(at);
        Fate::At(at)
    }
}

impl Default for Shaper {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_its_rate_over_any_chunk_sizes() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100_000, 10_000);
        // 1 MB in 1500-byte chunks sent as fast as allowed: ~ (1 MB - burst) / rate.
        let mut now = t0;
        let mut sent = 0usize;
        while sent < 1_000_000 {
            now += b.take(1500, now);
            sent += 1500;
        }
        let took = now.duration_since(t0).as_secs_f64();
        assert!((took - 9.9).abs() < 0.1, "{took}");
    }

    #[test]
    fn a_bucket_refills_up_to_its_burst_only() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, 500);
        assert_eq!(b.take(500, t0), Duration::ZERO);
        // Idle for a minute: only 500 bytes come back, not 60 000.
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(b.take(500, t1), Duration::ZERO);
        assert_eq!(b.take(1000, t1), Duration::from_secs(1));
    }

    #[test]
    fn releases_keep_order_and_pipeline_latency() {
        let t0 = Instant::now();
        let spec = LinkSpec {
            latency: Duration::from_millis(100),
            rto: Duration::from_millis(300),
            ..LinkSpec::default()
        };
        let mut s = Shaper::new();
        let a = s.release(&spec, None, 10, t0, false, false);
        assert_eq!(a, Fate::At(t0 + Duration::from_millis(100)));
        // A lost chunk is held one rto; the next may not overtake it.
        let b = s.release(&spec, None, 10, t0 + Duration::from_millis(1), true, false);
        assert_eq!(b, Fate::At(t0 + Duration::from_millis(401)));
        let c = s.release(&spec, None, 10, t0 + Duration::from_millis(2), false, false);
        assert_eq!(c, Fate::At(t0 + Duration::from_millis(401)));
        // Pipelined: ten chunks 1 ms apart all arrive within ~110 ms, not 1 s.
        let mut s = Shaper::new();
        let last = (0..10)
            .map(|i| {
                let now = t0 + Duration::from_millis(i);
                s.release(&spec, None, 10, now, false, false)
            })
            .last();
        assert_eq!(last, Some(Fate::At(t0 + Duration::from_millis(109))));
        // A lost datagram is dropped.
        let mut s = Shaper::new();
        assert_eq!(s.release(&spec, None, 10, t0, true, true), Fate::Dropped);
    }
}
