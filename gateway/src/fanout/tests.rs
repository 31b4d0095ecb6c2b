//! The routing core against fake nodes `a`, `b`, `c` (slots 0, 1, 2): which node gets which
//! translated parameters, and what the caller gets back.

use uyuni_api::json::to_json;
use uyuni_api::value::{int, string};
use uyuni_api::{Fault, Value};

use super::fake::{ACTION, Fake, cred, ints, received};
use super::{Fanout, unavailable};
use crate::pool::Answer;

/// Gateway id of a system: `local` on the node in `slot`.
fn sys(slot: i64, local: i64) -> i64 {
    local + slot * 1_000_000
}

/// Gateway id of an action: `local` on the node in `slot`.
fn act(slot: i64, local: i64) -> i64 {
    local * 1024 + slot
}

/// The `field` of every element of an array answer.
fn field_of(v: &Value, field: &str) -> Vec<i64> {
    to_json(v)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i[field].as_i64())
        .collect()
}

// ---- merged lists ----

#[test]
fn merged_system_lists_get_cluster_unique_ids_in_order() {
    let fake = Fake::three();
    let out = fake.run("system.listSystems", vec![]);
    let list = out.result.expect("merged list");
    assert_eq!(
        field_of(&list, "id"),
        vec![
            1_000_010_000,
            1_000_010_001,
            sys(1, 1_000_010_000),
            sys(1, 1_000_010_005),
            sys(2, 1_000_010_002),
        ]
    );
    assert_eq!(to_json(&list)[2]["name"], "b-1000010000");
    assert!(out.missing.is_empty());
    assert_eq!(fake.calls_of("system.listSystems").len(), 3);
}

#[test]
fn a_node_that_does_not_answer_is_missing_from_a_merged_list() {
    let fake = Fake::three().unreachable("b");
    let out = fake.run("system.listSystems", vec![]);
    let list = out.result.expect("partial list");
    assert_eq!(
        field_of(&list, "id"),
        vec![1_000_010_000, 1_000_010_001, sys(2, 1_000_010_002)]
    );
    assert_eq!(out.missing, vec!["b".to_string()]);
}

#[test]
fn nodes_down_or_without_a_slot_are_missing_and_not_called_nodes_that_left_are_neither() {
    let fake = Fake::three()
        .status("c", "down")
        .node("d", "z1", None, &[1_000_010_000])
        .node("e", "z1", Some(4), &[1_000_010_000])
        .status("e", "left");
    let out = fake.run("system.listSystems", vec![]);
    assert_eq!(out.missing, vec!["c".to_string(), "d".to_string()]);
    assert_eq!(field_of(&out.result.expect("list"), "id").len(), 4);
    let called: Vec<String> = fake.calls().into_iter().map(|c| c.node).collect();
    assert_eq!(called, vec!["a", "b"]);
}

#[test]
fn a_merged_list_with_no_node_answering_is_a_fault() {
    let fake = Fake::three()
        .unreachable("a")
        .unreachable("b")
        .unreachable("c");
    let out = fake.run("system.listSystems", vec![]);
    assert_eq!(out.result.expect_err("nobody"), unavailable("a, b, c"));
    assert_eq!(out.missing.len(), 3);
}

#[test]
fn merged_faults_pass_through_when_no_node_gave_a_value() {
    let fault = Fault::new(2800, "redstone.xmlrpc.XmlRpcFault: unknown entitlement");
    let fake = Fake::three()
        .script("a", "system.listSystems", Answer::Fault(fault.clone()))
        .script(
            "b",
            "system.listSystems",
            Answer::Fault(Fault::new(1, "b's own")),
        )
        .unreachable("c");
    let out = fake.run("system.listSystems", vec![]);
    // The first node's fault, code and string unchanged; every node reported missing.
    assert_eq!(out.result.expect_err("fault"), fault);
    assert_eq!(
        out.missing,
        vec!["a".to_string(), "b".to_string(), "c".to_string()]
    );
}

