//! The node's blob store: iroh-blobs' filesystem store (redb metadata, one data file and one
//! BLAKE3 outboard per blob above 16 KiB) under the peer's data directory.
//!
//! What is kept: every blob reachable from a named tag. Repositories and CLM documents tag a
//! hash sequence of everything they reference ([`BlobStore::protect`]); iroh-blobs' garbage
//! collector deletes the rest every `gc_interval`.

use std::{path::Path, time::Duration};

use bytes::Bytes;
use futures::StreamExt as _;
use iroh_blobs::{
    BlobFormat, Hash, HashAndFormat,
    api::TempTag,
    api::{
        blobs::{AddPathOptions, BlobStatus, ImportMode},
        proto::{AddProgressItem, ExportRangesItem},
    },
    hashseq::HashSeq,
    store::{
        GcConfig,
        fs::{FsStore, options::Options},
    },
};

use crate::ContentError;

/// Where a blob stands locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobState {
    /// Not stored.
    Missing,
    /// Partly stored (a transfer was cut short; the next fetch asks only for the rest).
    Partial,
    /// Stored completely, this many bytes.
    Complete(u64),
}

/// The node's blob store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: FsStore,
    paths: iroh_blobs::store::fs::options::PathOptions,
}

impl BlobStore {
    /// Open (or create) the store in `dir`. `gc_interval`: how often unreferenced blobs are
    /// deleted (`None`: never).
    pub async fn open(dir: &Path, gc_interval: Option<Duration>) -> Result<Self, ContentError> {
        std::fs::create_dir_all(dir).map_err(|e| ContentError::io(dir, e))?;
        let mut options = Options::new(dir);
        options.gc = gc_interval.map(|interval| GcConfig {
            interval,
            add_protected: None,
        });
        let paths = options.path.clone();
        let store = FsStore::load_with_opts(dir.join("blobs.db"), options)
            .await
            .map_err(ContentError::store)?;
        Ok(Self { store, paths })
    }

    /// The iroh-blobs API (for serving and fetching).
    pub fn api(&self) -> &iroh_blobs::api::Store {
        &self.store
    }

    /// Import a file (copied into the store, hashed on the way). The returned temp tag keeps
    /// it from garbage collection until dropped: protect it with [`Self::protect`] first.
    pub async fn add_file(&self, path: &Path) -> Result<TempTag, ContentError> {
        let mut stream = self
            .store
            .add_path_with_opts(AddPathOptions {
                path: path.to_path_buf(),
                format: BlobFormat::Raw,
                mode: ImportMode::Copy,
            })
            .stream()
            .await;
        while let Some(item) = stream.next().await {
            match item {
                AddProgressItem::Done(tt) => return Ok(tt),
                AddProgressItem::Error(e) => {
                    return Err(ContentError::io(path, std::io::Error::other(e.to_string())));
                }
                _ => {}
            }
        }
        Err(ContentError::Store(format!(
            "import of {} ended without a result",
            path.display()
        )))
    }

    /// Store bytes; the temp tag protects them until dropped.
    pub async fn add_bytes(&self, bytes: impl Into<Bytes>) -> Result<TempTag, ContentError> {
        self.store
            .add_bytes(bytes)
            .temp_tag()
            .await
            .map_err(ContentError::store)
    }

    /// Where `hash` stands locally.
    pub async fn state(&self, hash: Hash) -> Result<BlobState, ContentError> {
        Ok(
            match self.store.status(hash).await.map_err(ContentError::store)? {
                BlobStatus::NotFound => BlobState::Missing,
                BlobStatus::Partial { .. } => BlobState::Partial,
                BlobStatus::Complete { size } => BlobState::Complete(size),
            },
        )
    }

