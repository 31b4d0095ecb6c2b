//! Sync messages and gossiped change chunks as the Metastore takes them from a peer:
//! `Store::sync_receive` (automerge sync messages, decoded before any is applied) and
//! `Store::apply_remote` (a change chunk with the heads its sender announced). One store in a
//! temporary directory (4 shards) lives for the whole run; the first byte picks the entry point
//! and the shard. Invariants: no panic, errors are typed, and the store stays usable (its
//! digest and heads are still readable after any input).
#![no_main]

use std::sync::OnceLock;

use crdt_store::{Store, StoreOptions, SyncSession};
use libfuzzer_sys::fuzz_target;

const SHARDS: u32 = 4;

fn store() -> &'static Store {
    static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temporary directory");
            let opts = StoreOptions {
                shard_count: SHARDS,
                ..StoreOptions::default()
            };
            let (store, _) = Store::open(dir.path(), opts).expect("open the store");
            (dir, store)
        })
        .1
}

/// The store turns a panic of automerge's decoder into an error (`catch_unwind`, as the peer
/// unwinds); libfuzzer-sys's panic hook would abort even on a caught panic, so this target
/// installs a silent one. A panic the store does not catch still aborts the run (the harness
/// checks `catch_unwind` around every input).
fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    quiet_caught_panics();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let store = store();
    // Shard SHARDS (out of range) is tried too: it must be refused, not panic.
    let shard = u32::from(mode >> 1) % (SHARDS + 1);
    if mode & 1 == 0 {
        let mut session = SyncSession::new();
        let r = store.sync_receive(&mut session, &[(shard, rest.to_vec())]);
        if shard >= SHARDS {
            assert!(r.is_err(), "a shard out of range is refused");
        }
        let _ = store.sync_generate(&mut session, &[shard % SHARDS]);
    } else {
        // The last 32-byte block (if any) is an announced head.
        let (chunk, heads) = if rest.len() >= 32 {
            let (c, h) = rest.split_at(rest.len() - 32);
            let mut head = [0u8; 32];
            head.copy_from_slice(h);
            (c, vec![head])
        } else {
            (rest, Vec::new())
        };
        let r = store.apply_remote(shard, chunk, &heads);
        if shard >= SHARDS {
            assert!(r.is_err(), "a shard out of range is refused");
        }
    }
    let _ = store.digest();
    let _ = store.heads(shard % SHARDS).expect("heads of a valid shard");
});
