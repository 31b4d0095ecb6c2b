//! Content sync end to end (issue 6): real peers, real iroh endpoints on loopback, real
//! blob stores on disk.
//!
//! * A yum tree imported on one node reaches every node of its zone byte for byte (checked
//!   through each node's local repository, with Python as reposync would read it), a node
//!   that joins later gets it too, and another zone gets nothing until it subscribes.
//! * A corrupted blob on disk is detected when read and repaired; `content verify` reports
//!   and repairs drift; removing the repository garbage-collects its blobs.
//! * A transfer cut by `kill -9` resumes where it stopped after a restart.
//! * Imports read only under `content.import_roots` (none configured: refused), never the
//!   peer's own configuration, keys or data, and no symbolic link out of a root.
//! * A CLM project saved on one node and applied reaches every node of the zone, including
//!   one that was down when it was applied.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use netsim_tests::harness::{self, Cluster, Options, wait_until};
use netsim_tests::standin::{StandIn, StandInOptions, session::Session};
use netsim_tests::workload::noise;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uyuni_api::value::string;

const T: Duration = Duration::from_secs(90);

/// Test timings: fast rounds and garbage collection.
const FAST: &str = "[content]\nscan_interval_ms = 200\ngc_interval_ms = 500\n";

/// [`FAST`] with `root` as the one directory imports may read.
fn fast_with_root(root: &Path) -> String {
    format!("{FAST}import_roots = [\"{}\"]\n", root.display())
}

/// A yum repository with seeded random packages (sizes from 1 KiB, stored inline, to 3 MiB).
fn make_tree(dir: &Path, seed: u64, packages: usize) -> anyhow::Result<Vec<String>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut paths = Vec::new();
    std::fs::create_dir_all(dir.join("repodata"))?;
    std::fs::create_dir_all(dir.join("Packages/x86_64"))?;
    for i in 0..packages {
        let size = match i % 4 {
            0 => rng.random_range(1024..16 * 1024),
            1 => rng.random_range(16 * 1024..256 * 1024),
            _ => rng.random_range(256 * 1024..3 * 1024 * 1024),
        };
        let data = noise(seed * 1000 + i as u64, size);
        let p = format!("Packages/x86_64/pkg{i:03}-1.0-1.x86_64.rpm");
        std::fs::write(dir.join(&p), &data)?;
        paths.push(p);
    }
    let primary = noise(seed, 40_000);
    std::fs::write(dir.join("repodata/abc-primary.xml.gz"), &primary)?;
    std::fs::write(dir.join("repodata/def-filelists.xml.gz"), &primary[..5000])?;
    std::fs::write(
        dir.join("repodata/repomd.xml"),
        r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo">
  <data type="primary"><location href="repodata/abc-primary.xml.gz"/></data>
  <data type="filelists"><location href="repodata/def-filelists.xml.gz"/></data>
</repomd>
"#,
    )?;
    paths.push("repodata/repomd.xml".into());
    paths.push("repodata/abc-primary.xml.gz".into());
    paths.push("repodata/def-filelists.xml.gz".into());
    Ok(paths)
}

fn cli(c: &Cluster, i: usize, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(harness::binary()?)
        .args(args)
        .args(["--peer", &c.peers[i].http])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "uyuni-cluster {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn status(c: &Cluster, i: usize) -> anyhow::Result<Value> {
    Ok(c.peers[i].client().get("/content/status")?)
}

fn complete(c: &Cluster, i: usize, repo: &str) -> anyhow::Result<bool> {
    Ok(status(c, i)?["repos"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["repo"] == repo && r["complete"] == true))
}

fn fetch(url: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent.get(url).call()?;
    let status = res.status().as_u16();
    Ok((
        status,
        res.body_mut().with_config().limit(u64::MAX).read_to_vec()?,
    ))
}

/// Every file of `tree` through peer `i`'s local repository equals the original.
fn identical(
    c: &Cluster,
    i: usize,
    repo: &str,
    tree: &Path,
    paths: &[String],
) -> anyhow::Result<()> {
    for p in paths {
        let (st, body) = fetch(&format!("{}/repo/{repo}/{p}", c.peers[i].http))?;
        anyhow::ensure!(st == 200, "{} {p}: HTTP {st}", c.peers[i].name);
        anyhow::ensure!(
            body == std::fs::read(tree.join(p))?,
            "{} {p} differs",
            c.peers[i].name
        );
    }
    Ok(())
}

