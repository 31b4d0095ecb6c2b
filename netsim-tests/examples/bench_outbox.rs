//! Benchmark: what the cluster's triggers cost Uyuni's own writes, and how fast the Node
//! Controller's outbox reader drains them.
//!
//! `cargo run --release -p netsim-tests --example bench_outbox -- [--rows 5000] [--rounds 3]`
//!
//! On a throwaway PostgreSQL (Unix socket, `fsync=off` like every test cluster here) with
//! Uyuni's own schema (netsim-tests/schema/uyuni), each round inserts ROWS channels into
//! `rhnchannel`, one transaction per row as Uyuni's API does, into two databases: one without
//! and one with the triggers installed (the baseline and the measured case run in the same
//! round, alternating). The ratio of the medians is the triggers' overhead on Uyuni's write
//! path. Then the peer's outbox reader (`node_controller::outbox::spawn`, batches of 500, acknowledged
//! at once) drains the ROWS outbox rows; events per second are printed.

use std::time::{Duration, Instant};

use netsim_tests::pg::Postgres;
use netsim_tests::uyuni_schema;
use netsim_tests::workload::arg;
use node_controller::outbox::{OutboxBatch, OutboxConfig};
use tokio_util::sync::CancellationToken;

async fn connect(dsn: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Insert `rows` channels, one transaction each; returns the elapsed time.
async fn insert_channels(dsn: &str, round: usize, rows: usize) -> anyhow::Result<Duration> {
    let mut c = connect(dsn).await?;
    let stmt = c
        .prepare(
            "INSERT INTO rhnchannel (id, org_id, channel_arch_id, label, basedir, name, summary, status) \
             VALUES ($1::bigint, 1, (SELECT id FROM rhnChannelArch WHERE label = 'channel-x86_64'), \
                     $2, '/dev/null', $3, 'bench', 'active')",
        )
        .await?;
    let start = Instant::now();
    for i in 0..rows {
        let id = (round * rows + i) as i64 + 1;
        let label = format!("bench-{round}-{i}");
        let tx = c.transaction().await?;
        tx.execute(&stmt, &[&id, &label, &label]).await?;
        tx.commit().await?;
    }
    Ok(start.elapsed())
}

async fn drain(dsn: &str, rows: usize) -> anyhow::Result<Duration> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<OutboxBatch>(4);
    let cancel = CancellationToken::new();
    let mut cfg = OutboxConfig::new(dsn);
    cfg.batch = 500;
    let start = Instant::now();
    let reader = node_controller::outbox::spawn(cfg, tx, cancel.clone());
    let mut seen = 0usize;
    while seen < rows {
        let Some(batch) = rx.recv().await else {
            anyhow::bail!("the reader stopped after {seen} events");
        };
        seen += batch.events.len();
        let _ = batch.ack.send(());
    }
    let elapsed = start.elapsed();
    cancel.cancel();
    let _ = reader.await;
    Ok(elapsed)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let rows: usize = arg("--rows", 5000)?;
    let rounds: usize = arg("--rounds", 3)?;
    let pg = Postgres::start()?;
    let rt = tokio::runtime::Runtime::new()?;
    let plain = uyuni_schema::create_uyuni_database(&pg, "plain")?;
    let captured = uyuni_schema::create_uyuni_database(&pg, "captured")?;
    rt.block_on(node_controller::outbox::install(&captured))?;

    let (mut base, mut with) = (Vec::new(), Vec::new());
    let mut drains = Vec::new();
    for round in 0..rounds {
        let b = rt.block_on(insert_channels(&plain, round, rows))?;
        let w = rt.block_on(insert_channels(&captured, round, rows))?;
        let d = rt.block_on(drain(&captured, rows))?;
        println!(
            "round {round}: {rows} single-row transactions: {:.0} rows/s without triggers, {:.0} rows/s with; reader drained {rows} events in {:.0} ms ({:.0} events/s)",
            rows as f64 / b.as_secs_f64(),
            rows as f64 / w.as_secs_f64(),
            d.as_secs_f64() * 1000.0,
            rows as f64 / d.as_secs_f64()
        );
        base.push(b.as_secs_f64());
        with.push(w.as_secs_f64());
        drains.push(rows as f64 / d.as_secs_f64());
    }
    let (b, w) = (median(base), median(with));
    println!(
        "median: Uyuni writes with the triggers take {:.2}× the time without ({:.0} vs {:.0} rows/s); outbox reader {:.0} events/s",
        w / b,
        rows as f64 / w,
        rows as f64 / b,
        median(drains)
    );
    Ok(())
}
