//! Property tests of the CRDT layer: random writes on random replicas, merged pairwise in any
//! order (with restarts from disk in between), always end in the same state with no write lost.

use std::collections::{BTreeMap, BTreeSet};

use crdt_store::{
    Record, Store, StoreOptions, SyncSession, SystemFilter, SystemRecord, SystemStatus,
};
use proptest::prelude::*;

const REPLICAS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Put { replica: usize, key: u8, value: u8 },
    Sync { a: usize, b: usize },
    Reopen { replica: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..REPLICAS, 0u8..12, 0u8..6).prop_map(|(replica, key, value)| Op::Put { replica, key, value }),
        2 => (0..REPLICAS, 0..REPLICAS).prop_map(|(a, b)| Op::Sync { a, b }),
        1 => (0..REPLICAS).prop_map(|replica| Op::Reopen { replica }),
    ]
}

fn system(key: u8, value: u8) -> Record {
    Record::System(SystemRecord::new(format!("fp{key}"), format!("v{value}"), 0).with_hostname(""))
}

fn opts() -> StoreOptions {
    StoreOptions {
        shard_count: 4,
        ..StoreOptions::default()
    }
}

/// Run the sync protocol between two stores until neither has anything to say.
fn sync_pair(a: &Store, b: &Store) {
    let shards: Vec<u32> = (0..a.shard_count()).collect();
    let (mut sa, mut sb) = (SyncSession::new(), SyncSession::new());
    for _ in 0..64 {
        let to_b = a.sync_generate(&mut sa, &shards).expect("generate a");
        b.sync_receive(&mut sb, &to_b).expect("receive b");
        let to_a = b.sync_generate(&mut sb, &shards).expect("generate b");
        a.sync_receive(&mut sa, &to_a).expect("receive a");
        if to_b.is_empty() && to_a.is_empty() {
            return;
        }
    }
    panic!("sync did not terminate");
}

fn contents(s: &Store) -> BTreeMap<String, String> {
    s.systems(&SystemFilter::default())
        .into_iter()
        .map(|r| (r.fingerprint, r.minion_id))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_in_any_merge_order(
        ops in proptest::collection::vec(op(), 1..40),
        order in Just((0..REPLICAS).flat_map(|a| (0..REPLICAS).map(move |b| (a, b))).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let dirs: Vec<tempfile::TempDir> = (0..REPLICAS).map(|_| tempfile::tempdir().expect("dir")).collect();
        let mut stores: Vec<Store> = dirs.iter().map(|d| Store::open(d.path(), opts()).expect("open").0).collect();
        let mut written: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for op in &ops {
            match *op {
                Op::Put { replica, key, value } => {
                    stores[replica].put(&system(key, value)).expect("put");
                    written.entry(format!("fp{key}")).or_default().insert(format!("v{value}"));
                }
                Op::Sync { a, b } if a != b => sync_pair(&stores[a], &stores[b]),
                Op::Sync { .. } => {}
                Op::Reopen { replica } => {
                    let dir = stores[replica].dir().to_path_buf();
                    let before = contents(&stores[replica]);
                    stores[replica] = Store::open(&dir, opts()).expect("reopen").0;
                    prop_assert_eq!(contents(&stores[replica]), before, "reopen lost data");
                }
            }
        }
        // Merge in the shuffled pair order, twice over (gossip reaches everyone eventually).
        for _ in 0..2 {
            for &(a, b) in &order {
                if a != b {
                    sync_pair(&stores[a], &stores[b]);
                }
            }
        }
        let first = contents(&stores[0]);
        for s in &stores[1..] {
            prop_assert_eq!(&contents(s), &first);
            prop_assert_eq!(s.digest(), stores[0].digest());
        }
        // No write lost: every key written exists, with one of the values written to it.
        prop_assert_eq!(first.len(), written.len());
        for (k, v) in &first {
            prop_assert!(written[k].contains(v), "{} = {} was never written", k, v);
        }
    }
}

#[test]
fn broadcast_chunks_out_of_order_then_sync_converge() {
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, _) = Store::open(da.path(), opts()).expect("open");
    let (b, _) = Store::open(db.path(), opts()).expect("open");
    // Three successive writes to one key: chunks 2 and 3 depend on 1.
    let chunks: Vec<(u32, Vec<u8>)> = (0..3)
        .flat_map(|v| a.put(&system(1, v)).expect("put"))
        .collect();
    let (shard, _) = chunks[0];
    let heads = a.heads(shard).expect("heads");
    // Deliver the last chunk first: the dependency is missing, so it is incomplete.
    let complete = b.apply_remote(shard, &chunks[2].1, &heads).expect("apply");
    assert!(!complete, "a missing dependency is reported");
    sync_pair(&a, &b);
    assert_eq!(contents(&a), contents(&b));
    assert_eq!(a.digest(), b.digest());
    assert_eq!(contents(&b)["fp1"], "v2");
}

