//! Benchmark: agent status requests (`GET /system/status?fp=`) per second that one peer
//! serves, against a bare axum handler returning one byte, with the same load generator.
//!
//! `cargo run --release -p netsim-tests --example bench_status -- [--systems 100000]
//! [--requests 200000] [--conns 64] [--rounds 3]`
//!
//! The peer is preloaded with SYSTEMS onboarded systems (written to its store before it
//! starts). The baseline is this program started again as `--serve-bare`: a separate process
//! with the same tokio runtime as the peer (`Runtime::new()`) and one axum route answering
//! `o`. Both are driven by [`HttpPool`] (the load generator's client) with CONNS keep-alive
//! connections, each request for a random known fingerprint, for REQUESTS requests per
//! measurement; the rounds alternate baseline and peer, and the ratio is that of the medians.
//!
//! Protocol 2: every request shows the system's token (`X-Uyuni-Agent-Token`, minted here
//! with the cluster key as a registration would), so the peer's figure includes the door's
//! checks: the client's budget (raised by the harness so that one address may drive it) and
//! the token's HMAC. The baseline gets the same header and ignores it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crdt_store::{Record, Store, StoreOptions, SystemStatus};
use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::loadgen::HttpPool;
use netsim_tests::workload::{rss_mib, system};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use netsim_tests::workload::arg;

/// The baseline server: prints its address, serves until stdin closes.
fn serve_bare() -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let app = axum::Router::new().route("/system/status", axum::routing::get(|| async { "o" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?);
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stdin_closed.await;
            })
            .await?;
        Ok(())
    })
}

/// Send `total` status requests for random fingerprints over `conns` workers; requests/s.
async fn drive(
    pool: &HttpPool,
    addr: &str,
    fps: &Arc<Vec<(String, String)>>,
    total: u64,
    conns: usize,
    seed: u64,
) -> anyhow::Result<f64> {
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..conns {
        let (pool, addr, fps, sent) = (pool.clone(), addr.to_string(), fps.clone(), sent.clone());
        workers.spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ w as u64);
            while sent.fetch_add(1, Ordering::Relaxed) < total {
                let (fp, token) = &fps[rng.random_range(0..fps.len())];
                let r = pool
                    .get_with_token(&addr, &format!("/system/status?fp={fp}"), Some(token))
                    .await?;
                anyhow::ensure!(
                    r.status == 200 && r.body.as_ref() == b"o",
                    "unexpected answer {} {:?}",
                    r.status,
                    r.body
                );
            }
            Ok(())
        });
    }
    while let Some(r) = workers.join_next().await {
        r??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--serve-bare") {
        return serve_bare();
    }
    let n: u64 = arg("--systems", 100_000)?;
    let requests: u64 = arg("--requests", 200_000)?;
    let conns: usize = arg("--conns", 64)?;
    let rounds: usize = arg("--rounds", 3)?;

    // The peer, preloaded.
    let mut c = Cluster::new(&["z".to_string()], Options::production())?;
    let store_dir = c.data_dir_of("s1").join("store");
    let mut fps = Vec::with_capacity(n as usize);
    {
        let (store, _) = Store::open(&store_dir, StoreOptions::default())?;
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut i = 0;
        while i < n {
            let mut recs = Vec::with_capacity(1000);
            for j in i..(i + 1000).min(n) {
                if let Record::System(mut s) = system(&mut rng, j) {
                    s.node = Some("s1".into());
                    s.zone = Some("z".into());
                    s.status = SystemStatus::Onboarded;
                    fps.push(s.fingerprint.clone());
                    recs.push(Record::System(s));
                }
            }
            store.put_batch(&recs)?;
            i += 1000;
        }
        store.compact()?;
    }
    let tokens = load_driver::agent_door::token::TokenKey::new(&std::fs::read(&c.key)?);
    let expiry = netsim_tests::sim_keys::unix_now() + 86_400;
    let fps: Arc<Vec<(String, String)>> = Arc::new(
        fps.into_iter()
            .map(|fp| {
                let t = tokens.issue(&fp, expiry);
                (fp, t)
            })
            .collect(),
    );
    let p = c.add_peer("s1", "z")?;
    wait_until(
        Duration::from_secs(120),
        "the peer indexed its systems",
        || Ok(c.load(p)?.systems as u64 >= n),
    )?;
    let peer_addr = c.peers[p].http.trim_start_matches("http://").to_string();

    // The baseline, a separate process.
    let mut bare = Command::new(std::env::current_exe()?)
        .arg("--serve-bare")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(
        bare.stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("stdout"))?,
    )
    .read_line(&mut line)?;
    let bare_addr = line.trim().to_string();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (mut bare_rps, mut peer_rps) = (Vec::new(), Vec::new());
    let mut peer_lat = (Duration::ZERO, Duration::ZERO);
    rt.block_on(async {
        let pool = HttpPool::new(conns, Duration::from_secs(10));
        // Warm up both (connections, caches).
        drive(&pool, &bare_addr, &fps, 10_000, conns, 1).await?;
        drive(&pool, &peer_addr, &fps, 10_000, conns, 2).await?;
        for r in 0..rounds {
            let b = drive(&pool, &bare_addr, &fps, requests, conns, 10 + r as u64).await?;
            pool.stats().latency.reset();
            let s = drive(&pool, &peer_addr, &fps, requests, conns, 20 + r as u64).await?;
            peer_lat = (
                pool.stats().latency.percentile(50.0),
                pool.stats().latency.percentile(99.0),
            );
            println!(
                "round {r}: bare {b:.0} rps, peer {s:.0} rps, ratio {:.2}",
                s / b
            );
            bare_rps.push(b);
            peer_rps.push(s);
        }
        Ok::<_, anyhow::Error>(())
    })?;
    drop(bare.stdin.take());
    bare.wait()?;

    let (b, s) = (median(bare_rps), median(peer_rps));
    println!(
        "systems on the peer       {n} (RSS {:.0} MiB)",
        rss_mib(c.peers[p].pid().unwrap_or(0))
    );
    println!(
        "requests per measurement  {requests}, {conns} keep-alive connections, {rounds} rounds"
    );
    println!("bare axum, one byte       {b:.0} rps (median)");
    println!(
        "peer /system/status       {s:.0} rps (median); last round p50 {:.2} ms, p99 {:.2} ms",
        peer_lat.0.as_secs_f64() * 1e3,
        peer_lat.1.as_secs_f64() * 1e3
    );
    println!("ratio peer/bare           {:.2}", s / b);
    println!(
        "at a 60 s heartbeat       one peer serves {:.0}k agents; 1M agents (16.7k rps) need {:.1} peers' worth",
        s * 60.0 / 1000.0,
        1_000_000.0 / 60.0 / s
    );
    Ok(())
}
