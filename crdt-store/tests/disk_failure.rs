//! A failing disk stops the store's writes for good ("fsyncgate"): the first failed fsync or
//! WAL write is reported to its writer and to every later one, never retried, logged once at
//! error level; reads go on, and a restart replays every acknowledged write.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crdt_store::{
    FaultInjector, Record, Store, StoreError, StoreOptions, SyncSession, SystemRecord,
};

fn sys(fp: &str) -> Record {
    Record::System(SystemRecord::new(fp, fp, 0))
}

fn opts(faults: Option<FaultInjector>) -> StoreOptions {
    StoreOptions {
        shard_count: 8,
        compact_wal_bytes: 0,
        faults,
        ..StoreOptions::default()
    }
}

/// The log lines written while `f` runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged(f: impl FnOnce()) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(sub, f);
    let bytes = out.0.lock().expect("lock").clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn assert_stopped(e: &StoreError, cause: &str) {
    assert!(matches!(e, StoreError::ReadOnly(_)), "{e}");
    assert!(e.is_unavailable() && e.is_read_only(), "{e}");
    assert!(e.to_string().contains(cause), "{e} does not name {cause}");
}

#[test]
fn a_failed_fsync_stops_every_later_write_and_is_logged_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = FaultInjector::new();
    let (store, _) = Store::open(dir.path(), opts(Some(faults.clone()))).expect("open");
    for i in 0..10 {
        store.put(&sys(&format!("ok{i}"))).expect("acknowledged");
    }
    let log = logged(|| {
        faults.fail_fsync(true);
        let e = store.put(&sys("failed")).expect_err("EIO");
        assert_stopped(&e, "Input/output error");
        // The disk "recovers": the store does not try again.
        faults.fail_fsync(false);
        let tried = faults.fsyncs();
        for i in 0..5 {
            let e = store.put(&sys(&format!("later{i}"))).expect_err("stopped");
            assert_stopped(&e, "Input/output error");
        }
        assert_stopped(
            &store.delete("system/ok0").expect_err("stopped"),
            "os error 5",
        );
        let e = store
            .update_systems(&["ok1".into()], |_| true)
            .expect_err("stopped");
        assert_stopped(&e, "os error 5");
        assert_stopped(&store.compact().expect_err("stopped"), "os error 5");
        let e = store
            .apply_remote(0, &[], &[])
            .expect_err("remote changes are refused too");
        assert_stopped(&e, "os error 5");
        let e = store
            .sync_receive(&mut SyncSession::new(), &[])
            .expect_err("stopped");
        assert_stopped(&e, "os error 5");
        assert_eq!(faults.fsyncs(), tried, "no fsync after the failed one");
    });
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one error line, not one per write: {log}");
    assert!(
        errors[0].contains("Input/output error") && errors[0].contains("no more writes"),
        "{}",
        errors[0]
    );
    // Reads go on; the failure shows in the figures; no compaction is attempted.
    assert!(store.get_system("ok9").expect("read").is_some());
    let cause = store.write_failure().expect("stopped");
    assert!(
        cause.contains("wal") && cause.contains("os error 5"),
        "{cause}"
    );
    assert_eq!(store.stats().write_failure.as_deref(), Some(cause.as_str()));
    assert!(!store.needs_compaction());
    drop(store);

    // A restart on the repaired disk has every acknowledged write.
    let (store, _) = Store::open(dir.path(), opts(None)).expect("reopen");
    for i in 0..10 {
        assert!(
            store.get_system(&format!("ok{i}")).expect("read").is_some(),
            "acknowledged write ok{i} lost"
        );
    }
    for i in 0..5 {
        assert!(
            store
                .get_system(&format!("later{i}"))
                .expect("read")
                .is_none()
        );
    }
    assert!(store.write_failure().is_none());
    store.put(&sys("after-restart")).expect("writes again");
}

#[test]
fn a_failed_wal_write_stops_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = FaultInjector::new();
    let (store, _) = Store::open(dir.path(), opts(Some(faults.clone()))).expect("open");
    store.put(&sys("before")).expect("acknowledged");
    faults.fail_write(true);
    assert_stopped(
        &store.put(&sys("full")).expect_err("ENOSPC"),
        "No space left on device",
    );
    faults.fail_write(false);
    assert_stopped(
        &store.put(&sys("freed")).expect_err("stopped"),
        "No space left on device",
    );
    drop(store);
    let (store, report) = Store::open(dir.path(), opts(None)).expect("reopen");
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert!(store.get_system("before").expect("read").is_some());
}

#[test]
fn a_failed_fsync_during_compaction_stops_the_store_and_keeps_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = FaultInjector::new();
    let (store, _) = Store::open(dir.path(), opts(Some(faults.clone()))).expect("open");
    for i in 0..20 {
        store.put(&sys(&format!("s{i}"))).expect("acknowledged");
    }
    faults.fail_fsync(true);
    assert_stopped(&store.compact().expect_err("EIO"), "os error 5");
    assert_stopped(&store.put(&sys("x")).expect_err("stopped"), "os error 5");
    drop(store);
    let (store, _) = Store::open(dir.path(), opts(None)).expect("reopen");
    for i in 0..20 {
        assert!(store.get_system(&format!("s{i}")).expect("read").is_some());
    }
}
