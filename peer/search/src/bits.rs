//! Sets of system slots: [`Bits`], a dense bitset the evaluation works on (one bit per slot:
//! 125 KB for a million systems, so and/or/not are a few microseconds), and [`Postings`], the
//! stored set of one term value, chunked by 65 536 slots like a roaring bitmap: a sorted
//! `u16` list while a chunk is sparse, a bitmap once it is dense. A value held by 5 % of the
//! systems costs 2 bytes per holder, one held by most costs 1 bit per slot.

/// Slots per chunk.
const CHUNK: usize = 1 << 16;
/// Words of a dense chunk.
const CHUNK_WORDS: usize = CHUNK / 64;
/// A sparse chunk turns dense above this many members (4096 × 2 bytes = the bitmap's size)...
const TO_DENSE: usize = 4096;
/// ...and sparse again below this many (hysteresis, so a value at the border does not flip).
const TO_SPARSE: usize = 2048;

/// A dense bitset over slots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// An empty set able to hold slots `0..len`.
    pub fn with_len(len: usize) -> Self {
        Self(vec![0; len.div_ceil(64)])
    }

    /// Add `slot` (must be below the length given).
    pub fn set(&mut self, slot: u32) {
        let i = slot as usize;
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Remove `slot`.
    pub fn clear(&mut self, slot: u32) {
        let i = slot as usize;
        if let Some(w) = self.0.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    /// Whether `slot` is in the set.
    pub fn get(&self, slot: u32) -> bool {
        let i = slot as usize;
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Grow to hold slots `0..len`.
    pub fn grow(&mut self, len: usize) {
        let words = len.div_ceil(64);
        if words > self.0.len() {
            self.0.resize(words, 0);
        }
    }

    /// Members.
    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// `self ∩= other`.
    pub fn and(&mut self, other: &Bits) {
        for (i, w) in self.0.iter_mut().enumerate() {
            *w &= other.0.get(i).copied().unwrap_or(0);
        }
    }

    /// `self ∪= other`.
    pub fn or(&mut self, other: &Bits) {
        self.grow(other.0.len() * 64);
        for (w, o) in self.0.iter_mut().zip(&other.0) {
            *w |= o;
        }
    }

    /// `self = within \ self` (the complement inside `within`).
    pub fn not_within(&mut self, within: &Bits) {
        self.grow(within.0.len() * 64);
        for (i, w) in self.0.iter_mut().enumerate() {
            *w = !*w & within.0.get(i).copied().unwrap_or(0);
        }
    }

    /// Members in slot order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some((i * 64) as u32 + b)
            })
        })
    }

    /// Heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.0.capacity() * 8
    }
}

#[derive(Debug, Clone)]
enum Chunk {
    Sparse(Vec<u16>),
    Dense { words: Box<[u64]>, len: usize },
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Self::Sparse(v) => v.len(),
            Self::Dense { len, .. } => *len,
        }
    }
}

/// The slots holding one term value (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Postings {
    chunks: Vec<Option<Chunk>>,
    len: usize,
}

impl Postings {
    /// Members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No members.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add `slot`; false if it was there.
    pub fn insert(&mut self, slot: u32) -> bool {
        let (hi, lo) = ((slot as usize) / CHUNK, (slot as usize % CHUNK) as u16);
        if hi >= self.chunks.len() {
            self.chunks.resize(hi + 1, None);
        }
        let chunk = self.chunks[hi].get_or_insert_with(|| Chunk::Sparse(Vec::new()));
        let added = match chunk {
            Chunk::Sparse(v) => match v.binary_search(&lo) {
                Ok(_) => false,
                Err(at) => {
                    v.insert(at, lo);
                    true
                }
            },
            Chunk::Dense { words, len } => {
                let (w, b) = (lo as usize / 64, lo as usize % 64);
                let fresh = words[w] & (1 << b) == 0;
                words[w] |= 1 << b;
                *len += usize::from(fresh);
                fresh
            }
        };
        if let Chunk::Sparse(v) = chunk
            && v.len() > TO_DENSE
        {
            let mut words = vec![0u64; CHUNK_WORDS].into_boxed_slice();
            for &x in v.iter() {
                words[x as usize / 64] |= 1 << (x % 64);
            }
            *chunk = Chunk::Dense {
                words,
                len: v.len(),
            };
        }
        self.len += usize::from(added);
        added
    }

