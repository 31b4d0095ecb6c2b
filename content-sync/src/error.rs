//! The crate's typed errors.

use std::path::PathBuf;

/// What went wrong in content sync.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The blob store (iroh-blobs) failed.
    #[error("blob store: {0}")]
    Store(String),
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A manifest (package index) or CLM document is malformed.
    #[error("bad document: {0}")]
    Document(String),
    /// A path inside a package tree is not a plain relative path.
    #[error("bad path {0:?}: must be relative, without `..`, empty or `.` segments")]
    BadPath(String),
    /// A hash is not 64 hex digits.
    #[error("bad hash {0:?}: expected 64 hex digits")]
    BadHash(String),
    /// The iroh endpoint could not bind.
    #[error("blob endpoint on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// No provider could deliver the blob.
    #[error("blob {hash}: no provider delivered it ({reason})")]
    Unavailable {
        /// Hex hash.
        hash: String,
        /// The last provider's error, or why there was none.
        reason: String,
    },
    /// Local data does not match its hash (it is repaired from a provider when one has it).
    #[error("blob {hash}: local data does not match its hash")]
    Corrupt {
        /// Hex hash.
        hash: String,
    },
}

impl ContentError {
    pub(crate) fn store(e: impl std::fmt::Display) -> Self {
        Self::Store(e.to_string())
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
