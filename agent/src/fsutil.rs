//! Durable file replacement: every file the agent writes (the salt master setting, its state
//! file) goes through [`write_atomically`], so a crash or power cut leaves either the old content
//! or the new, never a torn file that would keep the minion from starting.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically: a temporary file beside it is written and fsynced, renamed
/// over `path`, and the directory is fsynced so the rename itself survives a crash.
///
/// A file that exists keeps its permission bits; a new one gets `mode` (salt configuration
/// files are `0644`). Parent directories are created when missing.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(mode);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = open_new(&tmp, mode)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename is only durable once the directory entry is on disk.
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        // Best effort: do not leave stray temporaries behind; the original error matters more.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `.<name>.tmp` beside `path`: hidden, and with a suffix salt's `minion.d/*.conf` glob skips.
fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

fn open_new(path: &Path, mode: u32) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
}

/// Remove `path`; a file that is already gone is success.
pub fn remove_if_exists(path: &Path) -> std::io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/minion.d/x.conf");
        write_atomically(&path, b"one\n", 0o644).unwrap();
        write_atomically(&path, b"two\n", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.conf")]);
    }

    #[test]
    fn keeps_the_mode_of_an_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(&path, b"new", 0o644).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn remove_tolerates_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone");
        assert!(!remove_if_exists(&path).unwrap());
        fs::write(&path, "x").unwrap();
        assert!(remove_if_exists(&path).unwrap());
    }
}
