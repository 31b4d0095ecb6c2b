//! Every id translated, read your own writes, ids that outlive moves (issue 14, part 2):
//! two nodes of one zone, each beside a stand-in on PostgreSQL with the cluster's triggers,
//! and a gateway member in front of them.
//!
//! * An action scheduled through the gateway on a system of either node answers a gateway
//!   action id, and every follow-up by that id (its systems, its script output, archive,
//!   reschedule, delete) reaches that node's action with its own id.
//! * A group created through the gateway can be given systems of both nodes by the very
//!   next call, 20 times in a row.
//! * A system's gateway id from before its node failed reaches it where it was re-homed;
//!   once the system is deleted, the old id answers Uyuni's -208, not "node unavailable".

use std::time::Duration;

use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::pg::Postgres;
use netsim_tests::standin::session::{
    Session as Api, peer_section as section, present_minion, standin_with_triggers as standin,
};
use netsim_tests::standin::{StandIn, xmlrpc_call};
use uyuni_api::value::{int, string};
use uyuni_api::{Fault, Value};

const T: Duration = Duration::from_secs(90);

fn seed(s: &StandIn, count: u32, prefix: &str) -> anyhow::Result<()> {
    ureq::post(format!("{}/standin/seed", s.base())).send_json(serde_json::json!({
        "count": count, "prefix": prefix, "domain": "example.org", "groups": [],
    }))?;
    Ok(())
}

struct Gw {
    url: String,
    key: String,
}

impl Gw {
    fn call(&self, method: &str, mut params: Vec<Value>) -> anyhow::Result<Result<Value, Fault>> {
        params.insert(0, string(&self.key));
        xmlrpc_call(&self.url, method, &params)
    }

    fn ok(&self, method: &str, params: Vec<Value>) -> anyhow::Result<serde_json::Value> {
        match self.call(method, params)? {
            Ok(v) => Ok(uyuni_api::json::to_json(&v)),
            Err(f) => anyhow::bail!("{method}: {f:?}"),
        }
    }

    /// The gateway id of the system named `name`.
    fn sid(&self, name: &str) -> anyhow::Result<i64> {
        self.ok("system.listSystems", vec![])?
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == name)
            .and_then(|s| s["id"].as_i64())
            .ok_or_else(|| anyhow::anyhow!("{name} not listed"))
    }
}

fn ints(ids: &[i64]) -> Value {
    Value::Array(ids.iter().map(|i| int(*i)).collect())
}

fn ids_of(v: &serde_json::Value, field: &str) -> Vec<i64> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x[field].as_i64())
        .collect()
}

