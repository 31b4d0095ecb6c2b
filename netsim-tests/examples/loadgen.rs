//! The load generator at scale: tens of thousands of simulated agents onboard on a real
//! cluster, heartbeat, lose a node and are re-homed; prints the figures.
//!
//! `cargo run --release -p netsim-tests --example loadgen -- [--agents 50000] [--peers 3]
//! [--heartbeat-ms 10000] [--in-flight 128] [--seed 1]`
//!
//! The peers run in one zone with the test timings of `Options::default()` (failure timeout
//! 2 s) and direct connections. The last peer is killed once every agent has sent two
//! heartbeats after onboarding. Exits non-zero when a system was lost, duplicated or moved
//! without its node failing.

use std::time::Duration;

use netsim_tests::harness::{Cluster, Options};
use netsim_tests::loadgen::FleetConfig;
use netsim_tests::loadgen::scenario::{KillScenario, run_kill};

use netsim_tests::workload::arg;

fn main() -> anyhow::Result<()> {
    let agents: usize = arg("--agents", 50_000)?;
    let peers: usize = arg("--peers", 3)?;
    let heartbeat_ms: u64 = arg("--heartbeat-ms", 10_000)?;
    let in_flight: usize = arg("--in-flight", 128)?;
    let seed: u64 = arg("--seed", 1)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let names: Vec<String> = (1..=peers).map(|i| format!("p{i}")).collect();
    let specs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "z")).collect();
    let opts = Options {
        emulate_links: false,
        ..Options::default()
    };
    let mut c = Cluster::start(&specs, opts)?;
    let scenario = KillScenario {
        fleet: FleetConfig {
            agents,
            seed,
            heartbeat: Duration::from_millis(heartbeat_ms),
            max_in_flight: in_flight,
            backoff_max: Duration::from_millis(heartbeat_ms),
            accept_concurrency: 4 * peers,
            ..FleetConfig::default()
        },
        victim: None,
        heartbeats_before_kill: 2,
        timeout: Duration::from_secs(1800),
    };
    println!(
        "{agents} agents, {peers} peers, heartbeat {heartbeat_ms} ms, {in_flight} requests in flight"
    );
    let report = run_kill(&mut c, rt.handle(), &scenario)?;
    println!("{report}");
    anyhow::ensure!(
        report.lost == 0
            && report.duplicated == 0
            && report.moved_without_failure == 0
            && report.reshuffled_records == 0,
        "systems were lost, duplicated or reshuffled"
    );
    Ok(())
}
