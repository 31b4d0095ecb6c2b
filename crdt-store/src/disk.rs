//! Every write and fsync of the store's files goes through [`Disk`], which stops the store for
//! good at the first failure (and says so once, at error level).
//!
//! **Why not retry.** After a failed `fsync` Linux may already have dropped the dirty pages
//! it could not write and cleared the error: a second `fsync` then succeeds although the data
//! never reached the disk ("fsyncgate", PostgreSQL 2018). A failed `write` may have left part
//! of a frame in the file. Either way the store can no longer promise that what it
//! acknowledges is on disk, so it acknowledges nothing more: every later write returns
//! [`StoreError::ReadOnly`] naming the first failure. Reads go on. A restart replays the log,
//! which holds every acknowledged write (each was fsync'd before it was acknowledged).
//!
//! [`FaultInjector`] makes writes or syncs fail on purpose, for the tests of that behaviour;
//! a production store has none (one `Option` check per fsync).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::StoreError;

/// Makes the store's disk operations fail on purpose: the tests of what a failing disk does.
/// Cheap to clone; all clones share one switch board. Give it to the store through
/// [`crate::StoreOptions::faults`].
#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    inner: Arc<Faults>,
}

#[derive(Debug, Default)]
struct Faults {
    fail_fsync: AtomicBool,
    fail_write: AtomicBool,
    fsyncs: AtomicU64,
}

impl FaultInjector {
    /// A switch board with every fault off.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on every fsync (file or directory) fails with `EIO` (until turned off).
    pub fn fail_fsync(&self, on: bool) {
        self.inner.fail_fsync.store(on, Ordering::SeqCst);
    }

    /// From now on every write to the write-ahead log fails with `ENOSPC` (until turned off).
    pub fn fail_write(&self, on: bool) {
        self.inner.fail_write.store(on, Ordering::SeqCst);
    }

    /// How many fsyncs the store attempted so far (failed ones included).
    pub fn fsyncs(&self) -> u64 {
        self.inner.fsyncs.load(Ordering::SeqCst)
    }
}

/// EIO and ENOSPC as Linux numbers them (what a failing disk and a full one return).
const EIO: i32 = 5;
const ENOSPC: i32 = 28;

/// The store's door to the disk: writes, fsyncs, and the failure that stopped them.
#[derive(Debug, Default)]
pub(crate) struct Disk {
    faults: Option<FaultInjector>,
    failed: OnceLock<String>,
}

impl Disk {
    pub(crate) fn new(faults: Option<FaultInjector>) -> Self {
        Self {
            faults,
            failed: OnceLock::new(),
        }
    }

    /// The failure that stopped the store's writes, if one did.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// `Err(ReadOnly)` once a write or fsync has failed.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match self.failed.get() {
            Some(cause) => Err(StoreError::ReadOnly(cause.clone())),
            None => Ok(()),
        }
    }

    /// Record `err` as the failure that stops the store (the first one wins, and only it is
    /// logged) and return the [`StoreError::ReadOnly`] every writer gets from now on.
    pub(crate) fn fail(&self, err: StoreError) -> StoreError {
        let cause = err.to_string();
        if self.failed.set(cause.clone()).is_ok() {
            tracing::error!(
                "metastore: {cause}; it takes no more writes (a retried fsync may report success \
                 for data it lost). Every write acknowledged so far is on disk: repair the disk, \
                 then restart the peer"
            );
        }
        StoreError::ReadOnly(self.failed.get().cloned().unwrap_or(cause))
    }

    /// `fdatasync` a file; a failure stops the store.
    pub(crate) fn sync_data(&self, file: &File, path: &Path) -> Result<(), StoreError> {
        self.check()?;
        self.sync_with(path, || file.sync_data())
    }

    /// `fsync` a file (data and metadata); a failure stops the store.
    pub(crate) fn sync_all(&self, file: &File, path: &Path) -> Result<(), StoreError> {
        self.check()?;
        self.sync_with(path, || file.sync_all())
    }

    /// `fsync` a directory (so the names created or removed in it last); a failure stops the
    /// store.
    pub(crate) fn sync_dir(&self, dir: &Path) -> Result<(), StoreError> {
        self.check()?;
        self.sync_with(dir, || File::open(dir).and_then(|d| d.sync_all()))
    }

    fn sync_with(
        &self,
        path: &Path,
        sync: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let res = match &self.faults {
            Some(f) => {
                f.inner.fsyncs.fetch_add(1, Ordering::SeqCst);
                if f.inner.fail_fsync.load(Ordering::SeqCst) {
                    Err(std::io::Error::from_raw_os_error(EIO))
                } else {
                    sync()
                }
            }
            None => sync(),
        };
        res.map_err(|e| self.fail(StoreError::io(path, e)))
    }

    /// Append `buf` to the write-ahead log's `file`; a failure stops the store.
    pub(crate) fn write_all(
        &self,
        file: &mut File,
        path: &Path,
        buf: &[u8],
    ) -> Result<(), StoreError> {
        self.check()?;
        let res = match &self.faults {
            Some(f) if f.inner.fail_write.load(Ordering::SeqCst) => {
                Err(std::io::Error::from_raw_os_error(ENOSPC))
            }
            _ => file.write_all(buf),
        };
        res.map_err(|e| self.fail(StoreError::io(path, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_stops_every_later_operation_and_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = FaultInjector::new();
        let disk = Disk::new(Some(faults.clone()));
        let path = dir.path().join("f");
        let mut f = File::create(&path).expect("create");
        disk.write_all(&mut f, &path, b"x").expect("write");
        disk.sync_data(&f, &path).expect("sync");
        faults.fail_fsync(true);
        let err = disk.sync_data(&f, &path).expect_err("injected");
        assert!(matches!(err, StoreError::ReadOnly(_)), "{err}");
        assert!(err.to_string().contains("Input/output error"), "{err}");
        faults.fail_fsync(false);
        let tried = faults.fsyncs();
        // The disk "recovers": nothing is retried, writes stay refused with the first cause.
        let again = disk.sync_data(&f, &path).expect_err("still stopped");
        assert!(again.to_string().contains("Input/output error"), "{again}");
        assert!(disk.write_all(&mut f, &path, b"y").is_err());
        assert_eq!(faults.fsyncs(), tried, "no fsync after the failure");
        assert!(disk.failure().is_some_and(|c| c.contains("os error 5")));
    }
}
