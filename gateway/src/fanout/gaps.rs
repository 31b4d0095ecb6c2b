//! What the routing core gets wrong today (issue 14). Each test asserts today's behaviour
//! under a `// Known gap (issue 14): ...` comment, so that fixing the gap shows up here; the
//! ignored tests state the answer a single big server would give.

use uyuni_api::json::to_json;
use uyuni_api::value::{int, string};

use super::fake::{ACTION, Fake};

fn ids(v: &uyuni_api::Value) -> Vec<i64> {
    to_json(v)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_i64())
        .collect()
}

#[test]
fn a_list_of_systems_by_package_name_is_merged_from_every_node() {
    // Fixed (issue 14, a rule for every method): the by-name overload is merged, ids
    // translated; the by-id overload (a package id each node assigns) is looked up on one
    // node and answered by name (gw14: spacecmd's package_details).
    let fake = Fake::three();
    let by_name = vec![string("vim"), string("9.1"), string("1.1")];
    let out = fake.run("system.listSystemsWithPackage", by_name);
    assert_eq!(
        ids(&out.result.expect("merged")),
        vec![
            1_000_010_000,
            1_000_010_001,
            1_001_010_000,
            1_001_010_005,
            1_002_010_002
        ]
    );
    assert_eq!(fake.calls().len(), 3);
}

#[test]
fn a_scalar_action_id_reaches_its_node_translated() {
    // Fixed (issue 14): `actionId` routes by action whatever the method (gwids: this one
    // has a rule of its own, its answer's `id` and `serverId` translated).
    let fake = Fake::three();
    let out = fake.run(
        "system.getScriptActionDetails",
        vec![int(ACTION * 1024 + 1)],
    );
    assert!(out.result.is_ok());
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].node, "b");
    assert_eq!(calls[0].args, vec![int(ACTION)]);
}

#[test]
fn a_raw_local_id_aliases_a_gateway_id_of_slot_zero() {
    // Known gap (issue 14): slot 0 keeps a server's own ids, so a raw id of another node
    // (node b, slot 1, system 1000010000, as a client saved it from a call on b directly) is
    // also a valid gateway id, of node a's system 1000010000. Used again, it silently
    // addresses a different machine.
    let fake = Fake::three();
    let raw = 1_000_010_000;
    let out = fake.run("system.getDetails", vec![int(raw)]);
    let details = to_json(&out.result.expect("someone's details"));
    assert_eq!(details["hostname"], "a-1000010000.example.com");
    let last = fake.calls().pop().expect("a call");
    assert_eq!((last.node.as_str(), last.args), ("a", vec![int(raw)]));
}