#[test]
fn a_fault_of_one_node_makes_a_merged_list_partial_never_silently_short() {
    // Policy `partial`: the other nodes' part, the faulting node reported missing.
    let fake = Fake::three().script(
        "b",
        "system.listSystems",
        Answer::Fault(Fault::new(-1, "boom")),
    );
    let out = fake.run("system.listSystems", vec![]);
    assert_eq!(field_of(&out.result.expect("list"), "id").len(), 3);
    assert_eq!(out.missing, vec!["b".to_string()]);
}

#[test]
fn under_the_fail_policy_a_node_fault_fails_a_merged_read_naming_the_node() {
    let fake = Fake::three().script(
        "b",
        "system.listSystems",
        Answer::Fault(Fault::new(-1, "boom")),
    );
    let turn = std::sync::atomic::AtomicUsize::new(0);
    let fanout = Fanout::new(&fake, &turn).fail_on_partial(true);
    let out = futures::executor::block_on(fanout.answer("system.listSystems", &cred(), vec![]));
    let f = out.result.expect_err("fail policy");
    assert_eq!(f.code, -1);
    assert!(
        f.string.contains("cluster node b") && f.string.contains("boom"),
        "{f:?}"
    );
    assert_eq!(out.missing, vec!["b".to_string()]);
    // The streamed path follows the same policy: the fault before any byte is sent.
    let streamed = futures::executor::block_on(fanout.merged_stream(
        &cred(),
        "system.listSystems",
        vec![],
        true,
        super::stream::Format::Xml,
    ));
    let f = streamed.expect_err("no stream under fail");
    assert!(
        f.string.contains("cluster node b") && f.string.contains("boom"),
        "{f:?}"
    );
    // A node down: the core reports it missing; the shell turns that into a fault under
    // `fail` (dispatch), the core's answer is the other nodes'.
    let fake = Fake::three().status("c", "down");
    let fanout = Fanout::new(&fake, &turn).fail_on_partial(true);
    let out = futures::executor::block_on(fanout.answer("system.listSystems", &cred(), vec![]));
    assert_eq!(out.missing, vec!["c".to_string()]);
}

#[test]
fn a_merged_common_object_sums_its_per_node_counters() {
    // systemgroup.getDetails by name: the group is common data, its members are on every
    // node: system_count is the cluster's (spacecmd's group_details).
    let details = |n| {
        Answer::Value(
            uyuni_api::value::StructBuilder::new()
                .field("id", int(5))
                .field("name", string("web"))
                .field("system_count", int(n))
                .build(),
        )
    };
    let fake = Fake::three()
        .script("a", "systemgroup.getDetails", details(2))
        .script("b", "systemgroup.getDetails", details(3))
        .script("c", "systemgroup.getDetails", details(0));
    let out = fake.run("systemgroup.getDetails", vec![string("web")]);
    let v = to_json(&out.result.expect("group"));
    assert_eq!(v["system_count"], 5);
    assert_eq!(v["name"], "web");
    assert_eq!(fake.calls_of("systemgroup.getDetails").len(), 3);
    // By the node's own group id (from an earlier answer): looked up on one node, then
    // answered by name, summed.
    let out = fake.run("systemgroup.getDetails", vec![int(5)]);
    assert_eq!(to_json(&out.result.expect("group"))["system_count"], 5);
    assert_eq!(fake.calls_of("systemgroup.getDetails").len(), 3 + 1 + 3);
}

#[test]
fn minion_id_maps_are_merged_with_every_value_translated() {
    let map = |minion: &str, id| {
        Answer::Value(
            uyuni_api::value::StructBuilder::new()
                .field(minion, int(id))
                .build(),
        )
    };
    let fake = Fake::three()
        .script("a", "system.getMinionIdMap", map("ma", 1_000_010_000))
        .script("b", "system.getMinionIdMap", map("mb", 1_000_010_000))
        .script("c", "system.getMinionIdMap", map("mc", 1_000_010_002));
    let out = to_json(
        &fake
            .run("system.getMinionIdMap", vec![])
            .result
            .expect("map"),
    );
    assert_eq!(out["ma"], 1_000_010_000);
    assert_eq!(out["mb"], sys(1, 1_000_010_000));
    assert_eq!(out["mc"], sys(2, 1_000_010_002));
}

