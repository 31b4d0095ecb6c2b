//! The Node Controller end to end: real peers, each beside a Uyuni stand-in that keeps its
//! state in Uyuni's own tables (netsim-tests/schema/uyuni) in a real PostgreSQL, with the
//! cluster's triggers installed by `uyuni-cluster triggers install`: the stand-in's writes
//! fire the real capture path.
//!
//! * A channel created on the Leader Node's server and published ("apply cluster update")
//!   appears on the other nodes of its zone and not in another zone.
//! * Restarting the leader's peer (kill -9) in the middle of a stream of changes loses and
//!   duplicates nothing downstream.
//! * A system accepted in the cluster has its key accepted on its node, is removed from the
//!   old node when it is remapped, and a system an administrator deletes on its node is
//!   deleted in the cluster.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use netsim_tests::harness::{self, Cluster, Options, wait_until};
use netsim_tests::pg::Postgres;
use netsim_tests::standin::StandIn;
use netsim_tests::standin::session::{
    Session as Api, calls, peer_section as section, present_minion,
    standin_with_triggers as standin,
};
use serde_json::json;
use uyuni_api::value::{int, string};

fn nc_status(c: &Cluster, i: usize) -> anyhow::Result<serde_json::Value> {
    Ok(c.peers[i].client().get("/node-controller")?)
}

fn lease(c: &Cluster, i: usize, zone: &str) -> anyhow::Result<serde_json::Value> {
    Ok(c.peers[i].client().get(&format!("/zones/{zone}/lease"))?)
}

const T: Duration = Duration::from_secs(60);

/// A node's common data, object by object, in the form the cluster replicates
/// (node_controller::common_api's normalisation: ids, counts and dates left out).
fn common_data(api: &Api) -> anyhow::Result<std::collections::BTreeMap<String, serde_json::Value>> {
    use node_controller::common_api as ca;
    let mut out = std::collections::BTreeMap::new();
    let list = |v: serde_json::Value| v.as_array().cloned().unwrap_or_default();
    for ch in list(api.call("channel.listAllChannels", vec![])?) {
        let label = ch["label"].as_str().unwrap_or_default().to_string();
        let d = api.call("channel.software.getDetails", vec![string(&label)])?;
        out.insert(format!("channel/{label}"), ca::normalise_channel(&d));
    }
    for ch in list(api.call("configchannel.listGlobals", vec![])?) {
        let label = ch["label"].as_str().unwrap_or_default().to_string();
        let paths: Vec<String> = list(api.call("configchannel.listFiles", vec![string(&label)])?)
            .iter()
            .filter_map(|f| f["path"].as_str().map(str::to_string))
            .collect();
        let files = list(api.call(
            "configchannel.lookupFileInfo",
            vec![string(&label), uyuni_api::value::strings(paths)],
        )?);
        out.insert(
            format!("configchannel/{label}"),
            ca::normalise_config_channel(&ch, &files),
        );
    }
    let mut group_names = std::collections::BTreeMap::new();
    for g in list(api.call("systemgroup.listAllGroups", vec![])?) {
        let name = g["name"].as_str().unwrap_or_default().to_string();
        if let Some(id) = g["id"].as_i64() {
            group_names.insert(id, name.clone());
        }
        out.insert(format!("systemgroup/{name}"), ca::normalise_group(&g));
    }
    for k in list(api.call("activationkey.listActivationKeys", vec![])?) {
        let key = k["key"].as_str().unwrap_or_default().to_string();
        let configs: Vec<serde_json::Value> =
            list(api.call("activationkey.listConfigChannels", vec![string(&key)])?)
                .iter()
                .map(|c| c["label"].clone())
                .collect();
        let mut d = ca::normalise_key(&k, &group_names);
        d["config_channels"] = json!(configs);
        out.insert(format!("activationkey/{key}"), d);
    }
    for p in list(api.call("contentmanagement.listProjects", vec![])?) {
        let label = p["label"].as_str().unwrap_or_default().to_string();
        let envs = list(api.call(
            "contentmanagement.listProjectEnvironments",
            vec![string(&label)],
        )?);
        let sources = list(api.call("contentmanagement.listProjectSources", vec![string(&label)])?);
        let filters = list(api.call("contentmanagement.listProjectFilters", vec![string(&label)])?);
        out.insert(
            format!("contentproject/{label}"),
            ca::normalise_project(&p, &envs, &sources, &filters),
        );
    }
    Ok(out)
}

