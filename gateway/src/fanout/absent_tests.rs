//! Content some nodes lack (docs/GATEWAY.md#partial-answers, "no part"): an erratum or package
//! a zone does not publish is that node's empty part, not a failure; lookups whose answer
//! differs per zone are merged over the zones; a cluster action's script details hold every
//! node's results.

use uyuni_api::value::{StructBuilder, int, string};
use uyuni_api::{Fault, Value};

use super::Cluster;
use super::fake::{ACTION, Fake, act, ints, sys};
use crate::cluster_actions::ClusterActions;
use crate::pool::Answer;

/// Nodes `a`, `b` in zone `dc1` and `c` in zone `store1` (slots 0, 1, 2).
fn two_zones() -> Fake {
    Fake::default()
        .node("a", "dc1", Some(0), &[1_000_010_000, 1_000_010_001])
        .node("b", "dc1", Some(1), &[1_000_010_000])
        .node("c", "store1", Some(2), &[1_000_010_002])
}

fn no_erratum() -> Answer {
    Answer::Fault(Fault::xmlrpc(
        -208,
        "The errata SUSE-2026-0002 cannot be found.",
    ))
}

fn channel(label: &str) -> Value {
    StructBuilder::new()
        .field("label", string(label))
        .field("name", string(label))
        .build()
}

