//! The audit log: who did what to which systems, when. One JSON object per line in
//! `DATA_DIR/audit.log` (mode 0600), appended and fsync'd before the action's answer leaves
//! the peer, and readable through `GET /audit` (admin only).
//!
//! Every admin request that changes something (any method but GET and HEAD) is recorded by
//! the admin door's middleware with the caller's identity (client certificate name, or the
//! gateway user); the gateway adds its own entries for REST actions done for its users.
//! The log is local to the peer that took the request: an auditor reads every peer's (the
//! CLI's `audit` command does). Request bodies are kept up to [`MAX_DETAIL`] bytes; no
//! endpoint of the admin API takes a password, so none reaches the log.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Largest `detail` kept per entry (bytes); longer ones are cut and say so.
pub const MAX_DETAIL: usize = 4096;

/// File name of the audit log in the data directory.
pub const FILE_NAME: &str = "audit.log";

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When (Unix ms).
    pub at_ms: u64,
    /// Who: `cert:NAME` (a client certificate's common name), `user:LOGIN` (a gateway
    /// user), or `dev` (a peer in development mode, without authentication).
    pub who: String,
    /// What: `METHOD PATH` (with the query string), or the gateway's action name.
    pub action: String,
    /// Which systems or objects, as the request named them (the body, cut to
    /// [`MAX_DETAIL`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The answer's HTTP status (0 when not known).
    pub status: u16,
}

/// Problems with the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be opened, written or synced.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The audit log of one peer (cheap to clone).
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl AuditLog {
    /// The log in `dir` (created with mode 0600 on first write).
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                path: dir.join(FILE_NAME),
                file: None,
            })),
        }
    }

    /// Append `entry` and fsync. An error means the entry is not durable: the caller
    /// answers 503 rather than act unaudited.
    pub fn record(&self, mut entry: AuditEntry) -> Result<(), AuditError> {
        cut(&mut entry.detail);
        let mut line = serde_json::to_vec(&entry).unwrap_or_default();
        line.push(b'\n');
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let path = inner.path.clone();
        let io = |source| AuditError::Io {
            path: path.display().to_string(),
            source,
        };
        if inner.file.is_none() {
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(io)?;
            // A crash may have left a torn last line: start on a line of our own.
            if ends_torn(&path) {
                line.insert(0, b'\n');
            }
            inner.file = Some(f);
        }
        let Some(f) = inner.file.as_mut() else {
            return Ok(());
        };
        let res = f.write_all(&line).and_then(|()| f.sync_data());
        if let Err(e) = res {
            // Reopen next time rather than trust a file whose sync failed.
            inner.file = None;
            return Err(io(e));
        }
        Ok(())
    }

    /// Entries at or after `since_ms`, oldest first, at most `limit` (the newest ones).
    /// Lines that do not parse (a torn last line after a crash) are skipped.
    pub fn read(&self, since_ms: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let path = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .path
            .clone();
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(AuditError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let mut out = std::collections::VecDeque::new();
        for line in std::io::BufReader::new(f).lines() {
            let Ok(line) = line else { break };
            let Ok(e) = serde_json::from_str::<AuditEntry>(&line) else {
                continue;
            };
            if e.at_ms >= since_ms {
                if out.len() == limit {
                    out.pop_front();
                }
                if limit > 0 {
                    out.push_back(e);
                }
            }
        }
        Ok(out.into())
    }
}

/// Whether the file is non-empty and does not end with a newline.
fn ends_torn(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    if f.seek(SeekFrom::End(-1)).is_err() {
        return false;
    }
    let mut last = [0u8; 1];
    f.read_exact(&mut last).is_ok() && last[0] != b'\n'
}

fn cut(s: &mut String) {
    if s.len() > MAX_DETAIL {
        let mut end = MAX_DETAIL;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("…(cut)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: u64, action: &str) -> AuditEntry {
        AuditEntry {
            at_ms,
            who: "cert:ops".into(),
            action: action.into(),
            detail: String::new(),
            status: 200,
        }
    }

    #[test]
    fn entries_are_appended_read_back_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let log = AuditLog::in_dir(dir.path());
        assert!(log.read(0, 10).expect("read").is_empty());
        for (i, a) in ["POST /a", "POST /b", "POST /c"].iter().enumerate() {
            log.record(entry(100 + i as u64, a)).expect("record");
        }
        let all = log.read(0, 10).expect("read");
        assert_eq!(
            all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["POST /a", "POST /b", "POST /c"]
        );
        assert_eq!(log.read(101, 1).expect("read")[0].action, "POST /c");
        assert_eq!(log.read(101, 10).expect("read").len(), 2);
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second handle (a restart) appends to the same file; a torn line is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE_NAME))
            .and_then(|mut f| f.write_all(b"{\"at_ms\":1"))
            .expect("tear");
        let again = AuditLog::in_dir(dir.path());
        again.record(entry(200, "POST /d")).expect("record");
        let all = again.read(0, 10).expect("read");
        assert_eq!(all.len(), 4, "{all:?}");
        assert_eq!(all[3].action, "POST /d");
    }

    #[test]
    fn long_details_are_cut_on_a_character_boundary() {
        let mut s = "é".repeat(MAX_DETAIL);
        cut(&mut s);
        assert!(s.ends_with("…(cut)"));
        assert!(s.len() <= MAX_DETAIL + "…(cut)".len());
    }
}
