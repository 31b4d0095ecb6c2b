//! The gateway's session table and the file that keeps it across restarts:
//! `DATA_DIR/gateway-sessions.json`, mode 0600, rewritten whole and atomically (a temporary
//! file, fsync, rename, fsync of the directory) on every login, logout and expiry, so an
//! ended or expired session leaves nothing behind. It is outside the replicated metastore on
//! purpose: the metastore's history keeps every change forever. No password is in it (see
//! [`crate::sessions`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::sessions::{Session, SessionTable};

/// File name of the session table in the data directory.
pub const FILE_NAME: &str = "gateway-sessions.json";

/// Problems with the session file.
#[derive(Debug, thiserror::Error)]
pub enum SessionFileError {
    /// Reading, writing or syncing failed.
    #[error("gateway session file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The session table of one gateway, in memory and (with a path) on disk.
#[derive(Debug)]
pub struct SessionStore {
    path: Option<PathBuf>,
    table: Mutex<SessionTable>,
    writing: Mutex<()>,
}

impl SessionStore {
    /// A table kept in memory only (tests).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            table: Mutex::new(SessionTable::new()),
            writing: Mutex::new(()),
        }
    }

    /// The file, unless kept in memory only.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The table in `path`, loaded now; sessions expired at `now` are dropped (and the file
    /// rewritten without them). A file that does not parse is removed (its sessions are lost:
    /// their users log in again; nothing of it lingers) rather than stop the gateway.
    pub fn open(path: &Path, now: u64) -> Result<Self, SessionFileError> {
        let io = |source| SessionFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let table = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<SessionTable>(&bytes) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e,
                        "gateway session file does not parse; removed, its sessions end");
                    std::fs::remove_file(path).map_err(io)?;
                    SessionTable::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SessionTable::new(),
            Err(e) => return Err(io(e)),
        };
        let store = Self {
            path: Some(path.to_path_buf()),
            table: Mutex::new(table),
            writing: Mutex::new(()),
        };
        if store.lock().expire(now) {
            store.save()?;
        }
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionTable> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live session `id` at `now`.
    pub fn get(&self, id: &str, now: u64) -> Option<Session> {
        self.lock().get(id, now).cloned()
    }

    /// Add a session and persist (the key is given out only once this returns).
    pub fn insert(&self, s: Session) -> Result<(), SessionFileError> {
        self.lock().insert(s);
        self.save()
    }

    /// Remove a session and persist.
    pub fn remove(&self, id: &str) -> Result<(), SessionFileError> {
        if self.lock().remove(id) {
            self.save()?;
        }
        Ok(())
    }

    /// Drop sessions expired at `now` and persist when any was.
    pub fn expire(&self, now: u64) -> Result<usize, SessionFileError> {
        let n = {
            let mut t = self.lock();
            let before = t.sessions.len();
            t.expire(now);
            before - t.sessions.len()
        };
        if n > 0 {
            self.save()?;
        }
        Ok(n)
    }

    /// Live sessions (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Write the current table (blocking I/O; a few KB per hundred sessions).
    fn save(&self) -> Result<(), SessionFileError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let _one_writer = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let bytes = serde_json::to_vec(&*self.lock()).unwrap_or_default();
        write_atomically(path, &bytes).map_err(|source| SessionFileError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Replace `path` with `bytes`: mode 0600 from the start, fsync'd, renamed over, the
/// directory fsync'd.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::Roles;

    fn session(id: &str, expires_at: u64) -> Session {
        Session {
            id: id.into(),
            user: "admin".into(),
            roles: Roles::default(),
            created_at: 1,
            expires_at,
            nodes: "sealed".into(),
        }
    }

    #[test]
    fn sessions_survive_a_reopen_and_leave_nothing_once_gone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(FILE_NAME);
        let s = SessionStore::open(&path, 0).expect("open");
        s.insert(session("a", 100)).expect("insert");
        s.insert(session("b", 1_000)).expect("insert");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = SessionStore::open(&path, 50).expect("reopen");
        assert_eq!(again.get("a", 50), Some(session("a", 100)));
        // Expired at open: dropped from the file too.
        let later = SessionStore::open(&path, 500).expect("reopen");
        assert!(later.get("a", 500).is_none());
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("\"a\""), "{text}");
        later.remove("b").expect("remove");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("\"b\""), "{text}");
        assert!(!dir.path().join("gateway-sessions.json.tmp").exists());
    }

    #[test]
    fn a_damaged_file_is_replaced() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"{not json").expect("write");
        let s = SessionStore::open(&path, 0).expect("open");
        assert!(s.is_empty());
        assert!(!path.exists());
        s.insert(session("a", 10)).expect("insert");
        assert_eq!(s.expire(20).expect("expire"), 1);
        assert!(s.is_empty());
    }
}
