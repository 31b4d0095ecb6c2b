//! The WAN test bed run (issue 17): PEERS peers in ZONES zones on this machine, WAN links
//! between the zones (latency 20–200 ms seeded per zone, loss, bandwidth), measured:
//!
//! - the time for every peer to see every other alive after start;
//! - idle cost: the process's RSS and CPU per peer, membership messages per peer per second;
//! - a write's propagation to every peer (p50/p99 over every write and peer);
//! - a zone dropping (cut from every other zone): the time until every other peer sees all of
//!   its members suspect, then down; and, after the heal, alive again everywhere.
//!
//! `scripts/wan-bed.sh [PEERS] [ZONES]` runs it; by hand:
//! `cargo run --release -p netsim-tests --example bench_wan -- --peers 500 --zones 250`
//!
//! Options: `--seed` (1), `--loss` (0.01), `--bandwidth` bytes/s per direction of a zone pair
//! (262144; 0: unlimited), `--lat-min`/`--lat-max` ms (20/200), `--wan-suspicion-ms` (60000,
//! production), `--summary-ms` (0: production 2000), `--writes` (5), `--idle-secs` (20),
//! `--timeout-secs` per phase (600), `--workers` (2: tokio worker threads), `--dilate K`
//! (1: every periodic timer of the peers K times its production value, for beds larger than
//! the machine carries at production timings; figures are then in dilated seconds),
//! `--zones-pull-ms` (the production 10 000, dilated; 0: no periodic pull of the zones'
//! summaries), `--start-batch N` (25: peers started at once), `--start-pause-ms` (0: pause after each
//! batch), `--assert` (exit non-zero when a phase does not
//! complete). `WANBED_LOG=info` (a tracing filter) logs every peer to stderr.
//! `WANBED_EXTRA_TOML` is appended to every peer's configuration (whole sections, e.g.
//! `[network]` with `ping_timeout_ms = 10000`), for experiments.
//! Every result is also printed as one `wanbed: key=value` line.

use std::time::{Duration, Instant};

use netsim_tests::wanbed::{BedOptions, WanBed, self_usage};
use netsim_tests::workload::{arg, percentile};
use rand::{Rng, SeedableRng};

