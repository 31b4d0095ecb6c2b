//! The sandbox's content demo: a small yum repository imported into dc1, replicated to every
//! dc1 node as iroh blobs, served to reposync by each of their local repositories.

use std::path::Path;
use std::time::{Duration, Instant};

/// The demo repository's name.
pub(crate) const DEMO_REPO: &str = "demo-tools";

/// The directory the sandbox's peers may import from (`content.import_roots`): `DIR/content`,
/// apart from their keys, configuration and data, which an import may never read.
pub(crate) fn import_root(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    Ok(std::path::absolute(dir.join("content"))?)
}

/// The `[content]` section of every sandbox peer's configuration.
pub(crate) fn content_section(dir: &Path) -> anyhow::Result<String> {
    let root = import_root(dir)?;
    let root = root
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not UTF-8", root.display()))?;
    Ok(format!(
        "[content]\nimport_roots = [{}]\n",
        toml_string(root)
    ))
}

/// A TOML basic string (quotes and backslashes escaped).
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Write the demo tree (repodata and three packages) under `dir`.
fn write_tree(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("repodata"))?;
    std::fs::create_dir_all(dir.join("Packages"))?;
    for (i, name) in [
        "htop-3.3.0-1.x86_64.rpm",
        "jq-1.7.1-1.x86_64.rpm",
        "tmux-3.4-1.x86_64.rpm",
    ]
    .iter()
    .enumerate()
    {
        // Stand-in package bodies: 300 KiB of seeded bytes each (not real RPMs).
        let mut body = vec![0u8; 300 * 1024];
        blake3::Hasher::new()
            .update(name.as_bytes())
            .finalize_xof()
            .fill(&mut body);
        body[0] = i as u8;
        std::fs::write(dir.join("Packages").join(name), body)?;
    }
    std::fs::write(
        dir.join("repodata/primary.xml"),
        "<metadata packages=\"3\"><!-- sandbox demo --></metadata>\n",
    )?;
    std::fs::write(
        dir.join("repodata/repomd.xml"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n  <data type=\"primary\"><location href=\"repodata/primary.xml\"/></data>\n</repomd>\n",
    )?;
    Ok(())
}

/// Import the demo repository through `servers[0]` and wait (up to 30 s) until every dc1
/// server peer holds it. Returns the line the sandbox prints.
pub(crate) fn demo(
    dir: &Path,
    servers: &[(String, String, String)],
    ca: &Path,
) -> anyhow::Result<String> {
    let tree = import_root(dir)?.join(DEMO_REPO);
    write_tree(&tree)?;
    let Some((first_name, first_url, zone)) = servers.first() else {
        anyhow::bail!("no peer");
    };
    let first = crate::admin_client(first_url, ca)?;
    let mut job: serde_json::Value = first.post(
        "/content/import",
        &serde_json::json!({"path": tree, "name": DEMO_REPO}),
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while job["state"] != "done" {
        anyhow::ensure!(job["state"] != "failed", "import failed: {}", job["error"]);
        anyhow::ensure!(Instant::now() < deadline, "import did not finish in 30 s");
        std::thread::sleep(Duration::from_millis(100));
        job = first.get(&format!("/content/jobs/{}", job["id"]))?;
    }
    let repo = format!("{zone}/{DEMO_REPO}");
    let holds = |url: &str| -> bool {
        crate::admin_client(url, ca)
            .ok()
            .and_then(|c| c.get::<serde_json::Value>("/content/status").ok())
            .is_some_and(|s| {
                s["repos"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r["repo"] == repo && r["complete"] == true))
            })
    };
    let in_zone: Vec<&(String, String, String)> =
        servers.iter().filter(|(_, _, z)| z == zone).collect();
    let others: Vec<&(String, String, String)> =
        servers.iter().filter(|(_, _, z)| z != zone).collect();
    while !in_zone.iter().all(|(_, u, _)| holds(u)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let n_in = in_zone.iter().filter(|(_, u, _)| holds(u)).count();
    let n_out = others.iter().filter(|(_, u, _)| holds(u)).count();
    let other_zone = others.first().map_or("other", |(_, _, z)| z.as_str());
    let reader = in_zone
        .last()
        .map_or(first_url.as_str(), |(_, u, _)| u.as_str());
    Ok(format!(
        "{repo} imported on {first_name} ({} files); complete on {n_in}/{} {zone} nodes and {n_out}/{} {other_zone} nodes\n  reposync URL {reader}/repo/{repo}/  (every dc1 peer serves it, to a client certificate of the cluster CA: /repo/{repo}/repodata/repomd.xml)",
        job["files_total"],
        in_zone.len(),
        others.len(),
    ))
}
