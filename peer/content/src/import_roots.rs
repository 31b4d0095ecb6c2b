//! Which directories `POST /content/import` may read: only under `content.import_roots` (none
//! configured: every import is refused), never a path that is or holds one of the peer's own
//! secrets or state (its configuration file, cluster key, TLS keys, data directory, password
//! and database files), even under a root. Everything is compared after resolving symbolic
//! links on both sides, so a link cannot lead out of a root; links inside an imported tree that
//! lead out of it are refused by the scan (`content_sync::tree::scan`).

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use cluster_core::api_error::ApiError;

/// A path an import may never read, nor a directory holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedPath {
    /// What it is, for the refusal's message ("cluster key", "configuration file").
    pub what: String,
    /// The path as configured.
    pub path: PathBuf,
}

impl ProtectedPath {
    /// `what` at `path`.
    pub fn new(what: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            what: what.into(),
            path: path.into(),
        }
    }
}

/// Why an import was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportRefused {
    /// The path is relative.
    #[error("{0}: give an absolute path")]
    NotAbsolute(PathBuf),
    /// The path does not lead to a directory.
    #[error("{path} is not a directory on the peer's host: {reason}")]
    NotADirectory {
        /// The path asked for.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The peer has no `content.import_roots`.
    #[error(
        "imports are refused on this peer: no content.import_roots configured (list the \
         directories imports may read in [content] import_roots)"
    )]
    NoRoots,
    /// The path (once symbolic links are resolved) is under no root.
    #[error("{path} may not be imported: {resolved} is not under content.import_roots ({roots})")]
    OutsideRoots {
        /// The path asked for.
        path: PathBuf,
        /// Where it leads, symbolic links resolved.
        resolved: PathBuf,
        /// The roots, for the message.
        roots: String,
    },
    /// The path is, or holds, or is inside some of the peer's own files.
    #[error("{path} may not be imported: it is, holds or is inside the peer's {}", .what.join(", "))]
    Protected {
        /// The path asked for.
        path: PathBuf,
        /// What it would expose, each as `what (path)`.
        what: Vec<String>,
    },
}

impl From<ImportRefused> for ApiError {
    fn from(e: ImportRefused) -> Self {
        let code = match e {
            ImportRefused::NotAbsolute(_) | ImportRefused::NotADirectory { .. } => {
                StatusCode::BAD_REQUEST
            }
            ImportRefused::NoRoots
            | ImportRefused::OutsideRoots { .. }
            | ImportRefused::Protected { .. } => StatusCode::FORBIDDEN,
        };
        ApiError::new(code, e.to_string())
    }
}

