//! Replication driven in memory: real stores, replicators wired to each other through a fake
//! [`Transport`] (a request is answered by the other replicator's `serve`; gossip is kept for
//! the test to deliver or drop). No sockets, no swarm.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crdt_store::{Record, Store, StoreOptions, ZoneRecord};
use libp2p::PeerId;

use super::*;

/// Gossip published by one replicator: `(topic, bytes)`.
type Outbox = Arc<Mutex<Vec<(&'static str, Vec<u8>)>>>;

/// The network as one replicator sees it: who it is, whom it can reach, what it published.
#[derive(Debug, Clone)]
struct MemNet {
    me: PeerId,
    peers: Arc<Mutex<HashMap<PeerId, Replicator>>>,
    published: Outbox,
}

impl Transport for MemNet {
    fn publish(&self, topic: &'static str, data: Vec<u8>) -> BoxFuture<'_, Result<(), NetError>> {
        self.published.lock().expect("lock").push((topic, data));
        Box::pin(async { Ok(()) })
    }

    fn request(&self, peer: PeerId, request: Request) -> BoxFuture<'_, Result<Response, NetError>> {
        let remote = self.peers.lock().expect("lock").get(&peer).cloned();
        let me = self.me;
        Box::pin(async move {
            match remote {
                Some(r) => Ok(r.serve(me, request).await),
                None => Err(NetError::Stopped),
            }
        })
    }
}

struct Node {
    id: PeerId,
    store: Store,
    repl: Replicator,
    published: Outbox,
    _dir: tempfile::TempDir,
}

/// `n` nodes that can all reach each other, with stores of `shards` shards.
fn cluster(n: usize, shards: &[u32]) -> Vec<Node> {
    let peers: Arc<Mutex<HashMap<PeerId, Replicator>>> = Arc::default();
    let mut out = Vec::new();
    for i in 0..n {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = StoreOptions {
            shard_count: shards.get(i).copied().unwrap_or(16),
            ..StoreOptions::default()
        };
        let (store, _) = Store::open(dir.path(), opts).expect("open");
        let id = PeerId::random();
        let net = MemNet {
            me: id,
            peers: peers.clone(),
            published: Arc::default(),
        };
        let published = net.published.clone();
        let repl = Replicator::new(store.clone(), Arc::new(net), ReplicationConfig::default());
        peers.lock().expect("lock").insert(id, repl.clone());
        out.push(Node {
            id,
            store,
            repl,
            published,
            _dir: dir,
        });
    }
    out
}

fn zone(name: &str) -> Record {
    Record::Zone(ZoneRecord {
        name: name.into(),
        created_at: 1,
    })
}

fn has(store: &Store, zone: &str) -> bool {
    matches!(store.get(&format!("z/{zone}")), Ok(Some(_)))
}

/// Take what `n` published and hand each change chunk to `to`, as the controller does.
async fn deliver(from: &Node, to: &Node) -> Vec<bool> {
    let msgs: Vec<_> = from.published.lock().expect("lock").drain(..).collect();
    let mut needs_pull = Vec::new();
    for (topic, data) in msgs {
        assert_eq!(topic, TOPIC_CHANGES);
        match Gossip::decode(&data) {
            Ok(Gossip::Change {
                shard,
                heads,
                chunk,
                ..
            }) => needs_pull.push(to.repl.on_change(from.id, shard, heads, chunk).await),
            Ok(Gossip::Changes { items, .. }) => {
                let shards: Vec<ShardId> = items.iter().map(|i| i.shard).collect();
                let missing = to.repl.on_changes(from.id, items).await;
                needs_pull.extend(shards.iter().map(|s| missing.contains(s)));
            }
            _ => panic!("not a change message"),
        }
    }
    needs_pull
}

/// The kinds of the messages `n` published, without taking them.
fn published_kinds(n: &Node) -> Vec<&'static str> {
    n.published
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, data)| match Gossip::decode(data) {
            Ok(Gossip::Change { .. }) => "change",
            Ok(Gossip::Changes { .. }) => "changes",
            _ => "other",
        })
        .collect()
}

