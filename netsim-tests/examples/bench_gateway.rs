//! Benchmark: `system.listSystems` merged by the API gateway across many nodes, against the
//! slowest single node's own answer measured in the same run.
//!
//! `cargo run --release -p netsim-tests --example bench_gateway -- [--nodes 10] [--systems 20000] [--rounds 5] [--before-bin PATH] [--other-order] [--paced] [--hold SECS]`
//!
//! NODES Uyuni stand-ins (in memory) with SYSTEMS systems each (overlapping ids, as real
//! servers have), a peer beside each, and a gateway member. Each round times, with the same
//! client (a plain HTTP POST, the body read to the end as it arrives, its systems counted), `system.listSystems` on
//! every node directly, all nodes at once directly (one client thread per node: what the
//! gateway has to wait for on this machine, where the nodes share its two cores), and once
//! through the gateway. The figures are the ratios of the gateway's median to the slowest
//! node's median (the aim: at most 1.5) and to the all-at-once median (the gateway's
//! own cost: merging, translating ids and sending ten times the data).
//!
//! Beside the time, the gateway peer's peak resident memory during its merged call (VmHWM,
//! reset through `/proc/PID/clear_refs` before each call; the peer's idle RSS before it) and
//! the size of one node's answer. `--before-bin PATH` adds a second gateway running another
//! build of `uyuni-cluster` (the one before a change), timed in the same rounds;
//! `--other-order` adds instead a second gateway of the same build with
//! `merged_order = "arrival"` (the nodes' parts interleaved as they come; the default is
//! node after node).
//! `--hold SECS` keeps the cluster up that long after the rounds, printing the gateway's URL
//! and a session key (for a look from outside: curl, perf).
//!
//! `--paced` puts every node "on a host of its own" (`netsim_tests::paced_node`): each
//! stand-in's `system.listSystems` answer is recorded alone first (three times, the median
//! kept), and the nodes the peers and the gateway call are fronts that replay that answer at
//! its solo pace, spending almost no CPU, so ten nodes answering at once no longer share the
//! gateway's two cores. The single-node and all-at-once figures are then taken through the
//! fronts too (a check that the replay keeps the solo pace), and the ratio is the gateway's own
//! cost over nodes that do not compete with it.

use std::time::{Duration, Instant};

use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::paced_node::{PacedNode, Recording};
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
    timed(url, key).map(|t| (t.secs, t.systems))
}

