//! A fleet of simulated agents against three real peers: onboarding, heartbeats, one node
//! killed, every orphan re-homed; nothing lost, nothing duplicated, nothing reshuffled.

use std::time::Duration;

use netsim_tests::harness::{Cluster, Options};
use netsim_tests::loadgen::FleetConfig;
use netsim_tests::loadgen::scenario::{KillScenario, run_kill};

#[test]
fn fleet_survives_a_node_kill_without_loss_or_duplicates() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut c = Cluster::start(&[("p1", "z"), ("p2", "z"), ("p3", "z")], Options::default())?;
    let scenario = KillScenario {
        fleet: FleetConfig {
            agents: 1500,
            seed: 7,
            heartbeat: Duration::from_millis(1000),
            max_in_flight: 32,
            request_timeout: Duration::from_secs(5),
            backoff_max: Duration::from_secs(2),
            accept_concurrency: 24,
            ..FleetConfig::default()
        },
        victim: Some(2),
        heartbeats_before_kill: 2,
        timeout: Duration::from_secs(45),
    };
    let report = run_kill(&mut c, rt.handle(), &scenario)?;
    eprintln!("{report}");
    assert!(report.victim_systems > 0, "the victim held systems");
    assert!(report.declared_after.is_some(), "fault declared");
    assert_eq!(report.lost, 0, "lost");
    assert_eq!(report.duplicated, 0, "duplicated");
    assert_eq!(report.moved_without_failure, 0, "agents reshuffled");
    assert_eq!(report.reshuffled_records, 0, "records reshuffled");
    assert!(
        report.counters.failovers > 0,
        "agents of the victim failed over"
    );
    Ok(())
}
