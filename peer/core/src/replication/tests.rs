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
        let Ok(Gossip::Change {
            shard,
            heads,
            chunk,
            ..
        }) = Gossip::decode(&data)
        else {
            panic!("not a change message");
        };
        needs_pull.push(to.repl.on_change(from.id, shard, heads, chunk).await);
    }
    needs_pull
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
