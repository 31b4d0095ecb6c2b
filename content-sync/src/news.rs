//! News of holdings: a node tells the nodes that asked it recently about a repository
//! version what it holds now, when that changes (a file completed here; a super-seeding
//! origin handed a file out and now names its recipient), instead of waiting to be asked
//! again. Fetchers still ask ([`crate::swarm`]), at a bounded rate; the news makes a new copy
//! known to up to [`WatchOptions::max_told`] fetchers at once, however many providers there
//! are, where asking alone would take a whole round of questions over every provider.
//!
//! - [`Watchers`]: who asked about which version, and when; whom to tell (the latest askers
//!   within `ttl`, at most `max_told`).
//! - [`Inbox`]: news received, the latest per sender and version, until the fetch of that
//!   version takes it.
//!
//! Pure (no I/O, no clock: `now` is passed in). The endpoint keeps the askers' connections
//! and sends the news on them ([`crate::ContentEndpoint`]); wire form: one unidirectional
//! stream per piece of news, the 32-byte manifest hash, then a holdings answer as
//! [`crate::have`] encodes it.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use iroh::EndpointId;
use iroh_blobs::Hash;

use crate::have::HaveAnswer;

/// Whom news goes to.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// An asker is told for this long after its last question.
    pub ttl: Duration,
    /// At most this many askers are told per change (the latest first).
    pub max_told: usize,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            max_told: 32,
        }
    }
}

/// Askers remembered per version (beyond: the one that asked longest ago is forgotten).
const MAX_ASKERS: usize = 1024;

/// Who asked about which version, and when.
#[derive(Debug, Default)]
pub struct Watchers {
    opts: WatchOptions,
    /// Per manifest: askers, the latest last.
    by_manifest: HashMap<Hash, VecDeque<(EndpointId, Instant)>>,
}

impl Watchers {
    /// Watchers told as `opts` says.
    pub fn new(opts: WatchOptions) -> Self {
        Self {
            opts,
            by_manifest: HashMap::new(),
        }
    }

    /// `who` asked about `manifest` at `now`.
    pub fn asked(&mut self, manifest: Hash, who: EndpointId, now: Instant) {
        let ttl = self.opts.ttl;
        let q = self.by_manifest.entry(manifest).or_default();
        q.retain(|(id, t)| *id != who && now < *t + ttl);
        q.push_back((who, now));
        if q.len() > MAX_ASKERS {
            q.pop_front();
        }
    }