    /// Remove `slot`; false if it was not there.
    pub fn remove(&mut self, slot: u32) -> bool {
        let (hi, lo) = ((slot as usize) / CHUNK, (slot as usize % CHUNK) as u16);
        let Some(Some(chunk)) = self.chunks.get_mut(hi) else {
            return false;
        };
        let removed = match chunk {
            Chunk::Sparse(v) => match v.binary_search(&lo) {
                Ok(at) => {
                    v.remove(at);
                    true
                }
                Err(_) => false,
            },
            Chunk::Dense { words, len } => {
                let (w, b) = (lo as usize / 64, lo as usize % 64);
                let there = words[w] & (1 << b) != 0;
                words[w] &= !(1 << b);
                *len -= usize::from(there);
                there
            }
        };
        if let Chunk::Dense { words, len } = chunk
            && *len < TO_SPARSE
        {
            let v: Vec<u16> = words
                .iter()
                .enumerate()
                .flat_map(|(i, &w)| {
                    (0..64)
                        .filter(move |b| w & (1 << b) != 0)
                        .map(move |b| (i * 64 + b) as u16)
                })
                .collect();
            *chunk = Chunk::Sparse(v);
        }
        if chunk.len() == 0 {
            self.chunks[hi] = None;
        }
        self.len -= usize::from(removed);
        removed
    }

    /// Whether `slot` is a member.
    pub fn contains(&self, slot: u32) -> bool {
        let (hi, lo) = ((slot as usize) / CHUNK, (slot as usize % CHUNK) as u16);
        match self.chunks.get(hi) {
            Some(Some(Chunk::Sparse(v))) => v.binary_search(&lo).is_ok(),
            Some(Some(Chunk::Dense { words, .. })) => {
                words[lo as usize / 64] & (1 << (lo % 64)) != 0
            }
            _ => false,
        }
    }

    /// `dst ∪= self`.
    pub fn or_into(&self, dst: &mut Bits) {
        dst.grow(self.chunks.len() * CHUNK);
        for (hi, chunk) in self.chunks.iter().enumerate() {
            let base = hi * CHUNK_WORDS;
            match chunk {
                None => {}
                Some(Chunk::Sparse(v)) => {
                    for &x in v {
                        dst.0[base + x as usize / 64] |= 1 << (x % 64);
                    }
                }
                Some(Chunk::Dense { words, .. }) => {
                    for (d, w) in dst.0[base..base + CHUNK_WORDS].iter_mut().zip(words.iter()) {
                        *d |= w;
                    }
                }
            }
        }
    }

    /// Heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Option<Chunk>>()
            + self
                .chunks
                .iter()
                .flatten()
                .map(|c| match c {
                    Chunk::Sparse(v) => v.capacity() * 2,
                    Chunk::Dense { .. } => CHUNK_WORDS * 8,
                })
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_switch_representation_and_keep_members() {
        let mut p = Postings::default();
        let mut model = std::collections::BTreeSet::new();
        // Dense in chunk 0, sparse in chunk 2.
        for s in (0..10_000u32).chain((2 * CHUNK as u32..2 * CHUNK as u32 + 300).step_by(3)) {
            assert_eq!(p.insert(s), model.insert(s));
        }
        assert!(!p.insert(5));
        for s in (0..10_000u32).step_by(2) {
            assert_eq!(p.remove(s), model.remove(&s));
        }
        for s in 0..9_000u32 {
            assert_eq!(p.remove(s), model.remove(&s));
        }
        assert_eq!(p.len(), model.len());
        let mut bits = Bits::default();
        p.or_into(&mut bits);
        assert_eq!(
            bits.iter().collect::<std::collections::BTreeSet<_>>(),
            model
        );
        assert!(model.iter().all(|&s| p.contains(s)));
        assert!(!p.contains(1));
    }

    #[test]
    fn bit_algebra() {
        let mut all = Bits::with_len(200);
        (0..150).for_each(|s| all.set(s));
        let mut a = Bits::with_len(200);
        [1, 64, 149].iter().for_each(|&s| a.set(s));
        let mut b = a.clone();
        b.not_within(&all);
        assert_eq!(b.count(), 147);
        assert!(!b.get(64) && b.get(65) && !b.get(150));
        b.and(&a);
        assert_eq!(b.count(), 0);
        b.or(&a);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![1, 64, 149]);
    }
}
