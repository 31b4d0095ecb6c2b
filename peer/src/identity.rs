//! The peer's own libp2p identity, kept in the data dir so that a restarted peer is the same
//! member (same peer id) and its neighbours recognise it.

use std::path::Path;

use libp2p::identity::Keypair;

/// Problems with the identity file.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading or writing the file failed.
    #[error("node identity {path}: {source}")]
    Io {
        /// The identity file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold a keypair.
    #[error("node identity {path} is corrupt: {reason}")]
    Corrupt {
        /// The identity file.
        path: String,
        /// The decoder's complaint.
        reason: String,
    },
}

/// Load `dir/node.key`, creating it with a new ed25519 keypair on first start.
pub fn load_or_create(dir: &Path) -> Result<Keypair, IdentityError> {
    let path = dir.join("node.key");
    let shown = path.display().to_string();
    let io = |source| IdentityError::Io {
        path: shown.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|e| IdentityError::Corrupt {
            path: shown.clone(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            let key = Keypair::generate_ed25519();
            let bytes = key
                .to_protobuf_encoding()
                .map_err(|e| IdentityError::Corrupt {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            let tmp = path.with_extension("key.tmp");
            std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}
