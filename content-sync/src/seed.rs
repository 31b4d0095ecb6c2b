//! Super-seeding: a node that holds a repository version completely (the origin) hands each
//! file out to as few fetchers as possible, so that the fetchers spread it among themselves
//! instead of all drawing on the origin's link (BitTorrent's super-seeding).
//!
//! Per blob the seeder counts the copies handed out (transfers running or completed). A file
//! is **offered** while fewer than `copies` were handed out, and again once `hold` has passed
//! since the last copy completed with none running (a fetcher that got it may have gone away;
//! the rest of the swarm could not get it from anyone else). Copies are counted in bytes
//! ([`Seeder::finish`]): a transfer cut off, or a range request, adds what it sent, and a
//! copy's worth sent since the last whole copy counts as one, so a file cut off early again
//! and again is not sent again and again. A file not offered is left out
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

/// How a transfer admitted by [`Seeder::start`] ended: what it sent, to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The node it went to, when known.
    pub to: Option<EndpointId>,
    /// Payload bytes sent (a range request, or a transfer cut off: less than the blob).
    pub bytes: u64,
    /// The blob's size.
    pub size: u64,
    /// The transfer ran to its end (the request's ranges were all sent).
    pub complete: bool,
}

/// Remembered recipients per file (the hints of a holdings answer).
const RECIPIENTS: usize = 4;

/// Recipients per file whose partial byte counts are remembered (beyond: the oldest is
/// forgotten; its bytes still count towards the file's total).
const PARTIAL_RECIPIENTS: usize = 64;

#[derive(Debug, Default)]
struct Handout {
    running: u32,
    /// Copies handed out since the file was last offered again.
    done: u32,
    last_done: Option<Instant>,
    /// Bytes sent since the last copy was counted (cut-off transfers, range requests).
    bytes: u64,
    /// Bytes sent per recipient that does not hold a whole copy from us yet.
    partial: VecDeque<(EndpointId, u64)>,
    /// Those that hold a copy from us, the latest last.
    to: VecDeque<EndpointId>,
}