/// The data file of the blob behind `path` in peer `i`'s store.
fn data_file(c: &Cluster, i: usize, tree: &Path, path: &str) -> anyhow::Result<PathBuf> {
    let hash = blake3::hash(&std::fs::read(tree.join(path))?)
        .to_hex()
        .to_string();
    Ok(c.peers[i]
        .data_dir
        .join("content")
        .join("data")
        .join(format!("{hash}.data")))
}

fn flip(file: &Path, at: usize) -> anyhow::Result<()> {
    let mut b = std::fs::read(file)?;
    b[at] ^= 0x5a;
    std::fs::write(file, b)?;
    Ok(())
}

#[test]
fn a_zone_holds_identical_content_another_zone_only_what_it_subscribes_to() -> anyhow::Result<()> {
    let t00 = std::time::Instant::now();
    let tmp = tempfile::tempdir()?;
    let tree = tmp.path().join("sles15-sp6-pool");
    let paths = make_tree(&tree, 6, 24)?;
    let mut c = Cluster::new(&["dc1".into(), "dc2".into()], Options::default())?;
    c.add_peer_with("a1", "dc1", &fast_with_root(tmp.path()))?;
    c.add_peer_with("a2", "dc1", FAST)?;
    c.add_peer_with("b1", "dc2", FAST)?;

    eprintln!("started at {:?}", t00.elapsed());
    let out = cli(
        &c,
        0,
        &["content", "import", tree.to_str().unwrap_or_default()],
    )?;
    eprintln!("imported");
    assert!(
        out.contains("imported dc1/sles15-sp6-pool version 1"),
        "{out}"
    );
    let repo = "dc1/sles15-sp6-pool";
    let took = wait_until(T, "a2 to hold the repository", || complete(&c, 1, repo))?;
    eprintln!("a2 complete after {took:?}");
    identical(&c, 1, repo, &tree, &paths)?;
    // reposync's view: repomd.xml, what it lists, and packages, over HTTP from Python.
    let py = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/content_repo.py"))
        .arg(format!("{}/repo/{repo}", c.peers[1].http))
        .arg(&tree)
        .args(&paths[..4])
        .output()?;
    assert!(
        py.status.success(),
        "{}{}",
        String::from_utf8_lossy(&py.stdout),
        String::from_utf8_lossy(&py.stderr)
    );

    // A node joining the zone later ends up identical too.
    c.add_peer_with("a3", "dc1", FAST)?;
    let took = wait_until(T, "a3 to hold the repository", || complete(&c, 3, repo))?;
    eprintln!("a3 complete after {took:?}");
    identical(&c, 3, repo, &tree, &paths)?;
    // A lazy node fetches the index only, then each file on its first request.
    c.add_peer_with("a4", "dc1", &format!("{FAST}mode = \"lazy\"\n"))?;
    wait_until(T, "a4 to load the index", || {
        Ok(status(&c, 4)?["repos"]
            .as_array()
            .is_some_and(|r| r.len() == 1))
    })?;
    let before = status(&c, 4)?["stored_blobs"].as_u64().unwrap_or(u64::MAX);
    assert!(
        before <= 2,
        "lazy: the index and its tag only, {before} blobs"
    );
    identical(&c, 4, repo, &tree, &paths[..2])?;
    assert_eq!(status(&c, 4)?["stored_blobs"].as_u64(), Some(before + 2));

    // The other zone received nothing, and its local repository does not serve the content.
    let b = status(&c, 2)?;
    assert_eq!(b["repos"], json!([]), "{b}");
    assert_eq!(b["stored_blobs"], 0, "{b}");
    let (st, _) = fetch(&format!("{}/repo/{repo}/{}", c.peers[2].http, paths[0]))?;
    assert_eq!(st, 404);
    // Once dc2 subscribes, it receives the repository.
    cli(&c, 2, &["content", "subscribe", repo])?;
    let took = wait_until(T, "b1 to hold the subscribed repository", || {
        complete(&c, 2, repo)
    })?;
    eprintln!("b1 complete after {took:?}");
    identical(&c, 2, repo, &tree, &paths[..3])?;

    // A corrupted blob is detected when read, repaired from a provider, and served right.
    let pkg = &paths[2];
    let file = data_file(&c, 1, &tree, pkg)?;
    flip(&file, 1000)?;
    identical(&c, 1, repo, &tree, std::slice::from_ref(pkg))?;
    assert_eq!(
        std::fs::read(&file)?,
        std::fs::read(tree.join(pkg))?,
        "repaired on disk"
    );
    // `content verify` reports drift and repairs it; a second run finds none.
    let (p1, p2) = (&paths[5], &paths[6]);
    flip(&data_file(&c, 1, &tree, p1)?, 20_000)?;
    std::fs::remove_file(data_file(&c, 1, &tree, p2)?)?;
    let out = cli(&c, 1, &["content", "verify", "--json"])?;
    let report: Value = serde_json::from_str(&out)?;
    let drift: Vec<(&str, &str, &str)> = report["drift"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["path"].as_str().unwrap_or(""),
                d["problem"].as_str().unwrap_or(""),
                d["action"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        drift.contains(&(p1.as_str(), "corrupt", "repaired")),
        "{report}"
    );
    assert!(
        drift
            .iter()
            .any(|d| d.0 == p2.as_str() && d.2 == "repaired"),
        "a deleted data file is drift too: {report}"
    );
    let again: Value = serde_json::from_str(&cli(&c, 1, &["content", "verify", "--json"])?)?;
    assert_eq!(again["drift"], json!([]), "{again}");
    identical(&c, 1, repo, &tree, &paths)?;

    // Non-members are refused: a1 served requests, and refused none from members.
    let a1 = status(&c, 0)?;
    assert!(a1["served_requests"].as_u64() > Some(0), "{a1}");
    assert_eq!(a1["refused_connections"], 0, "{a1}");

    // Removing the repository: every node drops it and garbage-collects its blobs.
    cli(&c, 0, &["content", "remove", repo])?;
    for i in 0..5 {
        let took = wait_until(T, "the blobs to be collected", || {
            let s = status(&c, i)?;
            Ok(s["repos"] == json!([]) && s["stored_blobs"] == 0)
        })?;
        eprintln!("peer {i} collected after {took:?}");
    }
    let (st, _) = fetch(&format!("{}/repo/{repo}/{}", c.peers[0].http, paths[0]))?;
    assert_eq!(st, 404);
    eprintln!("end at {:?}", t00.elapsed());
    Ok(())
}

#[test]
fn a_transfer_cut_by_kill_resumes_without_starting_over() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let tree = tmp.path().join("big");
    std::fs::create_dir_all(&tree)?;
    let data = noise(9, 48 << 20);
    std::fs::write(tree.join("kernel-default-6.4.rpm"), &data)?;
    let mut c = Cluster::new(&["dc1".into()], Options::default())?;
    c.add_peer_with("a1", "dc1", &fast_with_root(tmp.path()))?;
    // 8 MiB/s: the 48 MiB file takes about six seconds to fetch.
    let slow = format!("{FAST}max_download_kib_s = 8192\n");
    c.add_peer_with("a2", "dc1", &slow)?;
    cli(
        &c,
        0,
        &["content", "import", tree.to_str().unwrap_or_default()],
    )?;
    wait_until(T, "a2 to be a quarter through", || {
        Ok(status(&c, 1)?["fetched_bytes"].as_u64() > Some(12 << 20))
    })?;
    c.kill(1);
    c.restart(1)?;
    wait_until(T, "a2 to finish after its restart", || {
        complete(&c, 1, "dc1/big")
    })?;
    let after = status(&c, 1)?["fetched_bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(
        after < (40 << 20),
        "the restarted peer fetched {after} bytes of 48 MiB: it started over"
    );
    identical(
        &c,
        1,
        "dc1/big",
        &tree,
        &["kernel-default-6.4.rpm".to_string()],
    )?;
    Ok(())
}

