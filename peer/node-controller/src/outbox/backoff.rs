//! Capped exponential backoff (no jitter: one reader per node, nothing to de-synchronise).

use std::time::Duration;

/// Pauses of `min`, `2·min`, `4·min`, … capped at `max`; [`reset`](Self::reset) after a
/// success.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff between `min` and `max` (`max` below `min` counts as `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            failures: 0,
        }
    }

    /// The pause before the next attempt; each call doubles the following one.
    pub fn next_delay(&mut self) -> Duration {
        let shift = self.failures.min(31);
        self.failures = self.failures.saturating_add(1);
        self.min
            .checked_mul(1u32 << shift)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// Back to `min` (after a success).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(ms(100), ms(5000));
        let got: Vec<_> = (0..9).map(|_| b.next_delay()).collect();
        assert_eq!(
            got,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000].map(ms)
        );
        assert_eq!(b.failures(), 9);
        b.reset();
        assert_eq!(b.next_delay(), ms(100));
    }

    #[test]
    fn never_overflows() {
        let mut b = Backoff::new(Duration::from_secs(u64::MAX / 4), Duration::MAX);
        for _ in 0..100 {
            assert!(b.next_delay() >= Duration::from_secs(u64::MAX / 4));
        }
        let mut b = Backoff::new(ms(100), ms(5000));
        for _ in 0..100 {
            assert!(b.next_delay() <= ms(5000));
        }
    }

    #[test]
    fn max_below_min_is_min() {
        let mut b = Backoff::new(ms(300), ms(10));
        assert_eq!(b.next_delay(), ms(300));
        assert_eq!(b.next_delay(), ms(300));
    }
}
