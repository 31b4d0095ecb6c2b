//! Benchmark: the peer's search index over synthetic systems, against a linear scan with the
//! same matcher over a `Vec<SystemRecord>` measured in the same run.
//!
//! `cargo run --release -p netsim-tests --example bench_search -- [--systems 1000000]
//! [--rounds 20] [--limit 100]`
//!
//! Records are seeded (ChaCha8): names like `web0123.store042.acme.org`, a role tag plus
//! `prod`/`test`, one or two groups, one or two channels, two zones, 70 nodes, 90 %
//! onboarded. Reported: index build time, heap bytes per system (the index's own count) and
//! the process RSS growth while building it; per query p50/p99 of one page (`limit`) from
//! the index (evaluation + sorting + paging; fetching the page's records from the store is
//! not included) and of the baseline (scan, match, sort the matches, take the page), and the
//! ratio of the p50s.

use std::collections::BTreeSet;
use std::time::Instant;

use cluster_search::{SearchIndex, parse};
use crdt_store::{SystemRecord, SystemStatus};
use netsim_tests::workload::{arg, percentile, rss_mib};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROLES: [&str; 5] = ["web", "db", "app", "pos", "cache"];
const GROUPS: [&str; 4] = ["ubuntu-18-lts", "ubuntu-22-lts", "sles15-sp4", "rhel9"];
const CHANNELS: [&str; 4] = [
    "sles15-sp4-pool",
    "sles15-sp4-updates",
    "ubuntu-2204-main",
    "rhel9-base",
];

