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
fn a_list_method_outside_the_table_is_answered_by_one_node_with_its_raw_ids() {
    // Known gap (issue 14): `system.listSystemsWithPackage` is not in the table and names no
    // system id, so it passes through to one node: the answer lacks the other nodes' systems
    // and carries that node's own ids, untranslated (here node b's, slot 1).
    let fake = Fake::three();
    let out = fake.run_from(1, "system.listSystemsWithPackage", vec![string("vim")]);
    assert_eq!(
        ids(&out.result.expect("one node's part")),
        vec![1_000_010_000, 1_000_010_005]
    );
    assert!(out.missing.is_empty(), "nothing says the answer is partial");
    let nodes: Vec<String> = fake.calls().into_iter().map(|c| c.node).collect();
    assert_eq!(nodes, vec!["b"]);
}

#[test]
#[ignore = "issue 14: list methods outside the table should be merged from every node"]
fn a_list_method_outside_the_table_should_be_merged() {
    let fake = Fake::three();
    let out = fake.run("system.listSystemsWithPackage", vec![string("vim")]);
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
}

#[test]
fn a_scalar_action_id_reaches_its_node_translated() {
    // Fixed (issue 14, gwids): `system.getScriptActionDetails` has a rule of its own.
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
    // Known gap (issue 14): slot 0 keeps a server's own ids, so a raw id that leaked from
    // another node (node b, slot 1, answering a method outside the table with its own
    // 1000010000) is also a valid gateway id, of node a's system 1000010000. Used again, it
    // silently addresses a different machine.
    let fake = Fake::three();
    let leaked = fake
        .run_from(1, "system.listSystemsWithPackage", vec![string("vim")])
        .result
        .expect("b's raw list");
    let raw = ids(&leaked)[0];
    assert_eq!(raw, 1_000_010_000);
    let out = fake.run("system.getDetails", vec![int(raw)]);
    let details = to_json(&out.result.expect("someone's details"));
    assert_eq!(details["hostname"], "a-1000010000.example.com");
    let last = fake.calls().pop().expect("a call");
    assert_eq!((last.node.as_str(), last.args), ("a", vec![int(raw)]));
}
