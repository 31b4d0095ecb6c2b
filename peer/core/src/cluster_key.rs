//! The cluster key: a libp2p private-network pre-shared key (PSK).
//!
//! Every connection between peers starts with a pnet handshake keyed by it, before noise and
//! yamux: a process without the key cannot complete a connection, so it can neither read
//! gossip nor send requests. The file format is the standard libp2p/IPFS swarm key
//! (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits).

use std::path::Path;

use libp2p::pnet::PreSharedKey;
use rand::RngCore;

/// Problems with the cluster key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("cluster key {path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a swarm key.
    #[error("cluster key {path} is not a valid swarm key: {reason}")]
    Invalid {
        /// The key file.
        path: String,
        /// The parser's complaint.
        reason: String,
    },
    /// `keygen` refuses to overwrite an existing key.
    #[error("{0} already exists; refusing to overwrite a cluster key")]
    Exists(String),
}

/// Generate a new random key and write it to `path` (mode 0600). Fails if the file exists.
pub fn generate(path: &Path) -> Result<PreSharedKey, KeyError> {
    let shown = path.display().to_string();
    if path.exists() {
        return Err(KeyError::Exists(shown));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = PreSharedKey::new(bytes);
    let io = |source| KeyError::Io {
        path: shown.clone(),
        source,
    };
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io)?;
    Ok(key)
}

/// Read a key written by [`generate`] (or any libp2p swarm key file).
pub fn load(path: &Path) -> Result<PreSharedKey, KeyError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: shown.clone(),
        source,
    })?;
    text.trim().parse().map_err(|e| KeyError::Invalid {
        path: shown,
        reason: format!("{e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_then_load_round_trips_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("cluster.key");
        let k = generate(&p).expect("generate");
        let back = load(&p).expect("load");
        assert_eq!(k.fingerprint().to_string(), back.fingerprint().to_string());
        assert!(matches!(generate(&p), Err(KeyError::Exists(_))));
        std::fs::write(&p, "garbage").expect("write");
        assert!(matches!(load(&p), Err(KeyError::Invalid { .. })));
    }
}
