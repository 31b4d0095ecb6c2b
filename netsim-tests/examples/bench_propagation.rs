//! Benchmark: how long a change takes to reach every peer.
//!
//! `cargo run --release -p netsim-tests --example bench_propagation -- [PEERS...] [--writes N]`
//! (default: 5 and 20 peers, 100 writes each). Peers run with production timings, connected
//! directly over loopback. For each write (a system registered on a seeded-random peer), the
//! time from the acknowledgement to its visibility on each other peer is measured by polling
//! every peer's API. The poll round (one GET to every peer) is measured in the same run and
//! printed as the resolution of the measurement.

use std::time::{Duration, Instant};

use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::workload::percentile;
use rand::{Rng, SeedableRng};

fn run(n: usize, writes: usize) -> anyhow::Result<()> {
    let opts = Options::production();
    let specs: Vec<(String, String)> = (0..n)
        .map(|i| (format!("p{i}"), format!("z{}", i % 2)))
        .collect();
    let refs: Vec<(&str, &str)> = specs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let c = Cluster::start(&refs, opts)?;
    wait_until(Duration::from_secs(120), "all alive", || {
        Ok((0..n).all(|i| {
            c.members(i)
                .map(|m| m.len() == n && m.iter().all(|m| m.status == "alive"))
                .unwrap_or(false)
        }))
    })?;
    let clients: Vec<_> = c.peers.iter().map(|p| p.client()).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut all = Vec::new();
    let mut last = Vec::new();
    let mut rounds = Vec::new();
    for w in 0..writes {
        let writer = rng.random_range(0..n);
        let fp = format!("prop:{n}:{w}");
        c.register(writer, &fp, "m")?;
        let t0 = Instant::now();
        let mut seen = vec![false; n];
        seen[writer] = true;
        let mut slowest = 0.0f64;
        while seen.iter().any(|s| !s) {
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(30),
                "write {fp} did not propagate"
            );
            let r0 = Instant::now();
            for (i, cl) in clients.iter().enumerate() {
                if !seen[i]
                    && cl
                        .get::<serde_json::Value>(&format!("/systems/{fp}"))
                        .is_ok()
                {
                    seen[i] = true;
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    all.push(ms);
                    slowest = slowest.max(ms);
                }
            }
            rounds.push(r0.elapsed().as_secs_f64() * 1000.0);
        }
        last.push(slowest);
    }
    all.sort_by(f64::total_cmp);
    last.sort_by(f64::total_cmp);
    rounds.sort_by(f64::total_cmp);
    println!(
        "{n:>3} peers, {writes} writes: per-peer p50 {:.1} ms, p99 {:.1} ms; last peer p50 {:.1} ms, p99 {:.1} ms; poll round (resolution) p50 {:.1} ms",
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        percentile(&last, 50.0),
        percentile(&last, 99.0),
        percentile(&rounds, 50.0),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes = Vec::new();
    let mut writes = 100;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--writes" {
            writes = it.next().map(|s| s.parse()).transpose()?.unwrap_or(writes);
        } else {
            sizes.push(a.parse()?);
        }
    }
    if sizes.is_empty() {
        sizes = vec![5, 20];
    }
    for n in sizes {
        run(n, writes)?;
    }
    Ok(())
}
