//! `uyuni-cluster node ...`: operations on whole nodes (issue 16): replacement by a fresh
//! node for a major upgrade, integrity checks and re-provisioning.

use std::time::{Duration, Instant};

use clap::Subcommand;
use load_driver::replace_api::ReplaceView;

use super::{Target, urlencode};

#[derive(Debug, Subcommand)]
pub(super) enum NodeCommand {
    /// Replace node OLD by the fresh node NEW (a major upgrade by fresh installation): NEW
    /// is kept empty until it holds its zone's common data and content, then every system of
    /// OLD moves to NEW (nobody else moves) and OLD is retired. Request it before starting
    /// NEW, so that nothing else is placed on it. Waits until done unless --no-wait.
    Replace {
        /// The node replaced.
        old: String,
        /// The fresh node taking over.
        #[arg(long = "with")]
        new: String,
        /// Return after the request instead of waiting for the takeover.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds (the request stays). Default 3600.
        #[arg(long, default_value_t = 3600)]
        timeout_s: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Show a replacement and how far the fresh node is.
    ReplaceStatus {
        /// The node replaced.
        old: String,
        #[command(flatten)]
        target: Target,
    },
    /// Withdraw a pending replacement (the fresh node becomes an ordinary node).
    ReplaceCancel {
        /// The node replaced.
        old: String,
        #[command(flatten)]
        target: Target,
    },
    /// Each node's last integrity check: how its Uyuni server's common data and its content
    /// differ from what its zone published (`identical`, `drift` repaired, `faulty`).
    Integrity {
        /// Only this node, with every difference listed.
        node: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Re-provision a node (after a failed integrity check): its systems become orphans and
    /// go to the zone's other nodes, its Node Controller re-applies the zone's common data,
    /// and it re-onboards empty (rebalancing refills it).
    Reprovision {
        /// The node.
        node: String,
        #[command(flatten)]
        target: Target,
    },
}

pub(super) fn run(cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Replace {
            old,
            new,
            no_wait,
            timeout_s,
            target,
        } => replace(&old, &new, no_wait, Duration::from_secs(timeout_s), &target),
        NodeCommand::ReplaceStatus { old, target } => {
            let v: ReplaceView = target
                .client()?
                .get(&format!("/nodes/{}/replace", urlencode(&old)))?;
            print_view(&v, target.json)
        }
        NodeCommand::Integrity { node, target } => integrity(node.as_deref(), &target),
        NodeCommand::Reprovision { node, target } => {
            let v: load_driver::integrity_api::ReprovisionView = target.client()?.post(
                &format!("/nodes/{}/reprovision", urlencode(&node)),
                &serde_json::json!({}),
            )?;
            if target.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{}: {} systems orphaned (placed on the zone's other nodes); its Node \
                     Controller re-applies the zone's common data, then it re-onboards",
                    v.node, v.orphaned
                );
            }
            Ok(())
        }
        NodeCommand::ReplaceCancel { old, target } => {
            let v: ReplaceView = target.client()?.post(
                &format!("/nodes/{}/replace/cancel", urlencode(&old)),
                &serde_json::json!({}),
            )?;
            print_view(&v, target.json)
        }
    }
}

fn integrity(only: Option<&str>, t: &Target) -> anyhow::Result<()> {
    let mut list: Vec<load_driver::integrity_api::NodeIntegrity> =
        t.client()?.get("/cluster/integrity")?;
    if let Some(n) = only {
        list.retain(|i| i.node == n);
        if list.is_empty() {
            anyhow::bail!("no node {n:?}");
        }
    }
    if t.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<12} {:<15} {:>10} {:>7} {:>8} {:>8}",
        "NODE", "ZONE", "VERDICT", "GENERATION", "COMMON", "CONTENT", "REFUSED"
    );
    for i in &list {
        let (generation, common, content, refused) = i.check.as_ref().map_or_else(
            || ("-".to_string(), 0, 0, 0),
            |c| {
                (
                    c.generation.to_string(),
                    c.common.len(),
                    c.content_missing.len(),
                    c.refused.len(),
                )
            },
        );
        println!(
            "{:<20} {:<12} {:<15} {:>10} {:>7} {:>8} {:>8}",
            i.node, i.zone, i.verdict, generation, common, content, refused
        );
        if only.is_some()
            && let Some(c) = &i.check
        {
            for d in c.common.iter().chain(&c.refused) {
                println!("  {d}");
            }
            for r in &c.content_missing {
                println!("  content {r}: not held completely");
            }
        }
    }
    Ok(())
}

fn replace(
    old: &str,
    new: &str,
    no_wait: bool,
    timeout: Duration,
    t: &Target,
) -> anyhow::Result<()> {
    let client = t.client()?;
    let path = format!("/nodes/{}/replace", urlencode(old));
    let mut v: ReplaceView = client.post(&path, &serde_json::json!({ "with": new }))?;
    if !t.json {
        println!("replacement of {old} by {new} requested");
    }
    let started = Instant::now();
    let mut last = String::new();
    while !no_wait && v.phase == "waiting" {
        let line = progress(&v);
        if line != last && !t.json {
            println!("{line}");
            last = line;
        }
        if started.elapsed() >= timeout {
            anyhow::bail!(
                "{new} has not taken over after {} s ({last}); the request stays: \
                 `uyuni-cluster node replace-status {old}` follows it",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
        v = client.get(&path)?;
    }
    print_view(&v, t.json)
}

fn progress(v: &ReplaceView) -> String {
    let x = &v.replacement;
    if !v.joined {
        format!("waiting for {} to join zone {}", x.new, x.zone)
    } else if !v.common_ready {
        format!("waiting for {} to copy its zone's common data", x.new)
    } else if !v.content_missing.is_empty() {
        format!(
            "waiting for {} to fetch content: {}",
            x.new,
            v.content_missing.join(", ")
        )
    } else {
        format!("{} is ready; waiting for it to take over", x.new)
    }
}

fn print_view(v: &ReplaceView, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
        return Ok(());
    }
    let x = &v.replacement;
    match v.phase.as_str() {
        "done" => println!(
            "{} replaced {} in zone {}: {} systems moved; {} is retired \
             ({} now on {}, {} left on {})",
            x.new, x.old, x.zone, x.moved, x.old, v.new_assigned, x.new, v.old_assigned, x.old
        ),
        "cancelled" => println!("the replacement of {} by {} was cancelled", x.old, x.new),
        _ => println!("{}", progress(v)),
    }
    Ok(())
}