#[test]
fn sync_rejects_garbage_with_a_typed_error() {
    let d = tempfile::tempdir().expect("dir");
    let (s, _) = Store::open(d.path(), opts()).expect("open");
    let mut sess = SyncSession::new();
    let err = s
        .sync_receive(&mut sess, &[(0, b"\x42garbage".to_vec())])
        .expect_err("garbage");
    assert!(err.to_string().contains("shard 0"), "{err}");
    let err = s
        .sync_receive(&mut sess, &[(99, Vec::new())])
        .expect_err("no such shard");
    assert!(
        err.to_string().contains("no such shard") || err.to_string().contains("malformed"),
        "{err}"
    );
    assert!(s.apply_remote(0, b"not automerge", &[]).is_err());
}

#[test]
fn corrupt_snapshot_is_quarantined_not_fatal() {
    let d = tempfile::tempdir().expect("dir");
    {
        let (s, _) = Store::open(d.path(), opts()).expect("open");
        for k in 0..10 {
            s.put(&system(k, 0)).expect("put");
        }
        s.compact().expect("compact");
    }
    let snap = std::fs::read_dir(d.path().join("shards"))
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "snap"))
        .expect("a snapshot");
    std::fs::write(&snap, b"UCSNAP01truncated").expect("corrupt");
    let (s, report) = Store::open(d.path(), opts()).expect("open despite corruption");
    assert_eq!(report.damaged_shards.len(), 1, "{report:?}");
    assert!(report.issues[0].contains("corrupt snapshot"), "{report:?}");
    assert_eq!(s.stats().damaged_shards.len(), 1);
    assert!(
        contents(&s).len() < 10,
        "the damaged shard's records are gone locally"
    );
    // A truncated metadata file is a clear error, not a panic.
    std::fs::write(d.path().join("store.json"), b"{").expect("corrupt meta");
    drop(s);
    let err = Store::open(d.path(), opts()).expect_err("bad meta");
    assert!(err.to_string().contains("store.json"), "{err}");
}

#[test]
fn change_subscription_reports_local_and_remote_keys() {
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, _) = Store::open(da.path(), opts()).expect("open");
    let (b, _) = Store::open(db.path(), opts()).expect("open");
    let mut la = a.subscribe();
    let mut lb = b.subscribe();
    a.put_batch(&[system(1, 0), system(2, 0)]).expect("put");
    let ev = la.try_recv().expect("local event");
    assert!(!ev.remote);
    let mut keys = ev.keys.clone();
    keys.sort();
    assert_eq!(
        keys,
        vec![crdt_store::system_key("fp1"), crdt_store::system_key("fp2")]
    );
    // Writing the same value again changes nothing and says nothing.
    a.put(&system(1, 0)).expect("put");
    assert!(la.try_recv().is_err());
    sync_pair(&a, &b);
    let mut remote = Vec::new();
    while let Ok(ev) = lb.try_recv() {
        assert!(ev.remote);
        remote.extend(ev.keys);
    }
    remote.sort();
    assert_eq!(
        remote,
        vec![crdt_store::system_key("fp1"), crdt_store::system_key("fp2")]
    );
}

