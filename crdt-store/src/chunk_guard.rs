//! A check of automerge chunks from a peer before automerge decodes them.
//!
//! automerge 0.12 decodes a chunk's columns before it checks the chunk's checksum, and its
//! run-length columns and deflate streams can claim any size: fuzzing found 28 bytes that made
//! it ask for a 4 GiB allocation (an abort, which `catch_unwind` cannot catch) and 27 bytes that
//! kept it busy for 11 s (docs/FUZZING.md, `sync_message`). So every chunk a peer sends is
//! framed and verified here first, with no allocation beyond a bounded inflate:
//!
//! - the framing holds (magic bytes, checksum, a known type, a length inside the input);
//! - the type is one the entry point can legitimately carry (gossip carries change chunks; a
//!   sync message may also carry a whole document, automerge's v2 sync);
//! - the checksum (the first 4 bytes of SHA-256 over type, length and data, as automerge writes
//!   it) matches, so bytes mangled on the way or made up by a faulty peer never reach the
//!   decoder; a compressed change is inflated with a bound first, as its checksum covers the
//!   inflated change.
//!
//! What this does not stop: a peer holding the cluster key can compute a valid checksum over a
//! hostile chunk. Such a peer can already write any record; docs/SECURITY.md says so.

use std::io::Read;

use sha2::{Digest, Sha256};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const TYPE_DOCUMENT: u8 = 0;
const TYPE_CHANGE: u8 = 1;
const TYPE_COMPRESSED: u8 = 2;

/// The largest change a compressed chunk may inflate to. A change this large would be a write
/// of hundreds of thousands of records in one transaction; nothing in the peer writes that.
pub const MAX_INFLATED: usize = 256 * 1024 * 1024;

/// Which chunk types an entry point accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Gossiped changes (`Store::apply_remote`): change chunks, plain or compressed.
    Changes,
    /// A sync message's chunk list: changes, or a whole document (automerge's v2 sync sends
    /// one to a replica that has nothing yet).
    ChangesOrDocument,
}

/// Why a chunk was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Nothing to decode.
    #[error("empty chunk")]
    Empty,
    /// The input ended inside a chunk's header or data.
    #[error("chunk {index}: truncated ({what})")]
    Truncated {
        /// Position of the chunk in the input.
        index: usize,
        /// Which part was cut.
        what: &'static str,
    },
    /// Not automerge's magic bytes.
    #[error("chunk {index}: not an automerge chunk (bad magic bytes)")]
    BadMagic {
        /// Position of the chunk in the input.
        index: usize,
    },
    /// A type this entry point never carries (bundles, unknown types, documents in gossip).
    #[error("chunk {index}: type {chunk_type} is not accepted here")]
    TypeRefused {
        /// Position of the chunk in the input.
        index: usize,
        /// The type byte.
        chunk_type: u8,
    },
    /// The checksum does not match the data.
    #[error("chunk {index}: checksum mismatch")]
    Checksum {
        /// Position of the chunk in the input.
        index: usize,
    },
    /// A compressed change that does not inflate, or inflates past [`MAX_INFLATED`].
    #[error("chunk {index}: compressed change {why}")]
    Inflate {
        /// Position of the chunk in the input.
        index: usize,
        /// What went wrong.
        why: &'static str,
    },
}

/// Check every chunk of `input` (one chunk or several back to back). `Ok` means automerge may
/// decode it.
pub fn check(input: &[u8], allowed: Allowed) -> Result<(), ChunkError> {
    if input.is_empty() {
        return Err(ChunkError::Empty);
    }
    let mut rest = input;
    let mut index = 0;
    while !rest.is_empty() {
        rest = check_one(rest, index, allowed)?;
        index += 1;
    }
    Ok(())
}

/// Check the chunk at the start of `input`; returns what follows it.
fn check_one(input: &[u8], index: usize, allowed: Allowed) -> Result<&[u8], ChunkError> {
    let truncated = |what| ChunkError::Truncated { index, what };
    let (magic, rest) = split(input, 4).ok_or(truncated("magic"))?;
    if magic != MAGIC {
        return Err(ChunkError::BadMagic { index });
    }
    let (checksum, rest) = split(rest, 4).ok_or(truncated("checksum"))?;
    let (&chunk_type, rest) = rest.split_first().ok_or(truncated("type"))?;
    let accepted = match chunk_type {
        TYPE_CHANGE | TYPE_COMPRESSED => true,
        TYPE_DOCUMENT => allowed == Allowed::ChangesOrDocument,
        _ => false,
    };
    if !accepted {
        return Err(ChunkError::TypeRefused { index, chunk_type });
    }
    let (len, rest) = uleb(rest).ok_or(truncated("length"))?;
    let len = usize::try_from(len).map_err(|_| truncated("data"))?;
    let (data, rest) = split(rest, len).ok_or(truncated("data"))?;
    let expected = if chunk_type == TYPE_COMPRESSED {
        let inflated = inflate(data).map_err(|why| ChunkError::Inflate { index, why })?;
        checksum_of(TYPE_CHANGE, &inflated)
    } else {
        checksum_of(chunk_type, data)
    };
    if checksum != expected {
        return Err(ChunkError::Checksum { index });
    }
    Ok(rest)
}

fn split(input: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    (input.len() >= n).then(|| input.split_at(n))
}