impl Handout {
    fn count_copy(&mut self, now: Instant) {
        self.done += 1;
        self.last_done = Some(now);
    }
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
            h.bytes = 0;
        }
        h.running += 1;
        true
    }

    /// A transfer of `hash` ended having sent `sent`.
    ///
    /// Copies are counted in bytes: a node that has received the whole blob from us (over
    /// one transfer or several: a resumed fetch asks only for what it lacks) holds a copy
    /// and is named in hints; otherwise the bytes add up, and every blob's worth sent since
    /// the last copy counts as one (no recipient to name). So a file cut off early again and
    /// again, or asked for in ranges, is held back once a copy's worth has gone out, however
    /// it was cut. Returns `true` when a copy was counted (what this node answers about the
    /// file changed: held back, perhaps with a new recipient to name).
    pub fn finish(&mut self, hash: Hash, sent: Sent, now: Instant) -> bool {
        if !self.enabled() {
            return false;
        }
        let Some(h) = self.by_hash.get_mut(&hash) else {
            return false;
        };
        h.running = h.running.saturating_sub(1);
        let size = sent.size.max(1);
        h.bytes = h.bytes.saturating_add(sent.bytes);
        let mut holds = false;
        if let Some(id) = sent.to {
            let pos = h.partial.iter().position(|(x, _)| *x == id);
            let before = pos.map_or(0, |p| h.partial[p].1);
            let total = before.saturating_add(sent.bytes);
            if let Some(p) = pos {
                h.partial.remove(p);
            }
            if sent.complete && total >= size {
                holds = true;
            } else if total > 0 {
                h.partial.push_back((id, total));
                if h.partial.len() > PARTIAL_RECIPIENTS {
                    h.partial.pop_front();
                }
            }
        }
        if holds {
            // A whole copy reached a node: the bytes since the last copy are paid for.
            h.bytes = 0;
            h.count_copy(now);
            if let Some(id) = sent.to {
                h.to.retain(|x| *x != id);
                h.to.push_back(id);
                if h.to.len() > RECIPIENTS {
                    h.to.pop_front();
                }
            }
            true
        } else if h.bytes >= size {
            // A copy's worth went out in pieces that no one node completed.
            h.bytes -= size;
            h.count_copy(now);
            true
        } else {
            false
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

    const SIZE: u64 = 1000;

    fn whole(to: u8) -> Sent {
        Sent {
            to: Some(id(to)),
            bytes: SIZE,
            size: SIZE,
            complete: true,
        }
    }

    fn cut(to: u8, bytes: u64) -> Sent {
        Sent {
            to: Some(id(to)),
            bytes,
            size: SIZE,
            complete: false,
        }
    }

    fn one_copy(hold: Duration) -> Seeder {
        Seeder::new(SeedOptions { copies: 1, hold })
    }

    #[test]
    fn hands_each_file_out_once_then_holds_it_back_until_the_hold_passes() {
        let t0 = Instant::now();
        let mut s = one_copy(Duration::from_secs(10));
        let (a, b) = (Hash::new(b"a"), Hash::new(b"b"));
        assert!(s.start(a, t0), "first copy");
        assert!(
            !s.start(a, t0),
            "a second requester while the first copy runs"
        );
        assert!(s.start(b, t0), "another file is offered");
        assert!(!s.finish(b, cut(2, 100), t0), "no copy counted");
        assert!(s.offered(&b, t0), "a tenth of a copy: offered still");
        assert!(s.finish(a, whole(1), t0), "a copy counted");
        assert!(!s.offered(&a, t0 + Duration::from_secs(9)));
        assert_eq!(s.recipients(&a), [id(1)]);
        // After the hold: offered once more, then held back again.
        let t1 = t0 + Duration::from_secs(10);
        assert!(s.start(a, t1));
        assert!(!s.start(a, t1));
        s.finish(a, whole(3), t1);
        assert_eq!(s.recipients(&a), [id(1), id(3)]);
        assert!(!s.offered(&a, t1 + Duration::from_secs(1)));
    }

    #[test]
    fn copies_cut_off_early_again_and_again_add_up_to_one_copy() {
        let t0 = Instant::now();
        let mut s = one_copy(Duration::from_secs(30));
        let a = Hash::new(b"a");
        // Three fetchers in turn, each cut off after 30 %: offered while less than a copy's
        // worth went out.
        for k in 0..3 {
            assert!(s.start(a, t0), "cut-off copy {k}");
            s.finish(a, cut(k, 300), t0);
        }
        assert!(s.offered(&a, t0), "900 of 1000 bytes sent");
        assert!(s.start(a, t0));
        assert!(s.finish(a, cut(9, 100), t0));
        assert!(
            !s.offered(&a, t0),
            "a copy's worth sent in pieces: held back"
        );
        assert!(s.recipients(&a).is_empty(), "nobody holds it from us");
        assert!(!s.start(a, t0 + Duration::from_secs(29)));
        // After the hold the count starts over.
        assert!(s.start(a, t0 + Duration::from_secs(30)));
    }

    #[test]
    fn a_resumed_fetch_completes_a_copy_and_names_its_recipient() {
        let t0 = Instant::now();
        let mut s = one_copy(Duration::from_secs(30));
        let a = Hash::new(b"a");
        assert!(s.start(a, t0));
        s.finish(a, cut(1, 400), t0);
        assert!(s.start(a, t0), "offered: 400 of 1000 bytes out");
        // The same node resumes: asks only for the 600 bytes it lacks, and gets them.
        s.finish(
            a,
            Sent {
                bytes: 600,
                complete: true,
                ..cut(1, 0)
            },
            t0,
        );
        assert!(!s.offered(&a, t0));
        assert_eq!(s.recipients(&a), [id(1)], "it holds a whole copy from us");
    }

    #[test]
    fn range_requests_count_by_bytes_and_name_no_one_holding_a_part() {
        let t0 = Instant::now();
        let mut s = one_copy(Duration::from_secs(30));
        let a = Hash::new(b"a");
        // Quarters of the blob to four different nodes, each request complete.
        for k in 0..4u8 {
            assert!(s.start(a, t0), "quarter {k}");
            s.finish(
                a,
                Sent {
                    complete: true,
                    ..cut(k, 250)
                },
                t0,
            );
        }
        assert!(!s.offered(&a, t0), "four quarters are one copy");
        assert!(s.recipients(&a).is_empty(), "{:?}", s.recipients(&a));
    }

    #[test]
    fn off_offers_everything_and_remembers_nothing() {
        let t0 = Instant::now();
        let mut s = Seeder::new(SeedOptions::default());
        let a = Hash::new(b"a");
        assert!(s.start(a, t0) && s.start(a, t0));
        s.finish(a, whole(1), t0);
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
            s.finish(a, whole(n), t0);
        }
        assert_eq!(s.recipients(&a), [id(2), id(3), id(4), id(5)]);
    }
}
