//! Who holds what, per file: a bitmap per repository version (its manifest hash), bit `i` set
//! when the node holds the manifest's `i`-th file completely.
//!
//! Kept in memory only and asked for over the content endpoint (ALPN [`HAVE_ALPN`]), never
//! written to the metastore: a bitmap changes with every file fetched, and the automerge
//! history would keep every change forever (p2p-notes §2). The metastore keeps the coarse
//! record (repositories held completely); fetchers poll the bitmaps of their providers at a
//! bounded rate while they fetch ([`crate::swarm`]).
//!
//! Wire format (one bidirectional stream per question, the connection pooled):
//! request = the 32-byte manifest hash; response = one status byte (`0` known, `1` not
//! known here, `2` refused), then for `0` the number of bits (u32, little endian) and the
//! bitmap bytes (bit `i` = byte `i / 8`, bit `i % 8`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::Instant,
};

use iroh::EndpointId;
use iroh_blobs::Hash;

use crate::{
    news::Inbox,
    seed::{SeedOptions, Seeder, Sent},
};

/// ALPN of the holdings protocol.
pub const HAVE_ALPN: &[u8] = b"uyuni-cluster/content-have/1";

/// Largest bitmap accepted (8 Mi files).
pub const MAX_BITS: u32 = 1 << 23;

/// A set of file positions, compact on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bitmap {
    len: u32,
    bits: Vec<u8>,
}

impl Bitmap {
    /// `len` positions, none set.
    pub fn new(len: usize) -> Self {
        let len = u32::try_from(len).unwrap_or(u32::MAX).min(MAX_BITS);
        Self {
            len,
            bits: vec![0; (len as usize).div_ceil(8)],
        }
    }

    /// `len` positions, all set.
    pub fn full(len: usize) -> Self {
        let mut b = Self::new(len);
        for i in 0..b.len() {
            b.set(i);
        }
        b
    }

    /// Number of positions.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// No positions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Is position `i` set? (Out of range: no.)
    pub fn get(&self, i: usize) -> bool {
        i < self.len() && self.bits[i / 8] & (1 << (i % 8)) != 0
    }

    /// Set position `i` (out of range: ignored).
    pub fn set(&mut self, i: usize) {
        if i < self.len() {
            self.bits[i / 8] |= 1 << (i % 8);
        }
    }

    /// Clear position `i`.
    pub fn clear(&mut self, i: usize) {
        if i < self.len() {
            self.bits[i / 8] &= !(1 << (i % 8));
        }
    }

    /// Positions set.
    pub fn count(&self) -> usize {
        self.bits.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// Every position set.
    pub fn is_full(&self) -> bool {
        self.count() == self.len()
    }

    /// The wire form: bit count (u32 LE) and the bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.bits.len());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.bits);
        out
    }

    /// Parse the wire form; `None` if malformed.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
        if len > MAX_BITS {
            return None;
        }
        let bits = b.get(4..)?;
        if bits.len() != (len as usize).div_ceil(8) {
            return None;
        }
        let mut out = Self {
            len,
            bits: bits.to_vec(),
        };
        // Bits past the end are ignored, not trusted.
        for i in out.len()..out.bits.len() * 8 {
            out.bits[i / 8] &= !(1 << (i % 8));
        }
        Some(out)
    }
}

/// One registered repository version.
#[derive(Debug, Clone)]
struct Entry {
    bits: Bitmap,
    /// Its files' hashes, in manifest order (for super-seeding; `None`: not given).
    files: Option<Arc<[Hash]>>,
}

#[derive(Debug, Default)]
struct Tables {
    by_manifest: HashMap<Hash, Entry>,
    /// File hash → the manifests listing it (those registered with their files).
    manifests_of: HashMap<Hash, Vec<Hash>>,
}

impl Tables {
    fn index(&mut self, manifest: Hash, files: &[Hash]) {
        for f in files {
            let m = self.manifests_of.entry(*f).or_default();
            if !m.contains(&manifest) {
                m.push(manifest);
            }
        }
    }

    fn unindex(&mut self, manifest: &Hash) {
        if let Some(files) = self.by_manifest.get(manifest).and_then(|e| e.files.clone()) {
            for f in files.iter() {
                if let Some(m) = self.manifests_of.get_mut(f) {
                    m.retain(|x| x != manifest);
                    if m.is_empty() {
                        self.manifests_of.remove(f);
                    }
                }
            }
        }
    }
}

/// Most hints in one answer.
pub const MAX_HINTS: usize = 4096;