#[test]
fn a_clm_version_applied_reaches_every_node_of_the_zone_even_one_that_was_down()
-> anyhow::Result<()> {
    let spawn = |name: &str| {
        StandIn::spawn(StandInOptions {
            postgres: "none".into(),
            fqdn: format!("{name}.uyuni.test"),
            ..StandInOptions::default()
        })
    };
    let (s1, s2, s3) = (spawn("a1")?, spawn("a2")?, spawn("a3")?);
    let section =
        |s: &StandIn| format!("{}{FAST}", netsim_tests::standin::session::peer_section(s));
    let mut c = Cluster::new(&["dc1".into()], Options::default())?;
    c.add_peer_with("a1", "dc1", &section(&s1))?;
    c.add_peer_with("a2", "dc1", &section(&s2))?;
    c.add_peer_with("a3", "dc1", &section(&s3))?;

    let admin = Session::login(&s1)?;
    admin.call(
        "contentmanagement.createProject",
        vec![string("sles-prod"), string("SLES production"), string("v1")],
    )?;
    admin.call(
        "contentmanagement.createEnvironment",
        vec![
            string("sles-prod"),
            string(""),
            string("dev"),
            string("Dev"),
            string(""),
        ],
    )?;
    let saved: Value = serde_json::from_str(&cli(&c, 0, &["clm", "save", "sles-prod", "--json"])?)?;
    assert_eq!(saved["version"], 1);
    cli(&c, 0, &["clm", "apply", "sles-prod"])?;
    let project = |s: &StandIn| -> anyhow::Result<Option<(String, Vec<String>)>> {
        let api = Session::login(s)?;
        let listed = api.call("contentmanagement.listProjects", vec![])?;
        if !listed
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["label"] == "sles-prod"))
        {
            return Ok(None);
        }
        let p = api.call("contentmanagement.lookupProject", vec![string("sles-prod")])?;
        let envs = api.call(
            "contentmanagement.listProjectEnvironments",
            vec![string("sles-prod")],
        )?;
        let labels = envs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["label"].as_str().map(str::to_string))
            .collect();
        Ok(Some((
            p["description"].as_str().unwrap_or("").to_string(),
            labels,
        )))
    };
    for s in [&s2, &s3] {
        wait_until(T, "the zone to import version 1", || {
            Ok(project(s)? == Some(("v1".into(), vec!["dev".into()])))
        })?;
    }

    // Version 2 is applied while a3 is down; a3 imports it when it returns.
    c.stop(2)?;
    admin.call(
        "contentmanagement.updateProject",
        vec![
            string("sles-prod"),
            uyuni_api::value::StructBuilder::new()
                .field("description", string("v2"))
                .build(),
        ],
    )?;
    admin.call(
        "contentmanagement.createEnvironment",
        vec![
            string("sles-prod"),
            string("dev"),
            string("prod"),
            string("Prod"),
            string(""),
        ],
    )?;
    let saved: Value = serde_json::from_str(&cli(&c, 0, &["clm", "save", "sles-prod", "--json"])?)?;
    assert_eq!(saved["version"], 2);
    cli(&c, 1, &["clm", "apply", "sles-prod", "--version", "2"])?;
    let want = Some((
        "v2".to_string(),
        vec!["dev".to_string(), "prod".to_string()],
    ));
    wait_until(T, "a2 to import version 2", || Ok(project(&s2)? == want))?;
    assert_eq!(
        project(&s3)?,
        Some(("v1".into(), vec!["dev".into()])),
        "a3 was down"
    );
    c.restart(2)?;
    wait_until(T, "a3 to import version 2 after its restart", || {
        Ok(project(&s3)? == want)
    })?;
    let list: Value = serde_json::from_str(&cli(&c, 0, &["clm", "list", "--json"])?)?;
    wait_until(T, "every node to report version 2", || {
        let list: Value = serde_json::from_str(&cli(&c, 0, &["clm", "list", "--json"])?)?;
        let imported = &list[0]["imported"];
        Ok(["a2", "a3"].iter().all(|n| {
            imported[*n]
                .as_str()
                .is_some_and(|v| v.starts_with("0000000002."))
        }))
    })?;
    assert_eq!(
        list[0]["versions"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    Ok(())
}

/// `POST /content/import` of `path` on peer `i`: the HTTP status and the body.
fn import_raw(c: &Cluster, i: usize, path: &Path, name: &str) -> anyhow::Result<(u16, Value)> {
    let body = json!({ "path": path, "name": name });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent
        .post(format!("{}/content/import", c.peers[i].http))
        .send_json(&body)?;
    let code = res.status().as_u16();
    let text = res.body_mut().read_to_string()?;
    Ok((
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

#[test]
fn imports_read_only_configured_roots_never_the_peers_own_files() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("mirror");
    let outside = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&outside)?;
    std::fs::write(outside.join("secret.txt"), b"not for the repository")?;
    make_tree(&root.join("tools"), 3, 2)?;
    let mut c = Cluster::new(&["dc1".into()], Options::default())?;
    // a1 may import from the mirror and (carelessly) from the whole cluster directory, which
    // holds every peer's configuration, data and the cluster key; a2 has no root at all.
    let careless = format!(
        "{FAST}import_roots = [\"{}\", \"{}\"]\n",
        root.display(),
        c.dir().display()
    );
    c.add_peer_with("a1", "dc1", &careless)?;
    c.add_peer_with("a2", "dc1", FAST)?;
    let refused = |i: usize, path: &Path, want: u16, says: &str| -> anyhow::Result<()> {
        let (code, body) = import_raw(&c, i, path, "probe")?;
        let msg = body["error"].as_str().unwrap_or_default().to_string();
        anyhow::ensure!(
            code == want && msg.contains(says),
            "import of {} on peer {i}: {code} {body}, wanted {want} saying {says:?}",
            path.display()
        );
        Ok(())
    };
    // No root configured: refused.
    refused(1, &root.join("tools"), 403, "no content.import_roots")?;
    // Outside every root, directly or through a symbolic link inside the root.
    refused(0, &outside, 403, "not under content.import_roots")?;
    std::os::unix::fs::symlink(&outside, root.join("escape"))?;
    refused(
        0,
        &root.join("escape"),
        403,
        "not under content.import_roots",
    )?;
    refused(0, Path::new("/etc"), 403, "not under content.import_roots")?;
    // The peer's own files, although under a root.
    let a1_dir = c.data_dir_of("a1");
    refused(0, &a1_dir, 403, "configuration file")?;
    refused(0, &a1_dir, 403, "data directory")?;
    refused(0, c.dir(), 403, "cluster key")?;
    refused(0, &a1_dir.join("store"), 403, "data directory")?;
    // A relative path or a file: a bad request.
    refused(0, Path::new("mirror/tools"), 400, "absolute")?;
    refused(
        0,
        &root.join("tools/repodata/repomd.xml"),
        400,
        "not a directory",
    )?;

    // Inside the root: imported. Then a tree with a link to a file outside it fails.
    let out = cli(
        &c,
        0,
        &["content", "import", &root.join("tools").to_string_lossy()],
    )?;
    assert!(out.contains("imported dc1/tools version 1"), "{out}");
    std::os::unix::fs::symlink(
        outside.join("secret.txt"),
        root.join("tools/Packages-secret.rpm"),
    )?;
    let (code, job) = import_raw(&c, 0, &root.join("tools"), "tools")?;
    assert_eq!(code, 200, "{job}");
    let id = job["id"].as_u64().unwrap_or_default();
    let mut last = Value::Null;
    wait_until(T, "the import with an escaping link to fail", || {
        last = c.peers[0].client().get(&format!("/content/jobs/{id}"))?;
        Ok(last["state"] == "failed")
    })?;
    let err = last["error"].as_str().unwrap_or_default();
    assert!(err.contains("leads out of the tree"), "{last}");
    let secret = fetch(&format!(
        "{}/repo/dc1/tools/Packages-secret.rpm",
        c.peers[0].http
    ))?;
    assert_eq!(secret.0, 404, "the linked file is not served");
    Ok(())
}
