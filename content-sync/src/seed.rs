//! Super-seeding: a node that holds a repository version completely (the origin) hands each
//! file out to as few fetchers as possible, so that the fetchers spread it among themselves
//! instead of all drawing on the origin's link (BitTorrent's super-seeding).
//!
//! Per blob the seeder counts the copies handed out (transfers running or completed). A file
//! is **offered** while fewer than `copies` were handed out, and again once `hold` has passed
//! since the last copy completed with none running (a fetcher that got it may have gone away;
//! the rest of the swarm could not get it from anyone else). A file not offered is left out
//! of the holdings map this node answers, and a request for it is refused like a busy one;
//! instead the answer names the nodes it was handed to (hints), so fetchers ask them without
//! waiting to find them by polling.
//!
//! Pure (no I/O, no clock: `now` is passed in), driven by the endpoint's serving side.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use iroh::EndpointId;
use iroh_blobs::Hash;

/// How a node super-seeds.
#[derive(Debug, Clone, Copy)]
pub struct SeedOptions {
    /// Copies of each file handed out before it is held back (`0`: super-seeding off, every
    /// file held is offered to everyone).
    pub copies: u32,
    /// A held-back file is offered again this long after its last copy completed.
    pub hold: Duration,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self {
            copies: 0,
            hold: Duration::from_secs(30),
        }
    }
}

/// How a transfer admitted by [`Seeder::start`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handed {
    /// The whole blob was sent (to this node, when known).
    Complete(Option<EndpointId>),
    /// Cut off after at least half of it was sent: counted as a copy (so a file cut off again
    /// and again is not sent again and again), but nobody holds it from this transfer.
    Mostly,
    /// Cut off early: not counted.
    Little,
}

/// Remembered recipients per file (the hints of a holdings answer).
const RECIPIENTS: usize = 4;

#[derive(Debug, Default)]
struct Handout {
    running: u32,
    done: u32,
    last_done: Option<Instant>,
    /// Those that completed a copy, the latest last.
    to: VecDeque<EndpointId>,
}

/// Copies handed out, per blob.
#[derive(Debug, Default)]
pub struct Seeder {
    opts: SeedOptions,
    by_hash: HashMap<Hash, Handout>,
}

impl Seeder {
    /// A seeder with `opts`.
    pub fn new(opts: SeedOptions) -> Self {
        Self {
            opts,
            by_hash: HashMap::new(),
        }
    }

    /// Is super-seeding on?
    pub fn enabled(&self) -> bool {
        self.opts.copies > 0
    }

    /// Is `hash` offered now?
    pub fn offered(&self, hash: &Hash, now: Instant) -> bool {
        if !self.enabled() {
            return true;
        }
        let Some(h) = self.by_hash.get(hash) else {
            return true;
        };
        if h.running + h.done < self.opts.copies {
            return true;
        }
        h.running == 0 && h.last_done.is_some_and(|t| now >= t + self.opts.hold)
    }

    /// A request for `hash` arrived: `true` (and counted as running) if it is offered.
    pub fn start(&mut self, hash: Hash, now: Instant) -> bool {
        if !self.enabled() {
            return true;
        }
        if !self.offered(&hash, now) {
            return false;
        }
        let h = self.by_hash.entry(hash).or_default();
        if h.running + h.done >= self.opts.copies {
            // Offered again after the hold: the count starts over.
            h.done = 0;
        }
        h.running += 1;
        true
    }

    /// A transfer of `hash` ended.
    pub fn finish(&mut self, hash: Hash, how: Handed, now: Instant) {
        if !self.enabled() {
            return;
        }
        let Some(h) = self.by_hash.get_mut(&hash) else {
            return;
        };
        h.running = h.running.saturating_sub(1);
        if how != Handed::Little {
            h.done += 1;
            h.last_done = Some(now);
            if let Handed::Complete(Some(id)) = how {
                h.to.retain(|x| *x != id);
                h.to.push_back(id);
                if h.to.len() > RECIPIENTS {
                    h.to.pop_front();
                }
            }
        }
    }

    /// Those `hash` was handed to, the latest last.
    pub fn recipients(&self, hash: &Hash) -> Vec<EndpointId> {
        self.by_hash
            .get(hash)
            .map(|h| h.to.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> EndpointId {
        iroh::SecretKey::from_bytes(&[n; 32]).public()
    }

    #[test]
    fn hands_each_file_out_once_then_holds_it_back_until_the_hold_passes() {
        let t0 = Instant::now();
        let mut s = Seeder::new(SeedOptions {
            copies: 1,
            hold: Duration::from_secs(10),
        });
        let (a, b) = (Hash::new(b"a"), Hash::new(b"b"));
        assert!(s.start(a, t0), "first copy");
        assert!(
            !s.start(a, t0),
            "a second requester while the first copy runs"
        );
        assert!(s.start(b, t0), "another file is offered");
        // A copy cut off early does not count; one cut off late does (no recipient).
        s.finish(b, Handed::Little, t0);
        assert!(s.offered(&b, t0));
        assert!(s.start(b, t0));
        s.finish(b, Handed::Mostly, t0);
        assert!(!s.offered(&b, t0));
        assert!(s.recipients(&b).is_empty());
        s.finish(a, Handed::Complete(Some(id(1))), t0);
        assert!(!s.offered(&a, t0 + Duration::from_secs(9)));
        assert_eq!(s.recipients(&a), [id(1)]);
        // After the hold: offered once more, then held back again.
        let t1 = t0 + Duration::from_secs(10);
        assert!(s.start(a, t1));
        assert!(!s.start(a, t1));
        s.finish(a, Handed::Complete(Some(id(3))), t1);
        assert_eq!(s.recipients(&a), [id(1), id(3)]);
        assert!(!s.offered(&a, t1 + Duration::from_secs(1)));
    }

    #[test]
    fn off_offers_everything_and_remembers_nothing() {
        let t0 = Instant::now();
        let mut s = Seeder::new(SeedOptions::default());
        let a = Hash::new(b"a");
        assert!(s.start(a, t0) && s.start(a, t0));
        s.finish(a, Handed::Complete(Some(id(1))), t0);
        assert!(s.offered(&a, t0));
        assert!(s.recipients(&a).is_empty());
    }

    #[test]
    fn recipients_are_bounded_and_latest_last() {
        let t0 = Instant::now();
        let mut s = Seeder::new(SeedOptions {
            copies: 10,
            hold: Duration::ZERO,
        });
        let a = Hash::new(b"a");
        for n in 0..6 {
            assert!(s.start(a, t0));
            s.finish(a, Handed::Complete(Some(id(n))), t0);
        }
        assert_eq!(s.recipients(&a), [id(2), id(3), id(4), id(5)]);
    }
}
