//! Reading a package tree from disk for import.

use std::path::{Path, PathBuf};

use crate::{ContentError, Layout};

/// A regular file found under the tree's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Path relative to the root, `/`-separated.
    pub rel: String,
    /// Path on disk.
    pub abs: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// Every regular file under `root` (symbolic links are followed; hidden `.` entries are
/// skipped: editors' and rsync's temporary files), sorted by path, and the tree's layout.
pub fn scan(root: &Path) -> Result<(Layout, Vec<TreeFile>), ContentError> {
    let meta = std::fs::metadata(root).map_err(|e| ContentError::io(root, e))?;
    if !meta.is_dir() {
        return Err(ContentError::io(
            root,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    let root_canon = std::fs::canonicalize(root).map_err(|e| ContentError::io(root, e))?;
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| ContentError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ContentError::io(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(ContentError::BadPath(name.to_string_lossy().into_owned()));
            };
            if name.starts_with('.') {
                continue;
            }
            let abs = entry.path();
            let rel = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::metadata(&abs).map_err(|e| ContentError::io(&abs, e))?;
            // A symbolic link may point inside the tree, never out of it (an import must not
            // publish the host's other files).
            let target = std::fs::canonicalize(&abs).map_err(|e| ContentError::io(&abs, e))?;
            if !target.starts_with(&root_canon) {
                return Err(ContentError::BadPath(format!(
                    "{rel} leads out of the tree (to {})",
                    target.display()
                )));
            }
            if meta.is_dir() {
                stack.push((abs, rel));
            } else if meta.is_file() {
                crate::manifest::check_path(&rel)?;
                out.push(TreeFile {
                    rel,
                    abs,
                    size: meta.len(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    let layout = if out.iter().any(|f| f.rel == "repodata/repomd.xml") {
        Layout::Yum
    } else {
        Layout::Tree
    };
    Ok((layout, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_files_sorted_skips_hidden_and_detects_yum() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("repodata")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("Packages/a")).expect("mkdir");
        std::fs::write(dir.path().join("repodata/repomd.xml"), b"<repomd/>").expect("w");
        std::fs::write(dir.path().join("Packages/a/a-1.rpm"), b"rpm").expect("w");
        std::fs::write(dir.path().join(".partial"), b"x").expect("w");
        let (layout, files) = scan(dir.path()).expect("scan");
        assert_eq!(layout, Layout::Yum);
        let rels: Vec<&str> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["Packages/a/a-1.rpm", "repodata/repomd.xml"]);
        assert_eq!(files[0].size, 3);
        std::fs::remove_dir_all(dir.path().join("repodata")).expect("rm");
        assert_eq!(scan(dir.path()).expect("scan").0, Layout::Tree);
        assert!(scan(&dir.path().join("missing")).is_err());
        let outside = tempfile::tempdir().expect("tmp");
        std::fs::write(outside.path().join("secret"), b"key").expect("w");
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link"))
            .expect("symlink");
        assert!(
            matches!(scan(dir.path()), Err(ContentError::BadPath(_))),
            "a link out of the tree is refused"
        );
    }
}