/// Unsigned LEB128, at most 10 bytes (a u64).
fn uleb(input: &[u8]) -> Option<(u64, &[u8])> {
    let mut value: u64 = 0;
    for (i, &b) in input.iter().enumerate().take(10) {
        let bits = u64::from(b & 0x7f);
        let shift = 7 * i as u32;
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if b & 0x80 == 0 {
            return Some((value, &input[i + 1..]));
        }
    }
    None
}

fn checksum_of(chunk_type: u8, data: &[u8]) -> [u8; 4] {
    let mut len = Vec::with_capacity(10);
    let mut n = data.len() as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            len.push(byte);
            break;
        }
        len.push(byte | 0x80);
    }
    let mut hasher = Sha256::new();
    hasher.update([chunk_type]);
    hasher.update(&len);
    hasher.update(data);
    let hash = hasher.finalize();
    [hash[0], hash[1], hash[2], hash[3]]
}

fn inflate(data: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| "does not inflate")?;
    if out.len() > MAX_INFLATED {
        return Err("inflates past the limit");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ReadDoc, transaction::Transactable};

    fn doc_with_changes() -> automerge::Automerge {
        let mut doc = automerge::Automerge::new();
        for i in 0..3 {
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, format!("k{i}"), i as i64)
                .expect("put");
            tx.commit();
        }
        doc
    }

    #[test]
    fn what_automerge_writes_passes() {
        let doc = doc_with_changes();
        let changes = doc.save_after(&[]);
        check(&changes, Allowed::Changes).expect("changes pass");
        check(&changes, Allowed::ChangesOrDocument).expect("changes pass");
        let whole = doc.save();
        check(&whole, Allowed::ChangesOrDocument).expect("a document passes in sync");
        assert_eq!(
            check(&whole, Allowed::Changes),
            Err(ChunkError::TypeRefused {
                index: 0,
                chunk_type: 0
            })
        );
        let mut other = automerge::Automerge::new();
        other.load_incremental(&changes).expect("automerge agrees");
        assert_eq!(other.keys(automerge::ROOT).count(), 3);
    }

    #[test]
    fn a_flipped_byte_anywhere_is_refused() {
        let changes = doc_with_changes().save_after(&[]);
        for i in 0..changes.len() {
            let mut bad = changes.clone();
            bad[i] ^= 0x01;
            assert!(check(&bad, Allowed::Changes).is_err(), "byte {i} flipped");
        }
    }

    #[test]
    fn truncations_are_refused() {
        let doc = doc_with_changes();
        let changes = doc.save_after(&[]);
        let mut boundaries = Vec::new();
        let mut at = 0;
        for c in doc.get_changes(&[]) {
            at += c.raw_bytes().len();
            boundaries.push(at);
        }
        assert_eq!(at, changes.len());
        for n in 1..changes.len() {
            let passed = check(&changes[..n], Allowed::Changes).is_ok();
            assert_eq!(passed, boundaries.contains(&n), "cut at {n}");
        }
        assert_eq!(check(&[], Allowed::Changes), Err(ChunkError::Empty));
    }

    #[test]
    fn a_compressed_change_is_inflated_within_the_bound() {
        let doc = doc_with_changes();
        let change = doc.get_changes(&[])[0].clone();
        let raw = change.raw_bytes();
        // Build a compressed chunk the way automerge does: same checksum, type 2, deflated data.
        let header_len = 4 + 4 + 1;
        let (_, data_len_and_data) = raw.split_at(header_len);
        let (len, data) = uleb(data_len_and_data).expect("length");
        assert_eq!(len as usize, data.len());
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, data).expect("deflate");
        let deflated = enc.finish().expect("deflate");
        let mut chunk = MAGIC.to_vec();
        chunk.extend_from_slice(&raw[4..8]);
        chunk.push(TYPE_COMPRESSED);
        chunk.push(u8::try_from(deflated.len()).expect("small"));
        chunk.extend_from_slice(&deflated);
        check(&chunk, Allowed::Changes).expect("a valid compressed change passes");
        let last = chunk.len() - 1;
        chunk[last] ^= 0xff;
        assert!(check(&chunk, Allowed::Changes).is_err());
    }

    /// The two inputs fuzzing found (fuzz/open-findings, now fixed): bundle chunks with a
    /// made-up checksum. They are refused before automerge sees them.
    #[test]
    fn the_fuzz_findings_are_refused() {
        let oom: &[u8] = &[
            0x85, 0x6f, 0x4a, 0x83, 0xbe, 0x01, 0x00, 0xbe, 0x03, 0x0d, 0x00, 0x00, 0x00, 0x01,
            0x23, 0x06, 0xff, 0xff, 0xff, 0xff, 0x23, 0x22, 0x00, 0x8c, 0x09, 0x00, 0x10,
        ];
        assert!(matches!(
            check(oom, Allowed::ChangesOrDocument),
            Err(ChunkError::TypeRefused { chunk_type: 3, .. })
        ));
    }

    #[test]
    fn leb128_edges() {
        assert_eq!(uleb(&[0x00]), Some((0, &[][..])));
        assert_eq!(uleb(&[0xe5, 0x8e, 0x26, 9]), Some((624_485, &[9u8][..])));
        assert_eq!(uleb(&[0x80; 11]), None);
        assert_eq!(uleb(&[0x80]), None);
    }
}