    /// Whom to tell about a change of `manifest` at `now`: those who asked within the ttl,
    /// the latest first, at most `max_told`.
    pub fn targets(&self, manifest: &Hash, now: Instant) -> Vec<EndpointId> {
        self.by_manifest
            .get(manifest)
            .map(|q| {
                q.iter()
                    .rev()
                    .filter(|(_, t)| now < *t + self.opts.ttl)
                    .take(self.opts.max_told)
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `who` is gone (its connection closed): told nothing more until it asks again.
    pub fn forget(&mut self, who: &EndpointId) {
        self.by_manifest.retain(|_, q| {
            q.retain(|(id, _)| id != who);
            !q.is_empty()
        });
    }

    /// Drop askers whose ttl has passed (and versions nobody watches).
    pub fn prune(&mut self, now: Instant) {
        let ttl = self.opts.ttl;
        self.by_manifest.retain(|_, q| {
            q.retain(|(_, t)| now < *t + ttl);
            !q.is_empty()
        });
    }
}

/// News received: per version, the latest answer of each sender.
#[derive(Debug, Default)]
pub struct Inbox {
    by_manifest: HashMap<Hash, HashMap<EndpointId, HaveAnswer>>,
}

impl Inbox {
    /// `from` says `answer` about `manifest` (replaces what it said before).
    pub fn put(&mut self, manifest: Hash, from: EndpointId, answer: HaveAnswer) {
        self.by_manifest
            .entry(manifest)
            .or_default()
            .insert(from, answer);
    }

    /// Take the news about `manifest`.
    pub fn take(&mut self, manifest: &Hash) -> Vec<(EndpointId, HaveAnswer)> {
        self.by_manifest
            .remove(manifest)
            .map(|m| m.into_iter().collect())
            .unwrap_or_default()
    }

    /// Forget the news about `manifest`.
    pub fn drop_version(&mut self, manifest: &Hash) {
        self.by_manifest.remove(manifest);
    }
}

/// Encode a piece of news: the manifest hash, then the holdings answer's bytes.
pub(crate) fn encode(manifest: &Hash, answer: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + answer.len());
    out.extend_from_slice(manifest.as_bytes());
    out.extend_from_slice(answer);
    out
}

/// Parse a piece of news; `None` if malformed.
pub(crate) fn decode(b: &[u8]) -> Option<(Hash, HaveAnswer)> {
    let manifest: [u8; 32] = b.get(..32)?.try_into().ok()?;
    let answer = crate::have::parse_response(&b[32..])?;
    Some((Hash::from_bytes(manifest), answer))
}

/// Largest piece of news accepted (a full bitmap and every hint).
pub(crate) const MAX_NEWS: usize =
    32 + 9 + (crate::have::MAX_BITS as usize).div_ceil(8) + crate::have::MAX_HINTS * 36;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::have::{Bitmap, known};

    fn id(n: u8) -> EndpointId {
        iroh::SecretKey::from_bytes(&[n; 32]).public()
    }

    #[test]
    fn the_latest_askers_within_the_ttl_are_told_at_most_max_told() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = Watchers::new(WatchOptions {
            ttl: s(60),
            max_told: 3,
        });
        let (m, other) = (Hash::new(b"m"), Hash::new(b"o"));
        for n in 0..5u8 {
            w.asked(m, id(n), t0 + s(u64::from(n)));
        }
        w.asked(other, id(9), t0);
        assert_eq!(w.targets(&m, t0 + s(5)), [id(4), id(3), id(2)]);
        assert_eq!(w.targets(&other, t0), [id(9)]);
        // Asking again moves an asker to the front, once.
        w.asked(m, id(0), t0 + s(6));
        assert_eq!(w.targets(&m, t0 + s(6)), [id(0), id(4), id(3)]);
        // The ttl passes for the early askers.
        assert_eq!(w.targets(&m, t0 + s(63)), [id(0), id(4)]);
        assert!(w.targets(&m, t0 + s(70)).is_empty());
        w.forget(&id(0));
        w.prune(t0 + s(63));
        assert_eq!(w.targets(&m, t0 + s(63)), [id(4)]);
        assert!(w.targets(&other, t0 + s(63)).is_empty());
    }

    #[test]
    fn the_inbox_keeps_the_latest_news_per_sender_until_taken() {
        let mut inbox = Inbox::default();
        let m = Hash::new(b"m");
        let mut b = Bitmap::new(4);
        inbox.put(m, id(1), HaveAnswer::Known(b.clone()));
        b.set(2);
        inbox.put(m, id(1), HaveAnswer::Known(b.clone()));
        inbox.put(m, id(2), HaveAnswer::Unknown);
        let mut got = inbox.take(&m);
        got.sort_by_key(|(id, _)| *id.as_bytes());
        let mut want = vec![(id(1), HaveAnswer::Known(b)), (id(2), HaveAnswer::Unknown)];
        want.sort_by_key(|(id, _)| *id.as_bytes());
        assert_eq!(got, want);
        assert!(inbox.take(&m).is_empty(), "taken once");
    }

    #[test]
    fn news_round_trips_and_rejects_malformed() {
        let m = Hash::new(b"m");
        let mut b = Bitmap::new(10);
        b.set(3);
        let hints = [(4u32, id(7))];
        let wire = encode(&m, &known(&b, &hints));
        assert_eq!(
            decode(&wire),
            Some((m, HaveAnswer::Seeding(b.clone(), vec![(4, id(7))])))
        );
        assert_eq!(
            decode(&encode(&m, &known(&b, &[]))),
            Some((m, HaveAnswer::Known(b)))
        );
        assert_eq!(decode(&wire[..31]), None);
        assert_eq!(decode(&wire[..wire.len() - 3]), None);
        assert!(wire.len() <= MAX_NEWS);
    }
}