fn labels(v: &Value) -> Vec<String> {
    uyuni_api::json::to_json(v)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["label"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn channels_of_an_erratum_or_package_are_every_zones_once() {
    for method in [
        "errata.applicableToChannels",
        "packages.listProvidingChannels",
    ] {
        let fake = two_zones()
            .script(
                "a",
                method,
                Answer::Value(Value::Array(vec![channel("dc1-base")])),
            )
            .script(
                "b",
                method,
                Answer::Value(Value::Array(vec![channel("dc1-base")])),
            )
            .script(
                "c",
                method,
                Answer::Value(Value::Array(vec![
                    channel("store-base"),
                    channel("dc1-base"),
                ])),
            );
        let arg = if method.starts_with("errata") {
            string("SUSE-2026-0001")
        } else {
            int(42)
        };
        let out = fake.run(method, vec![arg.clone()]);
        assert!(out.missing.is_empty(), "{method}: {:?}", out.missing);
        assert_eq!(
            labels(&out.result.expect("channels")),
            ["dc1-base", "store-base"],
            "{method}"
        );
        // One node per zone is asked, with the parameter unchanged.
        let asked: Vec<String> = fake.calls_of(method).into_iter().map(|c| c.node).collect();
        assert_eq!(asked, ["a", "c"], "{method}");
    }
}

#[test]
fn a_zone_without_the_erratum_adds_nothing_and_is_not_missing() {
    let method = "errata.applicableToChannels";
    let fake = two_zones().script("a", method, no_erratum()).script(
        "c",
        method,
        Answer::Value(Value::Array(vec![channel("store-base")])),
    );
    let out = fake.run(method, vec![string("SUSE-2026-0002")]);
    assert!(out.missing.is_empty(), "{:?}", out.missing);
    assert_eq!(labels(&out.result.expect("channels")), ["store-base"]);
    // Every zone lacks it: the fault as one server gives it.
    let fake = two_zones()
        .script("a", method, no_erratum())
        .script("c", method, no_erratum());
    let out = fake.run(method, vec![string("SUSE-2026-0002")]);
    let f = out.result.expect_err("no such erratum");
    assert_eq!(f.code, -208);
    assert!(
        f.string
            .ends_with(": The errata SUSE-2026-0002 cannot be found.")
            && !f.string.contains("cluster node"),
        "{}",
        f.string
    );
    assert!(out.missing.is_empty());
}

#[test]
fn affected_systems_of_an_erratum_some_nodes_lack_are_the_others_systems() {
    let method = "errata.listAffectedSystems";
    let affected = StructBuilder::new()
        .field("id", int(1_000_010_002))
        .field("name", string("c-1"))
        .build();
    let fake = two_zones()
        .script("a", method, no_erratum())
        .script("b", method, no_erratum())
        .script("c", method, Answer::Value(Value::Array(vec![affected])));
    for strict in [false, true] {
        let turn = std::sync::atomic::AtomicUsize::new(0);
        let out = futures::executor::block_on(
            super::Fanout::new(&fake, &turn)
                .fail_on_partial(strict)
                .answer(method, &super::fake::cred(), vec![string("SUSE-2026-0002")]),
        );
        assert!(out.missing.is_empty(), "strict {strict}: {:?}", out.missing);
        let json = uyuni_api::json::to_json(&out.result.expect("systems"));
        assert_eq!(json[0]["id"], sys(2, 1_000_010_002), "strict {strict}");
    }
    // Another fault is a real failure: partial (the node named missing) or, strict, the fault.
    let fake = two_zones()
        .script("a", method, no_erratum())
        .script(
            "b",
            method,
            Answer::Fault(Fault::xmlrpc(-1, "database down")),
        )
        .script("c", method, Answer::Value(Value::Array(vec![])));
    let out = fake.run(method, vec![string("SUSE-2026-0002")]);
    assert_eq!(out.missing, ["b"]);
    // Every node lacks it: -208 as one server answers.
    let fake = two_zones()
        .script("a", method, no_erratum())
        .script("b", method, no_erratum())
        .script("c", method, no_erratum());
    let out = fake.run(method, vec![string("SUSE-2026-0002")]);
    assert_eq!(out.result.expect_err("none has it").code, -208);
    assert!(out.missing.is_empty());
}

#[test]
fn a_streamed_merge_treats_no_part_as_empty() {
    use super::stream::decide;
    let fake = two_zones();
    let nodes = fake.nodes();
    let absent = crate::table::absent_faults("errata.listAffectedSystems");
    let lacks = || Answer::<()>::Fault(Fault::xmlrpc(-208, "The errata X cannot be found."));
    let heads = vec![
        (nodes[0].clone(), lacks()),
        (nodes[1].clone(), lacks()),
        (nodes[2].clone(), Answer::Value(())),
    ];
    assert_eq!(decide(&heads, vec![], true, absent), Ok(vec![]));
    let none: Vec<_> = nodes
        .iter()
        .map(|n| {
            (
                n.clone(),
                Answer::<()>::Fault(Fault::xmlrpc(-208, "The errata X cannot be found.")),
            )
        })
        .collect();
    assert_eq!(
        decide(&none, vec![], false, absent).map_err(|f| f.code),
        Err(-208)
    );
    // Without the method's declaration the same faults are failures.
    assert_eq!(
        decide(&heads, vec![], false, &[]),
        Ok(vec!["a".into(), "b".into()])
    );
}

#[test]
fn script_details_of_a_cluster_action_hold_every_nodes_results() {
    let method = "system.getScriptActionDetails";
    let details = |sid: i64, out: &str| {
        Answer::Value(
            StructBuilder::new()
                .field("id", int(ACTION))
                .field("content", string("#!/bin/sh\nuptime"))
                .field("runAs", string("root"))
                .field(
                    "result",
                    Value::Array(vec![
                        StructBuilder::new()
                            .field("serverId", int(sid))
                            .field("output", string(out))
                            .build(),
                    ]),
                )
                .build(),
        )
    };
    let actions = ClusterActions::in_memory();
    let fake = Fake::three()
        .script("a", method, details(1_000_010_001, "up 1 day"))
        .script("b", method, details(1_000_010_005, "up 2 days"));
    let out = fake.run_with(
        &actions,
        "system.scheduleScriptRun",
        vec![
            ints(&[sys(0, 1_000_010_001), sys(1, 1_000_010_005)]),
            string("root"),
            string("root"),
            int(60),
            string("uptime"),
        ],
    );
    let id = uyuni_api::value::as_i64(&out.result.expect("one action")).expect("int");
    assert_eq!(
        actions.members(id),
        Some(vec![act(0, ACTION), act(1, ACTION)])
    );
    let out = fake.run_with(&actions, method, vec![int(id)]);
    let json = uyuni_api::json::to_json(&out.result.expect("details"));
    assert_eq!(json["id"], id, "the cluster action's id: {json}");
    assert_eq!(json["content"], "#!/bin/sh\nuptime");
    let results: Vec<(i64, String)> = json["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["serverId"].as_i64().unwrap_or_default(),
                r["output"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            (sys(0, 1_000_010_001), "up 1 day".to_string()),
            (sys(1, 1_000_010_005), "up 2 days".to_string())
        ]
    );
}

#[test]
fn duplicates_of_every_node_are_one_group_per_key_in_gateway_ids() {
    let method = "system.listDuplicatesByHostname";
    let group = |ids: &[i64]| {
        Answer::Value(Value::Array(vec![
            StructBuilder::new()
                .field("hostname", string("web.example.org"))
                .field(
                    "systems",
                    Value::Array(
                        ids.iter()
                            .map(|i| {
                                StructBuilder::new()
                                    .field("systemId", int(*i))
                                    .field("systemName", string(format!("web-{i}")))
                                    .build()
                            })
                            .collect(),
                    ),
                )
                .build(),
        ]))
    };
    let fake = two_zones()
        .script("a", method, group(&[1_000_010_000, 1_000_010_001]))
        .script("b", method, Answer::Value(Value::Array(vec![])))
        .script("c", method, group(&[1_000_010_002, 1_000_010_003]));
    let out = fake.run(method, vec![]);
    let json = uyuni_api::json::to_json(&out.result.expect("groups"));
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{json}");
    let ids: Vec<i64> = json[0]["systems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["systemId"].as_i64())
        .collect();
    assert_eq!(
        ids,
        [
            sys(0, 1_000_010_000),
            sys(0, 1_000_010_001),
            sys(2, 1_000_010_002),
            sys(2, 1_000_010_003)
        ]
    );
}

#[test]
fn a_silent_node_of_a_zone_is_replaced_by_another_of_the_zone() {
    let method = "errata.applicableToChannels";
    let fake = two_zones()
        .unreachable("a")
        .script(
            "b",
            method,
            Answer::Value(Value::Array(vec![channel("dc1-base")])),
        )
        .script(
            "c",
            method,
            Answer::Value(Value::Array(vec![channel("store-base")])),
        );
    let out = fake.run(method, vec![string("SUSE-2026-0001")]);
    assert!(out.missing.is_empty(), "{:?}", out.missing);
    assert_eq!(
        labels(&out.result.expect("channels")),
        ["dc1-base", "store-base"]
    );
    // A zone whose every node is silent is missing, its nodes named.
    let fake = two_zones().unreachable("c").script(
        "a",
        method,
        Answer::Value(Value::Array(vec![channel("dc1-base")])),
    );
    let out = fake.run(method, vec![string("SUSE-2026-0001")]);
    assert_eq!(out.missing, ["c"]);
    assert_eq!(labels(&out.result.expect("channels")), ["dc1-base"]);
}
