//! Property tests of a system's merge rules (issue 17): tags and groups are add-wins sets,
//! status and node follow the record's rule (a ban, then a deletion, then the later
//! `updated_at`). Three replicas take random concurrent edits of the same systems and merge
//! pairwise in random orders (with restarts from disk in between); a model that tracks which
//! adds and removes each replica has seen says what every replica must show, after every step
//! and at the end.

use std::collections::{BTreeMap, BTreeSet};

use crdt_store::{
    Record, Store, StoreOptions, SyncSession, SystemFilter, SystemRecord, SystemStatus,
};
use proptest::prelude::*;

const REPLICAS: usize = 3;
const SYSTEMS: u8 = 2;

#[derive(Debug, Clone)]
enum Edit {
    /// Add tag (`group`: a group) number `e`.
    Add { group: bool, e: u8 },
    /// Remove it.
    Remove { group: bool, e: u8 },
    /// The Load Driver moves the system to node `n`.
    Remap { n: u8 },
    /// An operator sets the status (0 orphan, 1 deleted, 2 onboarded on its node).
    Status { s: u8 },
    /// An operator bans the system.
    Ban,
}

#[derive(Debug, Clone)]
enum Op {
    Edit {
        replica: usize,
        system: u8,
        edit: Edit,
    },
    Sync {
        a: usize,
        b: usize,
    },
    Reopen {
        replica: usize,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<bool>(), 0u8..4).prop_map(|(group, e)| Edit::Add { group, e }),
        4 => (any::<bool>(), 0u8..4).prop_map(|(group, e)| Edit::Remove { group, e }),
        2 => (0u8..3).prop_map(|n| Edit::Remap { n }),
        2 => (0u8..3).prop_map(|s| Edit::Status { s }),
        1 => Just(Edit::Ban),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..REPLICAS, 0..SYSTEMS, edit()).prop_map(|(replica, system, edit)| Op::Edit { replica, system, edit }),
        3 => (0..REPLICAS, 0..REPLICAS).prop_map(|(a, b)| Op::Sync { a, b }),
        1 => (0..REPLICAS).prop_map(|replica| Op::Reopen { replica }),
    ]
}

fn opts() -> StoreOptions {
    StoreOptions {
        shard_count: 2,
        ..StoreOptions::default()
    }
}

fn fp(system: u8) -> String {
    format!("aa:b{system}")
}

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

/// One write of a record's value as the model sees it.
#[derive(Debug, Clone)]
struct ValueWrite {
    /// (banned, deleted, updated_at): the record's rule, highest wins.
    rank: (bool, bool, u64),
    status: SystemStatus,
    node: Option<String>,
    banned: bool,
    /// The value writes this one replaced (seen by its writer).
    covers: BTreeSet<usize>,
}

/// What one replica has seen: adds (by id), which of them were removed, value writes.
#[derive(Debug, Clone, Default)]
struct Seen {
    adds: BTreeSet<usize>,
    removed: BTreeSet<usize>,
    values: BTreeSet<usize>,
}

impl Seen {
    fn merge(&mut self, other: &Seen) {
        self.adds.extend(&other.adds);
        self.removed.extend(&other.removed);
        self.values.extend(&other.values);
    }
}

#[derive(Debug, Default)]
struct Model {
    /// Add events: (system, group?, element).
    adds: Vec<(u8, bool, u8)>,
    values: Vec<(u8, ValueWrite)>,
    seen: Vec<Seen>,
}

impl Model {
    /// The elements present for `system` to a replica that has seen `seen`: those with an
    /// add it has seen and not seen removed.
    fn elements(&self, seen: &Seen, system: u8, group: bool) -> BTreeSet<String> {
        seen.adds
            .iter()
            .filter(|id| !seen.removed.contains(id))
            .map(|&id| self.adds[id])
            .filter(|&(s, g, _)| s == system && g == group)
            .map(|(_, _, e)| element(group, e))
            .collect()
    }

    /// The value writes `seen` holds that no other one it holds replaced, for `system`, with
    /// the highest rank: the record must show one of them.
    fn winners(&self, seen: &Seen, system: u8) -> Vec<&ValueWrite> {
        let mine: Vec<usize> = seen
            .values
            .iter()
            .copied()
            .filter(|&id| self.values[id].0 == system)
            .collect();
        let heads: Vec<&ValueWrite> = mine
            .iter()
            .filter(|&&id| !mine.iter().any(|&o| self.values[o].1.covers.contains(&id)))
            .map(|&id| &self.values[id].1)
            .collect();
        let best = heads.iter().map(|v| v.rank).max();
        heads.into_iter().filter(|v| Some(v.rank) == best).collect()
    }
}

