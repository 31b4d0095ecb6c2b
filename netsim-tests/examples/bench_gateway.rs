//! Benchmark: `system.listSystems` merged by the API gateway across many nodes, against the
//! slowest single node's own answer measured in the same run.
//!
//! `cargo run --release -p netsim-tests --example bench_gateway -- [--nodes 10] [--systems 20000] [--rounds 5]`
//!
//! NODES Uyuni stand-ins (in memory) with SYSTEMS systems each (overlapping ids, as real
//! servers have), a peer beside each, and a gateway member. Each round times, with the same
//! client (a plain HTTP POST, the body read to the end and decoded), `system.listSystems` on
//! every node directly, all nodes at once directly (one client thread per node: what the
//! gateway has to wait for on this machine, where the nodes share its two cores), and once
//! through the gateway. The figures are the ratios of the gateway's median to the slowest
//! node's median (the aim: at most 1.5) and to the all-at-once median (the gateway's
//! own cost: merging, translating ids and sending ten times the data).

use std::time::{Duration, Instant};

use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::standin::session::peer_section;
use netsim_tests::standin::{StandIn, StandInOptions, xmlrpc_call};
use netsim_tests::workload::arg;
use uyuni_api::Value;
use uyuni_api::value::string;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn login(url: &str) -> anyhow::Result<String> {
    match xmlrpc_call(url, "auth.login", &[string("admin"), string("admin")])? {
        Ok(Value::String(k)) => Ok(k),
        other => anyhow::bail!("login at {url}: {other:?}"),
    }
}

/// Seconds until the whole answer of one `system.listSystems` has arrived (read to the last
/// byte, not decoded: decoding is the client's cost, ten times larger for the merged answer),
/// and how many systems it holds.
fn timed_list(url: &str, key: &str) -> anyhow::Result<(f64, usize)> {
    let body = uyuni_api::codec::render_call("system.listSystems", &[string(key)])?;
    let start = Instant::now();
    let text = ureq::post(url)
        .header("Content-Type", "text/xml")
        .send(body.as_bytes())?
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()?;
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        !text.contains("<fault>"),
        "listSystems at {url}: {}",
        &text[..text.len().min(300)]
    );
    Ok((secs, text.matches("<name>id</name>").count()))
}

fn main() -> anyhow::Result<()> {
    let nodes: usize = arg("--nodes", 10)?;
    let systems: usize = arg("--systems", 20_000)?;
    let rounds: usize = arg("--rounds", 5)?;
    let mut stands = Vec::new();
    for i in 0..nodes {
        let s = StandIn::spawn(StandInOptions {
            postgres: "none".into(),
            fqdn: format!("node{i}.uyuni.test"),
            ..StandInOptions::default()
        })?;
        ureq::post(format!("{}/standin/seed", s.base())).send_json(serde_json::json!({
            "count": systems, "prefix": format!("n{i}-sys"), "domain": "example.org",
        }))?;
        stands.push(s);
    }
    let mut c = Cluster::new(&["dc".into()], Options::default())?;
    for (i, s) in stands.iter().enumerate() {
        c.add_peer_with(&format!("node{i:02}"), "dc", &peer_section(s))?;
    }
    let g = c.add_peer_with(
        "gw",
        "dc",
        "role = \"gateway\"\n[gateway]\nlisten = \"127.0.0.1:0\"\nnode_timeout_ms = 60000\n",
    )?;
    let gw = format!("{}/rpc/api", c.peers[g].gateway.clone().unwrap_or_default());
    let total = nodes * systems;
    let mut gw_key = String::new();
    wait_until(
        Duration::from_secs(300),
        "the gateway to list every system",
        || {
            if gw_key.is_empty() {
                gw_key = login(&gw).unwrap_or_default();
            }
            Ok(
                !gw_key.is_empty()
                    && timed_list(&gw, &gw_key).map(|(_, n)| n).unwrap_or(0) == total,
            )
        },
    )?;
    let keys: Vec<String> = stands
        .iter()
        .map(|s| login(s.url()))
        .collect::<Result<_, _>>()?;
    let mut per_node: Vec<Vec<f64>> = vec![Vec::new(); nodes];
    let mut through = Vec::new();
    let mut all_at_once = Vec::new();
    for round in 0..rounds {
        for (i, s) in stands.iter().enumerate() {
            per_node[i].push(timed_list(s.url(), &keys[i])?.0);
        }
        let start = Instant::now();
        std::thread::scope(|scope| {
            let handles: Vec<_> = stands
                .iter()
                .zip(&keys)
                .map(|(s, k)| scope.spawn(move || timed_list(s.url(), k)))
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
            }
            Ok::<_, anyhow::Error>(())
        })?;
        all_at_once.push(start.elapsed().as_secs_f64());
        let (secs, n) = timed_list(&gw, &gw_key)?;
        anyhow::ensure!(n == total, "gateway listed {n} of {total}");
        through.push(secs);
        println!("round {round}: gateway {:.0} ms", secs * 1000.0);
    }
    let slowest = per_node.into_iter().map(median).fold(0.0_f64, f64::max);
    let merged = median(through);
    let together = median(all_at_once);
    println!(
        "listSystems, {nodes} nodes x {systems} systems: slowest single node {:.0} ms, all nodes at once {:.0} ms, gateway (merged {total}) {:.0} ms; ratio to the slowest node {:.2}, to all at once {:.2}",
        slowest * 1000.0,
        together * 1000.0,
        merged * 1000.0,
        merged / slowest,
        merged / together
    );
    Ok(())
}