/// A concurrent value that loses by automerge's op order but wins by the record rule (here:
/// the later `updated_at`) changes what readers see, so both replicas report the key — found
/// by the partition schedules (issue 17): automerge reports such a merge as a conflict only,
/// and the Load Driver's index never heard of a remap merged that way.
#[test]
fn a_merged_value_that_wins_by_the_record_rule_is_reported_on_both_sides() {
    for round in 0..8u64 {
        let (da, db) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let (a, _) = Store::open(da.path(), opts()).expect("open");
        let (b, _) = Store::open(db.path(), opts()).expect("open");
        let base = SystemRecord::new("fpx", "m", 1);
        a.put(&Record::System(base.clone())).expect("put");
        sync_pair(&a, &b);
        let (mut la, mut lb) = (a.subscribe(), b.subscribe());
        // Concurrent: a moves it with the later time, b with the earlier one.
        let fps = ["fpx".to_string()];
        a.update_systems(&fps, |s| {
            s.node = Some("na".into());
            s.updated_at = 100 + round;
            true
        })
        .expect("a");
        b.update_systems(&fps, |s| {
            s.node = Some("nb".into());
            s.updated_at = 50;
            true
        })
        .expect("b");
        while la.try_recv().is_ok() {}
        while lb.try_recv().is_ok() {}
        sync_pair(&a, &b);
        for (store, events) in [(&a, &mut la), (&b, &mut lb)] {
            let got = store.get_system("fpx").expect("read").expect("exists");
            assert_eq!(got.node.as_deref(), Some("na"), "the later write wins");
            let mut keys = Vec::new();
            while let Ok(ev) = events.try_recv() {
                keys.extend(ev.keys);
            }
            if got.node.as_deref() == Some("na") && store.dir() == b.dir() {
                assert!(
                    keys.contains(&crdt_store::system_key("fpx")),
                    "b now shows a's value: the key is reported ({keys:?})"
                );
            }
        }
    }
}

