use std::collections::BTreeMap;

use uyuni_api::catalogue::{self, CATALOGUE};
use uyuni_api::value::{int, string};

use super::*;

#[test]
fn every_overload_of_the_catalogue_has_a_rule() {
    for sig in CATALOGUE {
        let (ns, _) = sig.method.rsplit_once('.').expect("namespace");
        assert!(
            namespace_kind(ns).is_some(),
            "namespace {ns} has no kind: state it in namespace_kind"
        );
        let r = rule_of(sig);
        assert_ne!(
            r.route,
            Route::Refuse(Refusal::UnknownMethod),
            "{} ({:?}) has no rule",
            sig.method,
            sig.params
        );
    }
    for ns in catalogue::namespaces() {
        assert!(namespace_kind(ns).is_some(), "namespace {ns} has no kind");
    }
}

#[test]
fn every_explicit_rule_names_a_method_of_the_catalogue() {
    for r in RULES {
        assert!(
            catalogue::known(r.method),
            "{} is not in the catalogue",
            r.method
        );
    }
    for (m, p, _) in OVERLOAD_RULES {
        assert!(
            catalogue::overloads(m).any(|s| s.params.first().is_some_and(|f| f.0 == *p)),
            "{m}({p}, ...) is not an overload of the catalogue"
        );
    }
}

#[test]
fn one_node_answers_only_for_data_declared_the_same_everywhere() {
    for sig in CATALOGUE {
        let route = rule_of(sig).route;
        if matches!(route, Route::Any | Route::FirstOk) {
            let (ns, _) = sig.method.rsplit_once('.').expect("namespace");
            assert!(
                namespace_kind(ns) == Some(NsKind::Common)
                    || COMMON_SAME_ELSEWHERE.contains(&sig.method),
                "{} answered by one node but {ns} is not common data",
                sig.method
            );
        }
    }
}

#[test]
fn refusals_have_distinct_codes() {
    let codes = [
        Refusal::NodeLocal.code(),
        Refusal::ClientCertificate.code(),
        Refusal::PerNodeId("x").code(),
        Refusal::UnroutableTarget.code(),
        Refusal::UnknownMethod.code(),
    ];
    let mut uniq = codes.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), codes.len());
    let f = Refusal::PerNodeId("channelId").fault("channel.software.setDetails");
    assert_eq!(f.code, Refusal::PerNodeId("").code());
    assert!(f.string.contains("channel.software.setDetails") && f.string.contains("channelId"));
}

#[test]
fn an_unknown_method_is_refused_not_sent_to_a_node() {
    let r = rule("system.noSuchMethod");
    assert_eq!(r.route, Route::Refuse(Refusal::UnknownMethod));
    assert_eq!(r.route.class(), RuleClass::Refused);
    let f = Refusal::UnknownMethod.fault("system.noSuchMethod");
    assert_eq!(f.code, -1);
    assert!(
        f.string
            .contains("Could not find method: noSuchMethod in namespace system")
    );
    // A dynamic namespace forwards any method: node-local.
    assert_eq!(
        rule("taskomatic.listActiveSchedules").route,
        Route::Refuse(Refusal::NodeLocal)
    );
}

#[test]
fn rules_of_well_known_methods() {
    assert_eq!(rule("auth.login").route, Route::Login);
    assert_eq!(rule("api.getVersion").route, Route::Plain);
    assert_eq!(
        rule("system.listSystems").route,
        Route::Merge(Merge::Concat)
    );
    assert_eq!(rule("system.getDetails").route, Route::System { arg: 0 });
    assert_eq!(
        rule("schedule.cancelActions").route.class(),
        RuleClass::Routed
    );
    assert_eq!(rule("channel.software.create").route, Route::CommonWrite);
    assert_eq!(
        rule("channel.software.getDetails").route.class(),
        RuleClass::CommonSame
    );
    assert!(matches!(
        rule("systemgroup.getDetails").route,
        Route::Merge(Merge::Sum { .. })
    ));
    assert_eq!(
        rule("sync.master.create").route,
        Route::Refuse(Refusal::NodeLocal)
    );
    assert_eq!(rule("saltkey.accept").route, Route::EveryNode(Need::One));
    assert_eq!(
        rule("registration.register").route.class(),
        RuleClass::Refused,
        "unknown namespace"
    );
}

