//! Benchmark: write N system records into a fresh store, compact, reopen (cold load), edit the
//! loaded store, and print write rate, RSS, load time and size on disk.
//!
//! `cargo run --release -p crdt-store --example bench_store -- [RECORDS] [DIR]`
//! (default 1000000 records in a temporary directory). With DIR the store is kept, so
//! `netsim-tests`' sync benchmark can serve it to a fresh peer.

use std::collections::BTreeSet;
use std::time::Instant;

use crdt_store::{Record, Store, StoreOptions, SystemRecord, SystemStatus};
use rand::{Rng, SeedableRng};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let md = match e.metadata() {
            Ok(m) => m,
            Err(_) => continue,
        };
        total += if md.is_dir() {
            dir_size(&e.path())
        } else {
            md.len()
        };
    }
    total
}

/// A realistic system record for index `i` (seeded, so every run writes the same data).
pub fn system(rng: &mut impl Rng, i: u64) -> Record {
    let fp: String = (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect::<Vec<_>>()
        .join(":");
    let mut tags = BTreeSet::new();
    tags.insert(["web", "db", "app", "cache"][(i % 4) as usize].to_string());
    Record::System(SystemRecord {
        fingerprint: fp,
        minion_id: format!("host{i:08}.acme.org"),
        hostname: format!("host{i:08}.acme.org"),
        status: SystemStatus::Onboarded,
        banned: false,
        node: Some(format!("node{}", i % 50)),
        previous_node: None,
        zone: Some(format!("zone{}", i % 5)),
        tags,
        groups: BTreeSet::new(),
        channels: BTreeSet::new(),
        registered_at: 1_760_000_000_000 + i,
        updated_at: 1_760_000_000_000 + i,
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir()?;
    let dir = args
        .get(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("store"));
    let rss0 = rss_mib();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let (store, _) = Store::open(&dir, StoreOptions::default())?;
    let batch = 1000;
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let recs: Vec<Record> = (i..(i + batch).min(n))
            .map(|j| system(&mut rng, j))
            .collect();
        store.put_batch(&recs)?;
        i += batch;
    }
    let write_s = t.elapsed().as_secs_f64();
    let rss_written = rss_mib();
    let t = Instant::now();
    store.compact()?;
    let compact_s = t.elapsed().as_secs_f64();
    let disk = dir_size(&dir);
    drop(store);

    let t = Instant::now();
    let (store, report) = Store::open(&dir, StoreOptions::default())?;
    let load_s = t.elapsed().as_secs_f64();
    let rss_loaded = rss_mib();
    // Edit the loaded store: the access pattern that blew up single-document automerge.
    let mut rng2 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let t = Instant::now();
    let edits = 10_000u64;
    for k in 0..edits / 100 {
        let recs: Vec<Record> = (0..100)
            .map(|j| system(&mut rng2, n + k * 100 + j))
            .collect();
        store.put_batch(&recs)?;
    }
    let edit_s = t.elapsed().as_secs_f64();
    let rss_edited = rss_mib();
    let stats = store.stats();
    println!("records                 {}", stats.records);
    println!("shards                  {}", stats.shard_count);
    println!(
        "write rate              {:.0} records/s (batches of {batch}, one fsync each)",
        n as f64 / write_s
    );
    println!(
        "rss after writes        {:.0} MiB (baseline {:.0} MiB)",
        rss_written, rss0
    );
    println!("compaction              {:.2} s", compact_s);
    println!(
        "size on disk            {:.1} MiB ({:.0} B/record)",
        disk as f64 / 1048576.0,
        disk as f64 / n as f64
    );
    println!(
        "cold load               {:.2} s ({} snapshots)",
        load_s, report.snapshots_loaded
    );
    println!(
        "rss after cold load     {:.0} MiB (fresh process would be ~this minus the writer's heap)",
        rss_loaded
    );
    println!(
        "edits on loaded store   {:.0} records/s ({edits} records)",
        edits as f64 / edit_s
    );
    println!("rss after edits         {:.0} MiB", rss_edited);
    Ok(())
}
