//! The state file: what the agent learned about the peers ([`PeerMemory`]), so a restarted
//! agent still knows entry points beyond the configured ones, and its registration token.
//! JSON, written atomically, mode 0600 (the token is a credential); a missing or unreadable
//! file is an empty memory (the configured peers still work; the agent registers again).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use tracing::warn;

use crate::fsutil::write_atomically;
use crate::peers::PeerMemory;

/// Saving the state file failed.
#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {source}")]
pub struct StateError {
    /// The file.
    pub path: String,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Load the memory; problems are logged and yield an empty memory.
pub fn load(path: &Path) -> PeerMemory {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            warn!(file = %path.display(), "ignoring unreadable state file: {e}");
            PeerMemory::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PeerMemory::default(),
        Err(e) => {
            warn!(file = %path.display(), "ignoring state file: {e}");
            PeerMemory::default()
        }
    }
}

/// Save the memory atomically (mode 0600; the directory is created).
pub fn save(path: &Path, memory: &PeerMemory) -> Result<(), StateError> {
    let err = |source| StateError {
        path: path.display().to_string(),
        source,
    };
    let mut bytes = serde_json::to_vec_pretty(memory).map_err(|e| err(e.into()))?;
    bytes.push(b'\n');
    write_atomically(path, &bytes, 0o600).map_err(err)?;
    // A file of an older agent kept its 0644: the token makes it a credential now.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_garbage() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("state/agent.json");
        assert_eq!(load(&path), PeerMemory::default());
        let m = PeerMemory {
            learned: vec!["a:1".into()],
            node_peer: Some("n:1".into()),
            token: Some("2.1.x".into()),
        };
        save(&path, &m).unwrap();
        assert_eq!(load(&path), m);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load(&path), PeerMemory::default());
    }
}
