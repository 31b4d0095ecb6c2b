//! `uyuni-cluster content ...` and `uyuni-cluster clm ...`: packages and CLM documents
//! replicated as iroh blobs (docs/CONTENT.md). Every command talks to one peer (`--peer`) and
//! acts for that peer's zone.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use clap::Subcommand;
use content_peer::{
    api::RepoView,
    import::{ImportRequest, Job},
    repo::VerifyReport,
};
use serde_json::json;

use super::Target;

#[derive(Debug, Subcommand)]
pub(super) enum ContentCommand {
    /// Import a package tree (a yum repository with repodata, or /var/spacewalk/packages)
    /// into the peer's zone. The directory is read by the peer, on its host, and must be under
    /// one of its `[content] import_roots` (none configured: imports are refused); the peer's
    /// own configuration, keys, data and password files are refused even there.
    Import {
        /// Directory on the peer's host (under one of its `content.import_roots`).
        dir: PathBuf,
        /// Repository name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Start the import and return without waiting.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Repositories of the cluster and where they are complete.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// This peer's content: repositories, replication progress, transfer counters.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Compare this peer's content with its zone's indexes, report drift and repair it.
    Verify {
        /// Only report.
        #[arg(long)]
        no_repair: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Count what garbage collection will delete (content no index references any more).
    Gc {
        #[command(flatten)]
        target: Target,
    },
    /// Remove a repository (`ZONE/NAME`) from every node.
    Remove {
        /// `ZONE/NAME`.
        repo: String,
        #[command(flatten)]
        target: Target,
    },
    /// Let a zone receive another zone's repository (`ZONE/NAME`).
    Subscribe {
        /// `ZONE/NAME`.
        repo: String,
        /// The receiving zone (default: the peer's zone).
        #[arg(long)]
        subscriber: Option<String>,
        /// Remove the subscription instead.
        #[arg(long)]
        remove: bool,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum ClmCommand {
    /// Export a Content Lifecycle project from the peer's Uyuni server as a new version.
    Save {
        /// Project label.
        project: String,
        #[command(flatten)]
        target: Target,
    },
    /// Make every node of the zone import a saved version (default: the latest).
    Apply {
        /// Project label.
        project: String,
        /// Version number.
        #[arg(long)]
        version: Option<u64>,
        #[command(flatten)]
        target: Target,
    },
    /// Projects of the peer's zone: versions, the applied one, which node imported what.
    List {
        #[command(flatten)]
        target: Target,
    },
}

fn split_repo(repo: &str) -> anyhow::Result<(&str, &str)> {
    repo.split_once('/')
        .filter(|(z, n)| !z.is_empty() && !n.is_empty())
        .context("expected ZONE/NAME")
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub(super) fn run(cmd: ContentCommand) -> anyhow::Result<()> {
    match cmd {
        ContentCommand::Import {
            dir,
            name,
            no_wait,
            target,
        } => {
            let dir = std::path::absolute(&dir)?;
            let name = match name {
                Some(n) => n,
                None => dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .context("give --name")?
                    .to_string(),
            };
            let c = target.client()?;
            let mut job: Job = c.post(
                "/content/import",
                &serde_json::to_value(ImportRequest { path: dir, name })?,
            )?;
            let mut last = String::new();
            while !no_wait && (job.state == "scanning" || job.state == "importing") {
                std::thread::sleep(Duration::from_millis(500));
                job = c.get(&format!("/content/jobs/{}", job.id))?;
                let line = format!(
                    "{}: {}/{} files, {:.1}/{:.1} MiB",
                    job.state,
                    job.files_done,
                    job.files_total,
                    mib(job.bytes_done),
                    mib(job.bytes_total)
                );
                if line != last && !target.json {
                    eprintln!("{line}");
                    last = line;
                }
            }
            if target.json {
                return print_json(&job);
            }
            match (job.state.as_str(), &job.repo) {
                ("done", Some(r)) => println!(
                    "imported {}/{} version {}: {} files, {:.1} MiB, manifest {}",
                    r.zone,
                    r.name,
                    r.version,
                    r.files,
                    mib(r.bytes),
                    r.manifest
                ),
                ("failed", _) => bail!("import failed: {}", job.error.unwrap_or_default()),
                _ => println!("import job {} {}", job.id, job.state),
            }
        }
        ContentCommand::List { target } => {
            let repos: Vec<RepoView> = target.client()?.get("/content/repos")?;
            if target.json {
                return print_json(&repos);
            }
            println!(
                "{:<30} {:>4} {:>8} {:>10}  {:<20} COMPLETE ON",
                "REPO", "VER", "FILES", "MIB", "SUBSCRIBERS"
            );
            for r in repos {
                let rec = &r.record;
                let id = format!("{}/{}", rec.zone, rec.name);
                let id = if rec.deleted {
                    format!("{id} (removed)")
                } else {
                    id
                };
                println!(
                    "{:<30} {:>4} {:>8} {:>10.1}  {:<20} {}",
                    id,
                    rec.version,
                    rec.files,
                    mib(rec.bytes),
                    r.subscribers.join(","),
                    r.complete_on.join(",")
                );
            }
        }
        ContentCommand::Status { target } => {
            let v: serde_json::Value = target.client()?.get("/content/status")?;
            if target.json {
                return print_json(&v);
            }
            println!(
                "node {} (zone {}), endpoint {}, mode {}",
                v["node"].as_str().unwrap_or("?"),
                v["zone"].as_str().unwrap_or("?"),
                v["endpoint"].as_str().unwrap_or("?"),
                v["mode"].as_str().unwrap_or("?")
            );
            for r in v["repos"].as_array().into_iter().flatten() {
                println!(
                    "  {:<30} v{} {}/{} files, {:.1}/{:.1} MiB{}{}",
                    r["repo"].as_str().unwrap_or("?"),
                    r["version"],
                    r["files_present"],
                    r["files"],
                    mib(r["bytes_present"].as_u64().unwrap_or(0)),
                    mib(r["bytes"].as_u64().unwrap_or(0)),
                    if r["complete"].as_bool() == Some(true) {
                        ", complete"
                    } else {
                        ""
                    },
                    if r["fetching"].as_bool() == Some(true) {
                        ", fetching"
                    } else {
                        ""
                    },
                );
            }
            println!(
                "blobs stored {}, fetched {} ({:.1} MiB), served {} requests, refused {} connections / {} requests",
                v["stored_blobs"],
                v["fetched_blobs"],
                mib(v["fetched_bytes"].as_u64().unwrap_or(0)),
                v["served_requests"],
                v["refused_connections"],
                v["refused_requests"]
            );
        }
        ContentCommand::Verify { no_repair, target } => {
            let r: VerifyReport = target
                .client()?
                .post("/content/verify", &json!({ "repair": !no_repair }))?;
            if target.json {
                print_json(&r)?;
            } else {
                println!(
                    "{} repositories, {} files and {} manifests ({:.1} MiB read): {} ok, {} drifted",
                    r.repos,
                    r.files,
                    r.manifests,
                    mib(r.bytes),
                    r.ok,
                    r.drift.len()
                );
                for d in &r.drift {
                    println!("  {} {}: {} ({})", d.repo, d.path, d.problem, d.action);
                }
            }
            if r.drift.iter().any(|d| d.action.starts_with("failed")) {
                bail!("some drift could not be repaired");
            }
        }
        ContentCommand::Gc { target } => {
            let v: serde_json::Value = target.client()?.post("/content/gc", &json!({}))?;
            if target.json {
                return print_json(&v);
            }
            println!(
                "{} blobs stored, {} unreferenced: deleted by the next collection (every {} ms)",
                v["stored_blobs"], v["unreferenced_blobs"], v["gc_interval_ms"]
            );
        }
        ContentCommand::Remove { repo, target } => {
            let (zone, name) = split_repo(&repo)?;
            let v: serde_json::Value = target
                .client()?
                .delete(&format!("/content/repos/{zone}/{name}"))?;
            if target.json {
                return print_json(&v);
            }
            println!("removed {repo} (version {})", v["version"]);
        }
        ContentCommand::Subscribe {
            repo,
            subscriber,
            remove,
            target,
        } => {
            let (zone, name) = split_repo(&repo)?;
            let v: serde_json::Value = target.client()?.post(
                "/content/subscriptions",
                &json!({"zone": zone, "name": name, "subscriber": subscriber, "unsubscribe": remove}),
            )?;
            if target.json {
                return print_json(&v);
            }
            let verb = if remove {
                "no longer receives"
            } else {
                "receives"
            };
            println!(
                "zone {} {verb} {repo}",
                v["subscriber"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}

pub(super) fn run_clm(cmd: ClmCommand) -> anyhow::Result<()> {
    match cmd {
        ClmCommand::Save { project, target } => {
            let v: serde_json::Value = target
                .client()?
                .post(&format!("/clm/{project}/save"), &json!({}))?;
            if target.json {
                return print_json(&v);
            }
            println!(
                "saved {project} version {} ({} bytes, {})",
                v["version"],
                v["size"],
                v["hash"].as_str().unwrap_or("?")
            );
        }
        ClmCommand::Apply {
            project,
            version,
            target,
        } => {
            let v: serde_json::Value = target.client()?.post(
                &format!("/clm/{project}/apply"),
                &json!({ "version": version }),
            )?;
            if target.json {
                return print_json(&v);
            }
            println!(
                "zone {} imports {project} version {}",
                v["zone"].as_str().unwrap_or("?"),
                v["version_id"].as_str().unwrap_or("?")
            );
        }
        ClmCommand::List { target } => {
            let v: serde_json::Value = target.client()?.get("/clm")?;
            if target.json {
                return print_json(&v);
            }
            for p in v.as_array().into_iter().flatten() {
                println!(
                    "{} (zone {}): {} versions, applied {}",
                    p["project"].as_str().unwrap_or("?"),
                    p["zone"].as_str().unwrap_or("?"),
                    p["versions"].as_array().map_or(0, Vec::len),
                    p["applied"]["version_id"].as_str().unwrap_or("none")
                );
                for (node, ver) in p["imported"].as_object().into_iter().flatten() {
                    println!("  {node}: {}", ver.as_str().unwrap_or("?"));
                }
            }
        }
    }
    Ok(())
}
