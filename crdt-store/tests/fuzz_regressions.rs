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
    // Refused by the chunk check before automerge decodes it (it was the decoder's panic,
    // caught, before the check existed).
    assert!(matches!(&err, StoreError::BadSyncMessage { .. }), "{err}");
    assert_eq!(
        s.heads(shard).expect("heads"),
        heads,
        "the shard is unchanged"
    );
    assert!(s.get_system("ab:cd").expect("get").is_some());
    s.put(&Record::System(SystemRecord::new("ab:cd", "web2", 2)))
        .expect("the shard still takes writes");
}

/// `sync_message` oom-d3befdca and slow-unit-ecb91d85: 28 and 27 bytes that made automerge 0.12
/// ask for a 4 GiB allocation (an abort) and spend 11 s of CPU. Both are bundle chunks with a
/// made-up checksum; the chunk check refuses them before automerge decodes anything, through
/// gossip and through a sync message alike.
#[test]
fn chunks_that_exhausted_automerge_are_refused_quickly() {
    const OOM: &[u8] = &[
        0x85, 0x6f, 0x4a, 0x83, 0xbe, 0x01, 0x00, 0xbe, 0x03, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x23,
        0x06, 0xff, 0xff, 0xff, 0xff, 0x23, 0x22, 0x00, 0x8c, 0x09, 0x00, 0x10,
    ];
    const SLOW: &[u8] = &[
        0x85, 0x6f, 0x4a, 0x83, 0xbe, 0x01, 0x00, 0xbe, 0x03, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x23,
        0x06, 0xff, 0xff, 0xff, 0x35, 0xff, 0x23, 0x8c, 0x09, 0x00, 0x10,
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path());
    s.put(&Record::System(SystemRecord::new("ab:cd", "web1", 1)))
        .expect("put");
    let started = std::time::Instant::now();
    for chunk in [OOM, SLOW] {
        for shard in 0..4 {
            let heads = s.heads(shard).expect("heads");
            let err = s.apply_remote(shard, chunk, &[]).expect_err("refused");
            assert!(
                matches!(&err, StoreError::BadSyncMessage { reason, .. } if reason.contains("type 3")),
                "{err}"
            );
            assert_eq!(s.heads(shard).expect("heads"), heads);
        }
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "refused without decoding: {:?}",
        started.elapsed()
    );
    assert!(s.get_system("ab:cd").expect("get").is_some());
}

/// A sync message whose chunk list carries a chunk with a bad checksum is refused before any
/// of it is applied.
#[test]
fn a_sync_message_with_a_corrupt_chunk_is_refused() {
    use crdt_store::SyncSession;
    let a_dir = tempfile::tempdir().expect("tempdir");
    let b_dir = tempfile::tempdir().expect("tempdir");
    let a = store(a_dir.path());
    let b = store(b_dir.path());
    let rec = Record::System(SystemRecord::new("ab:cd", "web1", 1));
    let shard = shard_of(&rec.key(), 4);
    a.put(&rec).expect("put");
    let (mut sa, mut sb) = (SyncSession::new(), SyncSession::new());
    // Run the protocol until a message carries changes, then corrupt its last byte (inside the
    // chunk's data) and hand it over.
    for _ in 0..10 {
        let from_a = a.sync_generate(&mut sa, &[shard]).expect("generate");
        let Some((_, msg)) = from_a.into_iter().next() else {
            break;
        };
        let decoded = automerge::sync::Message::decode(&msg).expect("decode");
        if decoded.changes.is_empty() {
            b.sync_receive(&mut sb, &[(shard, msg)]).expect("receive");
            let from_b = b.sync_generate(&mut sb, &[shard]).expect("generate");
            a.sync_receive(&mut sa, &from_b).expect("receive");
            continue;
        }
        let mut bad = msg.clone();
        // Flip a byte inside the chunk's data (a system record's change is far longer than 40
        // bytes; the actor id alone takes 16).
        let magic = bad
            .windows(4)
            .position(|w| w == [0x85, 0x6f, 0x4a, 0x83])
            .expect("a chunk");
        let target = magic + 40;
        assert!(target < bad.len());
        bad[target] ^= 0x55;
        let err = b
            .sync_receive(&mut sb, &[(shard, bad)])
            .expect_err("a corrupt chunk is refused");
        assert!(matches!(err, StoreError::BadSyncMessage { .. }), "{err}");
        assert!(
            b.get_system("ab:cd").expect("get").is_none(),
            "nothing applied"
        );
        // The intact message still works.
        b.sync_receive(&mut sb, &[(shard, msg)]).expect("receive");
        assert!(b.get_system("ab:cd").expect("get").is_some());
        return;
    }
    panic!("no sync message carried changes");
}
