//! Inputs the fuzz targets found (docs/FUZZING.md), kept as regression tests.

use crdt_store::{Record, Store, StoreError, StoreOptions, SystemRecord, shard_of};

fn store(dir: &std::path::Path) -> Store {
    let opts = StoreOptions {
        shard_count: 4,
        ..StoreOptions::default()
    };
    Store::open(dir, opts).expect("open").0
}

/// `sync_message` crash-5ea6c265…: this gossiped change chunk made automerge's column decoder
/// panic (an unwrapped `UnexpectedEof`). It is now a typed error, and the shard is unchanged.
#[test]
fn a_chunk_that_panicked_the_automerge_decoder_is_refused() {
    const CHUNK: &[u8] = &[
        0x85, 0x6f, 0x4a, 0x83, 0x42, 0x42, 0x00, 0x00, 0x03, 0x09, 0x00, 0x00, 0x00, 0x01, 0x23,
        0x02, 0x23, 0xe6, 0x08,
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path());
    let rec = Record::System(SystemRecord::new("ab:cd", "web1", 1));
    let shard = shard_of(&rec.key(), 4);
    s.put(&rec).expect("put");
    let heads = s.heads(shard).expect("heads");

    let err = s.apply_remote(shard, CHUNK, &[]).expect_err("refused");
    assert!(
        matches!(&err, StoreError::BadSyncMessage { reason, .. } if reason.contains("panicked")),
        "{err}"
    );
    assert_eq!(
        s.heads(shard).expect("heads"),
        heads,
        "the shard is unchanged"
    );
    assert!(s.get_system("ab:cd").expect("get").is_some());
    s.put(&Record::System(SystemRecord::new("ab:cd", "web2", 2)))
        .expect("the shard still takes writes");
}