// ---- the owner of a system ----

#[test]
fn a_gateway_system_id_goes_to_its_node_with_the_local_id() {
    let fake = Fake::three();
    let out = fake.run("system.getDetails", vec![int(sys(1, 1_000_010_005))]);
    let details = to_json(&out.result.expect("details"));
    assert_eq!(details["id"], sys(1, 1_000_010_005));
    assert_eq!(details["hostname"], "b-1000010005.example.com");
    assert_eq!(
        fake.calls(),
        vec![received("b", "system.getDetails", vec![int(1_000_010_005)])]
    );
}

#[test]
fn slot_zero_keeps_the_servers_own_ids() {
    let fake = Fake::three();
    let out = fake.run("system.getDetails", vec![int(1_000_010_001)]);
    assert_eq!(to_json(&out.result.expect("details"))["id"], 1_000_010_001);
    assert_eq!(fake.calls()[0].node, "a");
}

#[test]
fn a_node_fault_passes_through_unchanged() {
    let fault = Fault::new(
        -210,
        "com.redhat.rhn.frontend.xmlrpc.NoSuchSystemException: No such system - sid = 1000010999",
    );
    // The node's fault names its own id (1000010999), not the gateway id the caller gave.
    let fake = Fake::three().script("b", "system.getDetails", Answer::Fault(fault.clone()));
    let out = fake.run("system.getDetails", vec![int(sys(1, 1_000_010_999))]);
    let got = out.result.expect_err("the node's fault");
    assert_eq!((got.code, got.string), (fault.code, fault.string));
    assert!(out.missing.is_empty());
}

#[test]
fn the_owner_down_or_unknown() {
    let fake = Fake::three().status("c", "down");
    let out = fake.run("system.getDetails", vec![int(sys(2, 1_000_010_002))]);
    assert_eq!(out.result.expect_err("down"), unavailable("c"));
    assert_eq!(out.missing, vec!["c".to_string()]);

    let fake = Fake::three().unreachable("b");
    let out = fake.run("system.getDetails", vec![int(sys(1, 1_000_010_000))]);
    assert_eq!(out.result.expect_err("no answer"), unavailable("b"));
    assert_eq!(out.missing, vec!["b".to_string()]);

    // No node holds slot 7; 42 is no gateway id at all. Nobody is called.
    let fake = Fake::three();
    for id in [sys(7, 1_000_010_000), 42] {
        let out = fake.run("system.getDetails", vec![int(id)]);
        assert_eq!(out.result.expect_err("unknown"), Fault::no_such_system(id));
    }
    assert!(fake.calls().is_empty());
}

// ---- ids split by node ----

#[test]
fn an_id_list_spanning_nodes_is_split_with_each_nodes_own_ids() {
    let fake = Fake::three();
    let given = ints(&[1_000_010_001, sys(1, 1_000_010_005), 1_000_010_000]);
    let out = fake.run("system.deleteSystems", vec![given, string("FORCE_DELETE")]);
    assert_eq!(out.result.expect("deleted"), int(1));
    assert_eq!(
        fake.calls_of("system.deleteSystems"),
        vec![
            received(
                "a",
                "system.deleteSystems",
                vec![
                    ints(&[1_000_010_001, 1_000_010_000]),
                    string("FORCE_DELETE")
                ]
            ),
            received(
                "b",
                "system.deleteSystems",
                vec![ints(&[1_000_010_005]), string("FORCE_DELETE")]
            ),
        ]
    );
}

#[test]
fn a_split_call_fails_when_one_part_does_not_reach_its_node() {
    let fake = Fake::three().unreachable("c");
    let given = ints(&[1_000_010_000, sys(2, 1_000_010_002)]);
    let out = fake.run("system.deleteSystems", vec![given]);
    assert_eq!(out.result.expect_err("part lost"), unavailable("c"));
    assert_eq!(out.missing, vec!["c".to_string()]);
    // The other part was made (it cannot be taken back).
    assert_eq!(fake.calls_of("system.deleteSystems").len(), 2);
}

