//! Benchmark: the Metastore alone. Writes N system records into a fresh store (batches of
//! 1000, one fsync each), compacts, then measures a cold load and edits in a *fresh process*
//! (this program re-executes itself), so RSS figures are not inflated by the writer's heap.
//!
//! `cargo run --release -p netsim-tests --example bench_store -- [RECORDS] [DIR]`
//! (default 1000000 records in a temporary directory; with DIR the store is kept).
//! Baseline in the same run: writing the same records' JSON to a plain file with the same
//! fsync pattern, so the write rate is also printed as a ratio.

use std::io::Write;
use std::time::Instant;

use crdt_store::{Record, Store, StoreOptions};
use netsim_tests::workload::{dir_size, rss_mib, system};
use rand::SeedableRng;

fn write_phase(n: u64, dir: &std::path::Path) -> anyhow::Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let (store, _) = Store::open(dir, StoreOptions::default())?;
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
    let t = Instant::now();
    store.compact()?;
    let compact_s = t.elapsed().as_secs_f64();

    // Baseline: same records as JSON lines into one file, same batching and fsync.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let base_path = dir.with_extension("baseline");
    let mut f = std::fs::File::create(&base_path)?;
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let mut buf = Vec::new();
        for j in i..(i + batch).min(n) {
            serde_json::to_writer(&mut buf, &system(&mut rng, j))?;
            buf.push(b'\n');
        }
        f.write_all(&buf)?;
        f.sync_data()?;
        i += batch;
    }
    let base_s = t.elapsed().as_secs_f64();
    std::fs::remove_file(&base_path)?;

    println!("records written           {n}");
    println!(
        "write rate                {:.0} records/s",
        n as f64 / write_s
    );
    println!(
        "baseline (JSON + fsync)   {:.0} records/s  -> store/baseline = {:.2}",
        n as f64 / base_s,
        base_s / write_s
    );
    println!(
        "rss of the writer         {:.0} MiB",
        rss_mib(std::process::id())
    );
    println!("compaction                {compact_s:.2} s");
    let disk = dir_size(dir);
    println!(
        "size on disk              {:.1} MiB ({:.0} B/record)",
        disk as f64 / 1048576.0,
        disk as f64 / n as f64
    );
    Ok(())
}

fn load_phase(dir: &std::path::Path) -> anyhow::Result<()> {
    let rss0 = rss_mib(std::process::id());
    let t = Instant::now();
    let (store, report) = Store::open(dir, StoreOptions::default())?;
    let load_s = t.elapsed().as_secs_f64();
    let records = store.stats().records;
    let rss_loaded = rss_mib(std::process::id());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let edits = 10_000u64;
    let t = Instant::now();
    for k in 0..edits / 100 {
        let recs: Vec<Record> = (0..100)
            .map(|j| system(&mut rng, 10_000_000 + k * 100 + j))
            .collect();
        store.put_batch(&recs)?;
        if std::env::var("BENCH_TRACE").is_ok() && k % 10 == 0 {
            eprintln!(
                "edit batch {k}: rss {:.0} MiB wal {} B",
                rss_mib(std::process::id()),
                store.stats().wal_bytes
            );
        }
    }
    let edit_s = t.elapsed().as_secs_f64();
    println!(
        "cold load (fresh process) {load_s:.2} s, {records} records, {} snapshots",
        report.snapshots_loaded
    );
    println!("rss after cold load       {rss_loaded:.0} MiB (process baseline {rss0:.0} MiB)");
    println!(
        "edits on the loaded store {:.0} records/s ({edits} in batches of 100)",
        edits as f64 / edit_s
    );
    println!(
        "rss after edits           {:.0} MiB",
        rss_mib(std::process::id())
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--load") {
        let dir = args.get(2).ok_or_else(|| anyhow::anyhow!("--load DIR"))?;
        return load_phase(std::path::Path::new(dir));
    }
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
    write_phase(n, &dir)?;
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("--load")
        .arg(&dir)
        .status()?;
    anyhow::ensure!(status.success(), "load phase failed");
    Ok(())
}
