//! Typed errors of the Metastore.

use std::path::PathBuf;

/// Everything that can go wrong in the store. No variant is a panic in disguise: each one names
/// the file or shard involved so an operator can act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O operation on a store file failed (disk full, permissions, ...).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot file failed its checksum or could not be parsed.
    #[error("corrupt snapshot {path}: {reason}")]
    CorruptSnapshot {
        /// The snapshot file (moved aside with a `.corrupt` suffix).
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The store's metadata file is unreadable.
    #[error("invalid store metadata {path}: {reason}")]
    InvalidMeta {
        /// The metadata file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// A record could not be encoded or decoded.
    #[error("record {key}: {source}")]
    Record {
        /// The record key.
        key: String,
        /// The codec's complaint.
        #[source]
        source: crate::record::CodecError,
    },
    /// Automerge rejected a change or a sync message.
    #[error("shard {shard}: automerge: {source}")]
    Automerge {
        /// The shard involved.
        shard: u32,
        /// The automerge error (boxed: it is large).
        #[source]
        source: Box<automerge::AutomergeError>,
    },
    /// A sync message could not be decoded.
    #[error("shard {shard}: malformed sync message: {reason}")]
    BadSyncMessage {
        /// The shard the message was for.
        shard: u32,
        /// The decoder's complaint.
        reason: String,
    },
    /// A shard number outside `0..shard_count`.
    #[error("no such shard {shard} (store has {count})")]
    NoSuchShard {
        /// The requested shard.
        shard: u32,
        /// The store's shard count.
        count: u32,
    },
    /// The store takes no more writes: a write or an fsync of its files failed earlier (the
    /// message names that first failure). Reads go on; a restart, once the disk is repaired,
    /// replays every acknowledged write. See `disk.rs` for why it does not retry.
    #[error("the metastore takes no more writes since a disk operation failed: {0}")]
    ReadOnly(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn automerge(shard: u32, source: automerge::AutomergeError) -> Self {
        Self::Automerge {
            shard,
            source: Box::new(source),
        }
    }

    /// True when the error comes from the disk (full, unwritable): the caller may retry later.
    pub fn is_io(&self) -> bool {
        matches!(self, Self::Io { .. })
    }

    /// True when the store cannot serve the request for now (a disk error, or the store stopped
    /// taking writes after one): an HTTP API answers 503 Service Unavailable.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Io { .. } | Self::ReadOnly(_))
    }

    /// True when the store has stopped taking writes ([`Self::ReadOnly`]).
    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::ReadOnly(_))
    }
}
