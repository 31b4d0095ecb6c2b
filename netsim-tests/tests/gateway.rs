//! The API gateway end to end: real peers beside Uyuni stand-ins whose system ids overlap, a
//! gateway peer in front of them, driven the way spacecmd (Python's `xmlrpc.client`) and JSON
//! clients drive a single Uyuni server.
//!
//! * Every spacecmd command in tests/py/gateway_spacecmd.py answers what one big server
//!   holding all the nodes' systems would answer, with cluster-unique ids.
//! * A node that is down leaves a partial answer flagged in `X-Uyuni-Cluster-Partial`, or a
//!   fault when the client asks for strict answers; never a hang.
//! * Sessions live in the gateway's session file: a restarted gateway accepts the keys it gave out.
//! * The JSON API, the REST API, its OpenAPI document and Swagger UI are served.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::standin::session::{Session as Api, calls, peer_section};
use netsim_tests::standin::{StandIn, StandInOptions, xmlrpc_call};
use uyuni_api::Value;
use uyuni_api::value::string;

const T: Duration = Duration::from_secs(60);

fn standin(name: &str) -> anyhow::Result<StandIn> {
    StandIn::spawn(StandInOptions {
        postgres: "none".into(),
        fqdn: format!("{name}.uyuni.test"),
        ..StandInOptions::default()
    })
}

/// `count` onboarded systems `<prefix><n>.example.org` in `groups` (test-only hook).
fn seed(s: &StandIn, count: u32, prefix: &str, groups: &[&str]) -> anyhow::Result<()> {
    ureq::post(format!("{}/standin/seed", s.base())).send_json(serde_json::json!({
        "count": count, "prefix": prefix, "domain": "example.org", "groups": groups,
    }))?;
    Ok(())
}

/// Peers dc1-a, dc1-b (zone dc1) and store1-a (zone store1) beside `stands`, and the gateway
/// member gw1: the cluster, the gateway's index and its XML-RPC URL.
fn cluster_beside(stands: &[StandIn]) -> anyhow::Result<(Cluster, usize, String)> {
    let mut c = Cluster::new(&["dc1".into(), "store1".into()], Options::default())?;
    let names = [("dc1-a", "dc1"), ("dc1-b", "dc1"), ("store1-a", "store1")];
    for (s, (name, zone)) in stands.iter().zip(names) {
        c.add_peer_with(name, zone, &peer_section(s))?;
    }
    let g = c.add_peer_with("gw1", "dc1", gateway_section())?;
    let gw = c.peers[g]
        .gateway
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no gateway"))?;
    Ok((c, g, format!("{gw}/rpc/api")))
}

fn gateway_section() -> &'static str {
    "role = \"gateway\"\n[gateway]\nlisten = \"127.0.0.1:0\"\nnode_timeout_ms = 3000\n"
}

fn login(gw: &str) -> anyhow::Result<String> {
    match xmlrpc_call(gw, "auth.login", &[string("admin"), string("admin")])? {
        Ok(Value::String(k)) => Ok(k),
        other => anyhow::bail!("login: {other:?}"),
    }
}

fn list_systems(gw: &str, key: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    match xmlrpc_call(gw, "system.listSystems", &[string(key)])? {
        Ok(v) => Ok(uyuni_api::json::to_json(&v)
            .as_array()
            .cloned()
            .unwrap_or_default()),
        Err(f) => anyhow::bail!("listSystems: {f:?}"),
    }
}

/// A raw XML-RPC POST: status, the partial header, and the decoded answer.
fn raw_call(
    gw: &str,
    method: &str,
    params: &[Value],
    strict: bool,
) -> anyhow::Result<(Option<String>, Result<Value, uyuni_api::Fault>)> {
    let body = uyuni_api::codec::render_call(method, params)?;
    let mut req = ureq::post(gw).header("Content-Type", "text/xml");
    if strict {
        req = req.header("X-Uyuni-Cluster-Strict", "1");
    }
    let mut resp = req.send(body.as_bytes())?;
    let partial = resp
        .headers()
        .get("x-uyuni-cluster-partial")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = resp.body_mut().read_to_string()?;
    Ok((partial, uyuni_api::codec::parse_response(&text)?))
}

