//! The system's identity on the wire: the fingerprint of its salt minion's public key, in exactly
//! the form `salt-key -F` / `salt-call key.finger` prints (`salt.utils.crypt.pem_finger`).
//!
//! Salt hashes the PEM *text*, not the DER key: the BEGIN/END lines are dropped and every
//! remaining line is hashed followed by `\n`, with SHA-256 (salt's default `hash_type`). The
//! digest is printed as lowercase hex pairs joined by `:`. The computation lives in
//! [`agent_proto::fingerprint`], shared with the peer that checks it.

use std::path::Path;

/// Reading the minion's public key failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    /// The key file could not be read (the minion may not have created its key yet).
    #[error("minion public key {path}: {source}")]
    Read {
        /// The key file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file has no PEM body between BEGIN and END lines.
    #[error("minion public key {path}: not a PEM public key")]
    NotPem {
        /// The key file.
        path: String,
    },
}

pub use agent_proto::pem_fingerprint;

/// The minion's public key (PEM text) and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinionKey {
    /// The PEM text of `minion.pub`, sent with the registration.
    pub pem: String,
    /// Its `salt-key -F` fingerprint.
    pub fingerprint: String,
}

impl MinionKey {
    /// Read `path` (the minion's `minion.pub`) and fingerprint it.
    pub fn read(path: &Path) -> Result<Self, FingerprintError> {
        let shown = path.display().to_string();
        let pem = std::fs::read_to_string(path).map_err(|source| FingerprintError::Read {
            path: shown.clone(),
            source,
        })?;
        let fingerprint = pem_fingerprint(&pem).ok_or(FingerprintError::NotPem { path: shown })?;
        Ok(Self { pem, fingerprint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real salt minion key: `salt-key --gen-keys=minion` (salt 3007.16) wrote this `minion.pub`.
    pub(crate) const MINION_PUB: &str = include_str!("../tests/data/minion.pub");

    /// Printed by `salt-call --local key.finger` (salt 3007.16) with `pki_dir` holding
    /// MINION_PUB. The fingerprint rules themselves are tested in agent-proto.
    const SALT_PRINTED: &str = "a1:5b:06:99:91:50:08:02:bb:0b:d7:61:30:3e:c9:36:85:11:89:3a:e7:dc:4d:49:1d:65:b4:fe:a3:e6:cd:c6";

    #[test]
    fn reads_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("minion.pub");
        assert!(matches!(
            MinionKey::read(&path),
            Err(FingerprintError::Read { .. })
        ));
        std::fs::write(&path, MINION_PUB).unwrap();
        let key = MinionKey::read(&path).unwrap();
        assert_eq!(key.pem, MINION_PUB);
        assert_eq!(key.fingerprint, SALT_PRINTED);
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(
            MinionKey::read(&path),
            Err(FingerprintError::NotPem { .. })
        ));
    }
}