fn record(rng: &mut ChaCha8Rng, i: u64) -> SystemRecord {
    let fp: Vec<String> = (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect();
    let role = ROLES[rng.random_range(0..ROLES.len())];
    let store = rng.random_range(0..500u32);
    let name = format!("{role}{:04}.store{store:03}.acme.org", i % 10_000);
    let zone = if store < 250 { "dc1" } else { "dc2" };
    let node = format!("{zone}-peer{}", rng.random_range(0..35u32));
    let mut tags: BTreeSet<String> = [role.to_string()].into();
    tags.insert(if rng.random_bool(0.8) { "prod" } else { "test" }.into());
    if rng.random_bool(0.1) {
        tags.insert("pci".into());
    }
    let mut groups = BTreeSet::new();
    groups.insert(GROUPS[rng.random_range(0..GROUPS.len())].to_string());
    if rng.random_bool(0.3) {
        groups.insert(format!("store{store:03}"));
    }
    let mut channels = BTreeSet::new();
    for _ in 0..rng.random_range(1..3) {
        channels.insert(CHANNELS[rng.random_range(0..CHANNELS.len())].to_string());
    }
    let status = match rng.random_range(0..100) {
        0..90 => SystemStatus::Onboarded,
        90..95 => SystemStatus::New,
        95..98 => SystemStatus::Orphan,
        _ => SystemStatus::Deleted,
    };
    SystemRecord {
        uyuni_ids: Default::default(),
        fingerprint: fp.join(":"),
        minion_id: name.clone(),
        hostname: name,
        status,
        banned: false,
        node: (status == SystemStatus::Onboarded).then_some(node),
        previous_node: None,
        zone: Some(zone.into()),
        tags,
        groups,
        channels,
        registered_at: 1_760_000_000_000 + i,
        updated_at: 1_760_000_000_000 + i,
    }
}

/// The baseline: the same matcher over every record, then sort and page.
fn scan(records: &[SystemRecord], e: &cluster_search::Expr, limit: usize) -> (usize, Vec<String>) {
    let mut hits: Vec<&SystemRecord> = records.iter().filter(|r| e.matches(r)).collect();
    let total = hits.len();
    let key = |r: &SystemRecord| {
        (
            r.minion_id.to_ascii_lowercase(),
            r.minion_id.clone(),
            r.fingerprint.clone(),
        )
    };
    if hits.len() > limit {
        hits.select_nth_unstable_by_key(limit, |r| key(r));
        hits.truncate(limit);
    }
    hits.sort_by_key(|r| key(r));
    (
        total,
        hits.into_iter().map(|r| r.fingerprint.clone()).collect(),
    )
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let n: u64 = arg("--systems", 1_000_000)?;
    let rounds: usize = arg("--rounds", 20)?;
    let limit: usize = arg("--limit", 100)?;
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let records: Vec<SystemRecord> = (0..n).map(|i| record(&mut rng, i)).collect();
    let pid = std::process::id();
    let rss0 = rss_mib(pid);
    let t = Instant::now();
    let mut ix = SearchIndex::new();
    for r in &records {
        ix.upsert(r);
    }
    ix.settle();
    let build = t.elapsed();
    let rss1 = rss_mib(pid);
    let bytes = ix.heap_bytes();
    println!(
        "systems {n}: index build {:.2} s ({:.0} systems/s), heap {:.1} MiB = {:.0} bytes/system, RSS +{:.1} MiB",
        build.as_secs_f64(),
        n as f64 / build.as_secs_f64(),
        bytes as f64 / 1048576.0,
        bytes as f64 / n as f64,
        rss1 - rss0
    );
    let queries = [
        "tag:db",
        "web*.acme.org",
        "group:ubuntu-18-lts and zone:dc1",
        "not status:onboarded",
        "tag:db or tag:web and not node:dc1-peer7",
        "web01*.store1*",
        "tag:pci group:store042",
    ];
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "query (limit ".to_string() + &limit.to_string() + ")",
        "matches",
        "ix p50",
        "ix p99",
        "scan p50",
        "scan p99",
        "ratio"
    );
    let mut all_ix = Vec::new();
    let mut all_scan = Vec::new();
    for q in queries {
        let e = parse(q)?;
        let (mut ti, mut ts) = (Vec::new(), Vec::new());
        let mut total = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let page = ix.search(&e, None, limit);
            ti.push(ms(t.elapsed()));
            let t = Instant::now();
            let (st, sfps) = scan(&records, &e, limit);
            ts.push(ms(t.elapsed()));
            anyhow::ensure!(
                st == page.total && sfps == page.fingerprints,
                "index and scan disagree on {q}"
            );
            total = page.total;
        }
        ti.sort_by(f64::total_cmp);
        ts.sort_by(f64::total_cmp);
        all_ix.extend_from_slice(&ti);
        all_scan.extend_from_slice(&ts);
        let (i50, s50) = (percentile(&ti, 50.0), percentile(&ts, 50.0));
        println!(
            "{q:<44} {total:>9} {i50:>7.2}ms {:>7.2}ms {s50:>7.1}ms {:>7.1}ms {:>6.0}×",
            percentile(&ti, 99.0),
            percentile(&ts, 99.0),
            s50 / i50
        );
    }
    all_ix.sort_by(f64::total_cmp);
    all_scan.sort_by(f64::total_cmp);
    println!(
        "whole mix: index p50 {:.2} ms p99 {:.2} ms; scan p50 {:.1} ms p99 {:.1} ms; p50 ratio {:.0}×",
        percentile(&all_ix, 50.0),
        percentile(&all_ix, 99.0),
        percentile(&all_scan, 50.0),
        percentile(&all_scan, 99.0),
        percentile(&all_scan, 50.0) / percentile(&all_ix, 50.0)
    );
    // Churn: rewrite 1 % of the systems (a tag added), the cost per update.
    let t = Instant::now();
    let k = (n / 100).max(1);
    for r in records.iter().take(k as usize) {
        let mut r = r.clone();
        r.tags.insert("patched".into());
        ix.upsert(&r);
    }
    println!(
        "updates: {k} tag edits in {:.0} ms ({:.1} µs each)",
        ms(t.elapsed()),
        ms(t.elapsed()) * 1000.0 / k as f64
    );
    Ok(())
}
