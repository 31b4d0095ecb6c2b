//! Benchmark: a node dies; how long until all of its systems are re-homed, as the surviving
//! peers' replicas see it, beyond the configured failure timeout?
//!
//! `cargo run --release -p netsim-tests --example bench_rehome -- [--systems 300000]
//! [--failure-timeout-ms 5000]`
//!
//! Three peers `n1`..`n3` in one zone with production timings (heartbeat 1 s, suspicion
//! 10 s), direct connections. SYSTEMS onboarded systems, a third on each node, are written to
//! `n1`'s store before it starts; `n2` and `n3` get them by sync. Then `n3` is killed and the
//! two survivors are polled (every 50 ms) for: `n3` suspect, `n3` down, `n3` faulty in
//! `GET /cluster/load`, and no system left on `n3` nor any orphan. The leader's "remap done"
//! log line gives the time it spent rewriting.

use std::time::{Duration, Instant};

use crdt_store::{Record, Store, StoreOptions, SystemStatus};
use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::workload::system;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use netsim_tests::workload::arg;

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// When each survivor saw each stage, from the kill.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    suspect: Option<Duration>,
    down: Option<Duration>,
    declared: Option<Duration>,
    rehomed: Option<Duration>,
}

fn s(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:6.2} s", d.as_secs_f64()))
}

/// `remapped=N ms=M` of the "remap done" line in a peer log.
fn remap_line(log: &str) -> Option<(u64, u64)> {
    let line = log.lines().rev().find(|l| l.contains("remap done"))?;
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.trim_matches('"').parse().ok())
    };
    Some((field("remapped=")?, field("ms=")?))
}

fn main() -> anyhow::Result<()> {
    let n: u64 = arg("--systems", 300_000)?;
    let ft: u64 = arg("--failure-timeout-ms", 5000)?;
    let opts = Options {
        failure_timeout_ms: ft,
        ..Options::production()
    };
    let suspicion_ms = opts.suspicion_ms;
    let mut c = Cluster::new(&["z".to_string()], opts)?;
    let t = Instant::now();
    {
        let (store, _) = Store::open(&c.data_dir_of("n1").join("store"), StoreOptions::default())?;
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut i = 0;
        while i < n {
            let mut recs = Vec::with_capacity(1000);
            for j in i..(i + 1000).min(n) {
                if let Record::System(mut s) = system(&mut rng, j) {
                    s.node = Some(NODES[(j % 3) as usize].into());
                    s.zone = Some("z".into());
                    s.status = SystemStatus::Onboarded;
                    recs.push(Record::System(s));
                }
            }
            store.put_batch(&recs)?;
            i += 1000;
        }
        store.compact()?;
    }
    println!(
        "systems                   {n} ({} per node), written in {:.1} s",
        n / 3,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    for name in NODES {
        c.add_peer(name, "z")?;
    }
    let long = Duration::from_secs(600);
    wait_until(long, "three replicas with every system", || {
        for i in 0..3 {
            let l = c.load(i)?;
            let assigned: u64 = l.nodes.iter().map(|x| x.assigned).sum();
            if assigned != n || l.nodes.len() != 3 {
                return Ok(false);
            }
        }
        c.converged()
    })?;
    wait_until(long, "all alive", || {
        Ok((0..3).all(|i| {
            c.members(i)
                .is_ok_and(|m| m.len() == 3 && m.iter().all(|m| m.status == "alive"))
        }))
    })?;
    println!(
        "cluster up                {:.1} s (start, sync to n2 and n3)",
        t.elapsed().as_secs_f64()
    );
    let victim_load = c
        .load(0)?
        .nodes
        .iter()
        .find(|x| x.name == "n3")
        .map_or(0, |x| x.assigned);

    let t_kill = Instant::now();
    c.kill(2);
    let mut seen = [Seen::default(); 2];
    wait_until(long, "n3's systems re-homed on both survivors", || {
        let now = t_kill.elapsed();
        for (i, sv) in seen.iter_mut().enumerate() {
            if sv.rehomed.is_some() {
                continue;
            }
            let st = c.member_status(i, "n3")?;
            if sv.suspect.is_none() && matches!(st.as_deref(), Some("suspect" | "down")) {
                sv.suspect = Some(now);
            }
            if sv.down.is_none() && st.as_deref() == Some("down") {
                sv.down = Some(now);
            }
            let l = c.load(i)?;
            let n3 = l.nodes.iter().find(|x| x.name == "n3");
            if sv.declared.is_none() && n3.is_some_and(|x| x.faulty) {
                sv.declared = Some(now);
            }
            let alive: u64 = l
                .nodes
                .iter()
                .filter(|x| x.name != "n3")
                .map(|x| x.assigned)
                .sum();
            let orphans: usize = l.zones.iter().map(|z| z.orphans).sum();
            if n3.is_some_and(|x| x.faulty && x.assigned == 0) && orphans == 0 && alive == n {
                sv.rehomed = Some(now);
            }
        }
        Ok(seen.iter().all(|s| s.rehomed.is_some()))
    })?;
    let log = std::fs::read_to_string(c.data_dir_of("n1").join("peer.log")).unwrap_or_default();
    let remap = remap_line(&log);

    println!("killed                    n3 holding {victim_load} systems");
    println!("                          n1 (leader)   n2");
    for (what, f) in [
        (
            "suspect",
            (|s: &Seen| s.suspect) as fn(&Seen) -> Option<Duration>,
        ),
        ("down", |s: &Seen| s.down),
        ("declared faulty", |s: &Seen| s.declared),
        ("all re-homed", |s: &Seen| s.rehomed),
    ] {
        println!("  {what:<23} {}     {}", s(f(&seen[0])), s(f(&seen[1])));
    }
    if let Some((count, ms)) = remap {
        println!(
            "leader's remap            {count} systems rewritten in {:.2} s ({:.0}/s)",
            ms as f64 / 1000.0,
            count as f64 / (ms.max(1) as f64 / 1000.0)
        );
    }
    let down = seen[0].down.unwrap_or_default();
    let declared = seen
        .iter()
        .filter_map(|s| s.declared)
        .min()
        .unwrap_or_default();
    let all = seen
        .iter()
        .filter_map(|s| s.rehomed)
        .max()
        .unwrap_or_default();
    println!(
        "breakdown                 detection (suspicion {:.0} s) {:.2} s + failure timeout {:.2} s ({:.0} configured) + re-homing {:.2} s",
        suspicion_ms as f64 / 1000.0,
        down.as_secs_f64(),
        (declared.saturating_sub(down)).as_secs_f64(),
        ft as f64 / 1000.0,
        all.saturating_sub(declared).as_secs_f64()
    );
    println!(
        "beyond the failure timeout {:.2} s (all re-homed − declaration), {:.2} s (all re-homed − (down + failure timeout))",
        all.saturating_sub(declared).as_secs_f64(),
        all.saturating_sub(down + Duration::from_millis(ft))
            .as_secs_f64()
    );
    Ok(())
}
