//! Backup and restore: a backup taken while writes go on holds every write acknowledged
//! before it, restores into an empty directory only, refuses damaged files, and the restored
//! store syncs with the original again.

use crdt_store::{
    BackupError, Record, Store, StoreOptions, SystemRecord, read_backup_info, restore_backup,
};

fn opts() -> StoreOptions {
    StoreOptions {
        shard_count: 8,
        ..StoreOptions::default()
    }
}

fn sys(i: usize) -> Record {
    Record::System(SystemRecord::new(
        format!("aa:{i:04x}"),
        format!("m{i}"),
        i as u64,
    ))
}

#[test]
fn a_backup_taken_during_writes_restores_every_acknowledged_write() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _) = Store::open(&dir.path().join("a"), opts())?;
    for i in 0..200 {
        store.put(&sys(i))?;
    }
    // Writers keep going while the backup is taken; every write acknowledged before the
    // backup started must be in it.
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            for i in 200..400 {
                store.put(&sys(i))?;
            }
            Ok(())
        })
    };
    let mut file = Vec::new();
    let info = store.backup(&mut file, 42, "a")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;
    assert!(info.records >= 200 && info.shard_count == 8, "{info:?}");
    assert_eq!(read_backup_info(&mut file.as_slice())?, info);

    let target = dir.path().join("b");
    let restored_info = restore_backup(&mut file.as_slice(), &target)?;
    assert_eq!(restored_info, info);
    let (restored, report) = Store::open(&target, opts())?;
    assert!(report.damaged_shards.is_empty(), "{report:?}");
    assert_eq!(restored.stats().records as u64, info.records);
    assert_eq!(
        restored.stats().root_digest,
        info.root,
        "the restore is the cut"
    );
    for i in 0..200 {
        assert!(
            restored.get_system(&format!("aa:{i:04x}"))?.is_some(),
            "write {i} lost"
        );
    }
    // A second restore into the same directory is refused; nothing is overwritten.
    assert!(matches!(
        restore_backup(&mut file.as_slice(), &target),
        Err(BackupError::NotEmpty(_))
    ));
    Ok(())
}

#[test]
fn damaged_backups_are_refused_before_anything_is_written() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _) = Store::open(&dir.path().join("a"), opts())?;
    for i in 0..50 {
        store.put(&sys(i))?;
    }
    let mut file = Vec::new();
    store.backup(&mut file, 1, "a")?;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not a backup", b"hello world, not a backup at all".to_vec()),
        ("truncated", file[..file.len() - 10].to_vec()),
        ("flipped byte", {
            let mut f = file.clone();
            let n = f.len() - 5;
            f[n] ^= 0xff;
            f
        }),
    ];
    for (what, bytes) in cases {
        let target = dir.path().join(what.replace(' ', "-"));
        let err = restore_backup(&mut bytes.as_slice(), &target).expect_err(what);
        assert!(
            matches!(err, BackupError::Invalid(_) | BackupError::Io(_)),
            "{what}: {err}"
        );
        assert!(
            !target.join("store.json").exists(),
            "{what}: nothing written"
        );
    }
    Ok(())
}
