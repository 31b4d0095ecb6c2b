//! Benchmark: membership messages per peer per second against the number of peers N and
//! zones Z (issue 17), measured, beside the derived formulas of the new design and of the
//! flood design it replaced (docs/ARCHITECTURE.md, "Membership and failure detection").
//!
//! `cargo run --release -p netsim-tests --example bench_membership -- [--sizes 4x2,8x4,12x6] [--secs 20]`
//!
//! Each size `NxZ` starts N peers spread evenly over Z zones with the production timings
//! (heartbeat 1 s, probe 1 s, summary 2 s; direct connections), waits until every peer sees
//! every other alive, then reads each peer's `uyuni_cluster_membership_messages_total`
//! (heartbeats and summaries published and received, probes sent and answered) twice, SECS
//! apart. The flood design is no longer in the binary; its figure is its formula, `N / T_hb`
//! (each peer published one heartbeat and received N - 1 per interval).

use std::time::{Duration, Instant};

use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::workload::arg;

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| *series == name)
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

fn counter(c: &Cluster, i: usize) -> anyhow::Result<f64> {
    let body = c.agent_get(i, "/metrics")?.body;
    Ok(metric(&body, "uyuni_cluster_membership_messages_total"))
}

fn main() -> anyhow::Result<()> {
    let sizes: String = arg("--sizes", "4x2,8x4,12x6".to_string())?;
    let secs: u64 = arg("--secs", 20)?;
    let defaults = cluster_core::config::MembershipConfig::default();
    let t_hb = defaults.heartbeat_interval.as_secs_f64();
    let t_probe = defaults.probe_interval.as_secs_f64();
    let t_sum = defaults.summary_interval.as_secs_f64();
    println!(
        "{:>4} {:>4} {:>4} {:>12} {:>12} {:>12} {:>10}",
        "N", "Z", "n", "measured", "derived", "flood", "vs flood"
    );
    for size in sizes.split(',') {
        let (n_peers, zones) = size
            .split_once('x')
            .ok_or_else(|| anyhow::anyhow!("size {size}: want NxZ"))?;
        let (n_peers, zones): (usize, usize) = (n_peers.parse()?, zones.parse()?);
        let specs: Vec<(String, String)> = (0..n_peers)
            .map(|i| (format!("p{i}"), format!("z{}", i % zones)))
            .collect();
        let refs: Vec<(&str, &str)> = specs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let c = Cluster::start(&refs, Options::production())?;
        for i in 0..n_peers {
            wait_until(Duration::from_secs(120), "all alive", || {
                let m = c.members(i)?;
                Ok(m.len() == n_peers && m.iter().all(|m| m.status == "alive"))
            })?;
        }
        let before: Vec<f64> = (0..n_peers)
            .map(|i| counter(&c, i))
            .collect::<anyhow::Result<_>>()?;
        let t0 = Instant::now();
        wait_until(Duration::from_secs(secs + 60), "the window", || {
            Ok(t0.elapsed() >= Duration::from_secs(secs))
        })?;
        let after: Vec<f64> = (0..n_peers)
            .map(|i| counter(&c, i))
            .collect::<anyhow::Result<_>>()?;
        let dt = t0.elapsed().as_secs_f64();
        let measured =
            after.iter().zip(&before).map(|(a, b)| a - b).sum::<f64>() / n_peers as f64 / dt;
        let per_zone = n_peers as f64 / zones as f64;
        // Heartbeats: 1 published + (n - 1) received per interval; summaries: Z per summary
        // interval in all (one sender per zone), each received by every peer; probes: one
        // sent and, on average, one answered per probe interval.
        let derived = per_zone / t_hb + zones as f64 / t_sum + 2.0 / t_probe;
        let flood = n_peers as f64 / t_hb;
        println!(
            "{n_peers:>4} {zones:>4} {per_zone:>4.1} {measured:>12.2} {derived:>12.2} {flood:>12.2} {:>10.2}",
            measured / flood
        );
    }
    Ok(())
}
