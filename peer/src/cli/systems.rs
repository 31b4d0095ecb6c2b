//! `systems list|show|accept|reject|ban|unregister`: the client systems of the cluster.

use crdt_store::SystemRecord;

use super::{SystemsCommand, Target, query, urlencode};

pub(super) fn print_systems(list: &[SystemRecord], json: bool) -> anyhow::Result<()> {
    if json {
        // Each record carries `node` even when unassigned, so scripts can rely on the key.
        let v: Vec<serde_json::Value> = list.iter().map(system_json).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<40} {:<28} {:<10} {:<12} {:<10}",
        "FINGERPRINT", "MINION ID", "STATUS", "NODE", "ZONE"
    );
    for s in list {
        let fp = if s.fingerprint.len() > 40 {
            format!("{}…", &s.fingerprint[..39])
        } else {
            s.fingerprint.clone()
        };
        println!(
            "{:<40} {:<28} {:<10} {:<12} {:<10}",
            fp,
            s.minion_id,
            s.status.as_str(),
            s.node.as_deref().unwrap_or("-"),
            s.zone.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

pub(super) fn system_json(s: &SystemRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.entry("node").or_insert(serde_json::Value::Null);
    }
    v
}

pub(super) fn systems(cmd: SystemsCommand) -> anyhow::Result<()> {
    match cmd {
        SystemsCommand::List {
            status,
            node,
            zone,
            tag,
            group,
            limit,
            target,
        } => {
            let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join(","));
            let q = query(&[
                ("status", status),
                ("node", node),
                ("zone", zone),
                ("tag", join(tag)),
                ("group", join(group)),
                ("limit", limit.map(|l| l.to_string())),
            ]);
            let list: Vec<SystemRecord> = target.client()?.get(&format!("/systems{q}"))?;
            print_systems(&list, target.json)
        }
        SystemsCommand::Show {
            fingerprint,
            target,
        } => {
            let s: SystemRecord = target
                .client()?
                .get(&format!("/systems/{}", urlencode(&fingerprint)))?;
            show(&s, target.json)
        }
        SystemsCommand::Accept {
            fingerprint,
            target,
        } => system_action(&target, &fingerprint, "accept"),
        SystemsCommand::Ban {
            fingerprint,
            target,
        } => system_action(&target, &fingerprint, "ban"),
        SystemsCommand::Reject {
            fingerprint,
            target,
        } => system_action(&target, &fingerprint, "reject"),
        SystemsCommand::Unregister {
            fingerprint,
            target,
        } => system_action(&target, &fingerprint, "unregister"),
        SystemsCommand::Search {
            query,
            limit,
            all,
            target,
        } => super::search::search(&query, limit, all, &target),
        SystemsCommand::Bulk {
            query,
            action,
            tags,
            target,
        } => super::search::bulk(&query, &action, tags, &target),
    }
}

/// `POST /systems/{fingerprint}/{action}` and show the resulting record.
pub(super) fn system_action(
    target: &Target,
    fingerprint: &str,
    action: &str,
) -> anyhow::Result<()> {
    let client = target.client()?;
    let path = format!("/systems/{}", urlencode(fingerprint));
    let mut s: SystemRecord = client.post(&format!("{path}/{action}"), &serde_json::json!({}))?;
    if action != "accept" || s.node.is_some() {
        return show(&s, target.json);
    }
    // Accepted systems are orphans until the Load Driver places them (normally within a
    // second): show where it went, as the Cluster UI does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while s.node.is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        s = client.get(&path)?;
    }
    show(&s, target.json)?;
    if !target.json {
        match &s.node {
            Some(node) => eprintln!("accepted: placed on {node}"),
            None => eprintln!(
                "accepted: an orphan of zone {} until a node has room (`systems show {fingerprint}` to follow)",
                s.zone.as_deref().unwrap_or("?")
            ),
        }
    }
    Ok(())
}

pub(super) fn show(s: &SystemRecord, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&system_json(s))?);
    } else {
        print_systems(std::slice::from_ref(s), false)?;
    }
    Ok(())
}
