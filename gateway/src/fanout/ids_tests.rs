//! Every id translated (issue 14, part 2): scheduling calls answer gateway action ids, every
//! follow-up by action id reaches the action's node with its own id, an id that cannot be
//! translated is a fault (never passed through), and system ids outlive moves.

use uyuni_api::value::{StructBuilder, int, string};
use uyuni_api::{Fault, Value};

use super::fake::{ACTION, Fake, act, ints, received, sys};
use super::unavailable;
use crate::metastore::Relocation;
use crate::pool::Answer;

#[test]
fn scheduling_on_a_system_of_node_b_answers_bs_action_as_a_gateway_id() {
    let fake = Fake::three();
    // The one-system overload and the array overload.
    let one = fake.run(
        "system.schedulePackageInstall",
        vec![int(sys(1, 1_000_010_005)), ints(&[42])],
    );
    assert_eq!(one.result.expect("action"), int(act(1, ACTION)));
    let many = fake.run(
        "system.scheduleApplyErrata",
        vec![ints(&[sys(1, 1_000_010_005)]), ints(&[3])],
    );
    assert_eq!(many.result.expect("action"), int(act(1, ACTION)));
    assert_eq!(
        fake.calls(),
        vec![
            received(
                "b",
                "system.schedulePackageInstall",
                vec![int(1_000_010_005), ints(&[42])]
            ),
            received(
                "b",
                "system.scheduleApplyErrata",
                vec![ints(&[1_000_010_005]), ints(&[3])]
            ),
        ]
    );
}

#[test]
fn follow_ups_by_action_id_reach_the_actions_node_with_its_own_id() {
    let fake = Fake::three();
    let aid = act(2, ACTION);
    for method in [
        "schedule.listCompletedSystems",
        "schedule.listFailedSystems",
        "schedule.listInProgressSystems",
        "system.getScriptResults",
        "system.getScriptActionDetails",
    ] {
        let out = fake.run(method, vec![int(aid)]);
        assert!(out.result.is_ok(), "{method}: {:?}", out.result);
        let last = fake.calls().pop().expect("a call");
        assert_eq!(last, received("c", method, vec![int(ACTION)]));
    }
    // The systems of the answer are gateway ids.
    let out = fake.run("schedule.listCompletedSystems", vec![int(aid)]);
    let json = uyuni_api::json::to_json(&out.result.expect("systems"));
    assert_eq!(json[0]["server_id"], sys(2, 1_000_010_002));
}

#[test]
fn archive_delete_and_reschedule_split_action_ids_by_node() {
    for method in [
        "schedule.archiveActions",
        "schedule.deleteActions",
        "schedule.rescheduleActions",
        "schedule.cancelActions",
    ] {
        let fake = Fake::three();
        let mut args = vec![ints(&[act(1, 7), act(2, 9), act(1, 8)])];
        if method == "schedule.rescheduleActions" {
            args.push(Value::Boolean(true));
        }
        let out = fake.run(method, args.clone());
        assert_eq!(out.result.expect("done"), int(1), "{method}");
        let calls = fake.calls_of(method);
        let mut want_b = args.clone();
        want_b[0] = ints(&[7, 8]);
        let mut want_c = args.clone();
        want_c[0] = ints(&[9]);
        assert_eq!(
            calls,
            vec![received("b", method, want_b), received("c", method, want_c)],
            "{method}"
        );
    }
}

#[test]
fn an_action_id_the_gateway_never_gave_is_uyunis_no_such_action_and_reaches_no_node() {
    let fake = Fake::three().status("c", "left");
    for (method, args) in [
        ("schedule.listCompletedSystems", vec![int(5)]),
        ("schedule.archiveActions", vec![ints(&[act(0, 7), 5])]),
        ("system.getScriptResults", vec![int(act(9, 7))]),
    ] {
        let fault = fake.run(method, args).result.expect_err("no such action");
        assert_eq!(fault.code, 2700, "{method}: {fault:?}");
    }
    assert!(fake.calls().is_empty());
    // Not an int at all: a fault of its own, no node asked.
    let out = fake.run(
        "schedule.deleteActions",
        vec![Value::Array(vec![string("x")])],
    );
    assert_eq!(out.result.expect_err("refused").code, -1);
    assert!(fake.calls().is_empty());
}

#[test]
fn a_system_and_an_action_of_different_nodes_are_no_such_action() {
    let fake = Fake::three();
    let out = fake.run(
        "schedule.failSystemAction",
        vec![int(sys(1, 1_000_010_005)), int(act(2, ACTION))],
    );
    assert_eq!(out.result.expect_err("other node").code, 2700);
    assert!(fake.calls().is_empty());
    let out = fake.run(
        "system.getEventDetails",
        vec![int(sys(1, 1_000_010_005)), int(act(1, ACTION))],
    );
    assert!(out.result.is_ok());
    assert_eq!(
        fake.calls(),
        vec![received(
            "b",
            "system.getEventDetails",
            vec![int(1_000_010_005), int(ACTION)]
        )]
    );
}