#[test]
fn ids_are_translated_both_ways_writes_are_read_back_and_ids_outlive_moves() -> anyhow::Result<()> {
    let pg = Postgres::start()?;
    let stands = [standin(&pg, "n1")?, standin(&pg, "n2")?];
    seed(&stands[0], 2, "a")?;
    seed(&stands[1], 2, "b")?;
    let mut c = Cluster::new(&["dc".into()], Options::default())?;
    c.add_peer_with("n1", "dc", &section(&stands[0]))?;
    c.add_peer_with("n2", "dc", &section(&stands[1]))?;
    let g = c.add_peer_with(
        "gw1",
        "dc",
        "role = \"gateway\"\n[gateway]\nlisten = \"127.0.0.1:0\"\nnode_timeout_ms = 5000\n",
    )?;
    let url = format!(
        "{}/rpc/api",
        c.peers[g]
            .gateway
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no gateway"))?
    );
    let mut gw = None;
    wait_until(T, "the gateway lists both nodes' systems", || {
        let Ok(Ok(Value::String(key))) =
            xmlrpc_call(&url, "auth.login", &[string("admin"), string("admin")])
        else {
            return Ok(false);
        };
        let g = Gw {
            url: url.clone(),
            key,
        };
        let n = g
            .ok("system.listSystems", vec![])
            .map(|l| ids_of(&l, "id").len());
        let done = n.is_ok_and(|n| n == 4);
        gw = Some(g);
        Ok(done)
    })?;
    let gw = gw.ok_or_else(|| anyhow::anyhow!("no session"))?;
    let (a1, b1, b2) = (
        gw.sid("a1.example.org")?,
        gw.sid("b1.example.org")?,
        gw.sid("b2.example.org")?,
    );
    let own = [Api::login(&stands[0])?, Api::login(&stands[1])?];
    let local_b1 = own[1]
        .systems()?
        .into_iter()
        .find(|(_, n)| n == "b1.example.org")
        .map(|(id, _)| id)
        .ok_or_else(|| anyhow::anyhow!("b1 not on n2"))?;
    assert_ne!(b1, local_b1, "n2's ids are shown under another slot");

    // ---- Every id translated: schedule on a system of n2, follow up by the action id. ----
    let script = |sids: &[i64], text: &str| {
        gw.call(
            "system.scheduleScriptRun",
            vec![
                ints(sids),
                string("root"),
                string("root"),
                int(60),
                string(text),
                Value::DateTime(uyuni_api::value::datetime_ms(0)),
            ],
        )
    };
    let aid = match script(&[b1], "#!/bin/sh\nuptime")? {
        Ok(v) => uyuni_api::value::as_i64(&v).ok_or_else(|| anyhow::anyhow!("{v:?}"))?,
        Err(f) => anyhow::bail!("scheduleScriptRun: {f:?}"),
    };
    let n2_actions = ids_of(&own[1].call("schedule.listAllActions", vec![])?, "id");
    assert_eq!(n2_actions.len(), 1, "the action is n2's");
    assert_ne!(aid, n2_actions[0], "shown as a gateway action id");
    let done = gw.ok("schedule.listCompletedSystems", vec![int(aid)])?;
    assert_eq!(ids_of(&done, "server_id"), vec![b1], "{done}");
    let out = gw.ok("system.getScriptResults", vec![int(aid)])?;
    assert_eq!(ids_of(&out, "serverId"), vec![b1], "{out}");
    assert!(
        out[0]["output"]
            .as_str()
            .is_some_and(|o| o.contains("uptime"))
    );
    assert!(ids_of(&gw.ok("schedule.listAllActions", vec![])?, "id").contains(&aid));
    let events = gw.ok("system.listSystemEvents", vec![int(b1)])?;
    assert_eq!(ids_of(&events, "id"), vec![aid], "{events}");

    // A failing script on n2 and a reboot on n1: reschedule, archive, delete across nodes.
    let failed = match script(&[b2], "exit 1")? {
        Ok(v) => uyuni_api::value::as_i64(&v).unwrap_or_default(),
        Err(f) => anyhow::bail!("{f:?}"),
    };
    assert!(ids_of(&gw.ok("schedule.listFailedActions", vec![])?, "id").contains(&failed));
    assert_eq!(
        ids_of(
            &gw.ok("schedule.listFailedSystems", vec![int(failed)])?,
            "server_id"
        ),
        vec![b2]
    );
    gw.ok(
        "schedule.rescheduleActions",
        vec![ints(&[failed]), Value::Boolean(true)],
    )?;
    assert_eq!(
        ids_of(
            &gw.ok("schedule.listCompletedSystems", vec![int(failed)])?,
            "server_id"
        ),
        vec![b2],
        "rescheduled on n2 (and completed by the stand-in)"
    );
    let reboot = match gw.call(
        "system.scheduleReboot",
        vec![int(a1), Value::DateTime(uyuni_api::value::datetime_ms(0))],
    )? {
        Ok(v) => uyuni_api::value::as_i64(&v).unwrap_or_default(),
        Err(f) => anyhow::bail!("scheduleReboot: {f:?}"),
    };
    gw.ok("schedule.archiveActions", vec![ints(&[aid, reboot])])?;
    let archived = ids_of(&gw.ok("schedule.listArchivedActions", vec![])?, "id");
    assert!(
        archived.contains(&aid) && archived.contains(&reboot),
        "{archived:?}"
    );
    assert_eq!(
        ids_of(&own[0].call("schedule.listArchivedActions", vec![])?, "id").len(),
        1
    );
    gw.ok("schedule.deleteActions", vec![ints(&[aid, reboot, failed])])?;
    assert!(ids_of(&gw.ok("schedule.listArchivedActions", vec![])?, "id").is_empty());
    for api in &own {
        assert!(ids_of(&api.call("schedule.listAllActions", vec![])?, "id").is_empty());
    }
    // An action id the gateway never gave: Uyuni's "no such action", no node asked.
    let f = gw
        .call("schedule.listCompletedSystems", vec![int(5)])?
        .expect_err("no such action");
    assert_eq!(f.code, 2700, "{f:?}");

    // ---- Read your own writes: create a group, give it systems of both nodes at once. ----
    for i in 0..20 {
        let name = format!("ryw-{i}");
        gw.ok(
            "systemgroup.create",
            vec![string(&name), string("read your writes")],
        )?;
        gw.ok(
            "systemgroup.addOrRemoveSystems",
            vec![string(&name), ints(&[a1, b1]), Value::Boolean(true)],
        )?;
    }
    let members = gw.ok("systemgroup.listSystems", vec![string("ryw-19")])?;
    let mut got = ids_of(&members, "id");
    got.sort_unstable();
    assert_eq!(got, vec![a1, b1]);

    // ---- Ids outlive moves: a minion placed on a node that then fails. ----
    c.register(0, "ee:01", "web1.acme.test")?;
    c.act(0, "ee:01", "accept")?;
    let mut node = String::new();
    wait_until(T, "the system placed", || {
        Ok(match c.system(0, "ee:01")?.and_then(|s| s.node) {
            Some(n) => {
                node = n;
                true
            }
            None => false,
        })
    })?;
    let (x, y) = if node == "n1" { (0, 1) } else { (1, 0) };
    present_minion(&stands[x], "web1.acme.test")?;
    wait_until(T, "its Uyuni id recorded", || {
        Ok(c.system(0, "ee:01")?
            .is_some_and(|s| s.uyuni_ids.contains_key(&node)))
    })?;
    let old = gw.sid("web1.acme.test")?;
    c.kill(x);
    let new_node = c.peers[y].name.clone();
    wait_until(T, "the remap", || {
        Ok(c.system(y, "ee:01")?.and_then(|s| s.node).as_deref() == Some(new_node.as_str()))
    })?;
    present_minion(&stands[y], "web1.acme.test")?;
    wait_until(T, "registered on the new node and recorded", || {
        Ok(c.system(y, "ee:01")?
            .is_some_and(|s| s.uyuni_ids.contains_key(&new_node)))
    })?;
    let details = gw.ok("system.getDetails", vec![int(old)])?;
    assert_eq!(details["hostname"], "web1.acme.test", "{details}");
    let now = details["id"].as_i64().unwrap_or_default();
    assert_ne!(now, old, "answered under its id on the new node");
    // Deleted on its new node: the old id is Uyuni's "no such system".
    own[y].call(
        "system.deleteSystem",
        vec![int(now % 1_000_000 + 1_000_000_000)],
    )?;
    wait_until(T, "the cluster to mark it deleted", || {
        Ok(c.system(y, "ee:01")?
            .is_some_and(|s| s.status == crdt_store::SystemStatus::Deleted))
    })?;
    let f = gw
        .call("system.getDetails", vec![int(old)])?
        .expect_err("gone");
    assert_eq!(f.code, -208, "{f:?}");
    Ok(())
}
