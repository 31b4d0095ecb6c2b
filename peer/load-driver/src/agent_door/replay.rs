//! The nonces of the registrations accepted inside the clock-skew window, so that a
//! registration sent twice is refused the second time. Bounded: when it is full of nonces that
//! are still live, it refuses new ones (forgetting one would let its registration be replayed).

use std::collections::{HashSet, VecDeque};

/// What [`ReplayCache::admit`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// First time seen: remembered.
    Fresh,
    /// Seen before inside the window: a replay.
    Replayed,
    /// The cache is full of live nonces: refuse for now.
    Full,
}

/// Nonces seen, each until its expiry (Unix seconds).
#[derive(Debug)]
pub struct ReplayCache {
    seen: HashSet<String>,
    /// `(expiry, key)` in admission order; expiries grow with `now`.
    order: VecDeque<(u64, String)>,
    capacity: usize,
    /// How long a nonce is remembered: twice the skew window, since a timestamp may be up to
    /// one window ahead of the peer's clock and stays acceptable one window after it.
    keep: u64,
}

impl ReplayCache {
    /// A cache of at most `capacity` nonces for a skew window of `window` seconds.
    pub fn new(capacity: usize, window: u64) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            keep: window.saturating_mul(2).saturating_add(1),
        }
    }

    /// Remember `fingerprint`'s `nonce` at `now` (Unix seconds), unless already seen.
    pub fn admit(&mut self, fingerprint: &str, nonce: &str, now: u64) -> Admit {
        while let Some((expiry, _)) = self.order.front()
            && *expiry <= now
        {
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
            }
        }
        let key = format!("{fingerprint} {nonce}");
        if self.seen.contains(&key) {
            return Admit::Replayed;
        }
        if self.seen.len() >= self.capacity {
            return Admit::Full;
        }
        self.seen.insert(key.clone());
        self.order.push_back((now.saturating_add(self.keep), key));
        Admit::Fresh
    }

    /// Nonces remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_again_while_its_timestamp_could_still_pass() {
        let mut c = ReplayCache::new(10, 300);
        assert_eq!(c.admit("fp", "n1", 1000), Admit::Fresh);
        assert_eq!(c.admit("fp", "n1", 1000), Admit::Replayed);
        assert_eq!(c.admit("fp", "n1", 1600), Admit::Replayed);
        assert_eq!(
            c.admit("other", "n1", 1000),
            Admit::Fresh,
            "per fingerprint"
        );
        // After two windows the timestamp itself is refused as stale, so the nonce may go.
        assert_eq!(c.admit("fp", "n1", 1601), Admit::Fresh);
    }

    #[test]
    fn it_is_bounded_and_refuses_rather_than_forgets() {
        let mut c = ReplayCache::new(2, 10);
        assert_eq!(c.admit("a", "1", 0), Admit::Fresh);
        assert_eq!(c.admit("b", "1", 0), Admit::Fresh);
        assert_eq!(c.admit("c", "1", 5), Admit::Full);
        assert_eq!(c.admit("a", "1", 5), Admit::Replayed);
        assert_eq!(c.len(), 2);
        assert_eq!(c.admit("c", "1", 21), Admit::Fresh, "the old ones expired");
        assert_eq!(c.len(), 1);
    }
}
