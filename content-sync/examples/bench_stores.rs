//! Benchmark: one repository from an origin to many stores behind thin links (issue 17).
//!
//! `cargo run --release -p content-sync --example bench_stores -- [--stores 100] [--mib 8]
//!  [--file-kib 256] [--large-mib 2] [--link-kib-s 256] [--origin-kib-s LINK] [--slots 2]
//!  [--parallel 4] [--per-provider 2] [--poll-ms 500] [--polls 16] [--split-mib 1] [--seed 1]
//!  [--seed-copies 1] [--seed-hold-s 30] [--news-to 32]`
//!
//! Content-sync level, in one process: an origin and STORES stores, each a blob store, an
//! iroh endpoint on 127.0.0.1 (its own UDP socket, QUIC between them) and a fetcher. A
//! hundred full peers (metastore, libp2p, HTTP) do not fit two shared cores beside the
//! transfers; what is measured (who fetches what from whom, at which rate) is the same code
//! the peer runs (`content_sync::swarm`). Every store's link is thin: its uploads and its
//! downloads are each limited to LINK KiB/s (the origin's uploads to ORIGIN KiB/s).
//!
//! The repository: MIB of seeded random files of FILE_KIB each, plus one file of LARGE_MIB
//! (fetched as byte ranges from several holders, `--split-mib` and up). First one store
//! fetches it alone from the origin's store (the baseline: one transfer over a second endpoint
//! of the origin without super-seeding, then dropped); then all
//! stores start at once, the origin super-seeding (`--seed-copies` copies of each file handed
//! out, again after `--seed-hold-s` seconds; `--seed-copies 0`: off), every node telling at
//! most `--news-to` recent askers of what it holds when that changes (`0`: no news, polling
//! only). Printed: the one-transfer time, the time until every store holds the
//! repository, the origin's upload total ÷ the repository size (issue 17: at most 3), and
//! the swarm's counters.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use content_sync::{
    Bitmap, BlobStore, ContentEndpoint, EndpointId, Fetcher, Gate, Hash, Provider, SeedOptions,
    ServeOptions, SwarmFile, SwarmOptions, SwarmProvider, WatchOptions, fetch_repository,
};

/// Everyone is a member of one zone and may fetch everything.
#[derive(Debug)]
struct Open;

impl Gate for Open {
    fn member_zone(&self, _id: &EndpointId) -> Option<String> {
        Some("stores".into())
    }
    fn may_fetch(&self, _zone: &str, _hash: &Hash) -> bool {
        true
    }
}

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

struct Node {
    store: BlobStore,
    ep: ContentEndpoint,
    fetcher: Fetcher,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(
        name: &str,
        up: u64,
        down: Option<u64>,
        slots: usize,
        seed: SeedOptions,
        share: Option<&BlobStore>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::Builder::new().prefix("bench-stores-").tempdir()?;
        let store = match share {
            Some(s) => s.clone(),
            None => BlobStore::open(dir.path(), None).await?,
        };
        let secret = *blake3::hash(name.as_bytes()).as_bytes();
        let bind: SocketAddr = "127.0.0.1:0".parse()?;
        let ep = ContentEndpoint::bind(
            secret,
            bind,
            &store,
            Arc::new(Open),
            ServeOptions {
                upload_limit: Some(up),
                upload_slots: slots,
                seed,
                watch: WatchOptions {
                    max_told: arg("--news-to", WatchOptions::default().max_told),
                    ..WatchOptions::default()
                },
            },
        )
        .await?;
        let fetcher = Fetcher::new(ep.clone(), store.clone(), down);
        Ok(Self {
            store,
            ep,
            fetcher,
            _dir: dir,
        })
    }

    fn provider(&self) -> Provider {
        Provider {
            id: self.ep.id(),
            addrs: self.ep.addrs(),
        }
    }

