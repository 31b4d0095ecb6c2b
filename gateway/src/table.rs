//! The fan-out table: how the gateway answers each Uyuni method for the whole cluster.
//! docs/GATEWAY.md shows it as a table; a method not listed here passes through to one
//! healthy node unchanged, so the gateway never covers less than a single server.

use crate::ids::IdKind;

/// How results of several nodes become one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Arrays concatenated, sorted by the (translated) `id` field: systems, actions.
    Concat,
    /// Arrays of common data merged by `key` (the same object on several nodes is shown once)
    /// with the per-node counters in `sum` added up.
    ByKey {
        /// Field identifying the object (label, name, key).
        key: &'static str,
        /// Counters that differ per node (systems subscribed, members).
        sum: &'static [&'static str],
    },
    /// Structs merged (keys of one node never collide with another's: minion ids).
    Struct,
}

/// Where a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `auth.login`: the gateway checks the credentials on a node and mints its own session.
    Login,
    /// `auth.logout`: the gateway ends its own session.
    Logout,
    /// No session key (`api.getVersion`, `api.systemVersion`): any healthy node.
    Plain,
    /// Every node, results merged.
    Merge(Merge),
    /// The node owning the system whose id is parameter `arg` (counted after the session key).
    System {
        /// Index of the system id.
        arg: usize,
    },
    /// The ids in the array at parameter `arg` (or the next one: an overload with a label
    /// first), split by node; every node gets its share.
    Ids {
        /// Index of the array of ids.
        arg: usize,
        /// System or action ids.
        kind: IdKind,
    },
    /// The node that holds the action whose id is parameter `arg`.
    Action {
        /// Index of the action id.
        arg: usize,
    },
    /// A system (parameter `system`) and one of its actions (parameter `action`): the
    /// system's node, which must also be the action's.
    SystemAction {
        /// Index of the system id.
        system: usize,
        /// Index of the action id.
        action: usize,
    },
    /// A change to common data: made on the Leader Node of every zone, which publishes it to
    /// the rest of its zone (the Node Controller's lease).
    CommonWrite,
    /// A lookup of common data by label: one node per zone, the first answer wins.
    FirstOk,
    /// Any healthy node, unchanged.
    Any,
}

/// One method's rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The method.
    pub method: &'static str,
    /// Where it goes.
    pub route: Route,
    /// Fields of the result (in structs, at any depth) holding ids to translate; the field
    /// `*` means every value of a struct.
    pub ids_out: &'static [(&'static str, IdKind)],
}

const SYS_ID: &[(&str, IdKind)] = &[("id", IdKind::System)];
/// The answer is an action id.
const NEW_ACTION: &[(&str, IdKind)] = &[("", IdKind::Action)];
const ACTION_ID: &[(&str, IdKind)] = &[("id", IdKind::Action)];
const NONE: &[(&str, IdKind)] = &[];

macro_rules! rule {
    ($m:literal, $route:expr) => {
        rule!($m, $route, NONE)
    };
    ($m:literal, $route:expr, $ids:expr) => {
        Rule {
            method: $m,
            route: $route,
            ids_out: $ids,
        }
    };
}

