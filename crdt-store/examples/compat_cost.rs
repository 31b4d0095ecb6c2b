//! Cost of keeping unknown fields on the write path (docs/UPGRADE.md): rewrites of 20 000
//! systems in batches of 1 000, with and without the compat layer.
//! `cargo run --release -p crdt-store --example compat_cost`

use std::time::Instant;

use crdt_store::{Record, Store, StoreOptions, SystemRecord};

fn run(legacy_v1: bool) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let (store, _) = Store::open(
        dir.path(),
        StoreOptions {
            shard_count: 64,
            legacy_v1,
            ..StoreOptions::default()
        },
    )?;
    let recs = |version: u64| -> Vec<Record> {
        (0..20_000u64)
            .map(|i| {
                Record::System(
                    SystemRecord::new(
                        format!("aa:{:02x}:{:02x}", i / 256, i % 256),
                        format!("m{i}"),
                        version,
                    )
                    .with_node(Some(if version.is_multiple_of(2) {
                        "a1"
                    } else {
                        "a2"
                    })),
                )
            })
            .collect()
    };
    let first = recs(1);
    let t = Instant::now();
    for c in first.chunks(1000) {
        store.put_batch(c)?;
    }
    let insert = t.elapsed().as_secs_f64();
    let second = recs(2);
    let t = Instant::now();
    for c in second.chunks(1000) {
        store.put_batch(c)?;
    }
    Ok((insert, t.elapsed().as_secs_f64()))
}

fn main() -> anyhow::Result<()> {
    for round in 0..5 {
        let (i0, r0) = run(true)?;
        let (i1, r1) = run(false)?;
        println!(
            "round {round}: insert 20k: {:.0} ms without compat, {:.0} ms with; rewrite 20k: {:.0} ms without, {:.0} ms with",
            i0 * 1e3,
            i1 * 1e3,
            r0 * 1e3,
            r1 * 1e3
        );
    }
    Ok(())
}
