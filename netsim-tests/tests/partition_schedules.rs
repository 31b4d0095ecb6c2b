//! Seeded partition schedules with a checker (issue 17): `PARTITION_SCHEDULES` schedules
//! (default 2, the CI run) from seed `PARTITION_SEED` on (default 1), `PARTITION_STEPS` steps
//! each (default 3), every one against a fresh five-peer cluster under writes
//! (`netsim_tests::schedule_run`). Each schedule prints its seed and verdict; the checker
//! asks every acknowledged write on every peer, identical replicas, no system on two nodes
//! and every accepted system onboarded once settled. `scripts/partition-schedules.sh N SEED`
//! runs many; the seed of a failure reruns its schedule.

use netsim_tests::schedule_run::run;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn partition_schedules_lose_no_acknowledged_write_and_converge() -> anyhow::Result<()> {
    let n = env("PARTITION_SCHEDULES", 2);
    let first = env("PARTITION_SEED", 1);
    let steps = env("PARTITION_STEPS", 3) as usize;
    let mut failed = Vec::new();
    for seed in first..first + n {
        let outcome = run(seed, steps)?;
        println!("{}", outcome.line());
        if !outcome.problems.is_empty() {
            failed.push(seed);
        }
    }
    println!(
        "partition schedules: {n} run, {} passed, {} failed (seeds {failed:?})",
        n as usize - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
    Ok(())
}