#[test]
fn the_labelled_overload_splits_its_second_parameter() {
    let fake = Fake::three();
    let args = vec![
        string("label"),
        ints(&[sys(2, 1_000_010_002)]),
        string("root"),
        string("root"),
        int(60),
        string("#!/bin/sh"),
    ];
    let out = fake.run("system.scheduleScriptRun", args);
    assert_eq!(out.result.expect("action"), int(act(2, ACTION)));
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].node, "c");
    assert_eq!(calls[0].args[1], ints(&[1_000_010_002]));
}

#[test]
fn group_membership_splits_the_ids_after_the_group_name() {
    let fake = Fake::three();
    let given = ints(&[sys(1, 1_000_010_000), sys(2, 1_000_010_002)]);
    let out = fake.run(
        "systemgroup.addOrRemoveSystems",
        vec![string("web"), given, Value::Boolean(true)],
    );
    assert_eq!(out.result.expect("added"), int(1));
    let calls = fake.calls_of("systemgroup.addOrRemoveSystems");
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].args,
        vec![string("web"), ints(&[1_000_010_000]), Value::Boolean(true)]
    );
    assert_eq!(
        (calls[1].node.as_str(), &calls[1].args[1]),
        ("c", &ints(&[1_000_010_002]))
    );
}

#[test]
fn a_call_without_its_id_lets_a_node_answer_in_its_own_words() {
    let fault = Fault::new(-1, "Could not find method: getDetails");
    let fake = Fake::three().script("a", "system.getDetails", Answer::Fault(fault.clone()));
    let out = fake.run("system.getDetails", vec![]);
    assert_eq!(out.result.expect_err("no such overload"), fault);
    assert_eq!(fake.calls().len(), 1);
}

// ---- action ids ----

#[test]
fn a_new_action_gets_a_gateway_action_id() {
    let fake = Fake::three();
    let out = fake.run("system.scheduleReboot", vec![int(sys(2, 1_000_010_002))]);
    assert_eq!(out.result.expect("action"), int(act(2, ACTION)));
    assert_eq!(fake.calls()[0].args, vec![int(1_000_010_002)]);
}

#[test]
fn merged_action_lists_get_cluster_unique_ids() {
    let fake = Fake::three();
    let out = fake.run("schedule.listAllActions", vec![]);
    assert_eq!(
        field_of(&out.result.expect("actions"), "id"),
        vec![act(0, ACTION), act(1, ACTION), act(2, ACTION)]
    );
}

#[test]
fn a_gateway_action_id_goes_to_its_node_and_systems_come_back_translated() {
    let fake = Fake::three();
    let out = fake.run("schedule.listCompletedSystems", vec![int(act(1, ACTION))]);
    assert_eq!(
        field_of(&out.result.expect("systems"), "server_id"),
        vec![sys(1, 1_000_010_000), sys(1, 1_000_010_005)]
    );
    assert_eq!(
        fake.calls(),
        vec![received(
            "b",
            "schedule.listCompletedSystems",
            vec![int(ACTION)]
        )]
    );
}

#[test]
fn action_id_lists_are_split_by_node() {
    let fake = Fake::three();
    let given = ints(&[act(0, ACTION), act(2, ACTION)]);
    let out = fake.run("schedule.cancelActions", vec![given]);
    assert_eq!(out.result.expect("cancelled"), int(1));
    let calls = fake.calls_of("schedule.cancelActions");
    let nodes: Vec<&str> = calls.iter().map(|c| c.node.as_str()).collect();
    assert_eq!(nodes, vec!["a", "c"]);
    assert!(calls.iter().all(|c| c.args == vec![ints(&[ACTION])]));
}

#[test]
fn an_action_of_an_unknown_slot_is_no_such_action() {
    let fake = Fake::three();
    let out = fake.run("schedule.listCompletedSystems", vec![int(act(9, ACTION))]);
    let f = out.result.expect_err("unknown");
    assert_eq!(
        f.message(),
        format!("No such action - id = {}", act(9, ACTION))
    );
    assert!(fake.calls().is_empty());
}

// ---- common data ----

fn two_zones() -> Fake {
    Fake::default()
        .node("a", "z1", Some(0), &[])
        .node("b", "z1", Some(1), &[])
        .node("c", "z2", Some(2), &[])
        .leader("z1", "b")
        .leader("z2", "c")
}

