//! Durability with a real `uyuni-cluster` process: writes stream over the HTTP API (tag
//! edits, each acknowledged by a 200 once its WAL frame is fsync'd) while the peer is killed
//! with SIGKILL, again and again; after every restart each acknowledged write is there.
//!
//! One peer alone, so no other replica can hand a lost write back. The store compacts at
//! every check (200 ms), so some kills land in a compaction. CI runs a few kills;
//! `scripts/kill-soak.sh` runs 100 (`UYUNI_KILL_SOAK_KILLS`), figures in docs/PERFORMANCE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use cluster_core::client::{Client, ClientError};
use crdt_store::{Record, Store, StoreOptions, SystemRecord};
use netsim_tests::harness::{Cluster, Options, wait_until};
use rand::{Rng, SeedableRng};

const T: Duration = Duration::from_secs(60);
/// Systems the tags are spread over.
const SYSTEMS: usize = 128;
/// Concurrent writers (several writes in flight at every kill).
const WRITERS: usize = 4;

fn fp(i: usize) -> String {
    format!("dur:{i:04}")
}

/// Kills of one run: `UYUNI_KILL_SOAK_KILLS`, default 3 (CI).
fn kills() -> usize {
    std::env::var("UYUNI_KILL_SOAK_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// What the writers saw.
#[derive(Default)]
struct Tally {
    /// fingerprint → tags whose write was answered 200.
    acked: Mutex<BTreeMap<String, BTreeSet<String>>>,
    acked_count: AtomicU64,
    /// Writes that got no answer or an error (in flight at a kill, or sent to a dead peer).
    unanswered: AtomicU64,
}

/// One writer: tag edits, one at a time, against whatever address the peer has now.
fn writer(id: usize, url: &RwLock<String>, stop: &AtomicBool, tally: &Tally) {
    let mut n = 0usize;
    let mut client_for = String::new();
    let mut client = Client::new("http://127.0.0.1:1");
    while !stop.load(Ordering::SeqCst) {
        let now = url.read().map(|u| u.clone()).unwrap_or_default();
        if now != client_for {
            client = Client::new(&now);
            client_for = now;
        }
        let system = fp((id + n * WRITERS) % SYSTEMS);
        let tag = format!("w{id}-{n}");
        n += 1;
        let body = serde_json::json!({ "add": [tag] });
        let res: Result<SystemRecord, ClientError> =
            client.post(&format!("/systems/{system}/tags"), &body);
        match res {
            Ok(rec) => {
                assert!(rec.tags.contains(&tag), "200 without the tag: {rec:?}");
                if let Ok(mut a) = tally.acked.lock() {
                    a.entry(system).or_default().insert(tag);
                }
                tally.acked_count.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => {
                tally.unanswered.fetch_add(1, Ordering::SeqCst);
                // The peer is down or restarting: give the main thread a moment to restart
                // it and publish the new address (not a wait for a condition).
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Acknowledged writes missing from peer `i` (fingerprint, tag).
fn lost(c: &Cluster, tally: &Tally) -> anyhow::Result<Vec<(String, String)>> {
    let have: BTreeMap<String, BTreeSet<String>> = c
        .systems(0)?
        .into_iter()
        .map(|r| (r.fingerprint, r.tags))
        .collect();
    let acked = tally
        .acked
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut out = Vec::new();
    for (system, tags) in acked.iter() {
        let got = have.get(system);
        for t in tags {
            if !got.is_some_and(|g| g.contains(t)) {
                out.push((system.clone(), t.clone()));
            }
        }
    }
    Ok(out)
}

#[test]
fn kill_9_during_a_stream_of_acknowledged_writes_loses_none() -> anyhow::Result<()> {
    // Build (or find) the binary first: the figures count from the cluster's start.
    netsim_tests::harness::binary()?;
    let started = Instant::now();
    let opts = Options {
        compact_wal_mib: 0,
        emulate_links: false,
        ..Options::default()
    };
    let shard_count = opts.shard_count;
    let mut c = Cluster::start(&[("d1", "z1")], opts)?;
    // The systems are written into the stopped peer's store directly: no agent registration.
    c.stop(0)?;
    {
        let store_opts = StoreOptions {
            shard_count,
            ..StoreOptions::default()
        };
        let (store, _) = Store::open(&c.data_dir_of("d1").join("store"), store_opts)?;
        let recs: Vec<Record> = (0..SYSTEMS)
            .map(|i| Record::System(SystemRecord::new(fp(i), format!("m{i}"), 0)))
            .collect();
        store.put_batch(&recs)?;
    }
    c.restart(0)?;
    eprintln!(
        "peer started and seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    wait_until(T, "the seeded systems", || {
        Ok(c.systems(0)?.len() >= SYSTEMS)
    })?;

    let url = RwLock::new(c.peers[0].http.clone());
    let stop = AtomicBool::new(false);
    let tally = Tally::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    let kills = kills();
    let result = std::thread::scope(|s| -> anyhow::Result<()> {
        for id in 0..WRITERS {
            let (url, stop, tally) = (&url, &stop, &tally);
            s.spawn(move || writer(id, url, stop, tally));
        }
        let mut run = || -> anyhow::Result<()> {
            for k in 0..kills {
                // Let a seeded number of writes be acknowledged by this process, then kill it
                // while the writers keep sending.
                let from = tally.acked_count.load(Ordering::SeqCst);
                let more = rng.random_range(10..60);
                wait_until(
                    T,
                    &format!("{more} acknowledged writes before kill {k}"),
                    || Ok(tally.acked_count.load(Ordering::SeqCst) >= from + more),
                )?;
                c.kill(0);
                let t = Instant::now();
                c.restart(0)?;
                if k % 10 == 0 {
                    eprintln!("kill {k}: restarted in {:.2} s", t.elapsed().as_secs_f64());
                }
                if let Ok(mut u) = url.write() {
                    u.clone_from(&c.peers[0].http);
                }
            }
            // Writes reach the last process too.
            let from = tally.acked_count.load(Ordering::SeqCst);
            wait_until(T, "writes after the last restart", || {
                Ok(tally.acked_count.load(Ordering::SeqCst) > from)
            })?;
            Ok(())
        };
        let res = run();
        stop.store(true, Ordering::SeqCst);
        res
    });
    result?;
    let lost = lost(&c, &tally)?;
    let acked = tally.acked_count.load(Ordering::SeqCst);
    println!(
        "kill -9 soak: {kills} kills, {acked} acknowledged writes, {} lost, {} unanswered \
         (in flight at a kill or sent to a dead peer), {:.1} s",
        lost.len(),
        tally.unanswered.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, first: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(acked > 0);
    Ok(())
}
