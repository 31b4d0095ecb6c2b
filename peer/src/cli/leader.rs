//! `uyuni-cluster leader ...` and `uyuni-cluster node-controller`: the Leader Node lease,
//! "apply cluster update" and the Node Controller's status.
//!
//! Every command talks to one peer (`--peer`) and acts for that peer's node and zone: claim
//! the lease on the peer beside the Uyuni server where the administrator edits.

use clap::Subcommand;

use super::Target;

#[derive(Debug, Subcommand)]
pub(super) enum LeaderCommand {
    /// Show the lease of the peer's zone.
    Show {
        #[command(flatten)]
        target: Target,
    },
    /// Make the peer's node the zone's Leader Node (or renew its lease).
    Claim {
        /// Lease length in milliseconds. Default 3 600 000 (1 h).
        #[arg(long)]
        ttl_ms: Option<u64>,
        /// Publish every change as soon as it is captured.
        #[arg(long)]
        auto_publish: bool,
        /// Take the lease over from another node (its unpublished changes are dropped).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Give the lease up (unpublished changes are dropped: publish first).
    Release {
        /// Release a lease another node holds.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: Target,
    },
    /// "Apply cluster update": publish the Leader Node's changes to every node of the zone.
    Publish {
        /// Publish every common object of the node, not only the captured changes.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        target: Target,
    },
    /// The zone's published common data.
    Common {
        #[command(flatten)]
        target: Target,
    },
}

fn zone_of(t: &Target) -> anyhow::Result<String> {
    let st: serde_json::Value = t.client()?.get("/cluster/status")?;
    st["zone"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the peer did not say its zone"))
}

fn print(t: &Target, v: &serde_json::Value, text: impl FnOnce(&serde_json::Value)) {
    if t.json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        text(v);
    }
}

/// A lease's end in words, as the Cluster UI says it: "expires in 4 min 59 s" or "expired
/// 12 s ago" (the exact Unix ms stay in `--json`).
fn expiry(expires_ms: u64, now_ms: u64) -> String {
    let words = |ms: u64| {
        let s = ms / 1000;
        match s {
            0..60 => format!("{s} s"),
            60..3600 => format!("{} min {} s", s / 60, s % 60),
            _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        }
    };
    if expires_ms == 0 {
        "never claimed".to_string()
    } else if expires_ms > now_ms {
        format!("expires in {}", words(expires_ms - now_ms))
    } else {
        format!("expired {} ago", words(now_ms - expires_ms))
    }
}

fn show_lease(v: &serde_json::Value) {
    if v.is_null() {
        println!("no lease: no node of this zone has led its common data yet");
        return;
    }
    println!(
        "zone {}: holder {} (term {}, {}), generation {}, auto-publish {}",
        v["zone"].as_str().unwrap_or("?"),
        v["holder"].as_str().unwrap_or("none"),
        v["term"],
        expiry(
            v["expires_at"].as_u64().unwrap_or(0),
            cluster_core::now_ms()
        ),
        v["generation"],
        v["auto_publish"].as_bool().unwrap_or(false),
    );
    if let Some(p) = v["pending"].as_array() {
        println!("pending changes: {}", p.len());
        for e in p {
            println!("  {}", e.as_str().unwrap_or("?"));
        }
    }
}

pub(super) fn run(cmd: LeaderCommand) -> anyhow::Result<()> {
    match cmd {
        LeaderCommand::Show { target } => {
            let zone = zone_of(&target)?;
            let v: serde_json::Value = target.client()?.get(&format!("/zones/{zone}/lease"))?;
            print(&target, &v, show_lease);
        }
        LeaderCommand::Claim {
            ttl_ms,
            auto_publish,
            force,
            target,
        } => {
            let zone = zone_of(&target)?;
            let v: serde_json::Value = target.client()?.post(
                &format!("/zones/{zone}/lease"),
                &serde_json::json!({"ttl_ms": ttl_ms, "auto_publish": auto_publish, "force": force}),
            )?;
            print(&target, &v, show_lease);
        }
        LeaderCommand::Release { force, target } => {
            let zone = zone_of(&target)?;
            let v: serde_json::Value = target
                .client()?
                .delete(&format!("/zones/{zone}/lease?force={force}"))?;
            print(&target, &v, show_lease);
        }
        LeaderCommand::Publish { all, target } => {
            let zone = zone_of(&target)?;
            let v: serde_json::Value = target.client()?.post(
                &format!("/zones/{zone}/publish"),
                &serde_json::json!({"all": all}),
            )?;
            print(&target, &v, |v| {
                let items = v["published"].as_array().cloned().unwrap_or_default();
                println!(
                    "zone {} is at generation {}: {} object(s) published",
                    v["zone"].as_str().unwrap_or("?"),
                    v["generation"],
                    items.len()
                );
                for i in items {
                    println!("  {}", i.as_str().unwrap_or("?"));
                }
            });
        }
        LeaderCommand::Common { target } => {
            let zone = zone_of(&target)?;
            let v: serde_json::Value = target.client()?.get(&format!("/zones/{zone}/common"))?;
            print(&target, &v, |v| {
                let records = v.as_array().cloned().unwrap_or_default();
                if records.is_empty() {
                    println!(
                        "zone {zone} (the zone of {}): no common data published yet. \
                         Another zone's: --peer a peer of that zone.",
                        target.peer
                    );
                }
                for r in records {
                    println!(
                        "{:<15} {:<40} gen {:<4} {}",
                        r["kind"].as_str().unwrap_or("?"),
                        r["key"].as_str().unwrap_or("?"),
                        r["generation"],
                        if r["deleted"].as_bool().unwrap_or(false) {
                            "deleted"
                        } else {
                            ""
                        }
                    );
                }
            });
        }
    }
    Ok(())
}

/// `uyuni-cluster node-controller`.
pub(super) fn status(target: &Target) -> anyhow::Result<()> {
    let v: serde_json::Value = target.client()?.get("/node-controller")?;
    print(target, &v, |v| {
        if !v["configured"].as_bool().unwrap_or(false) {
            println!(
                "node {}: no Node Controller ([uyuni] url not set)",
                v["node"].as_str().unwrap_or("?")
            );
            return;
        }
        if let Some(m) = v.as_object() {
            for (k, val) in m {
                println!("{k:<20} {val}");
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::expiry;

    #[test]
    fn lease_expiry_reads_as_words() {
        assert_eq!(expiry(0, 5), "never claimed");
        assert_eq!(expiry(300_000, 1_000), "expires in 4 min 59 s");
        assert_eq!(expiry(1_000, 13_000), "expired 12 s ago");
        assert_eq!(expiry(7_200_000, 0), "expires in 2 h 0 min");
    }
}
