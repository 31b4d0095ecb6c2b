//! Token buckets: one per client address on the agents' door, and one for the registrations of
//! unknown fingerprints (the onboarding budget). Time is passed in (milliseconds), so the
//! arithmetic is unit-tested without a clock. The per-client map is bounded: a hand-written
//! bucket map rather than a generic limiter crate, because forgetting idle clients and capping
//! the map are the part that matters here.

use std::collections::HashMap;
use std::hash::Hash;

/// A token bucket: `rate` tokens per second, at most `burst` stored.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    last_ms: u64,
}

/// Rate and burst of buckets.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Tokens per second.
    pub per_s: f64,
    /// Most tokens stored.
    pub burst: f64,
}

impl Rate {
    /// `per_s` per second with a burst of `burst` (both at least a small positive amount).
    pub fn new(per_s: f64, burst: u32) -> Self {
        Self {
            per_s: if per_s.is_finite() && per_s > 0.0 {
                per_s
            } else {
                0.001
            },
            burst: f64::from(burst.max(1)),
        }
    }
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn full(rate: Rate, now_ms: u64) -> Self {
        Self {
            tokens: rate.burst,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, rate: Rate, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate.per_s).min(rate.burst);
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// Take one token at `now_ms`: `Ok`, or `Err(seconds until one is there)` (at least 1).
    pub fn take(&mut self, rate: Rate, now_ms: u64) -> Result<(), u64> {
        self.refill(rate, now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - self.tokens) / rate.per_s).ceil();
            Err((wait as u64).max(1))
        }
    }

    /// Whether the bucket is full again at `now_ms` (forgetting it changes nothing).
    fn is_full(&self, rate: Rate, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens + elapsed * rate.per_s >= rate.burst
    }
}

/// One bucket per key, at most `capacity` keys; keys beyond share one overflow bucket.
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    rate: Rate,
    buckets: HashMap<K, Bucket>,
    overflow: Bucket,
    capacity: usize,
}

impl<K: Hash + Eq + Clone> KeyedBuckets<K> {
    /// Buckets of `rate` for at most `capacity` keys.
    pub fn new(rate: Rate, capacity: usize, now_ms: u64) -> Self {
        Self {
            rate,
            buckets: HashMap::new(),
            overflow: Bucket::full(rate, now_ms),
            capacity: capacity.max(1),
        }
    }

    /// Take one token of `key`'s bucket (see [`Bucket::take`]).
    pub fn take(&mut self, key: &K, now_ms: u64) -> Result<(), u64> {
        let rate = self.rate;
        if let Some(b) = self.buckets.get_mut(key) {
            return b.take(rate, now_ms);
        }
        if self.buckets.len() >= self.capacity {
            // Forget the buckets that are full again: they hold nothing a new one would not.
            self.buckets.retain(|_, b| !b.is_full(rate, now_ms));
        }
        if self.buckets.len() >= self.capacity {
            return self.overflow.take(rate, now_ms);
        }
        let mut b = Bucket::full(rate, now_ms);
        let res = b.take(rate, now_ms);
        self.buckets.insert(key.clone(), b);
        res
    }

    /// Keys tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let rate = Rate::new(2.0, 3);
        let mut b = Bucket::full(rate, 0);
        for _ in 0..3 {
            assert_eq!(b.take(rate, 0), Ok(()));
        }
        assert_eq!(b.take(rate, 0), Err(1));
        assert_eq!(b.take(rate, 499), Err(1));
        assert_eq!(b.take(rate, 500), Ok(()), "one token per 500 ms");
        assert_eq!(b.take(rate, 500), Err(1));
        let slow = Rate::new(0.1, 1);
        let mut b = Bucket::full(slow, 0);
        assert_eq!(b.take(slow, 0), Ok(()));
        assert_eq!(b.take(slow, 0), Err(10), "retry after ten seconds");
    }

    #[test]
    fn clients_have_their_own_buckets() {
        let mut k = KeyedBuckets::new(Rate::new(1.0, 1), 10, 0);
        assert_eq!(k.take(&"a", 0), Ok(()));
        assert!(k.take(&"a", 0).is_err());
        assert_eq!(k.take(&"b", 0), Ok(()), "a's flood does not touch b");
    }

    #[test]
    fn the_map_is_bounded() {
        let mut k = KeyedBuckets::new(Rate::new(1.0, 1), 2, 0);
        assert_eq!(k.take(&1, 0), Ok(()));
        assert_eq!(k.take(&2, 0), Ok(()));
        // Full of busy clients: newcomers share the overflow bucket.
        assert_eq!(k.take(&3, 0), Ok(()));
        assert!(k.take(&4, 0).is_err());
        assert_eq!(k.len(), 2);
        // A second later 1 and 2 are full again and forgotten; 5 gets its own bucket.
        assert_eq!(k.take(&5, 1000), Ok(()));
        assert_eq!(k.len(), 1);
    }
}