#[test]
fn a_common_data_lookup_asks_one_node_per_zone_and_the_first_answer_wins() {
    let fake = two_zones();
    let out = fake.run("channel.software.getDetails", vec![string("sles15")]);
    let v = to_json(&out.result.expect("channel"));
    assert_eq!(v["label"], "sles15");
    assert_eq!(v["answered_by"], "a");
    let nodes: Vec<String> = fake.calls().into_iter().map(|c| c.node).collect();
    assert_eq!(nodes, vec!["a", "c"]);
}

#[test]
fn a_common_data_lookup_falls_back_to_another_zone() {
    let fake = two_zones().unreachable("a");
    let out = fake.run("channel.software.getDetails", vec![string("sles15")]);
    assert_eq!(to_json(&out.result.expect("channel"))["answered_by"], "c");
    let missing_fault = Fault::xmlrpc(-208, "No such channel");
    let fake = two_zones()
        .script(
            "a",
            "channel.software.getDetails",
            Answer::Fault(missing_fault.clone()),
        )
        .script(
            "c",
            "channel.software.getDetails",
            Answer::Fault(Fault::new(1, "other")),
        );
    let out = fake.run("channel.software.getDetails", vec![string("nope")]);
    assert_eq!(out.result.expect_err("not found"), missing_fault);
}

#[test]
fn a_common_data_write_goes_to_every_zones_leader() {
    let fake = two_zones();
    let args = vec![
        string("ch"),
        string("Ch"),
        string("s"),
        string("x86_64"),
        string(""),
    ];
    let out = fake.run("channel.software.create", args.clone());
    assert_eq!(out.result.expect("created"), int(1));
    assert_eq!(
        fake.calls_of("channel.software.create"),
        vec![
            received("b", "channel.software.create", args.clone()),
            received("c", "channel.software.create", args),
        ]
    );
    // Then every node is asked for the new channel (read your own writes).
    assert_eq!(fake.calls_of("channel.software.getDetails").len(), 3);
}

#[test]
fn a_common_data_write_that_misses_a_zone_is_an_error() {
    let fake = two_zones().unreachable("c");
    let out = fake.run("systemgroup.create", vec![string("web"), string("")]);
    assert_eq!(
        out.result.expect_err("zone z2 lacks it"),
        unavailable("the change did not reach zone z2")
    );
    assert_eq!(out.missing, vec!["z2".to_string()]);

    let fault = Fault::new(2201, "group exists");
    let fake = two_zones().script("b", "systemgroup.create", Answer::Fault(fault.clone()));
    let out = fake.run("systemgroup.create", vec![string("web"), string("")]);
    assert_eq!(out.result.expect_err("fault"), fault);
    // The first zone's fault stops the write: z2 is not written.
    assert_eq!(fake.calls().len(), 1);
}

#[test]
fn merged_common_data_is_shown_once_with_counters_summed() {
    let group = |n| {
        Answer::Value(Value::Array(vec![
            uyuni_api::value::StructBuilder::new()
                .field("name", string("web"))
                .field("system_count", int(n))
                .build(),
        ]))
    };
    let fake = two_zones()
        .script("a", "systemgroup.listAllGroups", group(2))
        .script("b", "systemgroup.listAllGroups", group(3))
        .script("c", "systemgroup.listAllGroups", group(4));
    let out = to_json(
        &fake
            .run("systemgroup.listAllGroups", vec![])
            .result
            .expect("groups"),
    );
    assert_eq!(out, serde_json::json!([{"name": "web", "system_count": 9}]));
}

// ---- derived rules, refusals ----

#[test]
fn a_derived_rule_routes_by_the_system_parameter() {
    let fake = Fake::three();
    let out = fake.run(
        "system.listSystemEvents",
        vec![int(sys(1, 1_000_010_005)), string("SCHEDULED")],
    );
    assert_eq!(out.result.expect("events"), int(1));
    assert_eq!(
        fake.calls(),
        vec![received(
            "b",
            "system.listSystemEvents",
            vec![int(1_000_010_005), string("SCHEDULED")]
        )]
    );
}