#[test]
fn queries_filter_by_status_node_zone_tags_and_groups() {
    let d = tempfile::tempdir().expect("dir");
    let (s, _) = Store::open(d.path(), opts()).expect("open");
    let mut recs = Vec::new();
    for i in 0..20u8 {
        let Record::System(mut r) = system(i, 0) else {
            unreachable!()
        };
        r.status = if i % 2 == 0 {
            SystemStatus::Onboarded
        } else {
            SystemStatus::New
        };
        r.node = Some(format!("node{}", i % 4));
        r.zone = Some(format!("zone{}", i % 2));
        if i % 5 == 0 {
            r.tags.insert("db".into());
        }
        if i % 3 == 0 {
            r.groups.insert("prod".into());
            r.tags.insert("web".into());
        }
        recs.push(Record::System(r));
    }
    s.put_batch(&recs).expect("put");
    let count = |f: SystemFilter| s.systems(&f).len();
    assert_eq!(count(SystemFilter::default()), 20);
    assert_eq!(
        count(SystemFilter {
            status: Some(SystemStatus::New),
            ..Default::default()
        }),
        10
    );
    assert_eq!(
        count(SystemFilter {
            node: Some("node1".into()),
            ..Default::default()
        }),
        5
    );
    assert_eq!(
        count(SystemFilter {
            zone: Some("zone0".into()),
            ..Default::default()
        }),
        10
    );
    assert_eq!(
        count(SystemFilter {
            tags: vec!["db".into()],
            ..Default::default()
        }),
        4
    );
    assert_eq!(
        count(SystemFilter {
            tags: vec!["db".into(), "web".into()],
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        count(SystemFilter {
            groups: vec!["prod".into()],
            ..Default::default()
        }),
        7
    );
    assert_eq!(
        count(SystemFilter {
            limit: Some(3),
            ..Default::default()
        }),
        3
    );
    assert_eq!(
        s.get_system("fp7").expect("get").map(|r| r.minion_id),
        Some("v0".into())
    );
    assert_eq!(s.get_system("nope").expect("get"), None);
}

/// A sync batch with one good and one garbage message must not leave the good one applied in
/// memory but missing from the log (later local writes depend on it).
#[test]
fn failed_sync_batch_loses_nothing_across_a_restart() {
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, _) = Store::open(da.path(), opts()).expect("open");
    a.put(&system(1, 1)).expect("put");
    let shard = crdt_store::shard_of(&crdt_store::system_key("fp1"), 4);
    {
        let (b, _) = Store::open(db.path(), opts()).expect("open");
        // a's opening message, then what b answers, then a's changes: a real exchange.
        let (mut sa, mut sb) = (SyncSession::new(), SyncSession::new());
        let m1 = a.sync_generate(&mut sa, &[shard]).expect("gen");
        b.sync_receive(&mut sb, &m1).expect("recv");
        let m2 = b.sync_generate(&mut sb, &[shard]).expect("gen");
        a.sync_receive(&mut sa, &m2).expect("recv");
        let mut m3 = a.sync_generate(&mut sa, &[shard]).expect("gen");
        m3.push(((shard + 1) % 4, b"\x42garbage".to_vec()));
        assert!(b.sync_receive(&mut sb, &m3).is_err());
        // Whatever happened, b keeps taking local writes...
        b.put(&system(2, 2)).expect("local put");
    }
    // ...and after a restart everything it acknowledged is there.
    let (b, report) = Store::open(db.path(), opts()).expect("reopen");
    assert!(report.damaged_shards.is_empty(), "{report:?}");
    assert_eq!(contents(&b).get("fp2").map(String::as_str), Some("v2"));
    sync_pair(&a, &b);
    assert_eq!(contents(&a), contents(&b));
}

/// Segments left by earlier runs count towards compaction, so a crash loop cannot grow the log
/// without bound.
#[test]
fn wal_left_by_earlier_runs_counts_for_compaction() {
    let d = tempfile::tempdir().expect("dir");
    let small = StoreOptions {
        shard_count: 4,
        compact_wal_bytes: 2000,
        ..StoreOptions::default()
    };
    for round in 0..4u8 {
        let (s, _) = Store::open(d.path(), small.clone()).expect("open");
        for k in 0..5 {
            s.put(&system(k, round)).expect("put");
        }
    }
    let (s, report) = Store::open(d.path(), small).expect("open");
    assert!(report.wal_frames >= 20);
    assert!(s.needs_compaction(), "{:?}", s.stats());
    s.compact().expect("compact");
    assert!(!s.needs_compaction());
    assert_eq!(s.stats().wal_bytes, 0);
    let before = contents(&s);
    drop(s);
    let (s, report) = Store::open(d.path(), opts()).expect("reopen");
    assert_eq!(report.wal_frames, 0);
    assert_eq!(contents(&s), before);
}

/// Readers (stats, digests, queries), local writers and sync receivers at once: no deadlock.
#[test]
fn concurrent_readers_writers_and_sync_do_not_deadlock() {
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, _) = Store::open(da.path(), opts()).expect("open");
    let (b, _) = Store::open(db.path(), opts()).expect("open");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let workers: Vec<std::thread::JoinHandle<()>> = (0..4)
        .map(|t| {
            let (a, b, done) = (a.clone(), b.clone(), done_tx.clone());
            std::thread::spawn(move || {
                for i in 0..60u8 {
                    match t {
                        0 => {
                            a.put(&system(i % 12, i)).expect("put a");
                        }
                        1 => {
                            b.put(&system(i % 12 + 20, i)).expect("put b");
                        }
                        2 => sync_pair(&a, &b),
                        _ => {
                            let _ = (
                                a.stats(),
                                b.stats(),
                                a.digest(),
                                b.systems(&SystemFilter::default()),
                            );
                            a.compact().expect("compact");
                        }
                    }
                }
                let _ = done.send(());
            })
        })
        .collect();
    for _ in 0..4 {
        done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a worker is stuck: deadlock");
    }
    for w in workers {
        w.join().expect("worker");
    }
    sync_pair(&a, &b);
    assert_eq!(contents(&a), contents(&b));
}