#[test]
fn a_channel_published_on_the_leader_node_reaches_its_zone_only() -> anyhow::Result<()> {
    let pg = Postgres::start()?;
    let (a1, a2, b1) = (
        standin(&pg, "a1")?,
        standin(&pg, "a2")?,
        standin(&pg, "b1")?,
    );
    let mut c = Cluster::new(&["dc".into(), "store".into()], Options::default())?;
    c.add_peer_with("a1", "dc", &section(&a1))?;
    c.add_peer_with("a2", "dc", &section(&a2))?;
    c.add_peer_with("b1", "store", &section(&b1))?;

    // Two claims at once (neither peer has seen the other's yet) resolve to the same holder
    // on every replica.
    let claim = |i: usize, force: bool| {
        c.peers[i].client().post::<serde_json::Value>(
            "/zones/dc/lease",
            &json!({"ttl_ms": 600_000, "force": force}),
        )
    };
    claim(0, false)?;
    let _ = claim(1, false);
    wait_until(T, "both peers to agree on one holder", || {
        let (l0, l1) = (lease(&c, 0, "dc")?, lease(&c, 1, "dc")?);
        Ok(l0["holder"] == l1["holder"]
            && l0["term"] == l1["term"]
            && l0["claimed_at"] == l1["claimed_at"])
    })?;
    // a1 takes the lease (over a2's, if a2 won): term + 1 beats it everywhere.
    let claimed = claim(0, true)?;
    assert_eq!(claimed["holder"], "a1");
    wait_until(T, "a2 to see a1's lease", || {
        Ok(lease(&c, 1, "dc")?["holder"] == "a1")
    })?;
    assert!(
        claim(1, false).is_err(),
        "a claim is refused while a1 holds the lease"
    );

    let leader = Api::login(&a1)?;
    leader.create_channel("dc-base")?;
    leader.call(
        "channel.software.create",
        vec![
            string("dc-updates"),
            string("DC updates"),
            string("Updates"),
            string("channel-x86_64"),
            string("dc-base"),
        ],
    )?;
    let group = leader.call(
        "systemgroup.create",
        vec![string("web"), string("Web servers")],
    )?;
    // An activation key with a child channel, a group and packages.
    leader.call(
        "activationkey.create",
        vec![
            string("web"),
            string("Web servers"),
            string("dc-base"),
            uyuni_api::value::strings(Vec::<String>::new()),
            uyuni_api::Value::Boolean(false),
        ],
    )?;
    leader.call(
        "activationkey.addChildChannels",
        vec![string("1-web"), uyuni_api::value::strings(["dc-updates"])],
    )?;
    leader.call(
        "activationkey.addServerGroups",
        vec![
            string("1-web"),
            uyuni_api::Value::Array(vec![int(group["id"].as_i64().unwrap_or(0))]),
        ],
    )?;
    let pkg = |name: &str, arch: Option<&str>| {
        let b = uyuni_api::StructBuilder::new().field("name", string(name));
        match arch {
            Some(a) => b.field("arch", string(a)).build(),
            None => b.build(),
        }
    };
    leader.call(
        "activationkey.addPackages",
        vec![
            string("1-web"),
            uyuni_api::Value::Array(vec![pkg("nginx", None), pkg("vim", Some("x86_64"))]),
        ],
    )?;
    // A CLM project with two environments.
    leader.call(
        "contentmanagement.createProject",
        vec![string("web-clm"), string("Web CLM"), string("")],
    )?;
    for (prev, env) in [("", "dev"), ("dev", "prod")] {
        leader.call(
            "contentmanagement.createEnvironment",
            vec![
                string("web-clm"),
                string(prev),
                string(env),
                string(env),
                string(""),
            ],
        )?;
    }
    leader.call(
        "contentmanagement.attachSource",
        vec![string("web-clm"), string("software"), string("dc-base")],
    )?;
    let filter = leader.call(
        "contentmanagement.createFilter",
        vec![
            string("no-debuginfo"),
            string("deny"),
            string("package"),
            uyuni_api::StructBuilder::new()
                .field("matcher", string("contains"))
                .field("field", string("name"))
                .field("value", string("debuginfo"))
                .build(),
        ],
    )?;
    leader.call(
        "contentmanagement.attachFilter",
        vec![string("web-clm"), int(filter["id"].as_i64().unwrap_or(0))],
    )?;
    // A configuration channel with a file in its second revision.
    leader.call(
        "configchannel.create",
        vec![string("motd"), string("MOTD"), string("Message of the day")],
    )?;
    for text in ["Welcome\n", "Welcome to the DC\n"] {
        leader.call(
            "configchannel.createOrUpdatePath",
            vec![
                string("motd"),
                string("/etc/motd"),
                uyuni_api::Value::Boolean(false),
                uyuni_api::StructBuilder::new()
                    .field("contents", string(text))
                    .field("owner", string("root"))
                    .field("group", string("root"))
                    .field("permissions", string("644"))
                    .build(),
            ],
        )?;
    }
    leader.call(
        "activationkey.setConfigChannels",
        vec![
            uyuni_api::value::strings(["1-web"]),
            uyuni_api::value::strings(["motd"]),
        ],
    )?;
    wait_until(T, "the triggers to capture the changes", || {
        let l = lease(&c, 0, "dc")?;
        let pending: Vec<&str> = l["pending"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        Ok(pending.contains(&"channel/dc-base")
            && pending.contains(&"channel/dc-updates")
            && pending.contains(&"systemgroup/web")
            && pending.contains(&"activationkey/1-web")
            && pending.contains(&"activationkey/*")
            && pending.contains(&"contentproject/web-clm")
            && pending.contains(&"configchannel/motd")
            && pending.contains(&"configchannel/*"))
    })?;
    let report: serde_json::Value = c.peers[0].client().post("/zones/dc/publish", &json!({}))?;
    assert_eq!(report["generation"], 1);
    let published: Vec<&str> = report["published"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    assert!(published.contains(&"channel/dc-base"), "{report}");
    assert!(published.contains(&"systemgroup/web"), "{report}");
    assert!(published.contains(&"activationkey/1-web"), "{report}");
    assert!(published.contains(&"contentproject/web-clm"), "{report}");
    assert!(published.contains(&"configchannel/motd"), "{report}");
    let after_publish = cluster_core::now_ms();

    let follower = Api::login(&a2)?;
    let has_group = |api: &Api| -> anyhow::Result<bool> {
        Ok(api
            .call("systemgroup.listAllGroups", vec![])?
            .as_array()
            .is_some_and(|g| g.iter().any(|x| x["name"] == "web")))
    };
    wait_until(T, "a2 to copy the channel and the group", || {
        Ok(follower.channels()?.contains(&"dc-base".to_string()) && has_group(&follower)?)
    })?;
    let details = follower.call("channel.software.getDetails", vec![string("dc-base")])?;
    assert_eq!(details["name"], "Name of dc-base");
    assert_eq!(details["arch_label"], "channel-x86_64");
    assert_eq!(
        calls(&a2, "channel.software.create")?,
        2,
        "dc-base and dc-updates"
    );
    wait_until(T, "a2 to report generation 1", || {
        Ok(nc_status(&c, 1)?["common_generation"] == 1)
    })?;

    // A node that joins the zone later copies its common data (and reports it).
    let a3 = standin(&pg, "a3")?;
    let i3 = c.add_peer_with("a3", "dc", &section(&a3))?;
    let late = Api::login(&a3)?;
    wait_until(T, "the new node to copy the zone's common data", || {
        Ok(late.channels()?.contains(&"dc-base".to_string())
            && nc_status(&c, i3)?["common_generation"] == 1)
    })?;
    // Every kind, object by object, as the Leader Node has it (the RFC's integrity check).
    let want = common_data(&leader)?;
    assert!(
        want.contains_key("activationkey/1-web") && want.contains_key("contentproject/web-clm"),
        "{want:?}"
    );
    assert_eq!(
        want["activationkey/1-web"]["packages"],
        json!(["nginx", "vim.x86_64"])
    );
    assert_eq!(want["activationkey/1-web"]["server_groups"], json!(["web"]));
    assert_eq!(
        want["activationkey/1-web"]["config_channels"],
        json!(["motd"])
    );
    assert_eq!(
        want["contentproject/web-clm"]["sources"],
        json!(["dc-base"])
    );
    assert_eq!(
        want["contentproject/web-clm"]["environments"][1]["label"],
        "prod"
    );
    assert_eq!(
        want["activationkey/1-web"]["child_channel_labels"],
        json!(["dc-updates"])
    );
    for (name, api) in [("a2", &follower), ("a3", &late)] {
        let got = common_data(api)?;
        for (k, v) in &want {
            assert_eq!(got.get(k), Some(v), "{name}: {k}");
        }
        assert_eq!(got.len(), want.len(), "{name}: {:?}", got.keys());
    }

    // The other zone reconciled after the publication and still has nothing.
    wait_until(T, "b1 to reconcile after the publication", || {
        Ok(nc_status(&c, 2)?["last_reconcile_ms"]
            .as_u64()
            .is_some_and(|t| t > after_publish + 1000))
    })?;
    assert!(Api::login(&b1)?.channels()?.is_empty());
    assert_eq!(calls(&b1, "channel.software.create")?, 0);

    // A change on a follower outside the lease is not replicated: it is drift.
    follower.create_channel("local-only")?;
    wait_until(T, "the follower's drift to be counted", || {
        Ok(nc_status(&c, 1)?["drift"].as_u64().unwrap_or(0) >= 1)
    })?;
    assert!(!leader.channels()?.contains(&"local-only".to_string()));
    Ok(())
}

#[test]
fn restarting_the_leader_mid_stream_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    const N: usize = 90;
    let pg = Postgres::start()?;
    let (a1, a2) = (standin(&pg, "a1")?, standin(&pg, "a2")?);
    let mut c = Cluster::new(&["dc".into()], Options::default())?;
    c.add_peer_with("a1", "dc", &section(&a1))?;
    c.add_peer_with("a2", "dc", &section(&a2))?;
    let _: serde_json::Value = c.peers[0].client().post(
        "/zones/dc/lease",
        &json!({"ttl_ms": 600_000, "auto_publish": true}),
    )?;

    let created = Arc::new(AtomicUsize::new(0));
    let writer = {
        let leader = Api::login(&a1)?;
        let created = created.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            for i in 0..N {
                leader.create_channel(&format!("stream-{i:03}"))?;
                created.store(i + 1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        })
    };
    wait_until(T, "a third of the stream", || {
        Ok(created.load(Ordering::SeqCst) >= N / 3)
    })?;
    c.kill(0);
    wait_until(T, "two thirds of the stream", || {
        Ok(created.load(Ordering::SeqCst) >= 2 * N / 3)
    })?;
    c.restart(0)?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;

    let follower = Api::login(&a2)?;
    wait_until(Duration::from_secs(90), "a2 to hold every channel", || {
        Ok(follower
            .channels()?
            .iter()
            .filter(|l| l.starts_with("stream-"))
            .count()
            == N)
    })?;
    assert_eq!(
        calls(&a2, "channel.software.create")?,
        N as u64,
        "each channel created exactly once on the follower"
    );
    let records: Vec<serde_json::Value> = c.peers[1].client().get("/zones/dc/common")?;
    assert_eq!(
        records
            .iter()
            .filter(|r| r["key"].as_str().is_some_and(|k| k.starts_with("stream-")))
            .count(),
        N
    );
    wait_until(T, "the leader's outbox to drain", || {
        let out = Command::new(harness::binary()?)
            .args(["triggers", "status", "--json", "--db"])
            .arg(a1.dsn().unwrap_or_default())
            .output()?;
        let st: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        Ok(st["pending"] == 0)
    })?;
    wait_until(T, "the change set to be published", || {
        Ok(lease(&c, 1, "dc")?["pending"]
            .as_array()
            .is_none_or(|p| p.is_empty()))
    })?;
    Ok(())
}

/// Register and accept a system through peer 0; the node it was placed on.
fn place(c: &Cluster, fp: &str, minion: &str) -> anyhow::Result<String> {
    c.register(0, fp, minion)?;
    c.act(0, fp, "accept")?;
    let mut node = String::new();
    wait_until(T, "the system to be placed", || {
        Ok(match c.system(0, fp)?.and_then(|s| s.node) {
            Some(n) => {
                node = n;
                true
            }
            None => false,
        })
    })?;
    Ok(node)
}

/// Two peers of zone `dc`, each beside a stand-in on one PostgreSQL with the triggers.
fn two_nodes() -> anyhow::Result<(Postgres, [StandIn; 2], Cluster)> {
    let pg = Postgres::start()?;
    let (a1, a2) = (standin(&pg, "a1")?, standin(&pg, "a2")?);
    let mut c = Cluster::new(&["dc".into()], Options::default())?;
    c.add_peer_with("a1", "dc", &section(&a1))?;
    c.add_peer_with("a2", "dc", &section(&a2))?;
    Ok((pg, [a1, a2], c))
}

#[test]
fn disaster_recovery_keeps_the_returning_nodes_systems_on_its_server() -> anyhow::Result<()> {
    let (_pg, standins, mut c) = two_nodes()?;
    let standins = [&standins[0], &standins[1]];
    c.set_mode(0, "dc", "disaster-recovery")?;
    let node = place(&c, "dd:01", "db1.acme.test")?;
    let (x, y) = if node == "a1" { (0, 1) } else { (1, 0) };
    present_minion(standins[x], "db1.acme.test")?;
    let (on_x, on_y) = (Api::login(standins[x])?, Api::login(standins[y])?);
    wait_until(T, "onboarded on its node", || on_x.lists("db1.acme.test"))?;

    c.kill(x);
    wait_until(T, "the remap", || {
        Ok(c.system(y, "dd:01")?.and_then(|s| s.node).as_deref() == Some(c.peers[y].name.as_str()))
    })?;
    present_minion(standins[y], "db1.acme.test")?;
    wait_until(T, "onboarded on the stand-by node", || {
        on_y.lists("db1.acme.test")
    })?;

    // The restored node comes back: the system returns to it and stays on its server, and
    // the stand-by node lets it go.
    c.restart(x)?;
    wait_until(T, "the system back on its node", || {
        Ok(c.system(y, "dd:01")?.and_then(|s| s.node).as_deref() == Some(c.peers[x].name.as_str()))
    })?;
    wait_until(T, "the stand-by node to remove it", || {
        Ok(!on_y.lists("db1.acme.test")?)
    })?;
    assert!(
        on_x.lists("db1.acme.test")?,
        "the restored node kept the system"
    );
    assert_eq!(calls(standins[x], "system.deleteSystem")?, 0);
    Ok(())
}

#[test]
fn systems_follow_their_assignment_onto_the_nodes() -> anyhow::Result<()> {
    let (_pg, standins, mut c) = two_nodes()?;
    let standins = [&standins[0], &standins[1]];
    let fp = "aa:bb:cc:dd";
    let node = place(&c, fp, "web1.acme.test")?;
    let (x, y) = if node == "a1" { (0, 1) } else { (1, 0) };
    present_minion(standins[x], "web1.acme.test")?;
    let on_x = Api::login(standins[x])?;
    wait_until(T, "the node's Node Controller to accept the key", || {
        on_x.lists("web1.acme.test")
    })?;
    assert!(calls(standins[x], "saltkey.accept")? >= 1);

    // The node fails: the system is remapped and onboarded on the other node.
    c.kill(x);
    wait_until(T, "the remap", || {
        Ok(c.system(y, fp)?.and_then(|s| s.node).as_deref() == Some(c.peers[y].name.as_str()))
    })?;
    present_minion(standins[y], "web1.acme.test")?;
    let on_y = Api::login(standins[y])?;
    wait_until(T, "the key accepted on the new node", || {
        on_y.lists("web1.acme.test")
    })?;

    // Back in production mode, the old node is flushed: its copy of the system is removed.
    c.restart(x)?;
    wait_until(T, "the old node to remove the system", || {
        Ok(!on_x.lists("web1.acme.test")?)
    })?;
    assert!(calls(standins[x], "system.deleteSystem")? >= 1);
    assert_eq!(
        c.system(y, fp)?.and_then(|s| s.node).as_deref(),
        Some(c.peers[y].name.as_str()),
        "the removal on the old node does not touch the cluster's assignment"
    );

    // An administrator deletes the system on its node: it is deleted in the cluster.
    let sid = on_y
        .systems()?
        .into_iter()
        .find(|(_, n)| n == "web1.acme.test")
        .map(|(id, _)| id)
        .ok_or_else(|| anyhow::anyhow!("system vanished"))?;
    on_y.call("system.deleteSystem", vec![int(sid)])?;
    wait_until(T, "the cluster to mark it deleted", || {
        Ok(c.system(x, fp)?
            .is_some_and(|s| s.status == crdt_store::SystemStatus::Deleted))
    })?;
    Ok(())
}