/// This node's bitmaps, by manifest hash: written by the fetching side as files complete,
/// read by the serving side. With super-seeding on ([`crate::seed`]), a version held
/// completely is answered without the files handed out already, and with hints naming their
/// recipients.
#[derive(Debug, Clone, Default)]
pub struct HaveTable {
    inner: Arc<RwLock<Tables>>,
    seeder: Arc<Mutex<Seeder>>,
    /// News from the nodes this node asked ([`crate::news`]), until its fetch takes them.
    news: Arc<Mutex<Inbox>>,
}

impl HaveTable {
    /// A table whose complete versions are super-seeded with `opts`.
    pub fn with_seeding(opts: SeedOptions) -> Self {
        Self {
            inner: Arc::default(),
            seeder: Arc::new(Mutex::new(Seeder::new(opts))),
            news: Arc::default(),
        }
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.news
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `from` told us what it holds of `manifest` (kept only while `manifest` is
    /// registered here: news about a version this node does not fetch is dropped).
    pub fn put_news(&self, manifest: Hash, from: EndpointId, answer: HaveAnswer) {
        if self.read().by_manifest.contains_key(&manifest) {
            self.inbox().put(manifest, from, answer);
        }
    }

    /// Take the news received about `manifest` (the latest per sender).
    pub fn take_news(&self, manifest: &Hash) -> Vec<(EndpointId, HaveAnswer)> {
        self.inbox().take(manifest)
    }

    /// The registered versions listing blob `file` (with their files known).
    pub fn manifests_of(&self, file: &Hash) -> Vec<Hash> {
        self.read()
            .manifests_of
            .get(file)
            .cloned()
            .unwrap_or_default()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn seeder(&self) -> std::sync::MutexGuard<'_, Seeder> {
        self.seeder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Set the bitmap of `manifest` (replaces the old one, keeps its files if known).
    pub fn put(&self, manifest: Hash, bits: Bitmap) {
        let mut t = self.write();
        match t.by_manifest.get_mut(&manifest) {
            Some(e) => e.bits = bits,
            None => {
                t.by_manifest.insert(manifest, Entry { bits, files: None });
            }
        }
    }

    /// Set the bitmap of `manifest` and its files' hashes in manifest order (what
    /// super-seeding needs; ignored as files when the count differs from the bitmap's).
    pub fn put_files(&self, manifest: Hash, bits: Bitmap, files: Vec<Hash>) {
        let mut t = self.write();
        t.unindex(&manifest);
        let files: Option<Arc<[Hash]>> = (files.len() == bits.len()).then(|| files.into());
        if let Some(f) = &files {
            t.index(manifest, f);
        }
        t.by_manifest.insert(manifest, Entry { bits, files });
    }

    /// Mark file `i` of `manifest` held (no-op when the manifest is not registered).
    pub fn mark(&self, manifest: &Hash, i: usize) {
        if let Some(e) = self.write().by_manifest.get_mut(manifest) {
            e.bits.set(i);
        }
    }

    /// Mark file `i` of `manifest` not held (found corrupt).
    pub fn unmark(&self, manifest: &Hash, i: usize) {
        if let Some(e) = self.write().by_manifest.get_mut(manifest) {
            e.bits.clear(i);
        }
    }

    /// Forget `manifest` (repository released).
    pub fn remove(&self, manifest: &Hash) {
        let mut t = self.write();
        t.unindex(manifest);
        t.by_manifest.remove(manifest);
        self.inbox().drop_version(manifest);
    }

    /// Keep only the manifests in `keep`.
    pub fn retain(&self, keep: &std::collections::HashSet<Hash>) {
        let mut t = self.write();
        let gone: Vec<Hash> = t
            .by_manifest
            .keys()
            .filter(|h| !keep.contains(*h))
            .copied()
            .collect();
        for m in gone {
            t.unindex(&m);
            t.by_manifest.remove(&m);
            self.inbox().drop_version(&m);
        }
    }

    /// The bitmap of `manifest`, if registered (everything held, super-seeding aside).
    pub fn get(&self, manifest: &Hash) -> Option<Bitmap> {
        self.read()
            .by_manifest
            .get(manifest)
            .map(|e| e.bits.clone())
    }

    /// Is `file` super-seeded here (super-seeding on, and a version listing it held
    /// completely with its files known)?
    fn seeds(&self, file: &Hash) -> bool {
        let t = self.read();
        t.manifests_of.get(file).is_some_and(|ms| {
            ms.iter()
                .any(|m| t.by_manifest.get(m).is_some_and(|e| e.bits.is_full()))
        })
    }

    /// A request for blob `file` arrived: may it be served now? Counts it as a copy handed
    /// out when it is super-seeded ([`Self::seed_finish`] must follow).
    pub fn seed_start(&self, file: Hash, now: Instant) -> bool {
        let enabled = self.seeder().enabled();
        if !enabled || !self.seeds(&file) {
            return true;
        }
        self.seeder().start(file, now)
    }

    /// A transfer of `file` admitted by [`Self::seed_start`] ended having sent `sent`.
    /// Returns `true` when it completed a copy handed out (the answers about the versions
    /// listing `file` changed: news for those who asked).
    pub fn seed_finish(&self, file: Hash, sent: Sent, now: Instant) -> bool {
        self.seeder().finish(file, sent, now)
    }

    /// What to answer `asker` about `manifest`: the bitmap (without the files held back by
    /// super-seeding) and hints (file position, a node it was handed to), or `None` if the
    /// manifest is not registered.
    pub fn answer(
        &self,
        manifest: &Hash,
        asker: Option<EndpointId>,
        now: Instant,
    ) -> Option<(Bitmap, Vec<(u32, EndpointId)>)> {
        let t = self.read();
        let e = t.by_manifest.get(manifest)?;
        let seeder = self.seeder();
        let Some(files) = e
            .files
            .as_ref()
            .filter(|_| seeder.enabled() && e.bits.is_full())
        else {
            return Some((e.bits.clone(), Vec::new()));
        };
        let mut bits = e.bits.clone();
        let mut hints = Vec::new();
        for (i, f) in files.iter().enumerate() {
            if seeder.offered(f, now) {
                continue;
            }
            bits.clear(i);
            for to in seeder.recipients(f).into_iter().rev() {
                if Some(to) != asker && hints.len() < MAX_HINTS {
                    hints.push((i as u32, to));
                }
            }
        }
        Some((bits, hints))
    }
}

/// Status byte of a response.
pub(crate) const KNOWN: u8 = 0;
pub(crate) const UNKNOWN: u8 = 1;
pub(crate) const REFUSED: u8 = 2;
/// Known, with hints: the bitmap, then a u32 (LE) count of hints, each a u32 (LE) file
/// position and the 32-byte endpoint id of a node the file was handed to.
pub(crate) const KNOWN_HINTS: u8 = 3;

/// Encode a response.
pub(crate) fn response(status: u8, bits: Option<&Bitmap>) -> Vec<u8> {
    let mut out = vec![status];
    if let Some(b) = bits {
        out.extend(b.encode());
    }
    out
}

/// Encode a known answer (with hints when there are any).
pub(crate) fn known(bits: &Bitmap, hints: &[(u32, EndpointId)]) -> Vec<u8> {
    if hints.is_empty() {
        return response(KNOWN, Some(bits));
    }
    let mut out = response(KNOWN_HINTS, Some(bits));
    out.extend_from_slice(&(hints.len() as u32).to_le_bytes());
    for (i, id) in hints {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(id.as_bytes());
    }
    out
}

/// What a provider answered about a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaveAnswer {
    /// Its bitmap.
    Known(Bitmap),
    /// A super-seeding holder's bitmap (the files it still offers) and hints: nodes it
    /// handed other files to (file position, endpoint id).
    Seeding(Bitmap, Vec<(usize, EndpointId)>),
    /// It has not loaded this manifest (holds none of its files as far as it knows).
    Unknown,
    /// It refused (not shared with our zone).
    Refused,
}

/// Parse a response.
pub(crate) fn parse_response(b: &[u8]) -> Option<HaveAnswer> {
    match *b.first()? {
        KNOWN => Bitmap::decode(&b[1..]).map(HaveAnswer::Known),
        KNOWN_HINTS => {
            let len = u32::from_le_bytes(b.get(1..5)?.try_into().ok()?);
            let end = 5 + (len.min(MAX_BITS + 1) as usize).div_ceil(8);
            let bits = Bitmap::decode(b.get(1..end)?)?;
            let n = u32::from_le_bytes(b.get(end..end + 4)?.try_into().ok()?) as usize;
            let rest = b.get(end + 4..)?;
            if n > MAX_HINTS || rest.len() != n * 36 {
                return None;
            }
            let mut hints = Vec::with_capacity(n);
            for h in rest.chunks_exact(36) {
                let i = u32::from_le_bytes(h[..4].try_into().ok()?) as usize;
                let id = EndpointId::from_bytes(h[4..].try_into().ok()?).ok()?;
                hints.push((i, id));
            }
            Some(HaveAnswer::Seeding(bits, hints))
        }
        UNKNOWN => Some(HaveAnswer::Unknown),
        REFUSED => Some(HaveAnswer::Refused),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_round_trips_and_rejects_malformed() {
        let mut b = Bitmap::new(13);
        b.set(0);
        b.set(12);
        b.set(99);
        assert!(b.get(0) && b.get(12) && !b.get(1) && !b.get(99));
        assert_eq!(b.count(), 2);
        let wire = b.encode();
        assert_eq!(wire.len(), 4 + 2);
        assert_eq!(Bitmap::decode(&wire), Some(b.clone()));
        assert_eq!(Bitmap::decode(&wire[..5]), None, "short");
        assert_eq!(
            Bitmap::decode(&[0xff, 0xff, 0xff, 0xff]),
            None,
            "too many bits"
        );
        let mut junk = wire.clone();
        junk[5] = 0xff;
        assert_eq!(
            Bitmap::decode(&junk).map(|b| b.count()),
            Some(6),
            "tail bits dropped"
        );
        assert!(Bitmap::full(9).is_full());
        assert_eq!(
            parse_response(&response(KNOWN, Some(&b))),
            Some(HaveAnswer::Known(b))
        );
        assert_eq!(
            parse_response(&response(UNKNOWN, None)),
            Some(HaveAnswer::Unknown)
        );
        assert_eq!(parse_response(&[7]), None);
        assert_eq!(parse_response(&[]), None);
    }

    #[test]
    fn a_seeding_table_holds_back_handed_out_files_and_names_their_recipients() {
        use std::time::Duration;
        let id = |n: u8| iroh::SecretKey::from_bytes(&[n; 32]).public();
        let t = HaveTable::with_seeding(SeedOptions {
            copies: 1,
            hold: Duration::from_secs(5),
        });
        let files: Vec<Hash> = (0..3u8).map(|i| Hash::new([i])).collect();
        let m = Hash::new(b"m");
        let t0 = Instant::now();
        // Not held completely: no super-seeding, everything served.
        t.put_files(m, Bitmap::new(3), files.clone());
        t.mark(&m, 0);
        assert!(t.seed_start(files[0], t0) && t.seed_start(files[0], t0));
        let whole = |n: u8| Sent {
            to: Some(id(n)),
            bytes: 100,
            size: 100,
            complete: true,
        };
        for _ in 0..2 {
            t.seed_finish(files[0], whole(1), t0);
        }
        // Complete: each file once.
        t.put_files(m, Bitmap::full(3), files.clone());
        assert!(t.seed_start(files[1], t0));
        assert!(!t.seed_start(files[1], t0), "running: not twice");
        assert!(t.seed_finish(files[1], whole(7), t0), "a copy handed out");
        let (bits, hints) = t.answer(&m, Some(id(9)), t0).expect("known");
        assert!(bits.get(0) && !bits.get(1) && bits.get(2), "{bits:?}");
        assert_eq!(hints, [(1, id(7))]);
        // The recipient itself gets no hint about itself.
        assert!(t.answer(&m, Some(id(7)), t0).expect("known").1.is_empty());
        let wire = known(&bits, &hints);
        assert_eq!(
            parse_response(&wire),
            Some(HaveAnswer::Seeding(bits.clone(), vec![(1, id(7))]))
        );
        assert_eq!(parse_response(&wire[..wire.len() - 1]), None, "short hint");
        // After the hold it is offered again.
        let later = t0 + Duration::from_secs(5);
        assert!(t.answer(&m, None, later).expect("known").0.is_full());
        assert!(t.seed_start(files[1], later));
        // Unknown files are not seeded; a plain table answers its bits.
        assert!(t.seed_start(Hash::new(b"other"), t0));
        let plain = HaveTable::default();
        plain.put(m, Bitmap::full(3));
        assert_eq!(plain.answer(&m, None, t0), Some((Bitmap::full(3), vec![])));
        t.remove(&m);
        assert!(t.answer(&m, None, t0).is_none());
    }

    #[test]
    fn table_marks_only_registered_manifests() {
        let t = HaveTable::default();
        let (m, other) = (Hash::new(b"m"), Hash::new(b"o"));
        t.put(m, Bitmap::new(3));
        t.mark(&m, 1);
        t.mark(&other, 1);
        assert_eq!(t.get(&m).map(|b| b.get(1)), Some(true));
        assert_eq!(t.get(&other), None);
        // News is kept only about registered versions, the latest per sender.
        let id = iroh::SecretKey::from_bytes(&[1; 32]).public();
        t.put_news(other, id, HaveAnswer::Unknown);
        assert!(t.take_news(&other).is_empty());
        t.put_news(m, id, HaveAnswer::Unknown);
        t.put_news(m, id, HaveAnswer::Known(Bitmap::full(3)));
        assert_eq!(t.take_news(&m), [(id, HaveAnswer::Known(Bitmap::full(3)))]);
        t.put_news(m, id, HaveAnswer::Unknown);
        t.unmark(&m, 1);
        assert_eq!(t.get(&m).map(|b| b.count()), Some(0));
        t.retain(&Default::default());
        assert_eq!(t.get(&m), None);
        assert!(t.take_news(&m).is_empty(), "dropped with the version");
    }
}
