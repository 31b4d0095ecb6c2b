//! Benchmark: a peer holding N system records (default 1M), and a fresh peer syncing it all.
//!
//! `cargo run --release -p netsim-tests --example bench_sync -- [RECORDS]`
//!
//! Prints: time to write the store, the loaded peer's start time (cold load) and RSS, the
//! fresh peer's full-sync time and RSS. Baseline in the same run: copying the loaded peer's
//! data dir (the raw bytes a sync has to move at least once) as a ratio.

use std::time::{Duration, Instant};

use crdt_store::{Record, Store, StoreOptions};
use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::workload::{dir_size, rss_mib, system};
use rand::SeedableRng;

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let opts = Options::production();
    let mut c = Cluster::new(&["z".to_string()], opts)?;
    let store_dir = c.data_dir_of("loaded").join("store");
    let t = Instant::now();
    {
        let (store, _) = Store::open(&store_dir, StoreOptions::default())?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let mut i = 0;
        while i < n {
            let recs: Vec<Record> = (i..(i + 1000).min(n))
                .map(|j| system(&mut rng, j))
                .collect();
            store.put_batch(&recs)?;
            i += 1000;
        }
        store.compact()?;
    }
    println!(
        "records                   {n} (written and compacted in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let bytes = dir_size(&store_dir);
    let t = Instant::now();
    let copy = c.dir().join("copy");
    std::fs::create_dir_all(&copy)?;
    for e in std::fs::read_dir(store_dir.join("shards"))? {
        let e = e?;
        std::fs::copy(e.path(), copy.join(e.file_name()))?;
    }
    let copy_s = t.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&copy)?;

    let t = Instant::now();
    let a = c.add_peer("loaded", "z")?;
    let start_s = t.elapsed().as_secs_f64();
    let rss_a = rss_mib(c.peers[a].pid().unwrap_or(0));
    println!(
        "loaded peer start         {start_s:.2} s (process start + cold load), RSS {rss_a:.0} MiB"
    );

    let t = Instant::now();
    let b = c.add_peer("fresh", "z")?;
    // Compare live roots: the fresh peer's own node record reaches the loaded one too.
    let sync_t = wait_until(Duration::from_secs(1800), "fresh peer synced", || {
        Ok(c.status(b)?["store"]["records"].as_u64() >= Some(n) && c.root(b)? == c.root(a)?)
    })?;
    let sync_s = t.elapsed().as_secs_f64();
    let records_b = c.status(b)?["store"]["records"].as_u64().unwrap_or(0);
    let rss_b = rss_mib(c.peers[b].pid().unwrap_or(0));
    println!(
        "fresh peer full sync      {sync_s:.1} s (to identical root; {records_b} records; wait {:.1} s), RSS {rss_b:.0} MiB",
        sync_t.as_secs_f64()
    );
    println!(
        "baseline: copying the {:.0} MiB of snapshots on disk took {copy_s:.2} s -> sync/copy = {:.0}",
        bytes as f64 / 1048576.0,
        sync_s / copy_s.max(1e-6)
    );
    println!(
        "RSS of the loaded peer after serving the sync: {:.0} MiB",
        rss_mib(c.peers[a].pid().unwrap_or(0))
    );
    Ok(())
}
