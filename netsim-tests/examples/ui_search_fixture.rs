//! The fixture of the Cluster UI's search benchmark (`gateway/ui/e2e/bench-search.mjs`, run by
//! `scripts/bench-ui-search.sh`): a gateway member holding N client systems (default 1M) in
//! its metastore, serving the API gateway and the Cluster UI, and one Uyuni node (a simulated
//! server, admin/admin) to log in through. Production timings, no link emulation.
//!
//! `cargo run --release -p netsim-tests --example ui_search_fixture -- [SYSTEMS]`
//!
//! The systems are `netsim_tests::workload::system` (seeded): `host00000000.acme.org` …,
//! tag `web`/`db`/`app`/`cache` by `i % 4`, zone `zone{i % 5}`, node `node{i % 50}`, all
//! onboarded. They are written to the gateway member's store before it starts (as
//! `bench_sync` does), so the peer cold-loads them and builds its search index at start.
//!
//! Prints `gateway URL` (then the member's RSS) once both peers run, and keeps running until
//! its standard input closes; then it stops the cluster.

use std::io::Read;
use std::time::Instant;

use crdt_store::{Record, Store, StoreOptions};
use netsim_tests::harness::{Cluster, Options};
use netsim_tests::standin::session::peer_section;
use netsim_tests::standin::{StandIn, StandInOptions};
use netsim_tests::workload::{rss_mib, system};
use rand::SeedableRng;

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let stand = StandIn::spawn(StandInOptions {
        postgres: "none".into(),
        fqdn: "node1.uyuni.test".into(),
        ..StandInOptions::default()
    })?;
    let mut c = Cluster::new(&["bench".to_string()], Options::production())?;
    let store_dir = c.data_dir_of("gw").join("store");
    let t = Instant::now();
    {
        let (store, _) = Store::open(&store_dir, StoreOptions::default())?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let mut i = 0;
        while i < n {
            let recs: Vec<Record> = (i..(i + 1000).min(n))
                .map(|j| system(&mut rng, j))
                .collect();
            store.put_batch(&recs)?;
            i += 1000;
        }
        store.compact()?;
    }
    eprintln!(
        "systems {n} written and compacted in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let gw = c.add_peer_with(
        "gw",
        "bench",
        "role = \"gateway\"\n[gateway]\nlisten = \"127.0.0.1:0\"\n",
    )?;
    eprintln!(
        "gateway member started in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    c.add_peer_with("node1", "bench", &peer_section(&stand))?;
    let base = c.peers[gw]
        .gateway
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the gateway member serves no gateway"))?;
    println!("gateway {base}");
    println!("rss {:.0}", rss_mib(c.peers[gw].pid().unwrap_or(0)));
    // Until the benchmark closes our standard input (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(c);
    drop(stand);
    Ok(())
}