#[test]
fn a_schedule_for_systems_of_several_nodes_is_split_and_answers_concatenated() {
    let fake = Fake::three()
        .script(
            "a",
            "system.schedulePackageInstall",
            Answer::Value(ints(&[ACTION])),
        )
        .script(
            "b",
            "system.schedulePackageInstall",
            Answer::Value(ints(&[ACTION])),
        );
    let given = ints(&[1_000_010_000, sys(1, 1_000_010_000)]);
    let out = fake.run(
        "system.schedulePackageInstall",
        vec![given, ints(&[501, 502]), string("20260101T00:00:00")],
    );
    assert_eq!(
        out.result.expect("actions"),
        ints(&[act(0, ACTION), act(1, ACTION)])
    );
    assert_eq!(fake.calls().len(), 2);
}

#[test]
fn a_call_naming_systems_of_several_nodes_is_refused() {
    let fake = Fake::three();
    let out = fake.run(
        "system.scheduleSyncPackagesWithSystem",
        vec![
            int(1_000_010_000),
            int(sys(1, 1_000_010_000)),
            ints(&[501, 502]),
        ],
    );
    let f = out.result.expect_err("several nodes");
    assert!(f.message().contains("several cluster nodes"), "{f:?}");
    assert!(fake.calls().is_empty());
}

#[test]
fn unknown_and_node_local_methods_are_refused_before_any_node_is_asked() {
    let fake = Fake::three();
    let out = fake.run("system.noSuchMethod", vec![int(1_000_010_000)]);
    let f = out.result.expect_err("unknown");
    assert_eq!(f.code, -1);
    assert!(
        f.string.contains("Could not find method: noSuchMethod"),
        "{f:?}"
    );
    let out = fake.run("sync.master.create", vec![string("iss.example.com")]);
    assert_eq!(out.result.expect_err("node-local").code, 2801);
    assert!(fake.calls().is_empty());
}

#[test]
fn cluster_wide_administration_reaches_every_node() {
    // Need::All: every node; a node's fault fails the call naming it.
    let fake = Fake::three();
    let out = fake.run("sync.content.syncChannel", vec![string("ch")]);
    assert_eq!(out.result.expect("done"), int(1));
    assert_eq!(fake.calls_of("sync.content.syncChannel").len(), 3);
    let fake = Fake::three().script(
        "c",
        "sync.content.syncChannel",
        Answer::Fault(Fault::new(-1, "no such channel")),
    );
    let f = fake
        .run("sync.content.syncChannel", vec![string("ch")])
        .result
        .expect_err("c failed");
    assert!(f.string.starts_with("cluster node c:"), "{f:?}");
    // Need::One: the node holding the minion's key answers; the others' faults are expected.
    let nokey = Answer::Fault(Fault::new(-1, "no such key"));
    let fake = Fake::three()
        .script("a", "saltkey.accept", nokey.clone())
        .script("c", "saltkey.accept", nokey);
    let out = fake.run("saltkey.accept", vec![string("m1")]);
    assert_eq!(out.result.expect("accepted"), int(1));
    assert!(out.missing.is_empty());
}

#[test]
fn a_common_lookup_tries_the_next_node_when_one_does_not_answer() {
    let fake = Fake::three().unreachable("a");
    let out = fake.run("kickstart.listKickstarts", vec![]);
    assert_eq!(out.result.expect("answer"), int(1));
    let nodes: Vec<String> = fake.calls().into_iter().map(|c| c.node).collect();
    assert_eq!(nodes, vec!["a", "b"]);
}

#[test]
fn pass_through_calls_take_turns() {
    let fake = Fake::three();
    let turn = std::sync::atomic::AtomicUsize::new(0);
    let fanout = Fanout::new(&fake, &turn);
    for _ in 0..4 {
        futures::executor::block_on(fanout.answer("api.getVersion", &cred(), vec![]));
    }
    let nodes: Vec<String> = fake.calls().into_iter().map(|c| c.node).collect();
    assert_eq!(nodes, vec!["a", "b", "c", "a"]);
}
