//! Scheduling over systems of several nodes: one gateway action id for the nodes' actions,
//! and every follow-up by it fans out over them (docs/GATEWAY.md#one-action-over-several-nodes).

use uyuni_api::value::int;
use uyuni_api::{Fault, Value};

use super::fake::{ACTION, Fake, act, ints, received, sys};
use crate::cluster_actions::{CLUSTER_ACTION_SLOT, ClusterActions};
use crate::pool::Answer;

/// Schedule on a system of `a` and one of `b`: the cluster action's id.
fn schedule_on_a_and_b(fake: &Fake, actions: &ClusterActions) -> i64 {
    let out = fake.run_with(
        actions,
        "system.schedulePackageInstall",
        vec![
            ints(&[sys(0, 1_000_010_001), sys(1, 1_000_010_005)]),
            ints(&[42]),
        ],
    );
    let id = uyuni_api::value::as_i64(&out.result.expect("an action")).expect("an int");
    assert_eq!(id % 1024, i64::from(CLUSTER_ACTION_SLOT));
    id
}

#[test]
fn a_schedule_over_two_nodes_answers_one_action_id_for_both_nodes_actions() {
    let (fake, actions) = (Fake::three(), ClusterActions::in_memory());
    let id = schedule_on_a_and_b(&fake, &actions);
    assert_eq!(
        actions.members(id),
        Some(vec![act(0, ACTION), act(1, ACTION)])
    );
    assert_eq!(
        fake.calls_of("system.schedulePackageInstall"),
        vec![
            received(
                "a",
                "system.schedulePackageInstall",
                vec![ints(&[1_000_010_001]), ints(&[42])]
            ),
            received(
                "b",
                "system.schedulePackageInstall",
                vec![ints(&[1_000_010_005]), ints(&[42])]
            ),
        ]
    );
    // One node's systems only: that node's own action, as before.
    let out = fake.run_with(
        &actions,
        "system.schedulePackageInstall",
        vec![ints(&[sys(1, 1_000_010_005)]), ints(&[42])],
    );
    assert_eq!(out.result.expect("action"), int(act(1, ACTION)));
    // The script run (the first node's answer before) too.
    let out = fake.run_with(
        &actions,
        "system.scheduleScriptRun",
        vec![
            ints(&[sys(0, 1_000_010_000), sys(2, 1_000_010_002)]),
            Value::String("root".into()),
            Value::String("root".into()),
            int(60),
            Value::String("true".into()),
        ],
    );
    let script = uyuni_api::value::as_i64(&out.result.expect("action")).expect("int");
    assert_eq!(
        actions.members(script),
        Some(vec![act(0, ACTION), act(2, ACTION)])
    );
}

#[test]
fn follow_ups_of_a_cluster_action_merge_every_nodes_part() {
    let (fake, actions) = (Fake::three(), ClusterActions::in_memory());
    let id = schedule_on_a_and_b(&fake, &actions);
    for method in [
        "schedule.listCompletedSystems",
        "schedule.listFailedSystems",
        "schedule.listInProgressSystems",
        "system.getScriptResults",
    ] {
        let out = fake.run_with(&actions, method, vec![int(id)]);
        assert!(out.result.is_ok(), "{method}: {:?}", out.result);
        assert_eq!(
            fake.calls_of(method),
            vec![
                received("a", method, vec![int(ACTION)]),
                received("b", method, vec![int(ACTION)]),
            ],
            "{method}"
        );
    }
    // Both nodes' systems, as gateway ids.
    let out = fake.run_with(&actions, "schedule.listCompletedSystems", vec![int(id)]);
    let json = uyuni_api::json::to_json(&out.result.expect("systems"));
    let got: Vec<i64> = json
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["server_id"].as_i64())
        .collect();
    assert_eq!(
        got,
        vec![
            sys(0, 1_000_010_000),
            sys(0, 1_000_010_001),
            sys(1, 1_000_010_000),
            sys(1, 1_000_010_005)
        ]
    );
}

#[test]
fn cancel_archive_delete_and_reschedule_reach_every_nodes_action() {
    for method in [
        "schedule.cancelActions",
        "schedule.archiveActions",
        "schedule.deleteActions",
        "schedule.rescheduleActions",
    ] {
        let (fake, actions) = (Fake::three(), ClusterActions::in_memory());
        let id = schedule_on_a_and_b(&fake, &actions);
        let mut args = vec![ints(&[id, act(2, 9)])];
        if method == "schedule.rescheduleActions" {
            args.push(Value::Boolean(false));
        }
        let out = fake.run_with(&actions, method, args.clone());
        assert_eq!(out.result.expect("done"), int(1), "{method}");
        let with = |ids: &[i64]| {
            let mut a = args.clone();
            a[0] = ints(ids);
            a
        };
        assert_eq!(
            fake.calls_of(method),
            vec![
                received("a", method, with(&[ACTION])),
                received("b", method, with(&[ACTION])),
                received("c", method, with(&[9])),
            ],
            "{method}"
        );
    }
}