#[tokio::test]
async fn a_write_batch_goes_out_as_one_message_only_while_every_member_reads_batches() {
    let nodes = cluster(2, &[64, 64]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let zones: Vec<Record> = (0..50).map(|i| zone(&format!("z{i}"))).collect();
    // Off by default (some member may be older): one message per shard.
    let frames = a.store.put_batch(&zones[..25]).expect("put");
    let shards = frames.len();
    assert!(shards > 5, "the write touched several shards: {shards}");
    a.repl.broadcast(frames).await;
    assert_eq!(published_kinds(a), vec!["change"; shards]);
    assert!(deliver(a, b).await.iter().all(|pull| !pull));
    // Every member reads batches: one message for the whole write batch, applied at once.
    a.repl.set_batching(true);
    let frames = a.store.put_batch(&zones[25..]).expect("put");
    a.repl.broadcast(frames).await;
    assert_eq!(published_kinds(a), vec!["changes"]);
    assert!(deliver(a, b).await.iter().all(|pull| !pull));
    for i in 0..50 {
        assert!(has(&b.store, &format!("z{i}")), "z{i}");
    }
    assert_eq!(a.store.digest().root(), b.store.digest().root());
}

#[tokio::test]
async fn a_batch_missing_a_dependency_names_the_shards_to_pull() {
    let nodes = cluster(2, &[]);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.repl.set_batching(true);
    // Only the second write of one key reaches b: its change depends on the first.
    a.store.put(&zone("same")).expect("put");
    let frames = a
        .store
        .put(&Record::Zone(ZoneRecord {
            name: "same".into(),
            created_at: 2,
        }))
        .expect("put");
    let shard = frames[0].0;
    a.repl.broadcast(frames).await;
    let pulls = deliver(a, b).await;
    assert_eq!(pulls, vec![true], "shard {shard} lacks a dependency");
    a.repl
        .sync_with(b.id, Some(vec![shard]))
        .await
        .expect("pull");
    assert!(has(&b.store, "same"));
}

#[test]
fn pack_keeps_the_order_and_the_size_bound() {
    let item = |shard: u32, n: usize| ChangeItem {
        shard,
        heads: vec![[0; 32]],
        chunk: vec![0; n],
    };
    let items = vec![item(1, 100), item(2, 100), item(3, 500), item(4, 10)];
    let packed = pack(items, 400);
    let shards: Vec<Vec<u32>> = packed
        .iter()
        .map(|b| b.iter().map(|i| i.shard).collect())
        .collect();
    // 180 + 180 fit in 400; the 580-byte item travels alone; the last starts a new one.
    assert_eq!(shards, vec![vec![1, 2], vec![3], vec![4]]);
    assert!(pack(Vec::new(), 400).is_empty());
    // Real batches stay under gossipsub's 256 KiB cap once encoded (heads of 0xff bytes are
    // CBOR's widest form of them).
    let many = (0..5000u32).map(|i| ChangeItem {
        shard: i % 1024,
        heads: vec![[0xff; 32]; 2],
        chunk: vec![7; 150],
    });
    let batches = pack(many, BATCH_BYTES);
    assert!(batches.len() > 1);
    for b in batches {
        let msg = Gossip::Changes {
            items: b,
            protocol: 3,
            min_protocol: 1,
        };
        let n = msg.encode().len();
        assert!(n < 256 * 1024 - 1024, "{n} bytes");
    }
}

#[tokio::test]
async fn a_pull_brings_both_sides_to_the_same_root() {
    let nodes = cluster(2, &[]);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.store.put(&zone("only-a")).expect("put");
    b.store.put(&zone("only-b")).expect("put");
    assert_ne!(a.store.digest().root(), b.store.digest().root());

    let changed = a.repl.sync_with(b.id, None).await.expect("sync");

    assert!(changed >= 1, "a took in b's change");
    assert!(has(&a.store, "only-b") && has(&b.store, "only-a"));
    assert_eq!(a.store.digest().root(), b.store.digest().root());
    // In sync now: a second round changes nothing.
    assert_eq!(a.repl.sync_with(b.id, None).await.expect("sync"), 0);
}

#[tokio::test]
async fn a_broadcast_chunk_applies_without_a_pull() {
    let nodes = cluster(2, &[]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let frames = a.store.put(&zone("dc1")).expect("put");
    a.repl.broadcast(frames).await;

    let needs_pull = deliver(a, b).await;

    assert_eq!(needs_pull, vec![false], "the chunk was complete");
    assert!(has(&b.store, "dc1"));
}

#[tokio::test]
async fn a_missed_chunk_makes_the_receiver_pull_and_the_pull_repairs_it() {
    let nodes = cluster(2, &[1, 1]);
    let (a, b) = (&nodes[0], &nodes[1]);
    // Two writes to the one shard; the first broadcast is lost.
    a.repl
        .broadcast(a.store.put(&zone("first")).expect("put"))
        .await;
    a.published.lock().expect("lock").clear();
    a.repl
        .broadcast(a.store.put(&zone("second")).expect("put"))
        .await;

    let needs_pull = deliver(a, b).await;

    assert_eq!(needs_pull, vec![true], "the chunk depends on one b lacks");
    b.repl.sync_with(a.id, Some(vec![0])).await.expect("sync");
    assert!(has(&b.store, "first") && has(&b.store, "second"));
    assert_eq!(a.store.digest().root(), b.store.digest().root());
}

#[tokio::test]
async fn an_oversized_chunk_is_announced_empty_and_pulled() {
    let nodes = cluster(2, &[]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let big = Replicator::new(
        a.store.clone(),
        Arc::new(MemNet {
            me: a.id,
            peers: Arc::default(),
            published: a.published.clone(),
        }),
        ReplicationConfig {
            gossip_chunk_max: 0,
            ..ReplicationConfig::default()
        },
    );
    big.broadcast(a.store.put(&zone("dc1")).expect("put")).await;

    let needs_pull = deliver(a, b).await;

    assert_eq!(needs_pull, vec![true], "an empty chunk asks for a pull");
    assert!(!has(&b.store, "dc1"));
}

#[tokio::test]
async fn stores_of_different_shard_counts_refuse_to_sync() {
    let nodes = cluster(2, &[16, 32]);
    let (a, b) = (&nodes[0], &nodes[1]);
    b.store.put(&zone("dc1")).expect("put");

    let err = a.repl.sync_with(b.id, None).await.expect_err("refused");

    assert!(matches!(err, SyncError::Protocol { .. }), "{err}");
    assert!(!has(&a.store, "dc1"));
}

#[tokio::test]
async fn an_unreachable_peer_is_a_network_error_and_changes_nothing() {
    let nodes = cluster(1, &[]);
    let err = nodes[0]
        .repl
        .sync_with(PeerId::random(), None)
        .await
        .expect_err("no such peer");
    assert!(matches!(err, SyncError::Net(_)), "{err}");
    // The busy mark is gone: the next attempt runs again (and fails again) instead of
    // returning 0 as if a session were still running.
    assert!(
        nodes[0]
            .repl
            .sync_with(PeerId::random(), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn three_peers_converge_through_one_in_the_middle() {
    let nodes = cluster(3, &[]);
    nodes[0].store.put(&zone("z0")).expect("put");
    nodes[2].store.put(&zone("z2")).expect("put");

    nodes[1]
        .repl
        .sync_with(nodes[0].id, None)
        .await
        .expect("sync");
    nodes[1]
        .repl
        .sync_with(nodes[2].id, None)
        .await
        .expect("sync");
    nodes[0]
        .repl
        .sync_with(nodes[1].id, None)
        .await
        .expect("sync");

    let roots: Vec<String> = nodes.iter().map(|n| n.store.digest().root()).collect();
    assert_eq!(roots[0], roots[1]);
    assert_eq!(roots[1], roots[2]);
    assert!(
        nodes
            .iter()
            .all(|n| has(&n.store, "z0") && has(&n.store, "z2"))
    );
}