fn main() -> anyhow::Result<()> {
    // `WANBED_LOG=info` (a tracing filter) logs every peer to stderr.
    if let Ok(filter) = std::env::var("WANBED_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let d = BedOptions::default();
    let bw: u64 = arg("--bandwidth", d.bandwidth.unwrap_or(0))?;
    let opts = BedOptions {
        peers: arg("--peers", 500)?,
        zones: arg("--zones", 250)?,
        seed: arg("--seed", d.seed)?,
        loss: arg("--loss", d.loss)?,
        lat_min_ms: arg("--lat-min", d.lat_min_ms)?,
        lat_max_ms: arg("--lat-max", d.lat_max_ms)?,
        bandwidth: (bw > 0).then_some(bw),
        wan_suspicion_ms: arg("--wan-suspicion-ms", d.wan_suspicion_ms)?,
        summary_ms: match arg("--summary-ms", 0u64)? {
            0 => None,
            s => Some(s),
        },
        worker_threads: arg("--workers", d.worker_threads)?,
        dilate: arg("--dilate", d.dilate)?,
        start_batch: arg("--start-batch", d.start_batch)?,
        start_pause: Duration::from_millis(arg("--start-pause-ms", 0u64)?),
        zones_pull_ms: match arg("--zones-pull-ms", u64::MAX)? {
            u64::MAX => None,
            p => Some(p),
        },
        ..d
    };
    let writes: u64 = arg("--writes", 5)?;
    let idle_secs: u64 = arg("--idle-secs", 20)?;
    let timeout = Duration::from_secs(arg("--timeout-secs", 600)?);
    let strict = std::env::args().any(|a| a == "--assert");
    let (n, z) = (opts.peers, opts.zones);
    println!(
        "WAN bed: {n} peers in {z} zones, one process; latency {}-{} ms, loss {}, bandwidth {} B/s per direction, seed {}, timers x{}",
        opts.lat_min_ms,
        opts.lat_max_ms,
        opts.loss,
        opts.bandwidth.map_or("unlimited".into(), |b| b.to_string()),
        opts.seed,
        opts.dilate.max(1)
    );
    let (rss0, cpu0) = self_usage();
    let bed = WanBed::start(opts.clone())?;
    let (rss1, _) = self_usage();
    println!("wanbed: started_s={:.1}", bed.started_in.as_secs_f64());
    let mut failures = Vec::new();

    // 1. Membership after start.
    let all = bed.all();
    let alive = bed.all_alive();
    match bed.wait_agree(&all, bed.t0, timeout, "membership after start", &alive) {
        Ok((t, rounds)) => {
            let after_last = t.saturating_sub(bed.started_in);
            println!(
                "wanbed: agree_after_start_s={:.1} agree_after_last_start_s={:.1} poll_rounds={rounds}",
                t.as_secs_f64(),
                after_last.as_secs_f64()
            );
        }
        Err(e) => {
            println!("wanbed: agree_after_start=FAILED {e:#}");
            failures.push(format!("{e:#}"));
        }
    }

    // 2. Idle cost.
    let m0 = bed.metric("uyuni_cluster_membership_messages_total")?;
    let (_, c0) = self_usage();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_secs));
    let m1 = bed.metric("uyuni_cluster_membership_messages_total")?;
    let (rss2, c1) = self_usage();
    let dt = t.elapsed().as_secs_f64();
    let per_zone = n as f64 / z as f64;
    let mc = cluster_core::config::MembershipConfig::default();
    // The summary period stretches to ⌈zones / summaries_per_interval⌉ intervals.
    let factor = z.div_ceil(mc.summaries_per_interval.max(1)).max(1) as f64;
    let k = f64::from(opts.dilate.max(1));
    let t_sum = factor
        * opts
            .summary_ms
            .map_or(k * mc.summary_interval.as_secs_f64(), |s| s as f64 / 1000.0);
    let derived = per_zone / (k * mc.heartbeat_interval.as_secs_f64())
        + z as f64 / t_sum
        + 2.0 / (k * mc.probe_interval.as_secs_f64());
    println!(
        "wanbed: rss_mib={rss2:.0} rss_per_peer_mib={:.1} start_rss_per_peer_mib={:.1} idle_cpu_pct_per_peer={:.2} idle_cpu_pct_total={:.0} msgs_per_peer_per_s={:.1} derived_msgs_per_peer_per_s={derived:.1} start_cpu_s={:.0} relayed_connections={} identified={}",
        (rss2 - rss0) / n as f64,
        (rss1 - rss0) / n as f64,
        100.0 * (c1 - c0).as_secs_f64() / dt / n as f64,
        100.0 * (c1 - c0).as_secs_f64() / dt,
        (m1 - m0) / n as f64 / dt,
        (c0 - cpu0).as_secs_f64(),
        bed.emu.relayed_connections(),
        bed.emu.identified_connections(),
    );

    // 3. Writes: each through a seeded peer, timed until every peer holds it.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed ^ 0x77);
    let mut samples: Vec<f64> = Vec::new();
    let mut worst: Vec<f64> = Vec::new();
    for w in 0..writes {
        let via = rng.random_range(0..n);
        let t = Instant::now();
        let fp = bed.register(via, 900_000 + opts.seed * 1000 + w)?;
        match bed.propagation(&all, &fp, t, timeout) {
            Ok(times) => {
                let secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
                worst.push(secs.iter().copied().fold(0.0, f64::max));
                samples.extend(secs);
            }
            Err(e) => {
                println!("wanbed: write_{w}=FAILED {e:#}");
                failures.push(format!("{e:#}"));
            }
        }
    }
    samples.sort_by(f64::total_cmp);
    worst.sort_by(f64::total_cmp);
    println!(
        "wanbed: write_p50_ms={:.0} write_p99_ms={:.0} write_all_peers_max_ms={:.0} writes={writes} samples={}",
        1000.0 * percentile(&samples, 50.0),
        1000.0 * percentile(&samples, 99.0),
        1000.0 * worst.last().copied().unwrap_or(0.0),
        samples.len()
    );

    // 4. A zone drops.
    let zi = rng.random_range(0..z);
    let zone = bed.zones[zi].clone();
    let others: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| bed.peers[i].zone != zone)
        .collect();
    let t = Instant::now();
    bed.cut_zone(&zone);
    let zq = zone.clone();
    let not_alive = move |_: &netsim_tests::wanbed::BedPeer,
                          m: &[netsim_tests::wanbed::Seen<'_>]| {
        let of: Vec<_> = m.iter().filter(|v| v.zone == zq).collect();
        !of.is_empty() && of.iter().all(|v| v.status != "alive")
    };
    let zq = zone.clone();
    let down = move |_: &netsim_tests::wanbed::BedPeer, m: &[netsim_tests::wanbed::Seen<'_>]| {
        let of: Vec<_> = m.iter().filter(|v| v.zone == zq).collect();
        !of.is_empty() && of.iter().all(|v| v.status == "down")
    };
    let wan_timeout = timeout + Duration::from_millis(opts.wan_suspicion_ms);
    for (what, res) in [
        (
            "zone_suspect",
            bed.wait_agree(&others, t, timeout, "dropped zone suspect", &not_alive),
        ),
        (
            "zone_down",
            bed.wait_agree(&others, t, wan_timeout, "dropped zone down", &down),
        ),
    ] {
        match res {
            Ok((d, _)) => println!("wanbed: {what}_by_all_s={:.1} zone={zone}", d.as_secs_f64()),
            Err(e) => {
                println!("wanbed: {what}=FAILED {e:#}");
                failures.push(format!("{e:#}"));
            }
        }
    }
    let t = Instant::now();
    bed.heal_zone(&zone);
    match bed.wait_agree(&all, t, timeout, "membership after the heal", &alive) {
        Ok((d, _)) => println!("wanbed: agree_after_heal_s={:.1}", d.as_secs_f64()),
        Err(e) => {
            println!("wanbed: agree_after_heal=FAILED {e:#}");
            failures.push(format!("{e:#}"));
        }
    }
    bed.shutdown();
    if failures.is_empty() {
        println!("wanbed: result=ok");
        Ok(())
    } else if strict {
        anyhow::bail!(
            "{} phase(s) failed: {}",
            failures.len(),
            failures.join("; ")
        )
    } else {
        println!(
            "wanbed: result=incomplete ({} phase(s) failed)",
            failures.len()
        );
        Ok(())
    }
}
