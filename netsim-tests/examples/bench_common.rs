//! Benchmark: common data replicated by the Node Controller, against the same objects created
//! directly through a Uyuni API.
//!
//! `cargo run --release -p netsim-tests --example bench_common -- [--channels 300] [--rounds 3]`
//!
//! Two peers of one zone, each beside a Uyuni stand-in on a throwaway PostgreSQL with the
//! cluster's triggers. Each round the Leader Node (a1) gets CHANNELS new channels (not timed),
//! the triggers capture them into its change set, and then the clock runs from
//! "apply cluster update" (`POST /zones/dc/publish`) until the follower's server (a2) lists
//! all of them. The baseline, in the same round, is creating the same number of channels on a
//! third stand-in with one XML-RPC client (what an administrator's script would do on every
//! server by hand). The ratio of the medians is the cost of replication over the bare API.

use std::time::{Duration, Instant};

use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::pg::Postgres;
use netsim_tests::standin::session::{Session, peer_section, standin_with_triggers};
use netsim_tests::workload::arg;
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let n: usize = arg("--channels", 300)?;
    let rounds: usize = arg("--rounds", 3)?;
    let pg = Postgres::start()?;
    let (a1, a2, base) = (
        standin_with_triggers(&pg, "a1")?,
        standin_with_triggers(&pg, "a2")?,
        standin_with_triggers(&pg, "base")?,
    );
    let mut c = Cluster::new(&["dc".into()], Options::default())?;
    c.add_peer_with("a1", "dc", &peer_section(&a1))?;
    c.add_peer_with("a2", "dc", &peer_section(&a2))?;
    let leader = c.peers[0].client();
    let _: serde_json::Value = leader.post(
        "/zones/dc/lease",
        &json!({"ttl_ms": 3_600_000, "force": true}),
    )?;
    let (on_a1, on_a2, on_base) = (
        Session::login(&a1)?,
        Session::login(&a2)?,
        Session::login(&base)?,
    );
    let (mut repl, mut direct) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let labels: Vec<String> = (0..n).map(|i| format!("r{round}-ch{i:04}")).collect();
        let start = Instant::now();
        for l in &labels {
            on_base.create_channel(l)?;
        }
        let d = start.elapsed();
        for l in &labels {
            on_a1.create_channel(l)?;
        }
        wait_until(Duration::from_secs(120), "the change set", || {
            let lease: serde_json::Value = leader.get("/zones/dc/lease")?;
            Ok(lease["pending"].as_array().map_or(0, Vec::len) >= n)
        })?;
        let start = Instant::now();
        let report: serde_json::Value = leader.post("/zones/dc/publish", &json!({}))?;
        let published = report["published"].as_array().map_or(0, Vec::len);
        wait_until(
            Duration::from_secs(300),
            "the follower to hold every channel",
            || {
                let have = on_a2.channels()?;
                Ok(labels.iter().all(|l| have.contains(l)))
            },
        )?;
        let r = start.elapsed();
        println!(
            "round {round}: {n} channels: direct API {:.0} ms ({:.0}/s); publish ({published} objects) + follower copy {:.0} ms ({:.0}/s)",
            d.as_secs_f64() * 1000.0,
            n as f64 / d.as_secs_f64(),
            r.as_secs_f64() * 1000.0,
            n as f64 / r.as_secs_f64()
        );
        direct.push(d.as_secs_f64());
        repl.push(r.as_secs_f64());
    }
    let (d, r) = (median(direct), median(repl));
    println!(
        "median: replication to the follower takes {:.2}× the direct API time ({:.0} vs {:.0} channels/s)",
        r / d,
        n as f64 / r,
        n as f64 / d
    );
    Ok(())
}