#[test]
fn action_lists_show_a_cluster_action_once() {
    let (fake, actions) = (Fake::three(), ClusterActions::in_memory());
    let id = schedule_on_a_and_b(&fake, &actions);
    let out = fake.run_with(&actions, "schedule.listAllActions", vec![]);
    let json = uyuni_api::json::to_json(&out.result.expect("actions"));
    let ids: Vec<i64> = json
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![id, act(2, ACTION)]);
}

#[test]
fn a_system_and_a_cluster_action_use_the_systems_nodes_action() {
    let (fake, actions) = (Fake::three(), ClusterActions::in_memory());
    let id = schedule_on_a_and_b(&fake, &actions);
    let out = fake.run_with(
        &actions,
        "schedule.failSystemAction",
        vec![int(sys(1, 1_000_010_005)), int(id)],
    );
    assert_eq!(out.result.expect("done"), int(1));
    assert_eq!(
        fake.calls_of("schedule.failSystemAction"),
        vec![received(
            "b",
            "schedule.failSystemAction",
            vec![int(1_000_010_005), int(ACTION)]
        )]
    );
    // A system of a node the cluster action has no action on: no such action.
    let out = fake.run_with(
        &actions,
        "schedule.failSystemAction",
        vec![int(sys(2, 1_000_010_002)), int(id)],
    );
    assert_eq!(out.result.expect_err("no such action").code, 2700);
}

#[test]
fn a_node_without_its_part_adds_nothing_and_an_unknown_cluster_action_is_no_such_action() {
    let actions = ClusterActions::in_memory();
    let fake = Fake::three().script(
        "b",
        "schedule.listCompletedSystems",
        Answer::Fault(Fault::xmlrpc(2700, "No such action - id = 7")),
    );
    let id = schedule_on_a_and_b(&fake, &actions);
    let out = fake.run_with(&actions, "schedule.listCompletedSystems", vec![int(id)]);
    let json = uyuni_api::json::to_json(&out.result.expect("a's part"));
    assert_eq!(json.as_array().map(Vec::len), Some(2));
    // An id of the cluster actions' slot this gateway never gave.
    let before = fake.calls().len();
    let unknown = act(i64::from(CLUSTER_ACTION_SLOT), 99);
    for (method, args) in [
        ("schedule.listCompletedSystems", vec![int(unknown)]),
        ("schedule.deleteActions", vec![ints(&[unknown])]),
    ] {
        let fault = fake
            .run_with(&actions, method, args)
            .result
            .expect_err("no such action");
        assert_eq!(fault.code, 2700, "{method}");
    }
    assert_eq!(fake.calls().len(), before);
}

#[test]
fn a_package_by_a_nodes_number_is_looked_up_once_then_listed_on_every_node_by_name() {
    use uyuni_api::value::{StructBuilder, string};
    let details = StructBuilder::new()
        .field("name", string("vim"))
        .field("version", string("9.1"))
        .field("release", string("2"))
        .build();
    let fake = Fake::three().script("a", "packages.getDetails", Answer::Value(details));
    let out = fake.run("system.listSystemsWithPackage", vec![int(5123)]);
    let json = uyuni_api::json::to_json(&out.result.expect("systems"));
    // Every node's systems (the fake lists all of its own), in gateway ids.
    assert_eq!(json.as_array().map(Vec::len), Some(5));
    assert_eq!(
        fake.calls_of("packages.getDetails"),
        vec![received("a", "packages.getDetails", vec![int(5123)])]
    );
    let by_name = vec![string("vim"), string("9.1"), string("2")];
    assert_eq!(
        fake.calls_of("system.listSystemsWithPackage"),
        vec![
            received("a", "system.listSystemsWithPackage", by_name.clone()),
            received("b", "system.listSystemsWithPackage", by_name.clone()),
            received("c", "system.listSystemsWithPackage", by_name),
        ]
    );
    // The lookup's fault is the answer (Uyuni's own "no such package").
    let fake = Fake::three().script(
        "a",
        "packages.getDetails",
        Answer::Fault(Fault::xmlrpc(-210, "No such package")),
    );
    let out = fake.run("system.listSystemsWithPackage", vec![int(1)]);
    assert_eq!(out.result.expect_err("no such package").code, -210);
}