#[test]
fn the_overload_of_a_call_is_chosen_by_its_parameters() {
    let key = string(format!("5x{}", "ab".repeat(32)));
    // systemgroup.getDetails by name: members summed over every node.
    let by_name = rule_for_call("systemgroup.getDetails", &[key.clone(), string("web")]);
    assert!(matches!(by_name.route, Route::Merge(Merge::Sum { .. })));
    // By id: the id is each node's own; looked up on one node, answered by name.
    let by_id = rule_for_call("systemgroup.getDetails", &[key.clone(), int(7)]);
    assert_eq!(
        by_id.route,
        Route::ByName {
            lookup: "systemgroup.getDetails",
            fields: &["name"]
        }
    );
    let del = rule_for_call("system.deleteSystem", &[key, int(1000010000)]);
    assert_eq!(del.route.class(), RuleClass::Routed);
}

#[test]
fn derive_routes_by_the_ids_a_signature_carries() {
    let sig = |method, params: &'static [(&'static str, &'static str)], returns, flags| Signature {
        method,
        session: true,
        params,
        returns,
        returns_detail: returns,
        flags,
    };
    let s = sig(
        "system.setFoo",
        &[("sid", "int"), ("foo", "string")],
        "int",
        "",
    );
    assert_eq!(derive(&s).0, Route::System { arg: 0 });
    let s = sig("system.listFoo", &[("sids", "array")], "array", "ro");
    assert_eq!(
        derive(&s).0,
        Route::IdsMerged {
            arg: 0,
            kind: IdKind::System
        }
    );
    let s = sig("system.setFoos", &[("sids", "array")], "int", "");
    assert_eq!(
        derive(&s).0,
        Route::Ids {
            arg: 0,
            kind: IdKind::System
        }
    );
    let s = sig("schedule.archiveFoo", &[("actionId", "int")], "int", "");
    assert_eq!(derive(&s).0, Route::Action { arg: 0 });
    // Common data: reads from one node, writes through the leaders, per-node numbers refused.
    let s = sig(
        "channel.software.listFoo",
        &[("channelLabel", "string")],
        "array",
        "ro",
    );
    assert_eq!(derive(&s).0, Route::FirstOk);
    let s = sig(
        "channel.software.setFoo",
        &[("channelLabel", "string")],
        "int",
        "",
    );
    assert_eq!(derive(&s).0, Route::CommonWrite);
    let s = sig(
        "channel.software.setBar",
        &[("channelId", "int")],
        "int",
        "",
    );
    assert_eq!(derive(&s).0, Route::Refuse(Refusal::PerNodeId("channelId")));
    // Systems without an id: reads merged, changes on every node.
    let s = sig("system.listFoo", &[], "array", "ro");
    assert_eq!(derive(&s).0, Route::Merge(Merge::Concat));
    let s = sig("system.listBar", &[], "array", "ro");
    let s = Signature {
        returns_detail: "array/struct:SystemOverviewSerializer",
        ..s
    };
    assert_eq!(derive(&s), (Route::Merge(Merge::Concat), SYS_ID));
    let s = sig("system.setFoo", &[("label", "string")], "int", "");
    assert_eq!(derive(&s).0, Route::EveryNode(Need::All));
    // A server's own installation, a system certificate, an unknown namespace.
    let s = sig("sync.master.setFoo", &[("label", "string")], "int", "");
    assert_eq!(derive(&s).0, Route::Refuse(Refusal::NodeLocal));
    let s = Signature {
        session: false,
        ..sig("system.foo", &[("clientCert", "string")], "int", "")
    };
    assert_eq!(derive(&s).0, Route::Refuse(Refusal::ClientCertificate));
    let s = sig("nosuch.foo", &[], "int", "");
    assert_eq!(derive(&s).0, Route::Refuse(Refusal::UnknownMethod));
}

/// Prints the number of overloads in each class (docs/GATEWAY.md quotes them) and checks the
/// classes add up to the catalogue.
#[test]
fn rule_classes_are_counted() {
    let mut by_class: BTreeMap<RuleClass, usize> = BTreeMap::new();
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    let mut explicit = 0;
    for sig in CATALOGUE {
        let r = rule_of(sig);
        *by_class.entry(r.route.class()).or_default() += 1;
        if let Route::Refuse(why) = r.route {
            let k = match why {
                Refusal::PerNodeId(_) => "PerNodeId".to_string(),
                other => format!("{other:?}"),
            };
            *refusals.entry(k).or_default() += 1;
        }
        if RULES.iter().any(|x| x.method == sig.method) {
            explicit += 1;
        }
    }
    let total: usize = by_class.values().sum();
    assert_eq!(total, CATALOGUE.len());
    println!("overloads: {total} (explicit rules cover {explicit})");
    for (class, n) in &by_class {
        println!("  {class:?}: {n}");
    }
    for (why, n) in &refusals {
        println!("  refused {why}: {n}");
    }
    assert!(by_class.get(&RuleClass::Refused).copied().unwrap_or(0) < total / 2);
}