/// `path` resolved through every symbolic link, or as given when it does not exist (a
/// protected file that is not there yet still may not be imported once it is).
fn resolved(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Check that an import may read `path`; returns the directory to read, every symbolic link
/// resolved (the import reads that, so a link changed after the check does not redirect it).
pub fn check(
    roots: &[PathBuf],
    protected: &[ProtectedPath],
    path: &Path,
) -> Result<PathBuf, ImportRefused> {
    if !path.is_absolute() {
        return Err(ImportRefused::NotAbsolute(path.to_path_buf()));
    }
    let not_dir = |reason: String| ImportRefused::NotADirectory {
        path: path.to_path_buf(),
        reason,
    };
    let canon = std::fs::canonicalize(path).map_err(|e| not_dir(e.to_string()))?;
    if !canon.is_dir() {
        return Err(not_dir("not a directory".into()));
    }
    if roots.is_empty() {
        return Err(ImportRefused::NoRoots);
    }
    // A root that does not exist admits nothing (canonicalize fails: it is left out).
    let canon_roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect();
    if !canon_roots.iter().any(|r| canon.starts_with(r)) {
        return Err(ImportRefused::OutsideRoots {
            path: path.to_path_buf(),
            resolved: canon,
            roots: roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let what: Vec<String> = protected
        .iter()
        .filter(|p| {
            let pc = resolved(&p.path);
            canon.starts_with(&pc) || pc.starts_with(&canon)
        })
        .map(|p| format!("{} ({})", p.what, p.path.display()))
        .collect();
    if !what.is_empty() {
        return Err(ImportRefused::Protected {
            path: path.to_path_buf(),
            what,
        });
    }
    Ok(canon)
}

/// Files a libpq connection string names (`passfile=`, `sslkey=`, `sslcert=`,
/// `sslrootcert=`): the database's password and client key must not be imported either.
pub fn dsn_files(dsn: &str) -> Vec<PathBuf> {
    dsn.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| matches!(*k, "passfile" | "sslkey" | "sslcert" | "sslrootcert"))
        .map(|(_, v)| PathBuf::from(v.trim_matches('\'')))
        .filter(|p| p.is_absolute())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Host {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
        etc: PathBuf,
    }

    /// `root/` (an import root with `root/repo/a.rpm`), `outside/` with a file, `etc/` with the
    /// peer's configuration and key.
    fn host() -> Host {
        let dir = tempfile::tempdir().expect("tmp");
        let base = dir.path().canonicalize().expect("canon");
        let (root, outside, etc) = (base.join("root"), base.join("outside"), base.join("etc"));
        for d in [&root.join("repo"), &outside, &etc] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(root.join("repo/a.rpm"), b"rpm").expect("w");
        std::fs::write(outside.join("secret"), b"s").expect("w");
        std::fs::write(etc.join("peer.toml"), b"name = 'x'").expect("w");
        std::fs::write(etc.join("cluster.key"), b"k").expect("w");
        Host {
            _dir: dir,
            root,
            outside,
            etc,
        }
    }

    fn protected(h: &Host) -> Vec<ProtectedPath> {
        vec![
            ProtectedPath::new("configuration file", h.etc.join("peer.toml")),
            ProtectedPath::new("cluster key", h.etc.join("cluster.key")),
        ]
    }

    #[test]
    fn no_root_configured_refuses_every_import() {
        let h = host();
        let e = check(&[], &protected(&h), &h.root.join("repo")).expect_err("refused");
        assert_eq!(e, ImportRefused::NoRoots);
        let api: ApiError = e.into();
        assert_eq!(api.status(), StatusCode::FORBIDDEN);
        assert!(api.message().contains("import_roots"), "{}", api.message());
    }

    #[test]
    fn inside_a_root_is_read_outside_is_refused() {
        let h = host();
        let roots = [h.root.clone()];
        let got = check(&roots, &protected(&h), &h.root.join("repo")).expect("inside");
        assert_eq!(got, h.root.join("repo"));
        let e = check(&roots, &protected(&h), &h.outside).expect_err("outside");
        assert!(matches!(e, ImportRefused::OutsideRoots { .. }), "{e}");
        // `..` does not climb out either.
        let e =
            check(&roots, &protected(&h), &h.root.join("repo/../../outside")).expect_err("dot-dot");
        assert!(matches!(e, ImportRefused::OutsideRoots { .. }), "{e}");
        assert_eq!(ApiError::from(e).status(), StatusCode::FORBIDDEN);
        let e = check(&roots, &[], Path::new("relative/dir")).expect_err("relative");
        assert_eq!(ApiError::from(e).status(), StatusCode::BAD_REQUEST);
        let e = check(&roots, &[], &h.root.join("missing")).expect_err("missing");
        assert_eq!(ApiError::from(e).status(), StatusCode::BAD_REQUEST);
        let e = check(&roots, &[], &h.root.join("repo/a.rpm")).expect_err("a file");
        assert!(matches!(e, ImportRefused::NotADirectory { .. }), "{e}");
    }

    #[test]
    fn a_symbolic_link_out_of_a_root_is_refused() {
        let h = host();
        let link = h.root.join("escape");
        std::os::unix::fs::symlink(&h.outside, &link).expect("symlink");
        let e = check(std::slice::from_ref(&h.root), &protected(&h), &link).expect_err("escape");
        match e {
            ImportRefused::OutsideRoots { resolved, .. } => assert_eq!(resolved, h.outside),
            other => panic!("{other}"),
        }
        // A link to a directory inside the root is fine, and resolved.
        let inner = h.root.join("inner");
        std::os::unix::fs::symlink(h.root.join("repo"), &inner).expect("symlink");
        let got = check(std::slice::from_ref(&h.root), &protected(&h), &inner).expect("inside");
        assert_eq!(got, h.root.join("repo"));
    }

    #[test]
    fn the_peers_own_files_are_refused_even_under_a_root() {
        let h = host();
        // A careless root: the whole base directory, configuration and keys included.
        let base = h.etc.parent().expect("base").to_path_buf();
        let roots = [base.clone()];
        for path in [h.etc.clone(), base.clone()] {
            let e = check(&roots, &protected(&h), &path).expect_err("holds the config");
            match &e {
                ImportRefused::Protected { what, .. } => {
                    assert_eq!(what.len(), 2, "{what:?}");
                    assert!(what[0].starts_with("configuration file ("), "{what:?}");
                    assert!(what[1].starts_with("cluster key ("), "{what:?}");
                }
                other => panic!("{other}"),
            }
            let api = ApiError::from(e);
            assert_eq!(api.status(), StatusCode::FORBIDDEN);
            assert!(api.message().contains("peer.toml"), "{}", api.message());
        }
        // The key file itself.
        let e = check(&roots, &protected(&h), &h.etc.join("cluster.key"));
        assert!(
            matches!(e, Err(ImportRefused::NotADirectory { .. })),
            "{e:?}"
        );
        // Inside a protected directory (the data dir), through a link too.
        let data = base.join("data");
        std::fs::create_dir_all(data.join("store")).expect("mkdir");
        let mut prot = protected(&h);
        prot.push(ProtectedPath::new("data directory", &data));
        let e = check(&roots, &prot, &data.join("store")).expect_err("inside data");
        assert!(matches!(e, ImportRefused::Protected { .. }), "{e}");
        std::os::unix::fs::symlink(data.join("store"), h.root.join("store-link")).expect("ln");
        let e = check(&roots, &prot, &h.root.join("store-link")).expect_err("linked data");
        assert!(matches!(e, ImportRefused::Protected { .. }), "{e}");
        // The unrelated directory under that root is fine.
        check(&roots, &prot, &h.root).expect("root");
    }

    #[test]
    fn a_dsn_names_its_password_and_key_files() {
        let files = dsn_files(
            "host=localhost user=spacewalk passfile=/etc/rhn/pgpass sslkey='/etc/pki/db.key' \
             sslmode=require dbname=susemanager sslcert=relative.pem",
        );
        assert_eq!(
            files,
            [
                PathBuf::from("/etc/rhn/pgpass"),
                PathBuf::from("/etc/pki/db.key")
            ]
        );
    }
}
