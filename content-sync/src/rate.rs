//! A token bucket for bandwidth limits. No clock inside: callers pass the time, so it is
//! tested deterministically.

use std::time::{Duration, Instant};

/// Bytes per second with a burst of one second's worth.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `bytes_per_sec` (at least 1).
    pub fn new(bytes_per_sec: u64, now: Instant) -> Self {
        let rate = bytes_per_sec.max(1) as f64;
        Self {
            rate,
            tokens: rate,
            last: now,
        }
    }

    /// Take `bytes`; returns how long the caller must wait before going on (zero when the
    /// bucket had them). Debt is allowed, so a large chunk is never refused, only paced.
    pub fn take(&mut self, bytes: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_to_the_rate_after_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, t0);
        assert_eq!(b.take(1000, t0), Duration::ZERO, "one second of burst");
        assert_eq!(b.take(500, t0), Duration::from_millis(500));
        // After waiting as told, the debt is paid.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(b.take(0, t1), Duration::ZERO);
        // Sustained: 10 KB at 1 KB/s takes 10 s of waits in total.
        let mut now = t1;
        let mut waited = Duration::ZERO;
        for _ in 0..10 {
            let w = b.take(1000, now);
            waited += w;
            now += w;
        }
        assert!(waited >= Duration::from_secs(9), "{waited:?}");
        assert!(waited <= Duration::from_secs(10), "{waited:?}");
    }
}
