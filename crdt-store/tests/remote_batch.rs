//! `Store::apply_remote_batch`: a write batch's change chunks applied by another replica in one
//! go (wire protocol 3's batched gossip) end in the same state as one by one; a refused chunk
//! spoils only its own shard; a missing dependency is reported for a pull; and what a batch
//! applied is durable (it survives a reopen).

use crdt_store::{
    Record, RemoteChange, Store, StoreOptions, SyncSession, SystemFilter, SystemRecord,
};

fn system(i: u32, minion: &str) -> Record {
    Record::System(SystemRecord::new(format!("fp{i}"), minion, 0).with_hostname(""))
}

fn opts() -> StoreOptions {
    StoreOptions {
        shard_count: 8,
        ..StoreOptions::default()
    }
}

fn contents(s: &Store) -> Vec<(String, String)> {
    let mut v: Vec<_> = s
        .systems(&SystemFilter::default())
        .into_iter()
        .map(|r| (r.fingerprint, r.minion_id))
        .collect();
    v.sort();
    v
}

/// One shard's change as a broadcast carries it: shard, chunk, the sender's heads.
type Item = (u32, Vec<u8>, Vec<[u8; 32]>);

/// The frames of a write with the sender's heads, as a broadcast carries them.
fn with_heads(s: &Store, frames: Vec<(u32, Vec<u8>)>) -> Vec<Item> {
    frames
        .into_iter()
        .map(|(shard, chunk)| {
            let heads = s.heads(shard).expect("heads");
            (shard, chunk, heads)
        })
        .collect()
}

fn changes(items: &[Item]) -> Vec<RemoteChange<'_>> {
    items
        .iter()
        .map(|(shard, chunk, heads)| RemoteChange {
            shard: *shard,
            chunk,
            heads,
        })
        .collect()
}

#[test]
fn a_batch_applies_like_its_chunks_one_by_one_and_is_durable() {
    let (da, db, dc) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, _) = Store::open(da.path(), opts()).expect("open");
    let (b, _) = Store::open(db.path(), opts()).expect("open");
    let (c, _) = Store::open(dc.path(), opts()).expect("open");
    // Two write batches: the second rewrites some systems of the first (a dependency within
    // one gossip message when both are carried together).
    let mut items = {
        let recs: Vec<Record> = (0..40).map(|i| system(i, "first")).collect();
        let frames = a.put_batch(&recs).expect("put");
        with_heads(&a, frames)
    };
    let recs: Vec<Record> = (0..10).map(|i| system(i, "second")).collect();
    let frames = a.put_batch(&recs).expect("put");
    items.extend(with_heads(&a, frames));
    let mut events = b.subscribe();
    let done = b.apply_remote_batch(&changes(&items)).expect("batch");
    assert!(done.incomplete.is_empty(), "{:?}", done.incomplete);
    assert!(done.refused.is_none());
    assert!(done.changed > 0);
    for (shard, chunk, heads) in &items {
        c.apply_remote(*shard, chunk, heads).expect("one by one");
    }
    assert_eq!(contents(&a), contents(&b));
    assert_eq!(contents(&b), contents(&c));
    assert_eq!(a.digest(), b.digest());
    // One change event for the whole batch, naming every system written.
    let ev = events.try_recv().expect("an event");
    assert!(ev.remote);
    let mut keys = ev.keys.clone();
    keys.sort();
    keys.dedup();
    assert!(keys.len() >= 40, "{keys:?}");
    // Durable: a reopened replica holds it all.
    drop(b);
    let (b, _) = Store::open(db.path(), opts()).expect("reopen");
    assert_eq!(contents(&a), contents(&b));
}

