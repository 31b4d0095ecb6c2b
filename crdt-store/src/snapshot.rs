//! Shard snapshot files: `shards/<shard>.snap` = magic, CRC32, automerge `save()` bytes.
//! Written to a temporary file, fsync'd and renamed, so a crash leaves the old or the new one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::disk::Disk;
use crate::error::StoreError;

const MAGIC: &[u8; 8] = b"UCSNAP01";

pub(crate) fn path(dir: &Path, shard: u32) -> PathBuf {
    dir.join(format!("{shard:05}.snap"))
}

/// Write a snapshot durably (the caller fsyncs the directory once for a batch).
pub(crate) fn write(disk: &Disk, dir: &Path, shard: u32, doc: &[u8]) -> Result<(), StoreError> {
    let final_path = path(dir, shard);
    let tmp = final_path.with_extension("snap.tmp");
    let mut f = fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    let mut buf = Vec::with_capacity(doc.len() + 12);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&crc32fast::hash(doc).to_le_bytes());
    buf.extend_from_slice(doc);
    f.write_all(&buf).map_err(|e| StoreError::io(&tmp, e))?;
    disk.sync_all(&f, &tmp)?;
    fs::rename(&tmp, &final_path).map_err(|e| StoreError::io(&final_path, e))
}

/// Read a snapshot. `Ok(None)` when the shard has none yet.
pub(crate) fn read(dir: &Path, shard: u32) -> Result<Option<Vec<u8>>, StoreError> {
    let p = path(dir, shard);
    let bytes = match fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&p, e)),
    };
    let corrupt = |reason: &str| StoreError::CorruptSnapshot {
        path: p.clone(),
        reason: reason.to_string(),
    };
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(corrupt("bad header (truncated or not a snapshot)"));
    }
    let crc = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let doc = &bytes[12..];
    if crc32fast::hash(doc) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(Some(doc.to_vec()))
}

/// Move a bad snapshot aside so the next start does not trip on it again.
pub(crate) fn quarantine(dir: &Path, shard: u32) -> Result<PathBuf, StoreError> {
    let p = path(dir, shard);
    let aside = p.with_extension("snap.corrupt");
    fs::rename(&p, &aside).map_err(|e| StoreError::io(&p, e))?;
    Ok(aside)
}