fn run_py(script: &str, args: &[&str]) -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let out = Command::new("python3").arg(&path).args(args).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success() && stdout.contains("OK "),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn the_gateway_answers_like_one_big_uyuni_server() -> anyhow::Result<()> {
    // Three nodes in two zones; every server numbers its systems from 1000010000.
    let mut stands = [standin("dc1-a")?, standin("dc1-b")?, standin("store1-a")?];
    for (s, (n, prefix)) in stands.iter().zip([(3, "a"), (2, "b"), (2, "c")]) {
        let api = Api::login(s)?;
        api.call(
            "systemgroup.create",
            vec![string("web"), string("web servers")],
        )?;
        seed(s, n, prefix, &["web"])?;
    }
    for s in &stands[..2] {
        Api::login(s)?.create_channel("dc1-base")?;
    }
    Api::login(&stands[2])?.create_channel("store-base")?;

    let (mut c, g, gw) = cluster_beside(&stands)?;
    // The gateway knows every node (and its id slot) once all 7 systems are listed.
    wait_until(T, "the gateway lists every node's systems", || {
        let Ok(key) = login(&gw) else {
            return Ok(false);
        };
        Ok(list_systems(&gw, &key)?.len() == 7)
    })?;

    let urls: Vec<&str> = stands.iter().map(StandIn::url).collect();
    let mut args = vec![gw.as_str()];
    args.extend(urls.iter().copied());
    run_py("gateway_spacecmd.py", &args)?;
    run_py(
        "gateway_json.py",
        &[c.peers[g].gateway.as_deref().unwrap_or_default()],
    )?;

    // A call naming systems goes to the node of the systems it names, with that node's own
    // ids (the stand-in does not serve this method: its own fault comes back); one naming
    // systems of two nodes is split, each node getting its own.
    let key = login(&gw)?;
    let listed = list_systems(&gw, &key)?;
    let id_of = |prefix: char| {
        listed
            .iter()
            .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .and_then(|s| s["id"].as_i64())
            .ok_or_else(|| anyhow::anyhow!("no system {prefix}*"))
    };
    let (on_store, on_dc1) = (id_of('c')?, id_of('a')?);
    let install = |ids: &[i64]| {
        let ids = Value::Array(ids.iter().map(|i| uyuni_api::value::int(*i)).collect());
        xmlrpc_call(
            &gw,
            "system.schedulePackageInstall",
            &[
                string(&key),
                ids,
                Value::Array(vec![uyuni_api::value::int(1)]),
            ],
        )
    };
    let before: Vec<u64> = stands
        .iter()
        .map(|s| calls(s, "system.schedulePackageInstall"))
        .collect::<Result<_, _>>()?;
    let answer = install(&[on_store])?;
    assert!(
        answer
            .as_ref()
            .is_err_and(|f| f.string.contains("schedulePackageInstall")),
        "the node's own answer: {answer:?}"
    );
    let after: Vec<u64> = stands
        .iter()
        .map(|s| calls(s, "system.schedulePackageInstall"))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        after
            .iter()
            .zip(&before)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
        vec![0, 0, 1],
        "only store1-a's server was asked"
    );
    // A scheduling call naming systems of two nodes gives each node its own (here each
    // answers its own fault for the missing date parameter).
    let spanning = install(&[on_store, on_dc1])?;
    assert!(
        spanning
            .is_err_and(|f| f.string.contains("cluster node")
                && f.string.contains("schedulePackageInstall")),
        "each node's own answer, the node named"
    );
    let split: Vec<u64> = stands
        .iter()
        .map(|s| calls(s, "system.schedulePackageInstall"))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        split
            .iter()
            .zip(&after)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
        vec![1, 0, 1],
        "split between dc1-a and store1-a, each asked once"
    );

    // Cluster-wide search and a bulk action through the gateway's REST API.
    for (i, name) in ["web1.acme.org", "web2.acme.org", "db1.acme.org"]
        .iter()
        .enumerate()
    {
        c.register(0, &format!("0a:0{i}"), name)?;
    }
    let base = c.peers[g].gateway.clone().unwrap_or_default();
    let bearer = format!("Bearer {key}");
    wait_until(T, "the web systems tagged through the gateway", || {
        let report: serde_json::Value = ureq::post(format!("{base}/api/v1/systems/bulk"))
            .header("Authorization", &bearer)
            .send_json(serde_json::json!({"q": "web*.acme.org", "action": "tag", "tags": ["web"]}))?
            .body_mut()
            .read_json()?;
        Ok(report["matched"] == 2)
    })?;
    wait_until(T, "the tagged systems found by a search", || {
        let page: serde_json::Value = ureq::get(format!("{base}/api/v1/systems"))
            .query("q", "tag:web and not db*")
            .header("Authorization", &bearer)
            .call()?
            .body_mut()
            .read_json()?;
        Ok(page["total"] == 2)
    })?;
    let bad = ureq::get(format!("{base}/api/v1/systems"))
        .query("q", "colour:red")
        .header("Authorization", &bearer)
        .config()
        .http_status_as_error(false)
        .build()
        .call()?;
    assert_eq!(bad.status().as_u16(), 400);

    // A session given out before a crash of the gateway (kill -9) still works after its
    // restart.
    c.kill(g);
    c.restart(g)?;
    let gw = format!(
        "{}/rpc/api",
        c.peers[g]
            .gateway
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no gateway"))?
    );
    wait_until(T, "the restarted gateway sees every node", || {
        Ok(list_systems(&gw, &key).map(|l| l.len()).unwrap_or(0) == 6)
    })?;

    // A node down: the merged answer lacks its systems and says so; strict callers get a
    // fault; both come back quickly.
    let before = list_systems(&gw, &key)?;
    let elsewhere = before
        .iter()
        .filter(|s| !s["name"].as_str().unwrap_or_default().starts_with('c'))
        .count();
    stands[2].stop()?;
    let started = Instant::now();
    let (partial, answer) = raw_call(&gw, "system.listSystems", &[string(&key)], false)?;
    assert_eq!(partial.as_deref(), Some("store1-a"));
    let names: Vec<String> =
        uyuni_api::json::to_json(&answer.map_err(|f| anyhow::anyhow!("{f:?}"))?)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().map(str::to_string))
            .collect();
    assert_eq!(names.len(), elsewhere, "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with('c')), "{names:?}");
    // Never silent: the partial answer is counted by method on the gateway's /metrics.
    let metrics = c.agent_get(g, "/metrics")?.body;
    assert!(
        metrics
            .contains("uyuni_cluster_gateway_partial_answers_total{method=\"system.listSystems\"}"),
        "{metrics}"
    );
    let (_, strict) = raw_call(&gw, "system.listSystems", &[string(&key)], true)?;
    let fault = strict.expect_err("a strict answer missing a node is a fault");
    assert_eq!(fault.code, -1);
    assert!(fault.string.contains("store1-a"), "{}", fault.string);
    assert!(started.elapsed() < Duration::from_secs(10));
    Ok(())
}