    /// Read a whole blob, verified against its BLAKE3 outboard: local corruption is
    /// [`ContentError::Corrupt`], never silently served.
    pub async fn read(&self, hash: Hash) -> Result<Bytes, ContentError> {
        match self.state(hash).await? {
            BlobState::Complete(_) => {}
            _ => {
                return Err(ContentError::Unavailable {
                    hash: hash.to_hex(),
                    reason: "not stored here".into(),
                });
            }
        }
        let corrupt = || ContentError::Corrupt {
            hash: hash.to_hex(),
        };
        let bytes = self.store.get_bytes(hash).await.map_err(|_| corrupt())?;
        // iroh-blobs checks data against the outboard when it sends it to a peer; a local read
        // is checked here (BLAKE3 runs at several GiB/s, far above the disk).
        if Hash::new(&bytes) == hash {
            Ok(bytes)
        } else {
            Err(corrupt())
        }
    }

    /// Stream a complete blob's stored bytes (for large files). The pieces are *not* checked
    /// against the hash here: call [`Self::verify`] first (the local repository does); an
    /// `Err` item means the store could not read the data.
    pub fn stream(
        &self,
        hash: Hash,
    ) -> impl futures::Stream<Item = Result<Bytes, ContentError>> + Send + 'static {
        self.store
            .export_ranges(hash, 0..u64::MAX)
            .stream()
            .filter_map(move |item| async move {
                match item {
                    ExportRangesItem::Size(_) => None,
                    ExportRangesItem::Data(leaf) => Some(Ok(leaf.data)),
                    ExportRangesItem::Error(_) => Some(Err(ContentError::Corrupt {
                        hash: hash.to_hex(),
                    })),
                }
            })
    }

    /// Verify a complete blob without holding it in memory: its bytes are read back and
    /// hashed. `Ok(false)`: corrupt (or unreadable).
    pub async fn verify(&self, hash: Hash) -> Result<bool, ContentError> {
        let mut hasher = blake3::Hasher::new();
        let mut s = std::pin::pin!(self.stream(hash));
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => {
                    hasher.update(&b);
                }
                Err(_) => return Ok(false),
            }
        }
        Ok(Hash::from(hasher.finalize()) == hash)
    }

    /// Put known-good bytes (verified by the caller against `hash`) back over a corrupted
    /// blob's data file. The file is rewritten in place, so the store's open handles see
    /// the repaired bytes; blobs of 16 KiB or less live inside redb, whose own checksums
    /// guard them, and need no repair here.
    pub async fn repair(&self, hash: Hash, good: Bytes) -> Result<(), ContentError> {
        if Hash::new(&good) != hash {
            return Err(ContentError::Corrupt {
                hash: hash.to_hex(),
            });
        }
        let path = self.paths.data_path(&hash);
        let write = {
            let path = path.clone();
            move || -> std::io::Result<()> {
                use std::io::Write as _;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)?;
                f.write_all(&good)?;
                f.sync_all()
            }
        };
        tokio::task::spawn_blocking(write)
            .await
            .map_err(|e| ContentError::Store(e.to_string()))?
            .map_err(|e| ContentError::io(path, e))?;
        if self.verify(hash).await? {
            Ok(())
        } else {
            Err(ContentError::Corrupt {
                hash: hash.to_hex(),
            })
        }
    }

    /// A writer putting verified pieces of `hash` back over its damaged data file, in place
    /// (the store's open handles see the repaired bytes). The caller checks the whole blob
    /// with [`Self::verify`] after [`RepairWriter::finish`].
    pub fn repair_writer(&self, hash: Hash) -> Result<RepairWriter, ContentError> {
        let path = self.paths.data_path(&hash);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| ContentError::io(&path, e))?;
        Ok(RepairWriter {
            file: std::sync::Arc::new(file),
            path,
        })
    }

    /// Keep `hashes` (and the sequence itself) under the named tag; replaces what the tag
    /// kept before, which garbage collection then removes unless another tag keeps it.
    pub async fn protect(&self, tag: &str, hashes: &[Hash]) -> Result<Hash, ContentError> {
        let seq: HashSeq = hashes.iter().copied().collect();
        let tt = self
            .store
            .add_bytes_with_opts((seq.into_inner(), BlobFormat::HashSeq))
            .temp_tag()
            .await
            .map_err(ContentError::store)?;
        let root = tt.hash();
        self.store
            .tags()
            .set(tag, HashAndFormat::hash_seq(root))
            .await
            .map_err(ContentError::store)?;
        Ok(root)
    }

    /// Drop a tag: what only it kept is deleted by the next garbage collection.
    pub async fn unprotect(&self, tag: &str) -> Result<(), ContentError> {
        self.store
            .tags()
            .delete(tag)
            .await
            .map(|_| ())
            .map_err(ContentError::store)
    }

    /// Names of the tags starting with `prefix`.
    pub async fn tags(&self, prefix: &str) -> Result<Vec<String>, ContentError> {
        Ok(self
            .tag_roots(prefix)
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    /// Tags starting with `prefix` and the hash each names.
    pub async fn tag_roots(&self, prefix: &str) -> Result<Vec<(String, Hash)>, ContentError> {
        let mut out = Vec::new();
        let mut s = self
            .store
            .tags()
            .list_prefix(prefix)
            .await
            .map_err(ContentError::store)?;
        while let Some(t) = s.next().await {
            let t = t.map_err(ContentError::store)?;
            out.push((
                String::from_utf8_lossy(t.name.as_ref()).into_owned(),
                t.hash,
            ));
        }
        Ok(out)
    }

    /// Every blob the store holds, complete or partial.
    pub async fn list(&self) -> Result<Vec<Hash>, ContentError> {
        self.store
            .list()
            .hashes()
            .await
            .map_err(ContentError::store)
    }

    /// Flush and stop the store (on shutdown).
    pub async fn shutdown(&self) {
        // The store's actor answers the shutdown by closing: a dropped reply is expected.
        if let Err(e) = self.store.shutdown().await {
            tracing::debug!("blob store shutdown: {e}");
        }
    }
}

/// Writes verified pieces over a damaged data file ([`BlobStore::repair_writer`]).
#[derive(Debug)]
pub struct RepairWriter {
    file: std::sync::Arc<std::fs::File>,
    path: std::path::PathBuf,
}

impl RepairWriter {
    /// Write `data` at byte `offset`.
    pub async fn write_at(&mut self, offset: u64, data: Bytes) -> Result<(), ContentError> {
        use std::os::unix::fs::FileExt as _;
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.write_all_at(&data, offset))
            .await
            .map_err(|e| ContentError::Store(e.to_string()))?
            .map_err(|e| ContentError::io(&self.path, e))
    }

    /// Flush to disk.
    pub async fn finish(self) -> Result<(), ContentError> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(|e| ContentError::Store(e.to_string()))?
            .map_err(|e| ContentError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_verifies_detects_corruption_and_repairs() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = BlobStore::open(dir.path(), None).await.expect("open");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let src = dir.path().join("pkg.rpm");
        std::fs::write(&src, &data).expect("write");
        let tt = store.add_file(&src).await.expect("add");
        let hash = tt.hash();
        assert_eq!(hash, Hash::new(&data));
        store.protect("r/test", &[hash]).await.expect("tag");
        assert_eq!(
            store.state(hash).await.expect("state"),
            BlobState::Complete(200_000)
        );
        assert_eq!(store.read(hash).await.expect("read"), data);
        assert!(store.verify(hash).await.expect("verify"));

        // Flip a byte in the data file: reads fail verification instead of serving it.
        let file = dir
            .path()
            .join("data")
            .join(format!("{}.data", hash.to_hex()));
        let mut on_disk = std::fs::read(&file).expect("data file");
        on_disk[100_000] ^= 0xff;
        std::fs::write(&file, &on_disk).expect("corrupt");
        assert!(
            !store.verify(hash).await.expect("verify"),
            "corruption found"
        );
        assert!(matches!(
            store.read(hash).await,
            Err(ContentError::Corrupt { .. })
        ));

        // Wrong bytes are refused; the right ones repair it.
        assert!(store.repair(hash, Bytes::from(on_disk)).await.is_err());
        store
            .repair(hash, Bytes::from(data.clone()))
            .await
            .expect("repair");
        assert_eq!(store.read(hash).await.expect("read"), data);
        assert_eq!(store.tags("r/").await.expect("tags"), ["r/test"]);
        assert_eq!(
            store.state(Hash::new(b"nope")).await.expect("state"),
            BlobState::Missing
        );
        store.shutdown().await;
    }
}