#[test]
fn a_refused_chunk_spoils_only_its_shard_and_a_missing_dependency_asks_for_a_pull() {
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, _) = Store::open(da.path(), opts()).expect("open");
    let (b, _) = Store::open(db.path(), opts()).expect("open");
    let recs: Vec<Record> = (0..20).map(|i| system(i, "x")).collect();
    let mut items = with_heads(&a, a.put_batch(&recs).expect("put"));
    assert!(items.len() > 2, "several shards");
    // Garbage in the first shard's chunk.
    let bad = items[0].0;
    items[0].1 = b"not automerge".to_vec();
    let done = b.apply_remote_batch(&changes(&items)).expect("batch");
    assert!(done.refused.is_some(), "the garbage is reported");
    assert_eq!(done.incomplete, vec![bad], "only its shard is to be pulled");
    let held = contents(&b).len();
    assert!(held > 0 && held < 20, "the other shards applied: {held}");
    // A later write whose chunk depends on one b lacks: incomplete, not an error.
    let recs: Vec<Record> = (0..20).map(|i| system(i, "y")).collect();
    let later = with_heads(&a, a.put_batch(&recs).expect("put"));
    let done = b.apply_remote_batch(&changes(&later)).expect("batch");
    assert!(done.incomplete.contains(&bad), "{:?}", done.incomplete);
    // The pull the caller then runs brings the rest.
    let shards: Vec<u32> = (0..a.shard_count()).collect();
    let (mut sa, mut sb) = (SyncSession::new(), SyncSession::new());
    for _ in 0..64 {
        let to_b = a.sync_generate(&mut sa, &shards).expect("generate a");
        b.sync_receive(&mut sb, &to_b).expect("receive b");
        let to_a = b.sync_generate(&mut sb, &shards).expect("generate b");
        a.sync_receive(&mut sa, &to_a).expect("receive a");
        if to_b.is_empty() && to_a.is_empty() {
            break;
        }
    }
    assert_eq!(contents(&a), contents(&b));
    // Out-of-range shards and an announcement without a chunk.
    let heads = a.heads(0).expect("heads");
    let odd = [
        RemoteChange {
            shard: 99,
            chunk: b"",
            heads: &[],
        },
        RemoteChange {
            shard: 0,
            chunk: b"",
            heads: &heads,
        },
    ];
    let done = b.apply_remote_batch(&odd).expect("batch");
    assert!(done.refused.is_some(), "no such shard");
    assert!(
        done.incomplete.is_empty(),
        "shard 0's heads are already here"
    );
}

/// Keys a broadcast changed on the receiver. The receiver's diff is indexed (it follows
/// what the merge touched, not the whole document: issue 17), so it must still report every
/// key that changed, a concurrent value that wins by the record rule but loses by automerge's
/// op order included, and nothing else: on a document that already holds many systems, by
/// one chunk and by a batch.
#[test]
fn a_merge_reports_exactly_the_keys_it_changed_in_a_large_document() {
    for batch in [false, true] {
        let (da, db) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let one = StoreOptions {
            shard_count: 1,
            ..StoreOptions::default()
        };
        let (a, _) = Store::open(da.path(), one.clone()).expect("open");
        let (b, _) = Store::open(db.path(), one).expect("open");
        let recs: Vec<Record> = (0..300).map(|i| system(i, "m")).collect();
        let frames = a.put_batch(&recs).expect("put");
        let items = with_heads(&a, frames);
        b.apply_remote_batch(&changes(&items)).expect("first");
        // Concurrent rewrites of fp7: a's is later (wins by updated_at) whatever automerge's
        // order says; b also writes fp8, which a does not touch.
        let fp7 = ["fp7".to_string()];
        let (fa, _) = a
            .update_systems(&fp7, |s| {
                s.node = Some("na".into());
                s.updated_at = 100;
                true
            })
            .expect("a");
        b.update_systems(&fp7, |s| {
            s.node = Some("nb".into());
            s.updated_at = 50;
            true
        })
        .expect("b");
        b.update_systems(&["fp8".to_string()], |s| {
            s.node = Some("nb".into());
            true
        })
        .expect("b8");
        let recs: Vec<Record> = (20..23).map(|i| system(i, "again")).collect();
        let mut fa = fa;
        fa.extend(a.put_batch(&recs).expect("put"));
        let items = with_heads(&a, fa);
        let mut events = b.subscribe();
        if batch {
            let done = b.apply_remote_batch(&changes(&items)).expect("batch");
            assert!(done.incomplete.is_empty());
        } else {
            // Heads were read after both writes: complete once the last chunk is in.
            let mut complete = false;
            for (shard, chunk, heads) in &items {
                complete = b.apply_remote(*shard, chunk, heads).expect("apply");
            }
            assert!(complete);
        }
        let mut keys = Vec::new();
        while let Ok(ev) = events.try_recv() {
            assert!(ev.remote);
            keys.extend(ev.keys);
        }
        keys.sort();
        keys.dedup();
        let want: Vec<String> = ["fp20", "fp21", "fp22", "fp7"]
            .iter()
            .map(|f| crdt_store::system_key(f))
            .collect();
        assert_eq!(keys, want, "batch {batch}");
        let got = b.get_system("fp7").expect("read").expect("fp7");
        assert_eq!(got.node.as_deref(), Some("na"));
        // Local writes after the merge are not slowed or confused by a leftover index.
        b.update_systems(&["fp9".to_string()], |s| {
            s.node = Some("n9".into());
            true
        })
        .expect("b9");
        assert_eq!(
            b.get_system("fp9")
                .expect("r")
                .expect("fp9")
                .node
                .as_deref(),
            Some("n9")
        );
    }
}