/// The rule of every overload, one line each (docs/GATEWAY.md#rule-classes):
/// `cargo test -p gateway --lib print_rules -- --ignored --nocapture`.
#[test]
#[ignore = "prints the per-method table"]
fn print_rules() {
    for sig in CATALOGUE {
        let r = rule_of(sig);
        let params: Vec<&str> = sig.params.iter().map(|p| p.0).collect();
        println!(
            "{}({})\t{:?}\t{:?}\t{}",
            sig.method,
            params.join(","),
            r.route.class(),
            r.route,
            sig.returns_detail
        );
    }
}

/// The merged common objects carrying per-node counts (docs/GATEWAY.md#merged-objects-add-up):
/// each sums them.
#[test]
fn merged_common_objects_sum_their_per_node_counts() {
    let sums = |m: &str| match rule(m).route {
        Route::Merge(Merge::Sum { sum } | Merge::ByKey { sum, .. }) => sum.to_vec(),
        other => panic!("{m} is not merged: {other:?}"),
    };
    for m in [
        "systemgroup.getDetails",
        "systemgroup.listAllGroups",
        "systemgroup.listGroupsWithNoAssociatedAdmins",
        "user.listAssignedSystemGroups",
        "user.listDefaultSystemGroups",
    ] {
        assert_eq!(sums(m), vec!["system_count"], "{m}");
    }
    for m in [
        "channel.listAllChannels",
        "channel.listVendorChannels",
        "channel.listMyChannels",
        "channel.listPopularChannels",
        "channel.listSharedChannels",
        "channel.listRetiredChannels",
        "channel.listManageableChannels",
        "org.trusts.listChannelsProvided",
        "org.trusts.listChannelsConsumed",
    ] {
        assert_eq!(sums(m), vec!["systems"], "{m}");
    }
    // Users are common data: `active_users` is the same on every node, not summed.
    assert_eq!(sums("org.listOrgs"), vec!["systems"]);
    assert_eq!(sums("org.getDetails"), vec!["systems"]);
    assert_eq!(sums("actionchain.listChains"), vec!["entrycount"]);
    assert_eq!(sums("org.trusts.getDetails").len(), 4);
    let r = rule("org.trusts.listSystemsAffected");
    assert_eq!(r.route, Route::Merge(Merge::Concat));
    assert_eq!(r.ids_out, [("systemId", IdKind::System)]);
}

/// The audit over the whole catalogue (docs/GATEWAY.md#merged-objects-add-up): every read
/// answering a common object whose serializer carries a count of systems sums that count; the
/// writes answering one are listed (their answer is one Leader Node's).
#[test]
fn every_read_of_a_common_object_with_a_system_count_sums_it() {
    let counted: &[(&str, &str)] = &[
        ("ManagedServerGroupSerializer", "system_count"),
        ("system_count", "system_count"),
        ("ChannelTreeNodeSerializer", "systems"),
        (":OrgDtoSerializer", "systems"),
        ("packages,systems", "systems"),
        ("systems_migrated_to", "systems_migrated_to"),
        ("entrycount", "entrycount"),
    ];
    let mut writes = Vec::new();
    for sig in CATALOGUE {
        let Some((_, field)) = counted
            .iter()
            .find(|(marker, _)| sig.returns_detail.contains(marker))
        else {
            continue;
        };
        let r = rule_of(sig);
        match r.route {
            Route::Merge(Merge::Sum { sum } | Merge::ByKey { sum, .. }) => {
                assert!(sum.contains(field), "{} does not sum {field}", sig.method);
            }
            // By a node's number: answered as the by-name overload (summed above).
            Route::ByName { .. } => {}
            Route::CommonWrite | Route::Refuse(_) => writes.push(sig.method),
            other => panic!("{} answers {field} from one node: {other:?}", sig.method),
        }
    }
    writes.sort_unstable();
    writes.dedup();
    assert_eq!(
        writes,
        vec![
            "org.create",
            "org.updateName",
            "systemgroup.create",
            "systemgroup.update"
        ]
    );
}
