//! Mixed versions during an upgrade (issue 16): peers speaking two wire protocol versions
//! work together, and a peer no version here works beside is refused, visibly.
//!
//! The "older" peer runs the current binary with the hidden test setting
//! `test_wire_protocol = 1` (docs/UPGRADE.md): it sends no version fields (as version 1 did)
//! and rewrites records dropping the fields it does not know (as version 1 did). The
//! "future" peer speaks `test_wire_protocol = 4`, which works beside nothing older than 4.
//!
//! Zone `dc`: a1 speaks version 1 and, having the lowest name, leads the zone's Load Driver
//! (placements and remaps are the old peer's); a2 and a3 speak the current version (3: with a
//! version-1 member they gossip their changes one shard a message, as version 2 did); a2 publishes
//! common data that every node copies; a3 dies and the old leader remaps its systems.

use std::time::Duration;

use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::pg::Postgres;
use netsim_tests::standin::session::{
    Session as Api, peer_section as section, standin_with_triggers as standin,
};
use serde_json::json;

const T: Duration = Duration::from_secs(90);

fn node_of(c: &Cluster, i: usize, fp: &str) -> anyhow::Result<Option<String>> {
    Ok(c.system(i, fp)?.and_then(|s| s.node))
}

#[test]
fn peers_of_two_protocol_versions_register_remap_and_publish_and_a_third_is_refused()
-> anyhow::Result<()> {
    let pg = Postgres::start()?;
    let (s1, s2, s3) = (
        standin(&pg, "a1")?,
        standin(&pg, "a2")?,
        standin(&pg, "a3")?,
    );
    let mut c = Cluster::new(&["dc".into()], Options::default())?;
    c.add_peer_with(
        "a1",
        "dc",
        &format!("test_wire_protocol = 1\n{}", section(&s1)),
    )?;
    c.add_peer_with("a2", "dc", &section(&s2))?;
    c.add_peer_with("a3", "dc", &section(&s3))?;
    for i in 0..3 {
        wait_until(T, "three alive members", || {
            let m = c.members(i)?;
            Ok(m.len() == 3 && m.iter().all(|m| m.status == "alive"))
        })?;
    }
    // Each side sees the other's version.
    let m = c.members(2)?;
    let v = |name: &str| m.iter().find(|x| x.name == name).map(|x| x.protocol);
    assert_eq!((v("a1"), v("a2"), v("a3")), (Some(1), Some(3), Some(3)));

    // Registrations through either version, placed by the old leader.
    let mut fps = Vec::new();
    for i in 0..12 {
        let label = format!("dd:{i:02x}");
        c.register(i % 3, &label, &format!("u{i}.acme.test"))?;
        let fp = c.fp(&label);
        // Accepted through a peer of the other version, once the registration reached it.
        let other = if i % 3 == 0 { 1 } else { 0 };
        wait_until(T, "the registration replicated", || {
            Ok(c.system(other, &fp)?.is_some())
        })?;
        c.act(other, &fp, "accept")?;
        fps.push(fp);
    }
    wait_until(T, "every system placed and seen alike", || {
        for fp in &fps {
            let n = node_of(&c, 0, fp)?;
            if n.is_none() || node_of(&c, 1, fp)? != n || node_of(&c, 2, fp)? != n {
                return Ok(false);
            }
        }
        Ok(true)
    })?;

    // A publication on a new peer reaches the old one's server.
    c.peers[1].client().post::<serde_json::Value>(
        "/zones/dc/lease",
        &json!({"ttl_ms": 600_000, "force": true}),
    )?;
    Api::login(&s2)?.create_channel("upgrade-base")?;
    wait_until(T, "the change captured", || {
        let l: serde_json::Value = c.peers[1].client().get("/zones/dc/lease")?;
        Ok(l["pending"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "channel/upgrade-base")))
    })?;
    let report: serde_json::Value = c.peers[1].client().post("/zones/dc/publish", &json!({}))?;
    assert_eq!(report["generation"], 1, "{report}");
    for s in [&s1, &s3] {
        let api = Api::login(s)?;
        wait_until(T, "every server to copy the publication", || {
            Ok(api.channels()?.contains(&"upgrade-base".to_string()))
        })?;
    }

    // A new peer dies: the old leader remaps its systems; both versions agree.
    let on_a3: Vec<String> = fps
        .iter()
        .filter(|fp| node_of(&c, 0, fp).ok().flatten().as_deref() == Some("a3"))
        .cloned()
        .collect();
    c.kill(2);
    wait_until(T, "a3's systems remapped", || {
        for fp in &on_a3 {
            let n = node_of(&c, 0, fp)?;
            if n.is_none() || n.as_deref() == Some("a3") || node_of(&c, 1, fp)? != n {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    wait_until(T, "the two versions converge", || c.converged())?;

    // A peer of a version neither works beside is refused, named in membership with the
    // reason, and nothing it writes is merged.
    let i4 = c.add_peer_with("a4", "dc", "test_wire_protocol = 4\n")?;
    for i in [0, 1] {
        wait_until(T, "a4 to be refused", || {
            Ok(c.members(i)?
                .iter()
                .any(|m| m.name == "a4" && m.status == "incompatible"))
        })?;
    }
    let m = c.members(1)?;
    let a4 = m.iter().find(|m| m.name == "a4").expect("listed");
    let reason = a4.refused.clone().unwrap_or_default();
    assert!(
        reason.contains("wire protocol 4") && reason.contains("upgrade this peer"),
        "{reason}"
    );
    c.register(i4, "ee:ff", "future.acme.test")?;
    let future_fp = c.fp("ee:ff");
    std::thread::sleep(Duration::from_secs(3));
    for i in [0, 1] {
        assert!(c.system(i, &future_fp)?.is_none(), "nothing of a4 merged");
        assert_eq!(
            c.members(i)?.iter().filter(|m| m.status == "alive").count(),
            2
        );
    }
    let load = c.load(1)?;
    assert!(
        load.nodes.iter().all(|n| n.name != "a4"),
        "a4 is no node of the zone"
    );
    Ok(())
}
