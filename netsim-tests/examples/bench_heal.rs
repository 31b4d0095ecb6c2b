//! Benchmark: a store cut off from headquarters keeps writing; how long until both sides hold
//! identical state after the WAN comes back?
//!
//! `cargo run --release -p netsim-tests --example bench_heal -- [WRITES_PER_SIDE]` (default 2000)
//!
//! Three peers in zone `hq`, two in zone `store`, production timings, all traffic through the
//! link emulator with 40 ms WAN latency. The WAN is cut, each side registers WRITES_PER_SIDE
//! systems (4 concurrent writers), the WAN heals, and the time to identical root digests on all
//! five peers is measured. Baseline in the same run: the time the same number of writes takes to
//! reach every peer of its own side while partitioned (replication without a heal).

use std::time::{Duration, Instant};

use netsim_tests::harness::{Cluster, Options, wait_until};

fn write_side(c: &Cluster, peers: [usize; 2], prefix: &str, n: usize) -> anyhow::Result<()> {
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                s.spawn(move || -> anyhow::Result<()> {
                    for k in (t..n).step_by(4) {
                        c.register(peers[k % 2], &format!("{prefix}:{k}"), "m")?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        }
        Ok(())
    })
}

fn count(c: &Cluster, i: usize, prefix: &str) -> anyhow::Result<usize> {
    Ok(c.systems(i)?
        .iter()
        .filter(|s| s.fingerprint.starts_with(prefix))
        .count())
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2000);
    let opts = Options {
        emulate_links: true,
        ..Options::production()
    };
    let c = Cluster::start(
        &[
            ("hq1", "hq"),
            ("hq2", "hq"),
            ("hq3", "hq"),
            ("st1", "store"),
            ("st2", "store"),
        ],
        opts,
    )?;
    c.emu.set_latency("hq", "store", Duration::from_millis(40));
    let t = Duration::from_secs(600);
    wait_until(t, "all alive", || {
        Ok((0..5).all(|i| {
            c.members(i)
                .map(|m| m.iter().all(|m| m.status == "alive") && m.len() == 5)
                .unwrap_or(false)
        }))
    })?;
    c.emu.partition("hq", "store");
    let t0 = Instant::now();
    write_side(&c, [0, 1], "hq", n)?;
    write_side(&c, [3, 4], "st", n)?;
    let writes_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    wait_until(t, "each side has its own writes", || {
        Ok(count(&c, 2, "hq:")? == n && count(&c, 4, "st:")? == n)
    })?;
    let side_s = t1.elapsed().as_secs_f64();
    assert_eq!(count(&c, 0, "st:")?, 0, "the cut held");
    let t2 = Instant::now();
    c.emu.heal("hq", "store");
    let reconnect = wait_until(t, "hq1 reconnected to the store", || {
        Ok(c.status(0)?["connected_peers"].as_u64() == Some(4))
    })?;
    wait_until(t, "identical state everywhere", || {
        Ok(c.converged()? && count(&c, 0, "st:")? == n && count(&c, 3, "hq:")? == n)
    })?;
    let heal_s = t2.elapsed().as_secs_f64();
    println!(
        "writes per side           {n} (took {writes_s:.1} s for both sides, {:.0} writes/s)",
        2.0 * n as f64 / writes_s
    );
    println!("in-side catch-up (base)   {side_s:.2} s after the last write");
    println!(
        "heal to identical state   {heal_s:.2} s (of which reconnecting {:.2} s; dial interval 2 s)",
        reconnect.as_secs_f64()
    );
    Ok(())
}