const fn by_key(key: &'static str, sum: &'static [&'static str]) -> Route {
    Route::Merge(Merge::ByKey { key, sum })
}

const CONCAT: Route = Route::Merge(Merge::Concat);
const SYSTEM: Route = Route::System { arg: 0 };
const SYSTEMS: Route = Route::Ids {
    arg: 0,
    kind: IdKind::System,
};
const ACTIONS: Route = Route::Ids {
    arg: 0,
    kind: IdKind::Action,
};

/// Every method with a rule of its own.
pub static RULES: &[Rule] = &[
    rule!("auth.login", Route::Login),
    rule!("auth.logout", Route::Logout),
    rule!("api.getVersion", Route::Plain),
    rule!("api.systemVersion", Route::Plain),
    // Systems: listed across every node, addressed on their own node.
    rule!("system.listSystems", CONCAT, SYS_ID),
    rule!("system.listActiveSystems", CONCAT, SYS_ID),
    rule!("system.listInactiveSystems", CONCAT, SYS_ID),
    rule!("system.listOutOfDateSystems", CONCAT, SYS_ID),
    rule!("system.listUserSystems", CONCAT, SYS_ID),
    rule!("system.listSystemsWithEntitlement", CONCAT, SYS_ID),
    rule!("system.getId", CONCAT, SYS_ID),
    rule!(
        "system.getMinionIdMap",
        Route::Merge(Merge::Struct),
        &[("*", IdKind::System)]
    ),
    rule!("system.search.nameAndDescription", CONCAT, SYS_ID),
    rule!("system.search.hostname", CONCAT, SYS_ID),
    rule!("system.search.ip", CONCAT, SYS_ID),
    rule!("system.search.uuid", CONCAT, SYS_ID),
    rule!("system.search.deviceDescription", CONCAT, SYS_ID),
    rule!("system.search.deviceDriver", CONCAT, SYS_ID),
    rule!("system.search.deviceId", CONCAT, SYS_ID),
    rule!("system.search.deviceVendorId", CONCAT, SYS_ID),
    rule!("systemgroup.listSystems", CONCAT, SYS_ID),
    rule!("systemgroup.listSystemsMinimal", CONCAT, SYS_ID),
    rule!("channel.software.listSubscribedSystems", CONCAT, SYS_ID),
    rule!("system.getDetails", SYSTEM, SYS_ID),
    rule!("system.getName", SYSTEM, SYS_ID),
    rule!("system.getNetwork", SYSTEM),
    rule!("system.getNetworkDevices", SYSTEM),
    rule!("system.getCpu", SYSTEM),
    rule!("system.getMemory", SYSTEM),
    rule!("system.getDevices", SYSTEM),
    rule!("system.getDmi", SYSTEM),
    rule!("system.getUuid", SYSTEM),
    rule!("system.getRegistrationDate", SYSTEM),
    rule!("system.getRunningKernel", SYSTEM),
    rule!("system.getEntitlements", SYSTEM),
    rule!("system.getSubscribedBaseChannel", SYSTEM),
    rule!("system.listSubscribedChildChannels", SYSTEM),
    rule!("system.listGroups", SYSTEM),
    rule!("system.listActivationKeys", SYSTEM),
    rule!("system.listPackages", SYSTEM),
    rule!("system.listLatestUpgradablePackages", SYSTEM),
    rule!("system.listRelevantErrata", SYSTEM),
    rule!("system.config.listChannels", SYSTEM),
    rule!("system.setDetails", SYSTEM),
    rule!("system.deleteSystem", SYSTEM),
    rule!("system.scheduleReboot", SYSTEM, NEW_ACTION),
    rule!("system.schedulePackageRefresh", SYSTEM, NEW_ACTION),
    rule!("system.deleteSystems", SYSTEMS),
    rule!("system.scheduleScriptRun", SYSTEMS, NEW_ACTION),
    rule!(
        "systemgroup.addOrRemoveSystems",
        Route::Ids {
            arg: 1,
            kind: IdKind::System
        }
    ),
    // Actions: every node's, addressed on their own node.
    rule!("schedule.listAllActions", CONCAT, ACTION_ID),
    rule!("schedule.listInProgressActions", CONCAT, ACTION_ID),
    rule!("schedule.listCompletedActions", CONCAT, ACTION_ID),
    rule!("schedule.listFailedActions", CONCAT, ACTION_ID),
    rule!("schedule.listArchivedActions", CONCAT, ACTION_ID),
    rule!(
        "schedule.listInProgressSystems",
        Route::Action { arg: 0 },
        &[("server_id", IdKind::System)]
    ),
    rule!(
        "schedule.listCompletedSystems",
        Route::Action { arg: 0 },
        &[("server_id", IdKind::System)]
    ),
    rule!(
        "schedule.listFailedSystems",
        Route::Action { arg: 0 },
        &[("server_id", IdKind::System)]
    ),
    rule!(
        "system.getScriptResults",
        Route::Action { arg: 0 },
        &[("serverId", IdKind::System)]
    ),
    rule!("schedule.cancelActions", ACTIONS),
    // ---- Ids translated both ways (issue 14, part 2; gwids). Scheduling calls answer their
    // node's action id, translated; follow-ups by action id reach the action's node. ----
    rule!("system.schedulePackageInstall", SYSTEMS, NEW_ACTION),
    rule!("system.schedulePackageInstallByNevra", SYSTEMS, NEW_ACTION),
    rule!("system.schedulePackageRemove", SYSTEMS, NEW_ACTION),
    rule!("system.schedulePackageRemoveByNevra", SYSTEMS, NEW_ACTION),
    rule!("system.schedulePackageUpdate", SYSTEMS, NEW_ACTION),
    rule!("system.scheduleApplyErrata", SYSTEMS, NEW_ACTION),
    rule!("system.scheduleApplyHighstate", SYSTEMS, NEW_ACTION),
    rule!("system.scheduleApplyStates", SYSTEMS, NEW_ACTION),
    rule!("system.scheduleHardwareRefresh", SYSTEM, NEW_ACTION),
    rule!("system.scheduleChangeChannels", SYSTEMS, NEW_ACTION),
    rule!("system.listSystemEvents", SYSTEM, ACTION_ID),
    rule!("system.getEventHistory", SYSTEM, ACTION_ID),
    rule!(
        "system.getEventDetails",
        Route::SystemAction {
            system: 0,
            action: 1
        },
        ACTION_ID
    ),
    rule!("system.getCustomValues", SYSTEM),
    rule!("system.setCustomValues", SYSTEM),
    rule!("system.deleteCustomValues", SYSTEM),
    rule!(
        "system.getScriptActionDetails",
        Route::Action { arg: 0 },
        &[("id", IdKind::Action), ("serverId", IdKind::System)]
    ),
    rule!(
        "schedule.failSystemAction",
        Route::SystemAction {
            system: 0,
            action: 1
        }
    ),
    rule!("schedule.archiveActions", ACTIONS),
    rule!("schedule.deleteActions", ACTIONS),
    rule!("schedule.rescheduleActions", ACTIONS),
    rule!("schedule.listAllArchivedActions", CONCAT, ACTION_ID),
    rule!("schedule.listAllCompletedActions", CONCAT, ACTION_ID),
    // ---- end of the id-translation block ----
    // Common data: the same on every node of a zone; zones may differ.
    rule!("channel.listAllChannels", by_key("label", &["systems"])),
    rule!("channel.listSoftwareChannels", by_key("label", &[])),
    rule!("channel.listVendorChannels", by_key("label", &["systems"])),
    rule!("channel.listMyChannels", by_key("label", &["systems"])),
    rule!("activationkey.listActivationKeys", by_key("key", &[])),
    rule!(
        "systemgroup.listAllGroups",
        by_key("name", &["system_count"])
    ),
    rule!("contentmanagement.listProjects", by_key("label", &[])),
    rule!(
        "contentmanagement.listProjectEnvironments",
        by_key("label", &[])
    ),
    rule!("saltkey.acceptedList", by_key("", &[])),
    rule!("saltkey.pendingList", by_key("", &[])),
    rule!("saltkey.rejectedList", by_key("", &[])),
    rule!("saltkey.deniedList", by_key("", &[])),
    rule!("channel.software.getDetails", Route::FirstOk),
    rule!("channel.software.listAllPackages", Route::FirstOk),
    rule!("channel.software.listErrata", Route::FirstOk),
    rule!("activationkey.getDetails", Route::FirstOk),
    rule!("systemgroup.getDetails", Route::FirstOk),
    rule!("contentmanagement.lookupProject", Route::FirstOk),
    rule!("contentmanagement.lookupEnvironment", Route::FirstOk),
    rule!("channel.software.create", Route::CommonWrite),
    rule!("channel.software.delete", Route::CommonWrite),
    rule!("channel.software.setDetails", Route::CommonWrite),
    rule!("activationkey.create", Route::CommonWrite),
    rule!("activationkey.delete", Route::CommonWrite),
    rule!("activationkey.setDetails", Route::CommonWrite),
    rule!("systemgroup.create", Route::CommonWrite),
    rule!("systemgroup.delete", Route::CommonWrite),
    rule!("systemgroup.update", Route::CommonWrite),
    rule!("contentmanagement.createProject", Route::CommonWrite),
    rule!("contentmanagement.updateProject", Route::CommonWrite),
    rule!("contentmanagement.removeProject", Route::CommonWrite),
    rule!("contentmanagement.createEnvironment", Route::CommonWrite),
    rule!("contentmanagement.removeEnvironment", Route::CommonWrite),
];

/// The rule of `method`; methods without one pass through to any healthy node.
pub fn rule(method: &str) -> Rule {
    RULES
        .iter()
        .find(|r| r.method == method)
        .copied()
        .unwrap_or(Rule {
            method: "",
            route: Route::Any,
            ids_out: NONE,
        })
}

/// Whether the method takes no session key (it is called before login).
pub fn sessionless(method: &str) -> bool {
    matches!(rule(method).route, Route::Login | Route::Plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_one_rule() {
        let mut names: Vec<&str> = RULES.iter().map(|r| r.method).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a method is listed twice");
    }

    #[test]
    fn unknown_methods_pass_through() {
        assert_eq!(rule("kickstart.listKickstarts").route, Route::Any);
        assert_eq!(rule("system.getDetails").route, Route::System { arg: 0 });
        assert!(sessionless("api.getVersion") && !sessionless("system.listSystems"));
    }
}
