//! How the cost of one system's writes grows with the shard documents (issue 17's onboarding
//! storm: peers' CPU per system 1.06 ms at 20k systems, 1.75 ms at 100k, 1024 shards).
//!
//! Two stores, A writing and B applying what A broadcast, as two peers do: per stage, a block
//! of new systems registers on A (batches of 100, like the write batcher), B applies the
//! chunks (`apply_remote_batch`); then A accepts and places them (`update_systems` in chunks
//! of 1000, like `POST /search/bulk`) and B applies that. The figures are µs per system for
//! each step, read as the documents fill (systems per shard on the left).
//!
//! `cargo run --release -p crdt-store --example shard_growth -- [shards 64] [block 4096] [stages 12]`

use std::time::Instant;

use crdt_store::{Record, RemoteChange, ShardId, Store, StoreOptions, SystemRecord, SystemStatus};

fn apply(b: &Store, a: &Store, frames: &[(ShardId, Vec<u8>)]) -> anyhow::Result<()> {
    let heads: Vec<Vec<[u8; 32]>> = frames
        .iter()
        .map(|(id, _)| a.heads(*id))
        .collect::<Result<_, _>>()?;
    let items: Vec<RemoteChange<'_>> = frames
        .iter()
        .zip(&heads)
        .map(|((shard, chunk), heads)| RemoteChange {
            shard: *shard,
            chunk,
            heads,
        })
        .collect();
    let out = b.apply_remote_batch(&items)?;
    anyhow::ensure!(
        out.incomplete.is_empty(),
        "incomplete: {:?}",
        out.incomplete
    );
    Ok(())
}

fn fp(i: u64) -> String {
    let b = blake3::hash(&i.to_le_bytes());
    b.as_bytes()[..32]
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let shards = args.first().copied().unwrap_or(64) as u32;
    let block = args.get(1).copied().unwrap_or(4096);
    let stages = args.get(2).copied().unwrap_or(12);
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let opts = StoreOptions {
        shard_count: shards,
        ..StoreOptions::default()
    };
    let (a, _) = Store::open(da.path(), opts.clone())?;
    let (b, _) = Store::open(db.path(), opts)?;
    println!(
        "{shards} shards, blocks of {block} systems; µs per system: register on A, apply on B, accept on A, apply on B"
    );
    let mut next = 0u64;
    for _ in 0..stages {
        let ids: Vec<u64> = (next..next + block).collect();
        next += block;
        let fps: Vec<String> = ids.iter().map(|i| fp(*i)).collect();
        let (mut reg, mut reg_apply) = (0.0, 0.0);
        for c in fps.chunks(100) {
            let recs: Vec<Record> = c
                .iter()
                .map(|f| {
                    Record::System(SystemRecord::new(f.clone(), format!("m-{f}"), 1).with_zone("z"))
                })
                .collect();
            let t = Instant::now();
            let frames = a.put_batch(&recs)?;
            reg += t.elapsed().as_secs_f64();
            let t = Instant::now();
            apply(&b, &a, &frames)?;
            reg_apply += t.elapsed().as_secs_f64();
        }
        let (mut acc, mut acc_apply) = (0.0, 0.0);
        for c in fps.chunks(1000) {
            let t = Instant::now();
            let (frames, _) = a.update_systems(c, |r| {
                r.status = SystemStatus::Onboarded;
                r.node = Some("n1".into());
                r.updated_at = 2;
                true
            })?;
            acc += t.elapsed().as_secs_f64();
            let t = Instant::now();
            apply(&b, &a, &frames)?;
            acc_apply += t.elapsed().as_secs_f64();
        }
        let per = |s: f64| s * 1e6 / block as f64;
        println!(
            "{:>6} per shard ({:>7} systems): register {:>6.1}  apply {:>6.1}  accept {:>6.1}  apply {:>6.1}  total {:>6.1}",
            next / u64::from(shards),
            next,
            per(reg),
            per(reg_apply),
            per(acc),
            per(acc_apply),
            per(reg + reg_apply + acc + acc_apply)
        );
    }
    Ok(())
}
