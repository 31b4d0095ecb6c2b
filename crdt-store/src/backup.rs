//! Backup and restore of a store (issue 16): a consistent export of every shard while the
//! store runs, and an offline restore into an empty directory.
//!
//! The export holds every shard lock at once while it saves the shards, so it is one cut of
//! the store: every write acknowledged before it started is in it (writes apply in memory
//! before they are acknowledged), none is half in. The file is:
//!
//! ```text
//! "UCBACKUP" | u32 LE header length | header (JSON, BackupInfo) |
//! per shard: u32 LE shard | u64 LE length | u32 LE CRC32 | automerge save() bytes
//! ```
//!
//! A restore writes `store.json` and one snapshot per shard (no WAL): the peer then starts as
//! after a compaction and catches up on what it missed through sync.

use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::store::Store;

const MAGIC: &[u8; 8] = b"UCBACKUP";
/// Version of the backup file format.
pub const BACKUP_FORMAT: u32 = 1;
/// Largest header accepted (the header is a few hundred bytes).
const MAX_HEADER: u32 = 1 << 20;
/// Largest shard accepted by a restore (a shard of a million systems is ~100 MB saved).
const MAX_SHARD: u64 = 4 << 30;

/// What a backup holds (its header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// [`BACKUP_FORMAT`].
    pub format: u32,
    /// Shards in the store.
    pub shard_count: u32,
    /// When it was taken, Unix milliseconds (the caller's clock).
    pub taken_at: u64,
    /// Free text of the caller (the node name).
    #[serde(default)]
    pub source: String,
    /// The store's root digest at the cut ([`Store::root`]).
    pub root: String,
    /// Records in the store at the cut.
    pub records: u64,
}

/// Why a backup could not be read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing failed.
    #[error("backup I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Not a backup, or a damaged one.
    #[error("not a usable backup: {0}")]
    Invalid(String),
    /// The target directory already holds a store.
    #[error("{0} already holds a store: restore into an empty directory (move the old one aside)")]
    NotEmpty(String),
    /// Writing the restored store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Write a consistent backup of the whole store to `out` (see the module documentation).
    /// Holds every shard lock while saving (milliseconds for a small store; the saves of a
    /// million systems take about a second).
    pub fn backup(
        &self,
        out: &mut impl Write,
        taken_at: u64,
        source: &str,
    ) -> Result<BackupInfo, BackupError> {
        let (docs, root, records) = self.save_all();
        let info = BackupInfo {
            format: BACKUP_FORMAT,
            shard_count: docs.len() as u32,
            taken_at,
            source: source.to_string(),
            root,
            records,
        };
        let header = serde_json::to_vec(&info).map_err(|e| BackupError::Invalid(e.to_string()))?;
        out.write_all(MAGIC)?;
        out.write_all(&(header.len() as u32).to_le_bytes())?;
        out.write_all(&header)?;
        for (id, doc) in docs.iter().enumerate() {
            out.write_all(&(id as u32).to_le_bytes())?;
            out.write_all(&(doc.len() as u64).to_le_bytes())?;
            out.write_all(&crc32fast::hash(doc).to_le_bytes())?;
            out.write_all(doc)?;
        }
        out.flush()?;
        Ok(info)
    }
}

fn read_u32(r: &mut impl Read) -> Result<u32, BackupError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> Result<u64, BackupError> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Read a backup's header only.
pub fn read_backup_info(r: &mut impl Read) -> Result<BackupInfo, BackupError> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)
        .map_err(|e| BackupError::Invalid(format!("truncated header: {e}")))?;
    if &magic != MAGIC {
        return Err(BackupError::Invalid(
            "bad magic (not a uyuni-cluster backup)".into(),
        ));
    }
    let len = read_u32(r)?;
    if len > MAX_HEADER {
        return Err(BackupError::Invalid(format!("header of {len} bytes")));
    }
    let mut header = vec![0u8; len as usize];
    r.read_exact(&mut header)?;
    let info: BackupInfo = serde_json::from_slice(&header)
        .map_err(|e| BackupError::Invalid(format!("header: {e}")))?;
    if info.format != BACKUP_FORMAT {
        return Err(BackupError::Invalid(format!(
            "format {} (this version reads {BACKUP_FORMAT})",
            info.format
        )));
    }
    if info.shard_count == 0 {
        return Err(BackupError::Invalid("no shards".into()));
    }
    Ok(info)
}

/// Restore a backup into `dir`, which must not hold a store yet (no `store.json`, no shard).
/// Every shard is checked (CRC and automerge load) before anything is written.
pub fn restore_backup(r: &mut impl Read, dir: &Path) -> Result<BackupInfo, BackupError> {
    if dir.join("store.json").exists() || dir.join("shards").exists() || dir.join("wal").exists() {
        return Err(BackupError::NotEmpty(dir.display().to_string()));
    }
    let info = read_backup_info(r)?;
    let mut docs = Vec::with_capacity(info.shard_count as usize);
    for want in 0..info.shard_count {
        let id = read_u32(r).map_err(|e| BackupError::Invalid(format!("shard {want}: {e}")))?;
        if id != want {
            return Err(BackupError::Invalid(format!(
                "shard {id} where {want} was expected"
            )));
        }
        let len = read_u64(r)?;
        if len > MAX_SHARD {
            return Err(BackupError::Invalid(format!("shard {id} of {len} bytes")));
        }
        let crc = read_u32(r)?;
        let mut doc = vec![0u8; len as usize];
        r.read_exact(&mut doc)
            .map_err(|e| BackupError::Invalid(format!("shard {id} truncated: {e}")))?;
        if crc32fast::hash(&doc) != crc {
            return Err(BackupError::Invalid(format!(
                "shard {id}: checksum mismatch"
            )));
        }
        if !doc.is_empty() {
            automerge::AutoCommit::load(&doc)
                .map_err(|e| BackupError::Invalid(format!("shard {id}: {e}")))?;
        }
        docs.push(doc);
    }
    Store::write_restored(dir, &docs)?;
    Ok(info)
}
