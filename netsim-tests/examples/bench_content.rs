//! Benchmark: packages to new nodes over iroh blobs, against a plain TCP copy of the same bytes
//! measured in the same run (issue 6).
//!
//! `cargo run --release -p netsim-tests --example bench_content -- [--mib 1024] [--file-mib 4] [--swarm 4] [--upload-kib-s 0] [--parallel 8] [--skip-tcp]`
//!
//! MIB of seeded random "packages" (FILE_MIB each) are imported on a seed peer. Then:
//! 1. a plain TCP copy of the same files over loopback (one connection, read from disk,
//!    written to disk, fsync'd at the end): the baseline;
//! 2. one new node joins the zone: time until its content status says complete (its peer,
//!    iroh endpoint and store start inside the measured time, as a real node's would);
//! 3. SWARM new nodes join at once: time until all are complete.
//!
//! Printed: throughputs, the ratio of iroh to TCP throughput, and the ratio of the swarm's time
//! to one transfer's (issue 17's aim with a link each: at most 1.3, Kraken-style swarming),
//! with the swarm's counters (holdings-map questions, asks of a provider whose map did not
//! list the file, busy refusals, bytes each node uploaded).
//!
//! `--parallel N` sets `parallel_fetches` on every node (default 8: with upload slots of 4 a
//! node needs streams to several providers to fill its link).
//!
//! With `--upload-kib-s N` every peer's uploads are limited to N KiB/s (`max_upload_kib_s`):
//! each node has a link of its own, as on a real network, instead of every transfer sharing
//! this machine's two cores. That is where swarming shows: one seed alone would need SWARM
//! times one transfer.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netsim_tests::harness::{self, Cluster, Options, wait_until};
use netsim_tests::workload::{arg, noise};

fn tcp_copy(files: &[PathBuf], out_dir: &Path) -> anyhow::Result<f64> {
    std::fs::create_dir_all(out_dir)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let names: Vec<PathBuf> = files.to_vec();
    let start = Instant::now();
    let server = std::thread::spawn(move || -> anyhow::Result<()> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        for f in &names {
            let mut file = std::fs::File::open(f)?;
            let len = file.metadata()?.len();
            s.write_all(&len.to_le_bytes())?;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n])?;
            }
        }
        Ok(())
    });
    let mut s = TcpStream::connect(addr)?;
    let mut buf = vec![0u8; 1 << 20];
    for (i, _) in files.iter().enumerate() {
        let mut len = [0u8; 8];
        s.read_exact(&mut len)?;
        let mut left = u64::from_le_bytes(len);
        let mut out = std::fs::File::create(out_dir.join(format!("{i}")))?;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = s.read(&mut buf[..want])?;
            anyhow::ensure!(n > 0, "connection closed early");
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        out.sync_all()?;
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server panicked"))??;
    Ok(start.elapsed().as_secs_f64())
}

fn complete(c: &Cluster, i: usize) -> anyhow::Result<bool> {
    let s: serde_json::Value = c.peers[i].client().get("/content/status")?;
    Ok(s["repos"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["complete"] == true)))
}

fn main() -> anyhow::Result<()> {
    let mib: usize = arg("--mib", 1024)?;
    let file_mib: usize = arg("--file-mib", 4)?;
    let swarm: usize = arg("--swarm", 4)?;
    let upload: u64 = arg("--upload-kib-s", 0)?;
    let parallel: u64 = arg("--parallel", 8)?;
    let skip_tcp = std::env::args().any(|a| a == "--skip-tcp");
    let conf = format!(
        "[content]\nscan_interval_ms = 200\nmax_upload_kib_s = {upload}\nparallel_fetches = {parallel}\n"
    );
    let tmp = tempfile::tempdir()?;
    let tree = tmp.path().join("pool");
    std::fs::create_dir_all(tree.join("Packages"))?;
    let n = mib.div_ceil(file_mib);
    let mut files = Vec::with_capacity(n);
    for i in 0..n {
        let p = tree.join("Packages").join(format!("pkg{i:05}.rpm"));
        std::fs::write(&p, noise(i as u64, file_mib << 20))?;
        files.push(p);
    }
    let bytes = (n * (file_mib << 20)) as f64;
    let gib = bytes / f64::from(1u32 << 30);
    println!("{n} files of {file_mib} MiB ({gib:.2} GiB)");

    let tcp = if skip_tcp {
        f64::NAN
    } else {
        let t = tcp_copy(&files, &tmp.path().join("tcp-copy"))?;
        std::fs::remove_dir_all(tmp.path().join("tcp-copy"))?;
        println!(
            "plain TCP copy:      {t:6.2} s  {:7.1} MiB/s",
            bytes / t / 1048576.0
        );
        t
    };

    let opts = Options {
        emulate_links: false,
        ..Options::production()
    };
    let mut c = Cluster::new(&["dc1".into()], opts)?;
    // The seed may import from the temporary directory (imports need a configured root).
    let seed_conf = format!(
        "{conf}import_roots = [{:?}]\n",
        tmp.path().display().to_string()
    );
    c.add_peer_with("seed", "dc1", &seed_conf)?;
    let start = Instant::now();
    let out = Command::new(harness::binary()?)
        .args(["content", "import"])
        .arg(&tree)
        .args(["--peer", &c.peers[0].http])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let import = start.elapsed().as_secs_f64();
    println!(
        "import on the seed:  {import:6.2} s  {:7.1} MiB/s (hash + copy into the store)",
        bytes / import / 1048576.0
    );

    let t = Duration::from_secs(1800);
    let start = Instant::now();
    let i = c.add_peer_with("new1", "dc1", &conf)?;
    wait_until(t, "new1 complete", || complete(&c, i))?;
    let one = start.elapsed().as_secs_f64();
    println!(
        "1 new node (iroh):   {one:6.2} s  {:7.1} MiB/s  = {:.2} x the TCP copy's throughput",
        bytes / one / 1048576.0,
        tcp / one
    );

    let start = Instant::now();
    let mut idx = Vec::new();
    for k in 0..swarm {
        idx.push(c.add_peer_with(&format!("swarm{k}"), "dc1", &conf)?);
    }
    for &i in &idx {
        wait_until(t, "swarm complete", || complete(&c, i))?;
    }
    let many = start.elapsed().as_secs_f64();
    println!(
        "{swarm} new nodes at once: {many:6.2} s  = {:.2} x one transfer ({one:.2} s, same run; aim: at most 1.3)",
        many / one
    );
    for (name, i) in std::iter::once(("new1".to_string(), i)).chain(
        idx.iter()
            .enumerate()
            .map(|(k, &i)| (format!("swarm{k}"), i)),
    ) {
        let s: serde_json::Value = c.peers[i].client().get("/content/status")?;
        println!(
            "  {name}: fetched {:.0} MiB in {} blobs, {} failed attempts, served {} requests ({:.0} MiB), {} map questions, {} asks not listed in a map, {} busy refusals given",
            s["fetched_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
            s["fetched_blobs"],
            s["fetch_failures"],
            s["served_requests"],
            s["uploaded_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
            s["have_polls"],
            s["asks_unlisted"],
            s["busy_refusals"]
        );
    }
    let s: serde_json::Value = c.peers[0].client().get("/content/status")?;
    println!(
        "  seed served {} requests ({:.0} MiB)",
        s["served_requests"],
        s["uploaded_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0
    );
    Ok(())
}
