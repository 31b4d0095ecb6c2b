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
    sync::{Arc, RwLock},
};

use iroh_blobs::Hash;

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

/// This node's bitmaps, by manifest hash: written by the fetching side as files complete,
/// read by the serving side.
#[derive(Debug, Clone, Default)]
pub struct HaveTable {
    inner: Arc<RwLock<HashMap<Hash, Bitmap>>>,
}

impl HaveTable {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Hash, Bitmap>> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Hash, Bitmap>> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Set the bitmap of `manifest` (replaces the old one).
    pub fn put(&self, manifest: Hash, bits: Bitmap) {
        self.write().insert(manifest, bits);
    }

    /// Mark file `i` of `manifest` held (no-op when the manifest is not registered).
    pub fn mark(&self, manifest: &Hash, i: usize) {
        if let Some(b) = self.write().get_mut(manifest) {
            b.set(i);
        }
    }

    /// Mark file `i` of `manifest` not held (found corrupt).
    pub fn unmark(&self, manifest: &Hash, i: usize) {
        if let Some(b) = self.write().get_mut(manifest) {
            b.clear(i);
        }
    }

    /// Forget `manifest` (repository released).
    pub fn remove(&self, manifest: &Hash) {
        self.write().remove(manifest);
    }

    /// Keep only the manifests in `keep`.
    pub fn retain(&self, keep: &std::collections::HashSet<Hash>) {
        self.write().retain(|h, _| keep.contains(h));
    }

    /// The bitmap of `manifest`, if registered.
    pub fn get(&self, manifest: &Hash) -> Option<Bitmap> {
        self.read().get(manifest).cloned()
    }
}

/// Status byte of a response.
pub(crate) const KNOWN: u8 = 0;
pub(crate) const UNKNOWN: u8 = 1;
pub(crate) const REFUSED: u8 = 2;

/// Encode a response.
pub(crate) fn response(status: u8, bits: Option<&Bitmap>) -> Vec<u8> {
    let mut out = vec![status];
    if let Some(b) = bits {
        out.extend(b.encode());
    }
    out
}

/// What a provider answered about a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaveAnswer {
    /// Its bitmap.
    Known(Bitmap),
    /// It has not loaded this manifest (holds none of its files as far as it knows).
    Unknown,
    /// It refused (not shared with our zone).
    Refused,
}

/// Parse a response.
pub(crate) fn parse_response(b: &[u8]) -> Option<HaveAnswer> {
    match *b.first()? {
        KNOWN => Bitmap::decode(&b[1..]).map(HaveAnswer::Known),
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
    fn table_marks_only_registered_manifests() {
        let t = HaveTable::default();
        let (m, other) = (Hash::new(b"m"), Hash::new(b"o"));
        t.put(m, Bitmap::new(3));
        t.mark(&m, 1);
        t.mark(&other, 1);
        assert_eq!(t.get(&m).map(|b| b.get(1)), Some(true));
        assert_eq!(t.get(&other), None);
        t.unmark(&m, 1);
        assert_eq!(t.get(&m).map(|b| b.count()), Some(0));
        t.retain(&Default::default());
        assert_eq!(t.get(&m), None);
    }
}
