//! Integrity handling end to end (RFC "Integrity Handling", issue 16): real peers beside Uyuni
//! stand-ins with the cluster's triggers in a real PostgreSQL. Every node's Node Controller
//! compares its server with the zone's published common data on a schedule
//! (`resync_interval_ms`, short here) and publishes what differs (`GET /cluster/integrity`).
//!
//! * The RFC's integrity test: a node that joins later is checked identical to its zone.
//! * The RFC's recovery test: a node's server loses the zone's common data (destroyed beyond
//!   the threshold): it is marked faulty; `uyuni-cluster node reprovision` orphans its
//!   systems, its common data is re-applied from the zone, it re-onboards; a chosen system's
//!   record and the node's common data do not differ from before.

use std::process::Command;
use std::time::Duration;

use netsim_tests::harness::{self, Cluster, Options, wait_until};
use netsim_tests::pg::Postgres;
use netsim_tests::standin::StandIn;
use netsim_tests::standin::session::{
    Session as Api, peer_section, present_minion, standin_with_triggers as standin,
};
use serde_json::json;
use uyuni_api::value::string;

const T: Duration = Duration::from_secs(90);

/// The stand-in's section with a fast integrity schedule and a threshold of one object.
fn section(s: &StandIn) -> String {
    format!(
        "{}resync_interval_ms = 1500\nintegrity_threshold = 1\n",
        peer_section(s)
    )
}

fn verdict(c: &Cluster, i: usize, node: &str) -> anyhow::Result<serde_json::Value> {
    let all: serde_json::Value = c.peers[i].client().get("/cluster/integrity")?;
    Ok(all
        .as_array()
        .and_then(|a| a.iter().find(|n| n["node"] == node).cloned())
        .unwrap_or(serde_json::Value::Null))
}

fn groups(api: &Api) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = api
        .call("systemgroup.listAllGroups", vec![])?
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|x| x["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    Ok(out)
}

fn channels(api: &Api) -> anyhow::Result<Vec<String>> {
    let mut out = api.channels()?;
    out.sort();
    Ok(out)
}

/// Zone `dc` with a1 (the Leader Node) and a2; a1 publishes two channels and a group.
fn published_zone(pg: &Postgres) -> anyhow::Result<(StandIn, StandIn, Cluster)> {
    let (a1, a2) = (standin(pg, "a1")?, standin(pg, "a2")?);
    let mut c = Cluster::new(&["dc".into()], Options::default())?;
    c.add_peer_with("a1", "dc", &section(&a1))?;
    c.add_peer_with("a2", "dc", &section(&a2))?;
    c.peers[0].client().post::<serde_json::Value>(
        "/zones/dc/lease",
        &json!({"ttl_ms": 600_000, "force": true}),
    )?;
    let leader = Api::login(&a1)?;
    leader.create_channel("dc-base")?;
    leader.create_channel("dc-tools")?;
    leader.call(
        "systemgroup.create",
        vec![string("web"), string("Web servers")],
    )?;
    wait_until(T, "the triggers to capture the changes", || {
        let l: serde_json::Value = c.peers[0].client().get("/zones/dc/lease")?;
        Ok(l["pending"].as_array().is_some_and(|p| p.len() >= 3))
    })?;
    let report: serde_json::Value = c.peers[0].client().post("/zones/dc/publish", &json!({}))?;
    assert_eq!(report["generation"], 1, "{report}");
    Ok((a1, a2, c))
}

#[test]
fn a_node_that_joins_later_is_checked_identical_to_its_zone() -> anyhow::Result<()> {
    let pg = Postgres::start()?;
    let (a1, _a2, mut c) = published_zone(&pg)?;
    let a3 = standin(&pg, "a3")?;
    let i3 = c.add_peer_with("a3", "dc", &section(&a3))?;
    wait_until(T, "a3's integrity check to find it identical", || {
        let v = verdict(&c, 0, "a3")?;
        Ok(v["verdict"] == "identical" && v["check"]["generation"] == 1)
    })?;
    let (leader, late) = (Api::login(&a1)?, Api::login(&a3)?);
    assert_eq!(channels(&late)?, channels(&leader)?);
    assert_eq!(groups(&late)?, groups(&leader)?);
    // Its first copy is not drift, and the CLI shows the same.
    let v = verdict(&c, i3, "a3")?;
    assert!(v["check"]["common"].is_null(), "{v}");
    let out = Command::new(harness::binary()?)
        .args(["node", "integrity", "--peer", &c.peers[i3].http])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("a3") && l.contains("identical")),
        "{text}"
    );
    Ok(())
}

