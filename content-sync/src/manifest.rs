//! The index of a package tree: every file's path, BLAKE3 hash and size. Stored as a JSON blob
//! whose hash the metastore's repository record names, so that the index is verified like
//! the files it lists.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ContentError;

/// Version of the manifest format.
pub const MANIFEST_FORMAT: u32 = 1;

/// Layout of an imported tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// A yum repository (`repodata/repomd.xml` at its root).
    Yum,
    /// Uyuni's package store (`/var/spacewalk/packages/<org>/<hash>/<name>/...`) or any other
    /// tree of files.
    Tree,
}

/// One file of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the tree's root, `/`-separated.
    pub path: String,
    /// Hex BLAKE3 hash.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
}

/// A package tree's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_FORMAT`]).
    pub format: u32,
    /// Repository name.
    pub name: String,
    /// Layout of the tree.
    pub layout: Layout,
    /// Files sorted by path.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// A manifest of `files` (sorted here; paths are checked).
    pub fn new(
        name: &str,
        layout: Layout,
        mut files: Vec<FileEntry>,
    ) -> Result<Self, ContentError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let m = Self {
            format: MANIFEST_FORMAT,
            name: name.to_string(),
            layout,
            files,
        };
        m.check()?;
        Ok(m)
    }

    /// Decode and check a manifest blob.
    pub fn decode(bytes: &[u8]) -> Result<Self, ContentError> {
        let m: Self =
            serde_json::from_slice(bytes).map_err(|e| ContentError::Document(e.to_string()))?;
        if m.format != MANIFEST_FORMAT {
            return Err(ContentError::Document(format!(
                "manifest format {} (this peer reads {MANIFEST_FORMAT})",
                m.format
            )));
        }
        m.check()?;
        Ok(m)
    }

    /// The blob's bytes.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), ContentError> {
        let mut seen = std::collections::HashSet::new();
        for f in &self.files {
            check_path(&f.path)?;
            crate::parse_hash(&f.hash)?;
            if !seen.insert(f.path.as_str()) {
                return Err(ContentError::Document(format!(
                    "duplicate path {:?}",
                    f.path
                )));
            }
        }
        Ok(())
    }

    /// Total size of the files.
    pub fn bytes(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |a, f| a.saturating_add(f.size))
    }

    /// Lookup by path.
    pub fn index(&self) -> HashMap<&str, &FileEntry> {
        self.files.iter().map(|f| (f.path.as_str(), f)).collect()
    }
}

/// A plain relative path: no leading `/`, no `..`, `.` or empty segments, no backslash or NUL.
pub fn check_path(path: &str) -> Result<(), ContentError> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if ok {
        Ok(())
    } else {
        Err(ContentError::BadPath(path.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            hash: crate::hash_hex(&iroh_blobs::Hash::new(path)),
            size: 3,
        }
    }

    #[test]
    fn round_trips_sorted_and_rejects_bad_documents() {
        let m = Manifest::new(
            "r",
            Layout::Yum,
            vec![entry("b.rpm"), entry("repodata/repomd.xml")],
        )
        .expect("manifest");
        assert_eq!(m.files[0].path, "b.rpm");
        assert_eq!(Manifest::decode(&m.encode()).expect("decode"), m);
        assert!(Manifest::decode(b"{").is_err());
        let mut bad = m.clone();
        bad.files.push(entry("b.rpm"));
        assert!(Manifest::decode(&bad.encode()).is_err(), "duplicate path");
        let mut bad = m.clone();
        bad.format = 99;
        assert!(Manifest::decode(&bad.encode()).is_err(), "unknown format");
    }

    #[test]
    fn paths_must_stay_inside_the_tree() {
        for ok in ["a", "a/b.rpm", "repodata/x-primary.xml.gz"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a\\b",
            "a/",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