#[test]
fn concurrent_writes_resolve_by_record_rules_the_same_everywhere() {
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, _) = Store::open(da.path(), opts()).expect("open a");
    let (b, _) = Store::open(db.path(), opts()).expect("open b");
    a.put(&system(1, 0)).expect("seed");
    a.put(&system(2, 0)).expect("seed");
    sync_pair(&a, &b);
    let edit = |s: &Store, key: u8, f: &dyn Fn(&mut SystemRecord)| {
        let mut r = s
            .get_system(&format!("fp{key}"))
            .expect("get")
            .expect("present");
        f(&mut r);
        s.put(&Record::System(r)).expect("put");
    };
    // fp1: a ban (older clock) races a placement (newer clock): the ban must win on both.
    edit(&a, 1, &|r| {
        r.banned = true;
        r.status = SystemStatus::Deleted;
        r.updated_at = 10;
    });
    edit(&b, 1, &|r| {
        r.status = SystemStatus::Onboarded;
        r.node = Some("n1".into());
        r.updated_at = 20;
    });
    // fp2: two placements: the later one wins on both, whatever automerge's op order.
    edit(&a, 2, &|r| {
        r.node = Some("late".into());
        r.updated_at = 30;
    });
    edit(&b, 2, &|r| {
        r.node = Some("early".into());
        r.updated_at = 25;
    });
    sync_pair(&a, &b);
    for s in [&a, &b] {
        let one = s.get_system("fp1").expect("get").expect("present");
        assert!(one.banned, "ban lost: {one:?}");
        let two = s.get_system("fp2").expect("get").expect("present");
        assert_eq!(two.node.as_deref(), Some("late"));
        // Scans resolve the same way as point reads.
        let listed = s.systems(&SystemFilter::default());
        let one_listed = listed
            .iter()
            .find(|r| r.fingerprint == "fp1")
            .expect("listed");
        assert!(one_listed.banned);
    }
}

#[test]
fn update_systems_rewrites_only_what_the_closure_changes_and_reports_it() {
    let d = tempfile::tempdir().expect("dir");
    let (s, _) = Store::open(d.path(), opts()).expect("open");
    s.put_batch(&[system(1, 0), system(2, 0), system(3, 0)])
        .expect("put");
    let mut rx = s.subscribe();
    let fps: Vec<String> = ["fp1", "fp2", "fp3", "missing"]
        .iter()
        .map(|f| f.to_string())
        .collect();
    let (frames, n) = s
        .update_systems(&fps, |r| {
            if r.fingerprint == "fp2" {
                return false;
            }
            r.node = Some("n1".into());
            true
        })
        .expect("update");
    assert_eq!(n, 2);
    assert!(!frames.is_empty());
    let ev = rx.try_recv().expect("one change event");
    assert_eq!(ev.keys.len(), 2);
    let node = |fp: &str| s.get_system(fp).expect("get").expect("present").node;
    assert_eq!(node("fp1").as_deref(), Some("n1"));
    assert_eq!(node("fp2"), None);
    assert_eq!(node("fp3").as_deref(), Some("n1"));
    // Durable: a reopened store has the update.
    drop(s);
    let (s, _) = Store::open(d.path(), opts()).expect("reopen");
    assert_eq!(
        s.get_system("fp3")
            .expect("get")
            .expect("present")
            .node
            .as_deref(),
        Some("n1")
    );
}