#[test]
fn a_destroyed_node_is_marked_faulty_reprovisioned_and_its_system_does_not_differ()
-> anyhow::Result<()> {
    let pg = Postgres::start()?;
    let (a1, a2, c) = published_zone(&pg)?;
    let (leader, victim) = (Api::login(&a1)?, Api::login(&a2)?);
    wait_until(T, "a2 to hold the zone's common data", || {
        Ok(verdict(&c, 0, "a2")?["verdict"] == "identical")
    })?;

    // The chosen system: onboarded on a2.
    let mut chosen = None;
    for i in 0..8 {
        let label = format!("cc:{i:02x}");
        c.register(0, &label, &format!("s{i}.acme.test"))?;
        let fp = c.fp(&label);
        c.act(0, &fp, "accept")?;
        let mut node = None;
        wait_until(T, "placed", || {
            node = c.system(0, &fp)?.and_then(|s| s.node);
            Ok(node.is_some())
        })?;
        if node.as_deref() == Some("a2") {
            chosen = Some((fp, format!("s{i}.acme.test")));
            break;
        }
    }
    let (fp, minion) = chosen.ok_or_else(|| anyhow::anyhow!("nothing placed on a2"))?;
    present_minion(&a2, &minion)?;
    wait_until(T, "onboarded on a2", || victim.lists(&minion))?;
    let before = c.system(0, &fp)?.ok_or_else(|| anyhow::anyhow!("gone"))?;

    // a2's server loses the zone's common data behind the cluster's back: beyond the
    // threshold, so the next scheduled check marks it faulty and leaves it as found.
    victim.call("channel.software.delete", vec![string("dc-base")])?;
    victim.call("channel.software.delete", vec![string("dc-tools")])?;
    victim.call("systemgroup.delete", vec![string("web")])?;
    wait_until(T, "a2 to be marked faulty", || {
        Ok(verdict(&c, 0, "a2")?["verdict"] == "faulty")
    })?;
    let v = verdict(&c, 0, "a2")?;
    let common: Vec<&str> = v["check"]["common"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    assert!(common.contains(&"channel/dc-base: missing"), "{v}");
    assert!(common.contains(&"systemgroup/web: missing"), "{v}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        channels(&victim)?.is_empty(),
        "left as found until re-provisioned"
    );
    let bin = harness::binary()?;
    let out = Command::new(&bin)
        .args(["node", "integrity", "a2", "--peer", &c.peers[1].http])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("faulty") && text.contains("channel/dc-tools: missing"),
        "{text}"
    );

    // One command re-provisions it.
    let out = Command::new(&bin)
        .args([
            "node",
            "reprovision",
            "a2",
            "--peer",
            &c.peers[0].http,
            "--json",
        ])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert!(r["orphaned"].as_u64() >= Some(1), "{r}");
    wait_until(T, "a2 re-provisioned and identical again", || {
        let v = verdict(&c, 0, "a2")?;
        Ok(v["verdict"] == "identical" && v["check"]["reprovisioned_at"].is_u64())
    })?;
    assert_eq!(channels(&victim)?, channels(&leader)?);
    assert_eq!(groups(&victim)?, groups(&leader)?);
    wait_until(T, "a2's content sync to verify its files once", || {
        Ok(c.peers[1]
            .log_tail()
            .contains("re-provisioning: content verified"))
    })?;
    wait_until(T, "the chosen system placed on a1", || {
        Ok(c.system(0, &fp)?.and_then(|s| s.node).as_deref() == Some("a1"))
    })?;
    present_minion(&a1, &minion)?;
    wait_until(T, "onboarded on a1", || leader.lists(&minion))?;
    wait_until(T, "a2 to let it go", || Ok(!victim.lists(&minion)?))?;
    let after = c.system(0, &fp)?.ok_or_else(|| anyhow::anyhow!("gone"))?;
    assert_eq!(
        (
            &after.fingerprint,
            &after.minion_id,
            after.status,
            &after.tags,
            &after.groups,
            &after.channels,
            after.banned
        ),
        (
            &before.fingerprint,
            &before.minion_id,
            before.status,
            &before.tags,
            &before.groups,
            &before.channels,
            before.banned
        ),
        "the chosen system's results do not differ"
    );
    // a2 re-onboarded: no longer faulty.
    wait_until(T, "a2 back in service", || {
        Ok(c.load(0)?.nodes.iter().any(|n| n.name == "a2" && !n.faulty))
    })?;
    Ok(())
}
