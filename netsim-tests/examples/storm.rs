//! The onboarding storm: a fleet registers at once on a sandbox-sized cluster, the
//! administrator accepts by query, the Load Driver places; prints the rate and where the CPU
//! went. A baseline fleet first onboards the old way (one accept request per system) on a
//! fresh cluster of the same shape, in the same run, so the ratio is comparable across
//! machines.
//!
//! `cargo run --release -p netsim-tests --example storm -- [--agents 1000000] [--peers 3]
//! [--spread-ms 0] [--bulk-ms 500] [--in-flight 256] [--baseline-agents 20000] [--seed 1]`
//! [--batch-changes 1] [--accept-on 0] [--ladder 0] [--bulk-page 2000] [--shards 1024]`
//! (`--baseline-agents 0` skips the baseline.) `--accept-on I` sends the bulk accepts to peer
//! I (0 is p1, the zone's Load Driver leader, which places in the accept's write; another
//! peer only accepts and leaves the placement to p1). `--batch-changes 0` gossips one message
//! per shard, as wire protocol 2 did. `--ladder 1` runs the storm three times on fresh
//! clusters, one improvement of issue 17 added at a time: per-shard messages and accepts on
//! p2; batched messages and accepts on p2; batched messages and accepts on the leader.
//! `--bulk-page N` accepts in pages of N systems (`limit` of `POST /search/bulk`; 0: one
//! request for every match, as before); `--shards` is the store's shard count.

use std::time::Duration;

use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::loadgen::FleetConfig;
use netsim_tests::loadgen::storm::{StormReport, StormScenario, run_storm};
use netsim_tests::workload::arg;

fn cluster(peers: usize, agents: usize, batch: bool, shards: u32) -> anyhow::Result<Cluster> {
    let names: Vec<String> = (1..=peers).map(|i| format!("p{i}")).collect();
    let specs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "z")).collect();
    let big = (agents as u64).max(100_000) * 2;
    let opts = Options {
        emulate_links: false,
        shard_count: shards,
        // The whole fleet may be in the pool at once, and every nonce is remembered for the
        // clock-skew window (300 s). A real fleet comes from as many addresses as agents; the
        // generator is one, so its connection limit is raised (a table of its own follows).
        agent_door_extra: format!(
            "replay_cache_entries = {big}\nmax_new_systems = {big}\n\
             [http]\nmax_connections_per_client = 4096\nmax_connections = 8192\n"
        ),
        replication_extra: format!("batch_changes = {batch}\n"),
        ..Options::default()
    };
    let c = Cluster::start(&specs, opts)?;
    wait_until(Duration::from_secs(60), "peers see each other", || {
        for i in 0..c.peers.len() {
            let alive = c.members(i)?.iter().filter(|m| m.status == "alive").count();
            if alive < peers {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    Ok(c)
}

/// How a storm runs: batched gossip or not, which peer the bulk accepts go to.
#[derive(Debug, Clone, Copy)]
struct Variant {
    batch: bool,
    accept_on: usize,
    shards: u32,
}

fn storm(
    rt: &tokio::runtime::Runtime,
    peers: usize,
    fleet: FleetConfig,
    v: Variant,
) -> anyhow::Result<StormReport> {
    let c = cluster(peers, fleet.agents, v.batch, v.shards)?;
    let s = StormScenario {
        fleet,
        timeout: Duration::from_secs(3600),
        accept_on: v.accept_on,
    };
    run_storm(&c, rt.handle(), &s)
}

fn main() -> anyhow::Result<()> {
    let agents: usize = arg("--agents", 1_000_000)?;
    let peers: usize = arg("--peers", 3)?;
    let spread_ms: u64 = arg("--spread-ms", 0)?;
    let bulk_ms: u64 = arg("--bulk-ms", 500)?;
    let in_flight: usize = arg("--in-flight", 256)?;
    let baseline_agents: usize = arg("--baseline-agents", 20_000)?;
    let seed: u64 = arg("--seed", 1)?;
    let batch = arg::<u8>("--batch-changes", 1)? != 0;
    let accept_on: usize = arg("--accept-on", 0)?;
    let ladder = arg::<u8>("--ladder", 0)? != 0;
    let bulk_page: u64 = arg("--bulk-page", 2000)?;
    let shards: u32 = arg("--shards", 1024)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fleet = |agents: usize, bulk: Option<Duration>| FleetConfig {
        agents,
        seed,
        // Agents knock once, register, and come back much later: the storm is the
        // registrations, not the heartbeats.
        heartbeat: Duration::from_secs(3600),
        start_spread: Some(Duration::from_millis(spread_ms)),
        max_in_flight: in_flight,
        request_timeout: Duration::from_secs(30),
        backoff_max: Duration::from_secs(5),
        accept_concurrency: 4 * peers,
        bulk_accept: bulk,
        bulk_page: (bulk_page > 0).then_some(bulk_page),
        ..FleetConfig::default()
    };
    println!(
        "{agents} agents, {peers} peers, {shards} shards, start spread {spread_ms} ms, bulk accept every {bulk_ms} ms in pages of {}, {in_flight} requests in flight",
        if bulk_page > 0 {
            bulk_page.to_string()
        } else {
            "every match".into()
        }
    );
    let base = if baseline_agents > 0 {
        let v = Variant {
            batch,
            accept_on,
            shards,
        };
        let r = storm(&rt, peers, fleet(baseline_agents, None), v)?;
        println!("baseline: {baseline_agents} agents, one accept request per system\n{r}\n");
        Some(r)
    } else {
        None
    };
    let variants = if ladder {
        vec![
            Variant {
                batch: false,
                accept_on: 1 % peers,
                shards,
            },
            Variant {
                batch: true,
                accept_on: 1 % peers,
                shards,
            },
            Variant {
                batch: true,
                accept_on: 0,
                shards,
            },
        ]
    } else {
        vec![Variant {
            batch,
            accept_on,
            shards,
        }]
    };
    let mut r = None;
    for v in variants {
        let rep = storm(
            &rt,
            peers,
            fleet(agents, Some(Duration::from_millis(bulk_ms))),
            v,
        )?;
        println!(
            "storm: {agents} agents, accepted by query on p{} ({}), {} gossip\n{rep}\n",
            v.accept_on + 1,
            if v.accept_on == 0 {
                "the Load Driver leader: placed in the accept's write"
            } else {
                "not the leader: accepted, then placed by p1"
            },
            if v.batch {
                "batched"
            } else {
                "one message per shard"
            }
        );
        r = Some(rep);
    }
    let Some(r) = r else {
        return Ok(());
    };
    if let Some(b) = base {
        println!(
            "storm / baseline          {:.2} × the systems/s of one accept per system",
            r.rate() / b.rate()
        );
    }
    let ten_minutes = 600.0 * r.rate();
    println!(
        "at this rate             {:.0} systems in 10 minutes ({:.1} min for a million)",
        ten_minutes,
        1e6 / r.rate() / 60.0
    );
    Ok(())
}
