//! Benchmark: the change capture's event volume and cost under a realistic write mix of one
//! Uyuni server with many systems, on Uyuni's own schema (netsim-tests/schema/uyuni).
//!
//! `cargo run --release -p netsim-tests --example bench_capture -- [--systems 20000]
//!     [--minutes 2] [--speed 10] [--workers 4] [--rounds 5] [--seed 1]`
//!
//! The mix per (simulated) minute for S systems, written with netsim_tests::uyuni_writes, i.e.
//! the tables and columns Uyuni's own code writes:
//! - check-ins: every system every 5 minutes (S / 5 `rhnServerInfo` updates);
//! - package-profile refreshes: every system twice a day (S / 720; each replaces 300
//!   `rhnServerPackage` rows and saves `rhnServer` and `suseMinionInfo`);
//! - actions: two a day per system (S / 720 scheduled, picked up and completed);
//! - minion starts: once a day per system (S / 1440 `suseMinionInfo` rewrites);
//! - group membership changes: S / 4000 (rows in `rhnServerGroupMembers` and the group's
//!   `current_members`);
//! - a channel sync every 10 minutes (300 new packages, `last_synced`), and one common-data
//!   edit a minute (a system group's description).
//!
//! Each simulated minute runs in 60 / SPEED seconds over WORKERS connections, in three
//! databases loaded alike (each round runs the three in a rotated order, so that load from
//! elsewhere on the machine spreads over all of them; medians are reported): without triggers, with this project's triggers (filtered at the
//! source), and with the unfiltered capture of version 1 (every watched table's every change,
//! `rhnServer` included). For each: statements' summed execution time (the load Uyuni's
//! writes put on PostgreSQL, seen from its clients), outbox rows, and — with a reader
//! acknowledging at once — the reader's lag (database commit time to delivery).

use std::sync::Arc;
use std::time::{Duration, Instant};

use netsim_tests::pg::Postgres;
use netsim_tests::uyuni_schema;
use netsim_tests::uyuni_writes as w;
use netsim_tests::workload::arg;
use node_controller::outbox::{OutboxBatch, OutboxConfig};
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

const FIRST_SERVER: i64 = 1_000_010_000;
const PROFILE: i64 = 300;
const GROUPS: i64 = 50;