/// Names of `systemgroup.listAllGroups` on one node.
fn groups(api: &Api) -> anyhow::Result<Vec<String>> {
    Ok(api
        .call("systemgroup.listAllGroups", vec![])?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["name"].as_str().map(str::to_string))
        .collect())
}

/// A common-data write through the gateway runs on each zone's Leader Node (a lease the
/// gateway claims with automatic publication) and reaches every node of every zone.
#[test]
fn common_data_written_through_the_gateway_reaches_every_node() -> anyhow::Result<()> {
    use netsim_tests::pg::Postgres;
    use netsim_tests::standin::session::standin_with_triggers;
    let pg = Postgres::start()?;
    let stands = [
        standin_with_triggers(&pg, "gwa")?,
        standin_with_triggers(&pg, "gwb")?,
        standin_with_triggers(&pg, "gws")?,
    ];
    let (c, g, gw) = cluster_beside(&stands)?;
    let key = {
        let mut key = String::new();
        wait_until(T, "a gateway session", || {
            key = login(&gw).unwrap_or_default();
            Ok(!key.is_empty())
        })?;
        key
    };
    // Every node with its id slot, and heard of by the gateway's peer: a peer learns the
    // other zones' members from their summaries (issue 17), and a login holds sessions on the
    // nodes the gateway can reach at that moment only.
    wait_until(
        T,
        "every node with its id slot, alive in the gateway's view",
        || {
            let nodes: Vec<serde_json::Value> = ureq::get(format!(
                "{}/api/v1/nodes",
                c.peers[g].gateway.as_deref().unwrap_or_default()
            ))
            .header("Authorization", &format!("Bearer {key}"))
            .call()?
            .body_mut()
            .read_json()?;
            Ok(nodes.len() == 3
                && nodes
                    .iter()
                    .all(|n| n["slot"].is_u64() && n["status"] == "alive"))
        },
    )?;
    // A session holds the node sessions of the nodes known at its login (the gateway keeps
    // no password to log in to later ones): log in again now that every node is known.
    let key = login(&gw)?;
    match xmlrpc_call(
        &gw,
        "systemgroup.create",
        &[string(&key), string("ops"), string("operations")],
    )? {
        Ok(v) => assert_eq!(uyuni_api::json::to_json(&v)["name"], "ops"),
        Err(f) => anyhow::bail!("systemgroup.create through the gateway: {f:?}"),
    }
    let apis: Vec<Api> = stands.iter().map(Api::login).collect::<Result<_, _>>()?;
    wait_until(T, "the group on every node of both zones", || {
        for api in &apis {
            if !groups(api)?.iter().any(|n| n == "ops") {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    // Each zone's lease went to one of its nodes, publishing automatically.
    for zone in ["dc1", "store1"] {
        let lease: serde_json::Value = c.peers[0].client().get(&format!("/zones/{zone}/lease"))?;
        assert!(
            lease["holder"]
                .as_str()
                .is_some_and(|h| h.starts_with(zone)),
            "{lease}"
        );
        assert_eq!(lease["auto_publish"], true, "{lease}");
    }
    // Listed once by the gateway.
    let listed = match xmlrpc_call(&gw, "systemgroup.listAllGroups", &[string(&key)])? {
        Ok(v) => uyuni_api::json::to_json(&v),
        Err(f) => anyhow::bail!("{f:?}"),
    };
    let ops: Vec<&serde_json::Value> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["name"] == "ops")
        .collect();
    assert_eq!(ops.len(), 1, "{listed}");
    Ok(())
}

/// Each peer embeds a gateway: a cluster action id (one scheduling call over systems of two
/// nodes) given by one peer's gateway is followed up through another's, both ways, and the two
/// gateways never give the same id.
#[test]
fn cluster_action_ids_are_followed_up_through_any_gateway() -> anyhow::Result<()> {
    let stands = [standin("dc1-a")?, standin("store1-a")?];
    // Two systems on each node, all four reporting one hostname (duplicates).
    for (s, prefix) in stands.iter().zip(["a", "c"]) {
        ureq::post(format!("{}/standin/seed", s.base())).send_json(serde_json::json!({
            "count": 2, "prefix": prefix, "domain": "example.org", "hostname": "web.example.org",
        }))?;
    }
    let mut c = Cluster::new(&["dc1".into(), "store1".into()], Options::default())?;
    let mut gws = Vec::new();
    for (s, (name, zone)) in stands
        .iter()
        .zip([("dc1-a", "dc1"), ("store1-a", "store1")])
    {
        let section = format!(
            "{}[gateway]\nlisten = \"127.0.0.1:0\"\nnode_timeout_ms = 3000\n",
            peer_section(s)
        );
        let i = c.add_peer_with(name, zone, &section)?;
        let gw = c.peers[i]
            .gateway
            .clone()
            .ok_or_else(|| anyhow::anyhow!("{name} serves no gateway"))?;
        gws.push(format!("{gw}/rpc/api"));
    }
    let mut keys = Vec::new();
    for gw in &gws {
        wait_until(T, "each gateway lists both nodes' systems", || {
            let Ok(key) = login(gw) else {
                return Ok(false);
            };
            Ok(list_systems(gw, &key)?.len() == 4)
        })?;
        keys.push(login(gw)?);
    }
    let ids: Vec<i64> = list_systems(&gws[0], &keys[0])?
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect();
    let ints = |v: &[i64]| Value::Array(v.iter().map(|i| uyuni_api::value::int(*i)).collect());
    let when = uyuni_api::value::date_ms(1_735_689_600_000);
    let action_of = |answer: Result<Value, uyuni_api::Fault>| -> anyhow::Result<i64> {
        let v = answer.map_err(|f| anyhow::anyhow!("{f:?}"))?;
        uyuni_api::value::as_i64(&v).ok_or_else(|| anyhow::anyhow!("not an action id: {v:?}"))
    };
    let served = |v: Value| -> Vec<i64> {
        let mut out: Vec<i64> = uyuni_api::json::to_json(&v)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["server_id"].as_i64().or_else(|| s["serverId"].as_i64()))
            .collect();
        out.sort_unstable();
        out
    };
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_unstable();
    // system_listduplicates (spacecmd reads `hostname`, then each system's `systemId`,
    // `systemName`, `last_checkin`): one group holding both nodes' systems, in gateway ids.
    let dups = xmlrpc_call(
        &gws[1],
        "system.listDuplicatesByHostname",
        &[string(&keys[1])],
    )?
    .map_err(|f| anyhow::anyhow!("{f:?}"))?;
    let dups = uyuni_api::json::to_json(&dups);
    assert_eq!(dups.as_array().map(Vec::len), Some(1), "{dups}");
    assert_eq!(dups[0]["hostname"], "web.example.org");
    let mut dup_ids: Vec<i64> = dups[0]["systems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["systemName"].is_string() && !s["last_checkin"].is_null())
        .filter_map(|s| s["systemId"].as_i64())
        .collect();
    dup_ids.sort_unstable();
    assert_eq!(dup_ids, sorted_ids, "{dups}");
    for by in ["system.listDuplicatesByIp", "system.listDuplicatesByMac"] {
        let none = xmlrpc_call(&gws[0], by, &[string(&keys[0])])?;
        assert_eq!(none.map_err(|f| f.code), Ok(Value::Array(vec![])), "{by}");
    }
    // Issued through dc1-a's gateway, followed up through store1-a's (and back).
    let multi = action_of(xmlrpc_call(
        &gws[0],
        "system.schedulePackageInstall",
        &[
            string(&keys[0]),
            ints(&ids),
            Value::Array(vec![]),
            when.clone(),
        ],
    )?)?;
    let script = action_of(xmlrpc_call(
        &gws[1],
        "system.scheduleScriptRun",
        &[
            string(&keys[1]),
            ints(&ids),
            string("root"),
            string("root"),
            uyuni_api::value::int(60),
            string("exit 1"),
            when,
        ],
    )?)?;
    assert_ne!(
        multi, script,
        "two gateways never give the same cluster action id"
    );
    for (gw, key, action, method) in [
        (&gws[1], &keys[1], multi, "schedule.listCompletedSystems"),
        (&gws[0], &keys[0], script, "schedule.listFailedSystems"),
        (&gws[0], &keys[0], script, "system.getScriptResults"),
    ] {
        let got = xmlrpc_call(gw, method, &[string(key), uyuni_api::value::int(action)])?
            .map_err(|f| anyhow::anyhow!("{method}({action}) through the other gateway: {f:?}"))?;
        assert_eq!(served(got), sorted_ids, "{method}({action})");
    }
    // The other gateway now lists the nodes' actions once, under the cluster action id.
    let listed = xmlrpc_call(&gws[1], "schedule.listAllActions", &[string(&keys[1])])?
        .map_err(|f| anyhow::anyhow!("{f:?}"))?;
    let listed: Vec<i64> = uyuni_api::json::to_json(&listed)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_i64())
        .collect();
    assert!(listed.contains(&multi), "{listed:?} lacks {multi}");
    // And cancels through it reach every node's action.
    let cancelled = xmlrpc_call(
        &gws[1],
        "schedule.deleteActions",
        &[string(&keys[1]), ints(&[multi, script])],
    )?;
    assert_eq!(
        cancelled.map_err(|f| anyhow::anyhow!("{f:?}"))?,
        uyuni_api::value::int(1)
    );
    for s in &stands {
        let api = Api::login(s)?;
        let left = api.call("schedule.listAllActions", vec![])?;
        assert_eq!(left.as_array().map(Vec::len), Some(0), "{left}");
    }
    // An id no gateway gave: Uyuni's own fault.
    let unknown = xmlrpc_call(
        &gws[1],
        "schedule.listCompletedSystems",
        &[
            string(&keys[1]),
            uyuni_api::value::int(multi + 1024 * 64 * 100),
        ],
    )?;
    assert_eq!(unknown.map_err(|f| f.code), Err(2700));
    drop(c);
    Ok(())
}