#[test]
fn an_answer_id_past_a_slots_range_is_a_fault_not_shown_unchanged() {
    let rogue = Value::Array(vec![
        StructBuilder::new().field("id", int(1_001_000_001)).build(),
    ]);
    let fake = Fake::three().script("b", "system.listSystems", Answer::Value(rogue));
    let out = fake.run("system.listSystems", vec![]);
    let fault = out.result.expect_err("untranslatable");
    assert_eq!(fault.code, -1);
    assert!(fault.message().contains("1001000001"), "{fault:?}");
    let fake = Fake::three().script("a", "system.scheduleReboot", Answer::Value(int(3_000_000)));
    let out = fake.run("system.scheduleReboot", vec![int(1_000_010_000)]);
    assert!(out.result.is_err());
}

#[test]
fn an_old_id_of_a_failed_node_reaches_the_system_where_it_was_re_homed() {
    // b failed; its system 1000010005 was re-homed on c as 1000010002.
    let old = sys(1, 1_000_010_005);
    let fake = Fake::three().status("b", "down").moved(
        1,
        1_000_010_005,
        Relocation::At {
            node: "c".into(),
            local: 1_000_010_002,
        },
    );
    let out = fake.run("system.getDetails", vec![int(old)]);
    let json = uyuni_api::json::to_json(&out.result.expect("found where it is now"));
    assert_eq!(json["id"], sys(2, 1_000_010_002));
    assert_eq!(
        fake.calls(),
        vec![received("c", "system.getDetails", vec![int(1_000_010_002)])]
    );
    // In an array too, beside a system of a node that is up.
    let out = fake.run(
        "system.schedulePackageInstall",
        vec![ints(&[old, 1_000_010_000]), ints(&[1])],
    );
    assert!(out.result.is_ok());
    let calls = fake.calls_of("system.schedulePackageInstall");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].node, "c");
    assert_eq!(calls[1].args[0], ints(&[1_000_010_002]));
}

#[test]
fn an_old_id_of_a_deleted_system_is_no_such_system_not_node_unavailable() {
    let old = sys(1, 1_000_010_005);
    let fake = Fake::three()
        .status("b", "down")
        .moved(1, 1_000_010_005, Relocation::Gone);
    let out = fake.run("system.getDetails", vec![int(old)]);
    assert_eq!(out.result.expect_err("gone"), Fault::no_such_system(old));
    // Nothing recorded: the node is unavailable (it may come back with the system).
    let fake = Fake::three().status("b", "down");
    let out = fake.run("system.getDetails", vec![int(old)]);
    assert_eq!(out.result.expect_err("down"), unavailable("b"));
}

#[test]
fn a_system_moved_off_a_live_node_is_followed_after_its_no_such_system() {
    // Rebalanced from a (slot 0) to c: a no longer has it and says so; c has it.
    let fake = Fake::three().moved(
        0,
        1_000_010_009,
        Relocation::At {
            node: "c".into(),
            local: 1_000_010_002,
        },
    );
    let out = fake.run("system.getDetails", vec![int(1_000_010_009)]);
    assert!(out.result.is_ok(), "{:?}", out.result);
    let nodes: Vec<String> = fake.calls().into_iter().map(|c| c.node).collect();
    assert_eq!(nodes, vec!["a", "c"]);
}

#[test]
fn a_created_group_is_answered_once_every_node_finds_it() {
    // b has not replayed the group yet for its first two lookups.
    let fake = Fake::three().leader("z1", "a").script_first(
        "b",
        "systemgroup.getDetails",
        Answer::Fault(Fault::xmlrpc(
            2201,
            "Unable to locate or access server group",
        )),
        2,
    );
    let out = fake.run(
        "systemgroup.create",
        vec![string("web"), string("web servers")],
    );
    assert_eq!(out.result.expect("created"), int(1));
    let probes = fake.calls_of("systemgroup.getDetails");
    assert_eq!(probes.iter().filter(|c| c.node == "b").count(), 3);
    assert_eq!(probes.iter().filter(|c| c.node == "a").count(), 1);
}

#[test]
fn a_change_that_never_reaches_a_node_is_a_fault_naming_it() {
    let fake = Fake::three().leader("z1", "a").script(
        "c",
        "systemgroup.getDetails",
        Answer::Fault(Fault::xmlrpc(
            2201,
            "Unable to locate or access server group",
        )),
    );
    let out = fake.run("systemgroup.create", vec![string("web"), string("d")]);
    let fault = out.result.expect_err("not everywhere");
    assert!(fault.message().contains("not reached node c"), "{fault:?}");
    // Updates are not waited for.
    let fake = Fake::three().leader("z1", "a");
    assert!(
        fake.run("systemgroup.update", vec![string("web"), string("d")])
            .result
            .is_ok()
    );
    assert!(fake.calls_of("systemgroup.getDetails").is_empty());
}