async fn connect(dsn: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// S systems registered, GROUPS user groups, the packages and one channel; before any
/// trigger is installed. (Not `ANALYZE` of everything: statistics on `rhnPackageEVR.evr` need
/// Uyuni's `rpm.vercmp`, which the test schema does not load.)
fn populate(pg: &Postgres, db: &str, systems: i64) -> anyhow::Result<()> {
    let mut sql = w::packages(1, 20_000);
    sql.push_str(&w::channel(101, "sles15-base", "SLES 15", None));
    sql.push_str(&w::sync_channel(101, 1, 5_000));
    for g in 0..GROUPS {
        sql.push_str(&w::system_group(
            1000 + g,
            &format!("group-{g}"),
            "bench group",
        ));
    }
    pg.psql(db, &sql)?;
    // Registration in bulk, the same rows as w::register_minion.
    pg.psql(
        db,
        &format!(
            "INSERT INTO rhnServer (id, org_id, digital_server_id, server_arch_id, os, release, name, secret, contact_method_id, hostname) \
             SELECT s, 1, 'ID-' || s, (SELECT id FROM rhnServerArch WHERE label = 'x86_64-redhat-linux'), 'SLES', '15.6', \
                    'm' || s, md5(s::text), 0, 'm' || s FROM generate_series({FIRST_SERVER}, {last}) s;\n\
             INSERT INTO rhnServerInfo (server_id, checkin, checkin_counter) \
             SELECT s, current_timestamp, 0 FROM generate_series({FIRST_SERVER}, {last}) s;\n\
             INSERT INTO suseMinionInfo (server_id, minion_id, os_family) \
             SELECT s, 'm' || s, 'Suse' FROM generate_series({FIRST_SERVER}, {last}) s;\n\
             INSERT INTO rhnServerGroupMembers (server_id, server_group_id) \
             SELECT s, 90001 FROM generate_series({FIRST_SERVER}, {last}) s;\n\
             UPDATE rhnServerGroup SET current_members = {systems} WHERE id = 90001;\n\
             ANALYZE rhnServer; ANALYZE rhnServerInfo; ANALYZE suseMinionInfo; ANALYZE rhnServerGroupMembers; \
             ANALYZE rhnServerGroup; ANALYZE rhnPackage; ANALYZE rhnPackageName; ANALYZE rhnChannelPackage;",
            last = FIRST_SERVER + systems - 1
        ),
    )?;
    Ok(())
}

/// The filters off: every change of every row-captured table, rhnServer watched again (as
/// version 1 of the install script did).
const UNFILTERED: &str = "
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rhnchannel', 'rhnservergroup', 'rhnactivationkey', 'susecontentenvironment',
                             'susecontentfilter', 'susecontentenvironmenttarget', 'suseminioninfo', 'rhnserver'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS uyuni_cluster_capture ON %s', t);
        EXECUTE format('CREATE TRIGGER uyuni_cluster_capture AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION uyuni_cluster.capture_row()', t);
    END LOOP;
END $$;";

/// One simulated minute's statements, shuffled.
fn minute(rng: &mut ChaCha8Rng, m: i64, systems: i64, next_id: &mut i64) -> Vec<String> {
    let pick = |rng: &mut ChaCha8Rng| FIRST_SERVER + rng.random_range(0..systems);
    let mut ops = Vec::new();
    for _ in 0..systems / 5 {
        ops.push(w::checkin(pick(rng)));
    }
    for _ in 0..(systems / 720).max(1) {
        let first = 1 + rng.random_range(0..(20_000 - PROFILE));
        ops.push(w::package_refresh(pick(rng), first, PROFILE));
        let (s, a) = (pick(rng), *next_id);
        *next_id += 1;
        ops.push(format!(
            "{}\n{}",
            w::schedule_action(a, "packages.update", &[s]),
            w::complete_action(a, s)
        ));
    }
    for _ in 0..(systems / 1440).max(1) {
        ops.push(format!(
            "UPDATE suseMinionInfo SET os_family = 'Suse', kernel_live_version = NULL, modified = current_timestamp \
             WHERE server_id = {};",
            pick(rng)
        ));
    }
    for _ in 0..(systems / 4000).max(1) {
        let g = 1000 + rng.random_range(0..GROUPS);
        ops.push(format!(
            "INSERT INTO rhnServerGroupMembers (server_id, server_group_id) VALUES ({}, {g}) ON CONFLICT DO NOTHING;\n\
             UPDATE rhnServerGroup SET current_members = current_members + 1 WHERE id = {g};",
            pick(rng)
        ));
    }
    if m % 10 == 0 {
        // New packages each time (rounds continue where the last one stopped).
        let first = 5_001 + ((*next_id / 1_000_000) * 10 + m / 10) * 300 % 14_000;
        ops.push(w::sync_channel(101, first, 300));
    }
    ops.push(format!(
        "UPDATE rhnServerGroup SET description = 'edited {}' WHERE id = {};",
        rng.random::<u32>(),
        1000 + m % GROUPS
    ));
    ops.shuffle(rng);
    ops
}

#[derive(Debug, Default, Clone)]
struct Run {
    ops: usize,
    busy: Duration,
    wall: Duration,
    events: usize,
    lags_ms: Vec<u64>,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    dsn: &str,
    systems: i64,
    minutes: i64,
    speed: f64,
    workers: usize,
    seed: u64,
    read: bool,
    first_action: i64,
) -> anyhow::Result<Run> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let lags = Arc::new(Mutex::new(Vec::<u64>::new()));
    let events = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cancel = CancellationToken::new();
    let reader = if read {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<OutboxBatch>(4);
        let mut cfg = OutboxConfig::new(dsn);
        cfg.batch = 500;
        let task = node_controller::outbox::spawn(cfg, tx, cancel.clone());
        let (lags, events) = (lags.clone(), events.clone());
        let consumer = tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                let mut l = lags.lock().await;
                for e in &b.events {
                    l.push(now.saturating_sub(e.at_ms));
                }
                events.fetch_add(b.events.len(), std::sync::atomic::Ordering::Relaxed);
                let _ = b.ack.send(());
            }
        });
        Some((task, consumer))
    } else {
        None
    };
    let mut clients = Vec::new();
    for _ in 0..workers {
        clients.push(Arc::new(connect(dsn).await?));
    }
    let mut out = Run::default();
    let slice = Duration::from_secs_f64(60.0 / speed / 10.0);
    let start = Instant::now();
    let mut next_action = first_action;
    for m in 0..minutes {
        let ops = minute(&mut rng, m, systems, &mut next_action);
        out.ops += ops.len();
        let per_slice = ops.len().div_ceil(10);
        for (i, chunk) in ops.chunks(per_slice).enumerate() {
            let deadline = start + slice * (m as u32 * 10 + i as u32 + 1);
            let mut tasks = Vec::new();
            for (k, part) in chunk.chunks(chunk.len().div_ceil(workers)).enumerate() {
                let c = clients[k % workers].clone();
                let part: Vec<String> = part.to_vec();
                tasks.push(tokio::spawn(async move {
                    let mut busy = Duration::ZERO;
                    for sql in part {
                        let t = Instant::now();
                        c.batch_execute(&format!("BEGIN; {sql} COMMIT;")).await?;
                        busy += t.elapsed();
                    }
                    anyhow::Ok(busy)
                }));
            }
            for t in tasks {
                out.busy += t.await??;
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
        }
    }
    out.wall = start.elapsed();
    if let Some((task, consumer)) = reader {
        // Let the reader catch up with the last rows, then stop it.
        let c = connect(dsn).await?;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            let n: i64 = c
                .query_one("SELECT count(*) FROM uyuni_cluster.outbox", &[])
                .await?
                .get(0);
            if n == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        cancel.cancel();
        let _ = task.await;
        let _ = consumer.await;
        out.events = events.load(std::sync::atomic::Ordering::Relaxed);
        out.lags_ms = lags.lock().await.clone();
    }
    Ok(out)
}

