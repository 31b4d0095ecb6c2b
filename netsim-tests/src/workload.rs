//! Seeded, realistic records for tests and benchmarks.

use std::collections::BTreeSet;

use crdt_store::{Record, SystemRecord, SystemStatus};
use rand::Rng;

/// A system record for index `i`, with a random 32-byte fingerprint in `salt-key -F` form.
pub fn system(rng: &mut impl Rng, i: u64) -> Record {
    let fp: Vec<String> = (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect();
    let mut tags = BTreeSet::new();
    tags.insert(["web", "db", "app", "cache"][(i % 4) as usize].to_string());
    Record::System(SystemRecord {
        uyuni_ids: Default::default(),
        fingerprint: fp.join(":"),
        minion_id: format!("host{i:08}.acme.org"),
        hostname: format!("host{i:08}.acme.org"),
        status: SystemStatus::Onboarded,
        banned: false,
        node: Some(format!("node{}", i % 50)),
        previous_node: None,
        zone: Some(format!("zone{}", i % 5)),
        tags,
        groups: BTreeSet::new(),
        channels: BTreeSet::new(),
        registered_at: 1_760_000_000_000 + i,
        updated_at: 1_760_000_000_000 + i,
    })
}

/// RSS of a process in MiB (Linux `/proc`), 0 if unknown.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Total size of the files under `p`, in bytes.
pub fn dir_size(p: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let Ok(md) = e.metadata() else { continue };
        total += if md.is_dir() {
            dir_size(&e.path())
        } else {
            md.len()
        };
    }
    total
}

/// Percentile (0..=100) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The value of command-line option `name` (`--name VALUE`) of a benchmark, or `default`.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => {
            let v = args
                .get(i + 1)
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?;
            v.parse().map_err(|e| anyhow::anyhow!("{name} {v}: {e}"))
        }
        None => Ok(default),
    }
}

/// `len` seeded pseudo-random bytes (BLAKE3's output stream: fast even in a debug build), for
/// package-like test content.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}