/// Every thread of process `pid` to the lowest priority (`renice -n 19`; on Linux a
/// process's threads each have their own nice value, and threads started later inherit it
/// from the thread that starts them).
fn lowest_priority(pid: u32) -> anyhow::Result<()> {
    let tids: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    let out = std::process::Command::new("renice")
        .args(["-n", "19", "-p"])
        .args(&tids)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "renice {pid}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// One timed `system.listSystems`.
struct Timed {
    /// To the last byte.
    secs: f64,
    /// To the response's head (status and headers).
    first: f64,
    systems: usize,
    bytes: usize,
    /// The answer's body.
    text: String,
}

fn timed(url: &str, key: &str) -> anyhow::Result<Timed> {
    timed_keep(url, key, false)
}

/// One timed `system.listSystems`, its body read as it arrives (systems counted on the way,
/// the body kept only with `keep`): a client whose own cost per byte is small, so that the
/// merged answer's ten times the bytes measure the gateway rather than the client's buffer
/// growing to 125 MiB (it took ~0.15 s more than reading into a pipe: `curl -o /dev/null`).
fn timed_keep(url: &str, key: &str, keep: bool) -> anyhow::Result<Timed> {
    use std::io::Read as _;
    const ID: &[u8] = b"<name>id</name>";
    let body = uyuni_api::codec::render_call("system.listSystems", &[string(key)])?;
    let finder = memchr::memmem::Finder::new(ID);
    let start = Instant::now();
    let resp = ureq::post(url)
        .header("Content-Type", "text/xml")
        .send(body.as_bytes())?;
    let first = start.elapsed().as_secs_f64();
    let mut reader = resp.into_body().into_reader();
    let mut buf = vec![0_u8; 256 << 10];
    // The last bytes of the previous read (an id member split between two reads).
    let mut carry = 0;
    let (mut bytes, mut systems) = (0, 0);
    let mut head = Vec::new();
    let mut text = Vec::new();
    loop {
        let n = reader.read(&mut buf[carry..])?;
        if n == 0 {
            break;
        }
        if head.len() < 4096 {
            head.extend_from_slice(&buf[carry..carry + n]);
        }
        if keep {
            text.extend_from_slice(&buf[carry..carry + n]);
        }
        bytes += n;
        let end = carry + n;
        let mut last = 0;
        for at in finder.find_iter(&buf[..end]) {
            systems += 1;
            last = at + ID.len();
        }
        carry = (end - last).min(ID.len() - 1);
        buf.copy_within(end - carry..end, 0);
    }
    let secs = start.elapsed().as_secs_f64();
    let head = String::from_utf8_lossy(&head);
    anyhow::ensure!(
        !head.contains("<fault>"),
        "listSystems at {url}: {}",
        &head[..head.len().min(300)]
    );
    Ok(Timed {
        secs,
        first,
        systems,
        bytes,
        text: String::from_utf8(text)?,
    })
}

/// A `/proc/PID/status` figure in KiB (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The gateway's merged call timed, with the gateway peer's idle RSS before it and its peak
/// RSS during it (MiB; the peak is reset first, where the kernel lets us).
fn timed_gateway(url: &str, key: &str, pid: Option<u32>) -> anyhow::Result<(Timed, f64, f64)> {
    let mib = |k: Option<u64>| k.map_or(f64::NAN, |k| k as f64 / 1024.0);
    if let Some(pid) = pid {
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
    let idle = mib(pid.and_then(|p| proc_kib(p, "VmRSS")));
    let t = timed(url, key)?;
    let peak = mib(pid.and_then(|p| proc_kib(p, "VmHWM")));
    Ok((t, idle, peak))
}

/// A node's `system.listSystems` answer alone, three times: the body and the median timings.
fn record(url: &str) -> anyhow::Result<Recording> {
    let key = login(url)?;
    // The pace from reads like the timed ones (not keeping the body), the body from one more.
    let runs: Vec<Timed> = (0..3).map(|_| timed(url, &key)).collect::<Result<_, _>>()?;
    let head = median(runs.iter().map(|t| t.first).collect());
    let total = median(runs.iter().map(|t| t.secs).collect());
    let body = timed_keep(url, &key, true)?.text;
    Ok(Recording {
        method: "system.listSystems".into(),
        body: std::sync::Arc::new(body.into_bytes()),
        head: Duration::from_secs_f64(head),
        total: Duration::from_secs_f64(total),
    })
}

/// The gateway members' configuration.
const GATEWAY: &str =
    "role = \"gateway\"\n[gateway]\nlisten = \"127.0.0.1:0\"\nnode_timeout_ms = 60000\n";

fn main() -> anyhow::Result<()> {
    let nodes: usize = arg("--nodes", 10)?;
    let systems: usize = arg("--systems", 20_000)?;
    let rounds: usize = arg("--rounds", 5)?;
    let before_bin: String = arg("--before-bin", String::new())?;
    let paced = std::env::args().any(|a| a == "--paced");
    // A second gateway, same binary, sending the nodes' parts in the other order
    // (`merged_order = "arrival"`): the default's same-run comparison.
    let other_order = std::env::args().any(|a| a == "--other-order");
    let hold: u64 = arg("--hold", 0)?;
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
    // The URL each node is called at: the stand-in itself, or its paced front.
    let mut node_urls: Vec<String> = stands.iter().map(|s| s.url().to_string()).collect();
    if paced {
        for (i, s) in stands.iter().enumerate() {
            let rec = record(s.url())?;
            println!(
                "node{i:02} alone: head after {:.0} ms, last byte after {:.0} ms, {:.1} MiB",
                rec.head.as_secs_f64() * 1000.0,
                rec.total.as_secs_f64() * 1000.0,
                rec.body.len() as f64 / (1024.0 * 1024.0)
            );
            node_urls[i] = PacedNode::spawn(s.url(), rec)?.url().to_string();
        }
    }
    let mut c = Cluster::new(&["dc".into()], Options::default())?;
    let mut node_peers = Vec::new();
    for (i, s) in stands.iter().enumerate() {
        // Production reconcile and outbox intervals (5 s): the tests' 300/500 ms had the ten
        // peers reading their 20k-system servers all the time, a core's worth of background
        // load beside the call being timed.
        let section = peer_section(s)
            .replace(s.url(), &node_urls[i])
            .replace(
                "reconcile_interval_ms = 300",
                "reconcile_interval_ms = 5000",
            )
            .replace("outbox_poll_ms = 500", "outbox_poll_ms = 5000");
        anyhow::ensure!(
            section.contains("reconcile_interval_ms = 5000")
                && section.contains("outbox_poll_ms = 5000"),
            "peer_section changed: set the production intervals another way"
        );
        node_peers.push(c.add_peer_with(&format!("node{i:02}"), "dc", &section)?);
    }
    if paced {
        // The nodes' own peers and servers run on the nodes' hosts, not the gateway's: their
        // background work (membership, the 5 s reconcile reading 20k systems, gossip
        // signatures: ~12 % of a core each, 1.2 cores for ten) yields to the gateway and the
        // client here, as it would not compete with them at all in a cluster.
        for (s, &p) in stands.iter().zip(&node_peers) {
            lowest_priority(s.pid())?;
            if let Some(pid) = c.peers[p].pid() {
                lowest_priority(pid)?;
            }
        }
    }
    let g = c.add_peer_with("gw", "dc", GATEWAY)?;
    let gw = format!("{}/rpc/api", c.peers[g].gateway.clone().unwrap_or_default());
    let gw_pid = c.peers[g].pid();
    let before = if other_order {
        let b = c.add_peer_with(
            "gwarrival",
            "dc",
            &format!("{GATEWAY}merged_order = \"arrival\"\n"),
        )?;
        let url = format!("{}/rpc/api", c.peers[b].gateway.clone().unwrap_or_default());
        Some((url, c.peers[b].pid()))
    } else if before_bin.is_empty() {
        None
    } else {
        c.peer_bins
            .insert("gwbefore".into(), std::path::PathBuf::from(&before_bin));
        let b = c.add_peer_with("gwbefore", "dc", GATEWAY)?;
        let url = format!("{}/rpc/api", c.peers[b].gateway.clone().unwrap_or_default());
        Some((url, c.peers[b].pid()))
    };
    let total = nodes * systems;
    let mut gw_keys = vec![String::new(); 1 + usize::from(before.is_some())];
    let urls: Vec<String> = std::iter::once(gw.clone())
        .chain(before.iter().map(|(u, _)| u.clone()))
        .collect();
    for (url, key) in urls.iter().zip(gw_keys.iter_mut()) {
        wait_until(
            Duration::from_secs(300),
            "the gateway to list every system",
            || {
                if key.is_empty() {
                    *key = login(url).unwrap_or_default();
                }
                let whole =
                    !key.is_empty() && timed_list(url, key).map(|(_, n)| n).unwrap_or(0) == total;
                if !whole {
                    // A session opened before every node was up has no key on the late ones.
                    key.clear();
                }
                Ok(whole)
            },
        )?;
    }
    let keys: Vec<String> = node_urls
        .iter()
        .map(String::as_str)
        .map(login)
        .collect::<Result<_, _>>()?;
    let mut per_node: Vec<Vec<f64>> = vec![Vec::new(); nodes];
    let mut node_bytes = 0;
    let mut through = Vec::new();
    let mut through_first = Vec::new();
    let mut through_before = Vec::new();
    let mut all_at_once = Vec::new();
    let (mut idle_rss, mut peak_rss, mut peak_before, mut merged_bytes) =
        (0.0_f64, 0.0_f64, 0.0_f64, 0);
    for round in 0..rounds {
        for (i, u) in node_urls.iter().enumerate() {
            let t = timed(u, &keys[i])?;
            node_bytes = node_bytes.max(t.bytes);
            per_node[i].push(t.secs);
        }
        let start = Instant::now();
        std::thread::scope(|scope| {
            let handles: Vec<_> = node_urls
                .iter()
                .zip(&keys)
                .map(|(u, k)| scope.spawn(move || timed_list(u, k)))
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
            }
            Ok::<_, anyhow::Error>(())
        })?;
        all_at_once.push(start.elapsed().as_secs_f64());
        let (t, idle, peak) = timed_gateway(&gw, &gw_keys[0], gw_pid)?;
        anyhow::ensure!(
            t.systems == total,
            "gateway listed {} of {total}",
            t.systems
        );
        through.push(t.secs);
        through_first.push(t.first);
        merged_bytes = t.bytes;
        idle_rss = idle_rss.max(idle);
        peak_rss = peak_rss.max(peak);
        let mut line = format!(
            "round {round}: gateway {:.0} ms (head after {:.0} ms), peak RSS {peak:.0} MiB (idle {idle:.0} MiB)",
            t.secs * 1000.0,
            t.first * 1000.0
        );
        if let Some((url, pid)) = &before {
            let (tb, _, pb) = timed_gateway(url, &gw_keys[1], *pid)?;
            anyhow::ensure!(
                tb.systems == total,
                "gateway (before) listed {} of {total}",
                tb.systems
            );
            through_before.push(tb.secs);
            peak_before = peak_before.max(pb);
            line += &format!("; before: {:.0} ms, peak RSS {pb:.0} MiB", tb.secs * 1000.0);
        }
        println!("{line}");
    }
    let slowest = per_node.into_iter().map(median).fold(0.0_f64, f64::max);
    let merged = median(through);
    let together = median(all_at_once);
    println!(
        "listSystems, {nodes} nodes x {systems} systems{}: slowest single node {:.0} ms, all nodes at once {:.0} ms, gateway (merged {total}) {:.0} ms (head after {:.0} ms); ratio to the slowest node {:.2}, to all at once {:.2}",
        if paced {
            " (paced: nodes on hosts of their own)"
        } else {
            ""
        },
        slowest * 1000.0,
        together * 1000.0,
        merged * 1000.0,
        median(through_first) * 1000.0,
        merged / slowest,
        merged / together
    );
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!(
        "gateway peer memory: peak RSS {peak_rss:.0} MiB during the merged call (idle before it {idle_rss:.0} MiB, +{:.0} MiB); one node's answer {:.1} MiB, the merged answer {:.1} MiB",
        peak_rss - idle_rss,
        mib(node_bytes),
        mib(merged_bytes)
    );
    if hold > 0 {
        // For a look from outside (curl, perf): the cluster stays up this long.
        println!("holding {hold} s: gateway {gw} session {}", gw_keys[0]);
        std::thread::sleep(Duration::from_secs(hold));
    }
    if !through_before.is_empty() {
        let b = median(through_before);
        println!(
            "before ({}): gateway {:.0} ms, ratio to the slowest node {:.2}, peak RSS {peak_before:.0} MiB",
            if other_order {
                "--other-order: merged_order = \"arrival\""
            } else {
                "--before-bin"
            },
            b * 1000.0,
            b / slowest
        );
    }
    Ok(())
}
