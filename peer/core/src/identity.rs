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
            write_durably(&path, &bytes).map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

/// Write `bytes` to a temporary file, fsync it and rename it over `path`: a crash leaves the
/// old content or the new, never a torn file.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The incarnation of this start: the current time in ms, but always above the one of the
/// previous start (kept in `dir/incarnation`), so a restart supersedes every heartbeat of the
/// previous life even if the clock went backwards.
pub fn next_incarnation(dir: &Path, now_ms: u64) -> Result<u64, IdentityError> {
    let path = dir.join("incarnation");
    let shown = path.display().to_string();
    let previous = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().unwrap_or(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(source) => {
            return Err(IdentityError::Io {
                path: shown,
                source,
            });
        }
    };
    let next = now_ms.max(previous + 1);
    write_durably(&path, next.to_string().as_bytes()).map_err(|source| IdentityError::Io {
        path: shown,
        source,
    })?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incarnations_always_grow_even_when_the_clock_goes_back() {
        let dir = tempfile::tempdir().expect("dir");
        let a = next_incarnation(dir.path(), 1_000).expect("first");
        assert_eq!(a, 1_000);
        let b = next_incarnation(dir.path(), 500).expect("clock went back");
        assert!(b > a);
        let c = next_incarnation(dir.path(), 5_000).expect("later");
        assert_eq!(c, 5_000);
    }

    #[test]
    fn identity_is_stable_and_corruption_is_an_error() {
        let dir = tempfile::tempdir().expect("dir");
        let k1 = load_or_create(dir.path()).expect("create");
        let k2 = load_or_create(dir.path()).expect("load");
        assert_eq!(k1.public().to_peer_id(), k2.public().to_peer_id());
        std::fs::write(dir.path().join("node.key"), b"junk").expect("write");
        assert!(matches!(
            load_or_create(dir.path()),
            Err(IdentityError::Corrupt { .. })
        ));
    }
}