    async fn stop(&self) {
        self.ep.shutdown().await;
        self.store.shutdown().await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stores: usize = arg("--stores", 100);
    let mib: u64 = arg("--mib", 8);
    let file_kib: u64 = arg("--file-kib", 256);
    let large_mib: u64 = arg("--large-mib", 2);
    let link: u64 = arg("--link-kib-s", 256) * 1024;
    let origin_up: u64 = arg("--origin-kib-s", link / 1024) * 1024;
    let slots: usize = arg("--slots", 2);
    let seed: u64 = arg("--seed", 1);
    let seeding = SeedOptions {
        copies: arg("--seed-copies", 1),
        hold: Duration::from_secs(arg("--seed-hold-s", 30)),
    };
    let plain = SeedOptions::default();
    let opts = SwarmOptions {
        parallel: arg("--parallel", 4),
        per_provider: arg("--per-provider", 2),
        split_threshold: arg("--split-mib", 1u64) << 20,
        poll_interval: Duration::from_millis(arg("--poll-ms", 500)),
        polls_per_interval: arg("--polls", 16),
        stall_timeout: Duration::from_secs(600),
        ..SwarmOptions::default()
    };

    // The origin and the repository.
    let origin = Node::start("origin", origin_up, None, slots, seeding, None).await?;
    let n = (mib << 10) / file_kib;
    let mut files = Vec::new();
    let mut keep = Vec::new();
    for i in 0..n {
        let tt = origin
            .store
            .add_bytes(noise(seed * 1_000_003 + i, (file_kib << 10) as usize))
            .await?;
        files.push(SwarmFile {
            hash: tt.hash(),
            size: file_kib << 10,
        });
        keep.push(tt);
    }
    if large_mib > 0 {
        let tt = origin
            .store
            .add_bytes(noise(seed * 7_000_001, (large_mib << 20) as usize))
            .await?;
        files.push(SwarmFile {
            hash: tt.hash(),
            size: large_mib << 20,
        });
        keep.push(tt);
    }
    let total: u64 = files.iter().map(|f| f.size).sum();
    let manifest = Hash::new(
        files
            .iter()
            .flat_map(|f| *f.hash.as_bytes())
            .collect::<Vec<u8>>(),
    );
    let hashes: Vec<Hash> = files.iter().map(|f| f.hash).collect();
    origin
        .ep
        .have
        .put_files(manifest, Bitmap::full(files.len()), hashes.clone());
    let mib_of = |b: u64| b as f64 / 1048576.0;
    println!(
        "repository: {} files, {:.1} MiB ({} of {file_kib} KiB, one of {large_mib} MiB); links: {} KiB/s up and down per store, origin {} KiB/s up; {slots} upload slots, {} fetches at once, {} per provider, maps polled every {:?} (at most {} per interval)",
        files.len(),
        mib_of(total),
        n,
        link / 1024,
        origin_up / 1024,
        opts.parallel,
        opts.per_provider,
        opts.poll_interval,
        opts.polls_per_interval
    );
    println!(
        "origin super-seeding: {}",
        if seeding.copies == 0 {
            "off".to_string()
        } else {
            format!(
                "{} cop{} of each file, again after {:?}",
                seeding.copies,
                if seeding.copies == 1 { "y" } else { "ies" },
                seeding.hold
            )
        }
    );

    // Baseline: one store alone, from the origin's store over an endpoint that does not
    // super-seed (a lone fetcher gets everything from the origin either way; this keeps the
    // origin's hand-out counts for the run below).
    let origin0 = Node::start(
        "origin0",
        origin_up,
        None,
        slots,
        plain,
        Some(&origin.store),
    )
    .await?;
    origin0.ep.have.put(manifest, Bitmap::full(files.len()));
    let lone = Node::start("lone", link, Some(link), slots, plain, None).await?;
    lone.ep.have.put(manifest, Bitmap::new(files.len()));
    let start = Instant::now();
    fetch_repository(
        &lone.fetcher,
        "lone",
        manifest,
        &files,
        Bitmap::new(files.len()),
        vec![SwarmProvider {
            provider: origin0.provider(),
            complete: true,
        }],
        opts,
        |_, _| {},
    )
    .await?;
    let one = start.elapsed().as_secs_f64();
    lone.stop().await;
    // origin0 stays up until the end: shutting its router down would shut the shared store.
    let origin_before = origin.ep.stats.uploaded_bytes.load(Relaxed);
    println!(
        "one transfer (1 store alone):  {one:7.2} s  (the link alone: {:.2} s)",
        total as f64 / link.min(origin_up) as f64
    );

    // Every store at once.
    let mut nodes = Vec::with_capacity(stores);
    for k in 0..stores {
        nodes.push(Arc::new(
            Node::start(&format!("store{k}"), link, Some(link), slots, plain, None).await?,
        ));
    }
    let mut everyone: Vec<(usize, Provider)> = nodes
        .iter()
        .enumerate()
        .map(|(k, s)| (k, s.provider()))
        .collect();
    everyone.push((usize::MAX, origin.provider()));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (k, node) in nodes.iter().enumerate() {
        let providers: Vec<SwarmProvider> = everyone
            .iter()
            .filter(|(j, _)| *j != k)
            .map(|(j, p)| SwarmProvider {
                provider: p.clone(),
                complete: *j == usize::MAX,
            })
            .collect();
        let (node, files) = (node.clone(), files.clone());
        node.ep.have.put(manifest, Bitmap::new(files.len()));
        tasks.spawn(async move {
            let name = format!("store{k}");
            let r = fetch_repository(
                &node.fetcher,
                &name,
                manifest,
                &files,
                Bitmap::new(files.len()),
                providers,
                opts,
                |_, _| {},
            )
            .await;
            (k, r.map(|_| start.elapsed().as_secs_f64()))
        });
    }
    let mut times = Vec::with_capacity(stores);
    let mut failed = 0;
    while let Some(r) = tasks.join_next().await {
        match r? {
            (_, Ok(t)) => times.push(t),
            (k, Err(e)) => {
                failed += 1;
                eprintln!("store{k}: {e}");
            }
        }
    }
    let all = start.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let origin_up_total = origin.ep.stats.uploaded_bytes.load(Relaxed) - origin_before;
    let sum = |f: &dyn Fn(&Node) -> u64| nodes.iter().map(|n| f(n)).sum::<u64>();
    println!(
        "{stores} stores at once:          {all:7.2} s  = {:.2} x one transfer (per store p50 {:.1} s, p90 {:.1} s, max {:.1} s; {failed} failed)",
        all / one,
        pct(0.5),
        pct(0.9),
        pct(1.0)
    );
    println!(
        "origin uploaded:               {:7.1} MiB = {:.2} x the repository (aim: at most 3)",
        mib_of(origin_up_total),
        origin_up_total as f64 / total as f64
    );
    println!(
        "origin: {} requests served, {} refused busy, {} refused by super-seeding (handed out already); stores learnt {} holders from its hints",
        origin.ep.stats.served_requests.load(Relaxed),
        origin.ep.stats.busy_refusals.load(Relaxed),
        origin.ep.stats.seed_refusals.load(Relaxed),
        sum(&|n| n.fetcher.stats.hints.load(Relaxed)),
    );
    println!(
        "news of holdings: {} sent (origin {}), {} received",
        sum(&|n| n.ep.stats.news_sent.load(Relaxed)) + origin.ep.stats.news_sent.load(Relaxed),
        origin.ep.stats.news_sent.load(Relaxed),
        sum(&|n| n.fetcher.stats.news.load(Relaxed)),
    );
    println!(
        "stores uploaded {:.0} MiB, fetched {:.0} MiB; {} map questions, {} asks of a provider whose map did not list the file, {} busy refusals, {} failed fetches, {} blobs split over {} range requests",
        mib_of(sum(&|n| n.ep.stats.uploaded_bytes.load(Relaxed))),
        mib_of(sum(&|n| n.fetcher.stats.bytes.load(Relaxed))),
        sum(&|n| n.fetcher.stats.have_polls.load(Relaxed)),
        sum(&|n| n.fetcher.stats.asks_unlisted.load(Relaxed)),
        sum(&|n| n.ep.stats.busy_refusals.load(Relaxed))
            + origin.ep.stats.busy_refusals.load(Relaxed),
        sum(&|n| n.fetcher.stats.failures.load(Relaxed)),
        sum(&|n| n.fetcher.stats.split_blobs.load(Relaxed)),
        sum(&|n| n.fetcher.stats.range_requests.load(Relaxed)),
    );
    for n in &nodes {
        n.stop().await;
    }
    origin0.ep.shutdown().await;
    origin.stop().await;
    drop(keep);
    if failed > 0 {
        return Err(format!("{failed} stores did not complete").into());
    }
    Ok(())
}