fn element(group: bool, e: u8) -> String {
    if group {
        format!("grp{e}")
    } else {
        format!("tag{e}")
    }
}

/// The record on `store` agrees with what the model says a replica that saw `seen` shows.
fn check(model: &Model, seen: &Seen, store: &Store, system: u8) -> Result<(), TestCaseError> {
    let rec = store
        .get_system(&fp(system))
        .expect("read")
        .expect("the system exists");
    prop_assert_eq!(
        &rec.tags,
        &model.elements(seen, system, false),
        "tags of {}",
        system
    );
    prop_assert_eq!(
        &rec.groups,
        &model.elements(seen, system, true),
        "groups of {}",
        system
    );
    let winners = model.winners(seen, system);
    prop_assert!(
        winners
            .iter()
            .any(|w| w.status == rec.status && w.node == rec.node && w.banned == rec.banned),
        "status/node of {}: {:?} {:?} banned={} is none of the winners {:?}",
        system,
        rec.status,
        rec.node,
        rec.banned,
        winners
    );
    Ok(())
}

fn contents(s: &Store) -> Vec<SystemRecord> {
    s.systems(&SystemFilter::default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn tags_and_groups_are_add_wins_and_status_follows_the_record_rule(
        ops in proptest::collection::vec(op(), 1..45),
        order in Just((0..REPLICAS).flat_map(|a| (0..REPLICAS).map(move |b| (a, b))).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let dirs: Vec<tempfile::TempDir> = (0..REPLICAS).map(|_| tempfile::tempdir().expect("dir")).collect();
        let mut stores: Vec<Store> = dirs.iter().map(|d| Store::open(d.path(), opts()).expect("open").0).collect();
        let mut model = Model { seen: vec![Seen::default(); REPLICAS], ..Model::default() };
        // Every system starts onboarded on n0 with tag0, written on replica 0 and known to all.
        for system in 0..SYSTEMS {
            let rec = SystemRecord::new(fp(system), format!("m{system}"), 1)
                .with_status(SystemStatus::Onboarded)
                .with_node(Some("n0"))
                .with_tags(["tag0"]);
            stores[0].put(&Record::System(rec)).expect("put");
            model.adds.push((system, false, 0));
            model.values.push((system, ValueWrite {
                rank: (false, false, 1),
                status: SystemStatus::Onboarded,
                node: Some("n0".into()),
                banned: false,
                covers: BTreeSet::new(),
            }));
        }
        for r in 0..REPLICAS {
            model.seen[r].adds.extend(0..model.adds.len());
            model.seen[r].values.extend(0..model.values.len());
            if r > 0 {
                sync_pair(&stores[0], &stores[r]);
            }
        }
        let mut clock = 10u64;
        for op in &ops {
            clock += 1;
            match op {
                Op::Edit { replica, system, edit } => {
                    let (r, system) = (*replica, *system);
                    let before = store_record(&stores[r], system);
                    let mut new_value = None;
                    let mut rec = before.clone();
                    match edit {
                        Edit::Add { group, e } => {
                            let set = if *group { &mut rec.groups } else { &mut rec.tags };
                            if set.insert(element(*group, *e)) {
                                let id = model.adds.len();
                                model.adds.push((system, *group, *e));
                                model.seen[r].adds.insert(id);
                            }
                        }
                        Edit::Remove { group, e } => {
                            let set = if *group { &mut rec.groups } else { &mut rec.tags };
                            if set.remove(&element(*group, *e)) {
                                let gone: Vec<usize> = model.seen[r].adds.iter().copied()
                                    .filter(|&id| model.adds[id] == (system, *group, *e))
                                    .collect();
                                model.seen[r].removed.extend(gone);
                            }
                        }
                        Edit::Remap { n } => {
                            rec.status = SystemStatus::Onboarded;
                            rec.node = Some(format!("n{n}"));
                            new_value = Some(());
                        }
                        Edit::Status { s } => {
                            match s {
                                0 => { rec.status = SystemStatus::Orphan; rec.node = None; }
                                1 => { rec.status = SystemStatus::Deleted; rec.node = None; }
                                _ => { rec.status = SystemStatus::Onboarded; rec.node = Some("n0".into()); }
                            }
                            new_value = Some(());
                        }
                        Edit::Ban => {
                            rec.banned = true;
                            rec.status = SystemStatus::Deleted;
                            rec.node = None;
                            new_value = Some(());
                        }
                    }
                    if rec == before {
                        // Nothing to do (a caller writes only what changed).
                        continue;
                    }
                    rec.updated_at = clock.max(rec.updated_at + 1);
                    // A change of the value (even to what it was: `updated_at` moves) is a
                    // new value write; a sets-only change keeps the value's rank and fields.
                    if new_value.is_some() {
                        let id = model.values.len();
                        model.values.push((system, ValueWrite {
                            rank: (rec.banned, rec.status == SystemStatus::Deleted, rec.updated_at),
                            status: rec.status,
                            node: rec.node.clone(),
                            banned: rec.banned,
                            covers: model.seen[r].values.clone(),
                        }));
                        model.seen[r].values.insert(id);
                    }
                    let target = rec.clone();
                    stores[r].update_systems(&[fp(system)], |stored| {
                        *stored = target.clone();
                        true
                    }).expect("update");
                    check(&model, &model.seen[r], &stores[r], system)?;
                }
                Op::Sync { a, b } if a != b => {
                    sync_pair(&stores[*a], &stores[*b]);
                    let merged = { let mut m = model.seen[*a].clone(); m.merge(&model.seen[*b]); m };
                    model.seen[*a] = merged.clone();
                    model.seen[*b] = merged;
                    for system in 0..SYSTEMS {
                        check(&model, &model.seen[*a], &stores[*a], system)?;
                        check(&model, &model.seen[*b], &stores[*b], system)?;
                    }
                }
                Op::Sync { .. } => {}
                Op::Reopen { replica } => {
                    let dir = stores[*replica].dir().to_path_buf();
                    let before = contents(&stores[*replica]);
                    stores[*replica] = Store::open(&dir, opts()).expect("reopen").0;
                    prop_assert_eq!(contents(&stores[*replica]), before, "reopen changed the records");
                }
            }
        }
        for _ in 0..2 {
            for &(a, b) in &order {
                if a != b {
                    sync_pair(&stores[a], &stores[b]);
                }
            }
        }
        let mut all = Seen::default();
        for s in &model.seen {
            all.merge(s);
        }
        let first = contents(&stores[0]);
        for s in &stores {
            prop_assert_eq!(&contents(s), &first, "replicas converge");
            prop_assert_eq!(s.digest(), stores[0].digest());
            for system in 0..SYSTEMS {
                check(&model, &all, s, system)?;
            }
        }
    }
}

fn store_record(store: &Store, system: u8) -> SystemRecord {
    store
        .get_system(&fp(system))
        .expect("read")
        .expect("the system exists")
}

/// Records written before this version (tags only in the value, as version 1 and every
/// version before issue 17 wrote them) read back unchanged from the WAL and from snapshots,
/// are converted by the first change of their tags, and stay readable to an older peer (the
/// value's mirror), which syncs with a new one both ways.
#[test]
fn records_of_older_versions_read_convert_and_stay_readable() {
    let old_dir = tempfile::tempdir().expect("dir");
    let legacy = StoreOptions {
        legacy_v1: true,
        ..opts()
    };
    let rec = SystemRecord::new("aa:01", "m1", 1)
        .with_status(SystemStatus::Onboarded)
        .with_node(Some("n1"))
        .with_tags(["db", "web"])
        .with_groups(["g1"]);
    {
        let (old, _) = Store::open(old_dir.path(), legacy.clone()).expect("open");
        old.put(&Record::System(rec.clone())).expect("put");
        old.put(&Record::System(
            SystemRecord::new("aa:02", "m2", 1).with_tags(["x"]),
        ))
        .expect("put");
    }
    // This version opens the old store: the WAL replays, the old value reads as it was.
    let (new, report) = Store::open(old_dir.path(), opts()).expect("reopen");
    assert!(report.wal_frames >= 2, "{report:?}");
    assert_eq!(new.get_system("aa:01").expect("read"), Some(rec.clone()));
    new.compact().expect("compact");
    let (new, _) = Store::open(old_dir.path(), opts()).expect("reopen from snapshot");
    assert_eq!(new.get_system("aa:01").expect("read"), Some(rec.clone()));
    // A status change alone converts too (member keys, `k`), keeping the sets.
    new.update_systems(&["aa:02".to_string()], |s| {
        s.status = SystemStatus::Orphan;
        s.updated_at = 5;
        true
    })
    .expect("update");
    let two = new.get_system("aa:02").expect("read").expect("exists");
    assert_eq!(two.tags, ["x".to_string()].into());
    // Remove `web`, add `app`: converted.
    new.update_systems(&["aa:01".to_string()], |s| {
        s.tags.remove("web");
        s.tags.insert("app".into());
        s.updated_at = 9;
        true
    })
    .expect("update");
    let after = new.get_system("aa:01").expect("read").expect("exists");
    let want: BTreeSet<String> = ["app", "db"].iter().map(|s| s.to_string()).collect();
    assert_eq!(after.tags, want);
    assert_eq!(after.groups, rec.groups);
    assert_eq!(
        after.updated_at, 1,
        "a conversion by a tags-only change keeps updated_at"
    );
    // An older peer (value only) syncs with this one and reads the mirror.
    let peer_dir = tempfile::tempdir().expect("dir");
    let (older, _) = Store::open(peer_dir.path(), legacy).expect("open");
    sync_pair(&new, &older);
    let key = crdt_store::system_key("aa:01");
    let Some(Record::System(seen_by_older)) = older.get(&key).expect("read") else {
        panic!("the older peer holds the system")
    };
    assert_eq!(seen_by_older.tags, want, "the mirror");
    // The older peer remaps it (its rewrite keeps `k`): the sets survive on both.
    older
        .update_systems(&["aa:01".to_string()], |s| {
            s.node = Some("n2".into());
            s.updated_at = 20;
            true
        })
        .expect("remap");
    sync_pair(&new, &older);
    let merged = new.get_system("aa:01").expect("read").expect("exists");
    assert_eq!(merged.node.as_deref(), Some("n2"));
    assert_eq!(merged.tags, want);
    // Listing sees the same as point reads.
    let listed: BTreeMap<String, SystemRecord> = new
        .systems(&SystemFilter::default())
        .into_iter()
        .map(|s| (s.fingerprint.clone(), s))
        .collect();
    assert_eq!(listed["aa:01"], merged);
    assert_eq!(
        new.systems(&SystemFilter {
            tags: vec!["app".into()],
            ..Default::default()
        })
        .len(),
        1
    );
}

/// Tags added to one system on both sides of a partition both survive, and a remap on one
/// side with a tag edit on the other keeps both (the case issue 17 found).
#[test]
fn both_sides_of_a_partition_keep_their_tags_and_the_remap() {
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, _) = Store::open(da.path(), opts()).expect("open");
    let (b, _) = Store::open(db.path(), opts()).expect("open");
    let rec = SystemRecord::new("aa:03", "m3", 1)
        .with_status(SystemStatus::Onboarded)
        .with_node(Some("n1"));
    a.put(&Record::System(rec)).expect("put");
    sync_pair(&a, &b);
    let fps = ["aa:03".to_string()];
    a.update_systems(&fps, |s| {
        s.tags.insert("left".into());
        s.updated_at = 50;
        true
    })
    .expect("tag a");
    b.update_systems(&fps, |s| {
        s.tags.insert("right".into());
        s.node = Some("n2".into());
        s.updated_at = 10;
        true
    })
    .expect("tag and remap b");
    sync_pair(&a, &b);
    for s in [&a, &b] {
        let got = s.get_system("aa:03").expect("read").expect("exists");
        assert_eq!(got.tags.len(), 2, "{:?}", got.tags);
        assert_eq!(
            got.node.as_deref(),
            Some("n2"),
            "the remap survives the later tag edit"
        );
    }
    // Concurrent remove (a) and re-add after a remove (b) of the same tag: the add wins.
    a.update_systems(&fps, |s| s.tags.remove("left"))
        .expect("remove a");
    b.update_systems(&fps, |s| s.tags.remove("left"))
        .expect("remove b");
    b.update_systems(&fps, |s| s.tags.insert("left".into()))
        .expect("re-add b");
    sync_pair(&a, &b);
    for s in [&a, &b] {
        let got = s.get_system("aa:03").expect("read").expect("exists");
        assert!(got.tags.contains("left"), "{:?}", got.tags);
    }
}