fn pct(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p) as usize]
}

fn main() -> anyhow::Result<()> {
    let systems: i64 = arg("--systems", 20_000)?;
    let minutes: i64 = arg("--minutes", 2)?;
    let speed: f64 = arg("--speed", 10.0)?;
    let workers: usize = arg("--workers", 4)?;
    let seed: u64 = arg("--seed", 1)?;
    let pg = Postgres::start()?;
    let rt = tokio::runtime::Runtime::new()?;
    let mut dsns = Vec::new();
    for (db, capture) in [
        ("plain", None),
        ("filtered", Some(false)),
        ("unfiltered", Some(true)),
    ] {
        let t = Instant::now();
        let dsn = uyuni_schema::create_uyuni_database(&pg, db)?;
        populate(&pg, db, systems)?;
        if let Some(unfiltered) = capture {
            rt.block_on(node_controller::outbox::install(&dsn))?;
            if unfiltered {
                pg.psql(db, UNFILTERED)?;
            }
        }
        eprintln!(
            "{db}: schema and {systems} systems in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        dsns.push((db, dsn, capture.is_some()));
    }
    let rounds: usize = arg("--rounds", 5)?;
    println!(
        "{systems} systems, {minutes} simulated minutes at {speed}x real time, {workers} connections, {rounds} rounds, seed {seed}"
    );
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); dsns.len()];
    for round in 0..rounds {
        for k in 0..dsns.len() {
            let i = (round + k) % dsns.len();
            let (db, dsn, read) = &dsns[i];
            let r = rt.block_on(run(
                dsn,
                systems,
                minutes,
                speed,
                workers,
                seed + round as u64,
                *read,
                1 + round as i64 * 1_000_000,
            ))?;
            eprintln!(
                "round {round} {db}: busy {:.2} s, {} events",
                r.busy.as_secs_f64(),
                r.events
            );
            results[i].push(r);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base_busy = median(results[0].iter().map(|r| r.busy.as_secs_f64()).collect());
    for ((db, _, _), runs) in dsns.iter().zip(results) {
        let busy = median(runs.iter().map(|r| r.busy.as_secs_f64()).collect());
        let ratios: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.2}", r.busy.as_secs_f64() / base_busy))
            .collect();
        let ops: usize = runs.iter().map(|r| r.ops).sum();
        let events: usize = runs.iter().map(|r| r.events).sum();
        let mut lags: Vec<u64> = runs.iter().flat_map(|r| r.lags_ms.clone()).collect();
        let per_min = events as f64 / (minutes as f64 * rounds as f64);
        println!(
            "{db:>10}: statements busy {busy:.2} s per round, median = {:.2}x plain (rounds {}); {} transactions; outbox {} rows = {:.1}/simulated min = {:.2}/s at real time ({:.2} per 1000 writes); reader lag p50 {} ms, p99 {} ms, max {} ms",
            busy / base_busy,
            ratios.join(" "),
            ops,
            events,
            per_min,
            per_min / 60.0,
            events as f64 * 1000.0 / ops as f64,
            pct(&mut lags, 0.5),
            pct(&mut lags, 0.99),
            pct(&mut lags, 1.0),
        );
    }
    Ok(())
}
