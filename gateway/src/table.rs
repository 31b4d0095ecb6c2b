//! The fan-out table: how the gateway answers each Uyuni method for the whole cluster. Every
//! overload of Uyuni's catalogue ([`uyuni_api::catalogue`]) has a rule: a few are listed here
//! ([`RULES`], explicit overrides), the rest are derived by [`derive`] (a pure function of the
//! signature, unit-tested) from the parameters they carry and the namespace's kind of data
//! ([`namespace_kind`]). A method outside the catalogue is refused with a clear fault, never
//! sent to a random node. docs/GATEWAY.md describes the classes; `rule_classes_are_counted`
//! prints the counts.

use uyuni_api::catalogue::{CATALOGUE, Signature};
use uyuni_api::{Fault, Value};

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
    /// One object every node holds (common data): the first node's, with the per-node
    /// counters in `sum` added up (a group's `system_count`).
    Sum {
        /// Counters that differ per node.
        sum: &'static [&'static str],
    },
    /// Groups of systems by `key` (`system.listDuplicatesByIp`: `ip` → `systems`): one group
    /// per key, its `items` arrays of every node concatenated.
    Group {
        /// Field naming the group.
        key: &'static str,
        /// The array of the group's systems.
        items: &'static str,
    },
}

/// Why a method is refused in a cluster; each reason has its own fault code
/// (docs/GATEWAY.md#refused-in-a-cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It acts on one Uyuni server's own installation (its ISS peers, PAYG connections,
    /// subscription matcher, monitoring status, image builds, ...): there is no cluster-wide
    /// meaning; it is done on a node directly (the admin door names the nodes).
    NodeLocal,
    /// A call authenticated by a system's certificate (`systemid` file) or minion password:
    /// only the node that registered the system knows it.
    ClientCertificate,
    /// It names an object by a number each node assigns on its own (parameter given), and the
    /// call would reach several nodes: the number means different objects there. Its
    /// by-name overload, or the system-routed call, does work.
    PerNodeId(&'static str),
    /// The target is inside a struct or given by type (`entity_type`/`entity_id`), which the
    /// gateway does not route.
    UnroutableTarget,
    /// Not in the catalogue of Uyuni's API.
    UnknownMethod,
}

impl Refusal {
    /// The fault code: Uyuni's `-1` for an unknown method (as a single server answers), and
    /// 2801-2804 for the cluster's refusals (docs/GATEWAY.md).
    pub const fn code(self) -> i32 {
        match self {
            Self::UnknownMethod => -1,
            Self::NodeLocal => 2801,
            Self::ClientCertificate => 2802,
            Self::PerNodeId(_) => 2803,
            Self::UnroutableTarget => 2804,
        }
    }

    /// The fault a caller gets for `method`.
    pub fn fault(self, method: &str) -> Fault {
        let text = match self {
            // Uyuni's own words first (`Could not find method: <name> in class: ...`), then
            // the reason.
            Self::UnknownMethod => {
                let (ns, name) = method.rsplit_once('.').unwrap_or(("", method));
                format!(
                    "Could not find method: {name} in namespace {ns}: it is not in the \
                     cluster's catalogue of Uyuni's API (uyuni-api/catalogue)"
                )
            }
            Self::NodeLocal => format!(
                "{method} is refused in a cluster: it acts on one Uyuni server's own \
                 installation; call it on that node directly"
            ),
            Self::ClientCertificate => format!(
                "{method} is refused in a cluster: it is authenticated by a system's \
                 certificate, which only the node that registered the system knows; call that \
                 node"
            ),
            Self::PerNodeId(param) => format!(
                "{method} is refused in a cluster: its parameter {param} is a number each node \
                 assigns on its own; use the overload taking a name or label, or a call \
                 addressed to one system"
            ),
            Self::UnroutableTarget => format!(
                "{method} is refused in a cluster: its target is given inside a struct or by \
                 type, which the gateway does not route; call the node that holds it"
            ),
        };
        Fault::xmlrpc(self.code(), text)
    }
}

/// How many nodes must take a call made on every node ([`Route::EveryNode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Every node: a node's fault fails the call (naming the node), a node down too.
    All,
    /// The node that holds the object (a minion's key): one success is the answer, the
    /// others' "not here" faults are expected.
    One,
}

/// Where a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `auth.login`: the gateway checks the credentials on a node and mints its own session.
    Login,
    /// `auth.logout`: the gateway ends its own session.
    Logout,
    /// No session key (`api.getVersion`, `api.systemVersion`, ...): any healthy node (the
    /// nodes run the same Uyuni release: the answer is the same on every node).
    Plain,
    /// Every node, results merged.
    Merge(Merge),
    /// Common data that differs between zones (which channels ship an erratum): one healthy
    /// node per zone, the zones' answers merged (a union by key), as one server holding every
    /// zone's content would answer. A zone that lacks the object ([`absent_faults`]) adds
    /// nothing.
    Zones(Merge),
    /// The node owning the system whose id is parameter `arg` (counted after the session key).
    System {
        /// Index of the system id.
        arg: usize,
    },
    /// The ids in the array at parameter `arg` (or the next one: an overload with a label
    /// first), split by node; every node gets its share; the first node's answer.
    Ids {
        /// Index of the array of ids.
        arg: usize,
        /// System or action ids.
        kind: IdKind,
    },
    /// Like [`Route::Ids`], the nodes' answers (arrays) concatenated: reads about several
    /// systems, and schedules answering with one action id per system.
    IdsMerged {
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
    /// Several system ids in separate parameters (`comparePackages(sid1, sid2)`): every
    /// gateway system id of the call translated, to the one node they all belong to; ids of
    /// several nodes are refused before any node is asked.
    SameNode,
    /// A change to common data: made on the Leader Node of every zone, which publishes it to
    /// the rest of its zone (the Node Controller's lease).
    CommonWrite,
    /// Cluster-wide administration: the same call on every node (each acts on its own
    /// server); the first node's answer.
    EveryNode(Need),
    /// A lookup of common data by label: one node per zone, the first answer wins (the same
    /// on every node of a zone).
    FirstOk,
    /// Common data the same on every node: any healthy node. Only for methods declared so.
    Any,
    /// A read naming common data by a number each node assigns (`org.getDetails(orgId)`,
    /// `system.listSystemsWithPackage(pid)`, numbers the gateway's own answers carry): one node
    /// (as [`Route::FirstOk`]) reads the object with `lookup(number)`, and the call is
    /// answered as its by-name overload, the answer's `fields` as parameters, under that
    /// overload's rule.
    ByName {
        /// The lookup by number.
        lookup: &'static str,
        /// The fields of its answer that are the by-name overload's parameters.
        fields: &'static [&'static str],
    },
    /// Refused in a cluster, with the reason's fault.
    Refuse(Refusal),
}

/// The rule classes of docs/GATEWAY.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleClass {
    /// Login, logout, calls without a session key.
    Session,
    /// Merged read over every node.
    Merged,
    /// Routed by the node-local ids it carries (systems, actions).
    Routed,
    /// Common write through the Leader Node of every zone.
    CommonWrite,
    /// Cluster-wide administration on every node.
    ClusterAdmin,
    /// Common data the same on every node (of a zone): one node answers.
    CommonSame,
    /// Refused in a cluster with a fault saying why.
    Refused,
}

impl Route {
    /// The class of the route.
    pub const fn class(&self) -> RuleClass {
        match self {
            Self::Login | Self::Logout | Self::Plain => RuleClass::Session,
            Self::Merge(_) | Self::Zones(_) | Self::ByName { .. } => RuleClass::Merged,
            Self::System { .. }
            | Self::Ids { .. }
            | Self::IdsMerged { .. }
            | Self::Action { .. }
            | Self::SystemAction { .. }
            | Self::SameNode => RuleClass::Routed,
            Self::CommonWrite => RuleClass::CommonWrite,
            Self::EveryNode(_) => RuleClass::ClusterAdmin,
            Self::FirstOk | Self::Any => RuleClass::CommonSame,
            Self::Refuse(_) => RuleClass::Refused,
        }
    }
}

/// One method's rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The method.
    pub method: &'static str,
    /// Where it goes.
    pub route: Route,
    /// Fields of the result (in structs, at any depth) holding ids to translate; the field
    /// `*` means every value of a struct, `""` the answer itself (or each element of it).
    pub ids_out: &'static [(&'static str, IdKind)],
}

const SYS_ID: &[(&str, IdKind)] = &[("id", IdKind::System)];
/// The answer is an action id (or an array of them).
const NEW_ACTION: &[(&str, IdKind)] = &[("", IdKind::Action)];
/// The answer is a system id (or an array of them).
const SYSTEM_IDS: &[(&str, IdKind)] = &[("", IdKind::System)];
const ACTION_ID: &[(&str, IdKind)] = &[("id", IdKind::Action)];
/// The systems of a group of duplicates (`NetworkDtoSerializer`).
const DUP_IDS: &[(&str, IdKind)] = &[("systemId", IdKind::System)];
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
const fn refuse(r: Refusal) -> Route {
    Route::Refuse(r)
}
/// Systems split by node, the nodes' answers concatenated (one action id per node's share).
const SYSTEMS_MERGED: Route = Route::IdsMerged {
    arg: 0,
    kind: IdKind::System,
};
const ACTIONS: Route = Route::Ids {
    arg: 0,
    kind: IdKind::Action,
};

/// Explicit rules: where the derivation would be wrong or is not precise enough (merge keys,
/// counters to sum, id fields of answers). They apply to every overload of the method, but
/// [`OVERLOAD_RULES`] come first.
pub static RULES: &[Rule] = &[
    rule!("auth.login", Route::Login),
    rule!("auth.logout", Route::Logout),
    rule!("api.getVersion", Route::Plain),
    rule!("api.systemVersion", Route::Plain),
    rule!("api.productName", Route::Plain),
    // Systems: listed across every node, addressed on their own node.
    rule!("system.listSystems", CONCAT, SYS_ID),
    rule!("system.listActiveSystems", CONCAT, SYS_ID),
    rule!("system.listInactiveSystems", CONCAT, SYS_ID),
    rule!("system.listOutOfDateSystems", CONCAT, SYS_ID),
    rule!("system.listUserSystems", CONCAT, SYS_ID),
    rule!("system.listSystemsWithEntitlement", CONCAT, SYS_ID),
    rule!("system.getId", CONCAT, SYS_ID),
    // Duplicates (spacecmd's system_listduplicates: `ip`/`mac`/`hostname`, then each system's
    // `systemId`, `systemName`, `last_checkin`): one group per key, every node's systems.
    rule!(
        "system.listDuplicatesByIp",
        Route::Merge(Merge::Group {
            key: "ip",
            items: "systems"
        }),
        DUP_IDS
    ),
    rule!(
        "system.listDuplicatesByMac",
        Route::Merge(Merge::Group {
            key: "mac",
            items: "systems"
        }),
        DUP_IDS
    ),
    rule!(
        "system.listDuplicatesByHostname",
        Route::Merge(Merge::Group {
            key: "hostname",
            items: "systems"
        }),
        DUP_IDS
    ),
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
    rule!(
        "system.getSystemCurrencyScores",
        CONCAT,
        &[("sid", IdKind::System)]
    ),
    rule!("systemgroup.listSystems", CONCAT, SYS_ID),
    rule!("systemgroup.listSystemsMinimal", CONCAT, SYS_ID),
    rule!("systemgroup.listActiveSystemsInGroup", CONCAT, SYSTEM_IDS),
    rule!("systemgroup.listInactiveSystemsInGroup", CONCAT, SYSTEM_IDS),
    rule!("channel.software.listSubscribedSystems", CONCAT, SYS_ID),
    rule!("activationkey.listActivatedSystems", CONCAT, SYS_ID),
    rule!("errata.listAffectedSystems", CONCAT, SYS_ID),
    // Content differs per zone: every zone's channels (or errata) that hold it, once by key.
    rule!(
        "errata.applicableToChannels",
        Route::Zones(Merge::ByKey {
            key: "label",
            sum: &[]
        })
    ),
    rule!(
        "packages.listProvidingChannels",
        Route::Zones(Merge::ByKey {
            key: "label",
            sum: &[]
        })
    ),
    rule!(
        "packages.listProvidingErrata",
        Route::Zones(Merge::ByKey {
            key: "advisory",
            sum: &[]
        })
    ),
    rule!("configchannel.listSubscribedSystems", CONCAT, SYS_ID),
    rule!(
        "audit.listSystemsByPatchStatus",
        CONCAT,
        &[("system_id", IdKind::System)]
    ),
    rule!("maintenance.listSystemsWithSchedule", CONCAT, SYSTEM_IDS),
    rule!("proxy.listProxies", CONCAT, SYS_ID),
    rule!("system.getDetails", SYSTEM, SYS_ID),
    rule!("system.getName", SYSTEM, SYS_ID),
    rule!("system.scheduleReboot", SYSTEM, NEW_ACTION),
    rule!("system.schedulePackageRefresh", SYSTEM, NEW_ACTION),
    rule!("system.deleteSystems", SYSTEMS),
    // Two systems in one call: both must be on one node (gwids).
    rule!("system.comparePackages", Route::SameNode),
    rule!(
        "system.scheduleSyncPackagesWithSystem",
        Route::SameNode,
        NEW_ACTION
    ),
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
    rule!("schedule.listAllArchivedActions", CONCAT, ACTION_ID),
    rule!("schedule.listAllCompletedActions", CONCAT, ACTION_ID),
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
    rule!("system.schedulePackageInstall", SYSTEMS_MERGED, NEW_ACTION),
    rule!(
        "system.schedulePackageInstallByNevra",
        SYSTEMS_MERGED,
        NEW_ACTION
    ),
    rule!("system.schedulePackageRemove", SYSTEMS_MERGED, NEW_ACTION),
    rule!(
        "system.schedulePackageRemoveByNevra",
        SYSTEMS_MERGED,
        NEW_ACTION
    ),
    rule!("system.schedulePackageUpdate", SYSTEMS_MERGED, NEW_ACTION),
    rule!("system.scheduleApplyErrata", SYSTEMS_MERGED, NEW_ACTION),
    rule!("system.scheduleApplyHighstate", SYSTEMS_MERGED, NEW_ACTION),
    rule!("system.scheduleApplyStates", SYSTEMS_MERGED, NEW_ACTION),
    rule!("system.scheduleHardwareRefresh", SYSTEM, NEW_ACTION),
    rule!("system.scheduleChangeChannels", SYSTEMS_MERGED, NEW_ACTION),
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
    // ---- end of the id-translation block ----
    rule!("actionchain.listChainActions", CONCAT, ACTION_ID),
    // Common data: the same on every node of a zone; zones may differ. Per-node counters of
    // merged common objects are summed (the audit of docs/GATEWAY.md#merged-objects-add-up).
    rule!("channel.listAllChannels", by_key("label", &["systems"])),
    rule!("channel.listSoftwareChannels", by_key("label", &[])),
    rule!("channel.listVendorChannels", by_key("label", &["systems"])),
    rule!("channel.listMyChannels", by_key("label", &["systems"])),
    rule!("channel.listPopularChannels", by_key("label", &["systems"])),
    rule!("channel.listSharedChannels", by_key("label", &["systems"])),
    rule!("channel.listRetiredChannels", by_key("label", &["systems"])),
    rule!(
        "channel.listManageableChannels",
        by_key("label", &["systems"])
    ),
    rule!("activationkey.listActivationKeys", by_key("key", &[])),
    rule!(
        "systemgroup.listAllGroups",
        by_key("name", &["system_count"])
    ),
    rule!(
        "systemgroup.listGroupsWithNoAssociatedAdmins",
        by_key("name", &["system_count"])
    ),
    rule!(
        "systemgroup.getDetails",
        Route::Merge(Merge::Sum {
            sum: &["system_count"]
        })
    ),
    rule!(
        "user.listAssignedSystemGroups",
        by_key("name", &["system_count"])
    ),
    rule!(
        "user.listDefaultSystemGroups",
        by_key("name", &["system_count"])
    ),
    // Users are common data (every node has them all): `active_users` is one node's count,
    // not a sum; systems are each node's.
    rule!("org.listOrgs", by_key("name", &["systems"])),
    rule!(
        "org.getDetails",
        Route::Merge(Merge::Sum { sum: &["systems"] })
    ),
    // Organisation trusts: the systems moved between two organisations are each node's.
    rule!(
        "org.trusts.listSystemsAffected",
        CONCAT,
        &[("systemId", IdKind::System)]
    ),
    rule!(
        "org.trusts.listChannelsProvided",
        by_key("channel_name", &["systems"])
    ),
    rule!(
        "org.trusts.listChannelsConsumed",
        by_key("channel_name", &["systems"])
    ),
    rule!(
        "org.trusts.getDetails",
        Route::Merge(Merge::Sum {
            sum: &[
                "systems_migrated_to",
                "systems_migrated_from",
                "systems_transferred_to",
                "systems_transferred_from"
            ]
        })
    ),
    rule!("actionchain.listChains", by_key("label", &["entrycount"])),
    rule!("contentmanagement.listProjects", by_key("label", &[])),
    rule!(
        "contentmanagement.listProjectEnvironments",
        by_key("label", &[])
    ),
    rule!("saltkey.acceptedList", by_key("", &[])),
    rule!("saltkey.pendingList", by_key("", &[])),
    rule!("saltkey.rejectedList", by_key("", &[])),
    rule!("saltkey.deniedList", by_key("", &[])),
    rule!("saltkey.accept", Route::EveryNode(Need::One)),
    rule!("saltkey.reject", Route::EveryNode(Need::One)),
    rule!("saltkey.delete", Route::EveryNode(Need::One)),
    rule!("channel.software.getDetails", Route::FirstOk),
    rule!("channel.software.listAllPackages", Route::FirstOk),
    rule!("channel.software.listErrata", Route::FirstOk),
    rule!("activationkey.getDetails", Route::FirstOk),
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
    // Cluster-wide administration: every node does it for its own server.
    rule!(
        "channel.software.regenerateNeededCache",
        Route::EveryNode(Need::All)
    ),
    rule!(
        "channel.software.regenerateYumCache",
        Route::EveryNode(Need::All)
    ),
    rule!(
        "configchannel.deployAllSystems",
        Route::EveryNode(Need::All)
    ),
    rule!("admin.monitoring.enable", Route::EveryNode(Need::All)),
    rule!("admin.monitoring.disable", Route::EveryNode(Need::All)),
    rule!(
        "sync.content.synchronizeChannels",
        Route::EveryNode(Need::All)
    ),
    rule!(
        "sync.content.synchronizeChannelFamilies",
        Route::EveryNode(Need::All)
    ),
    rule!(
        "sync.content.synchronizeProducts",
        Route::EveryNode(Need::All)
    ),
    rule!(
        "sync.content.synchronizeProductChannels",
        Route::EveryNode(Need::All)
    ),
    rule!(
        "sync.content.synchronizeUpgradePaths",
        Route::EveryNode(Need::All)
    ),
    rule!(
        "sync.content.synchronizeSubscriptions",
        Route::EveryNode(Need::All)
    ),
    rule!("sync.content.addChannel", Route::EveryNode(Need::All)),
    rule!("sync.content.syncChannel", Route::EveryNode(Need::All)),
    rule!("actionchain.createChain", Route::EveryNode(Need::All)),
    rule!("actionchain.deleteChain", Route::EveryNode(Need::All)),
    rule!("actionchain.renameChain", Route::EveryNode(Need::All)),
    rule!("actionchain.scheduleChain", Route::EveryNode(Need::All)),
    rule!("actionchain.removeAction", Route::Action { arg: 1 }),
    // A recurring action's id is its node's own (and creating or listing them is refused as
    // unroutable): no gateway id names one.
    rule!(
        "recurringaction.lookupById",
        refuse(Refusal::PerNodeId("actionId"))
    ),
    rule!(
        "recurringaction.delete",
        refuse(Refusal::PerNodeId("actionId"))
    ),
    rule!("recurring.lookupById", refuse(Refusal::PerNodeId("id"))),
    // Refused: node-local where the namespace is not (the namespace's kind says the rest).
    rule!("admin.monitoring.getStatus", refuse(Refusal::NodeLocal)),
    rule!("proxy.containerConfig", refuse(Refusal::NodeLocal)),
    rule!("system.createSystemRecord", refuse(Refusal::NodeLocal)),
    rule!(
        "systemgroup.scheduleApplyErrataToActive",
        refuse(Refusal::PerNodeId("errataIds"))
    ),
    rule!(
        "ansible.createAnsiblePath",
        refuse(Refusal::UnroutableTarget)
    ),
    rule!("recurring.listByEntity", refuse(Refusal::UnroutableTarget)),
    rule!(
        "recurringaction.listByEntity",
        refuse(Refusal::UnroutableTarget)
    ),
    rule!("recurringaction.create", refuse(Refusal::UnroutableTarget)),
    rule!("recurringaction.update", refuse(Refusal::UnroutableTarget)),
    rule!(
        "recurring.highstate.create",
        refuse(Refusal::UnroutableTarget)
    ),
    rule!(
        "recurring.highstate.update",
        refuse(Refusal::UnroutableTarget)
    ),
    rule!("recurring.custom.create", refuse(Refusal::UnroutableTarget)),
    rule!("recurring.custom.update", refuse(Refusal::UnroutableTarget)),
    rule!("recurring.custom.listAvailable", Route::FirstOk),
    rule!("system.getSystemCurrencyMultipliers", Route::FirstOk),
    rule!("audit.listImagesByPatchStatus", refuse(Refusal::NodeLocal)),
    rule!("proxy.listProxyClients", SYSTEM, SYSTEM_IDS),
    rule!("auth.isSessionKeyValid", refuse(Refusal::NodeLocal)),
    rule!("auth.checkAuthToken", refuse(Refusal::NodeLocal)),
    rule!("sync.master.hasMaster", refuse(Refusal::NodeLocal)),
    rule!("org.migrateSystems", refuse(Refusal::PerNodeId("toOrgId"))),
    rule!(
        "system.provisioning.snapshot.deleteSnapshots",
        Route::EveryNode(Need::All)
    ),
    rule!(
        "system.provisioning.snapshot.rollbackToTag",
        Route::EveryNode(Need::All)
    ),
];

/// Rules of one overload (the method and its first parameter's name), before [`RULES`].
pub static OVERLOAD_RULES: &[(&str, &str, Route)] = &[
    // By a per-node number: the by-name overload is the cluster's.
    (
        "systemgroup.getDetails",
        "systemGroupId",
        Route::ByName {
            lookup: "systemgroup.getDetails",
            fields: &["name"],
        },
    ),
    // spacecmd's package_details / package_listinstalledsystems: the package's name,
    // version and release (content is synchronised: the same on every node).
    (
        "system.listSystemsWithPackage",
        "pid",
        Route::ByName {
            lookup: "packages.getDetails",
            fields: &["name", "version", "release"],
        },
    ),
    (
        "system.provisioning.snapshot.deleteSnapshots",
        "sid",
        Route::System { arg: 0 },
    ),
    (
        "system.provisioning.snapshot.rollbackToTag",
        "serverId",
        Route::System { arg: 0 },
    ),
    (
        "system.provisioning.powermanagement.getDetails",
        "nameIn",
        refuse(Refusal::NodeLocal),
    ),
    (
        "system.provisioning.powermanagement.setDetails",
        "nameIn",
        refuse(Refusal::NodeLocal),
    ),
    (
        "system.provisioning.powermanagement.powerOn",
        "nameIn",
        refuse(Refusal::NodeLocal),
    ),
    (
        "system.provisioning.powermanagement.powerOff",
        "nameIn",
        refuse(Refusal::NodeLocal),
    ),
    (
        "system.provisioning.powermanagement.reboot",
        "nameIn",
        refuse(Refusal::NodeLocal),
    ),
    (
        "system.provisioning.powermanagement.getStatus",
        "nameIn",
        refuse(Refusal::NodeLocal),
    ),
    // spacecmd's user_details: `org.getDetails(details['org_id'])`.
    (
        "org.getDetails",
        "orgId",
        Route::ByName {
            lookup: "org.getDetails",
            fields: &["name"],
        },
    ),
];

/// The kind of data a namespace holds: what decides its rules when no parameter routes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsKind {
    /// Systems and their actions, each on one node: reads listing them are merged, the rest
    /// is routed by the ids it carries.
    Systems,
    /// Common data (channels, keys, groups, users, orgs, ...), the same on every node of a
    /// zone: reads from one node per zone, writes through the Leader Node.
    Common,
    /// A server's own installation: refused.
    NodeLocal,
}

/// The kind of data of each namespace of the catalogue, stated one by one (the coverage test
/// fails on a namespace missing here).
pub fn namespace_kind(ns: &str) -> Option<NsKind> {
    use NsKind::{Common, NodeLocal, Systems};
    Some(match ns {
        "system"
        | "system.config"
        | "system.search"
        | "system.monitoring"
        | "system.scap"
        | "system.provisioning.powermanagement"
        | "system.provisioning.snapshot"
        | "schedule"
        | "actionchain"
        | "ansible"
        | "audit"
        | "saltkey"
        | "proxy" => Systems,
        "api"
        | "channel"
        | "channel.access"
        | "channel.org"
        | "channel.software"
        | "activationkey"
        | "configchannel"
        | "contentmanagement"
        | "distchannel"
        | "errata"
        | "formula"
        | "kickstart"
        | "kickstart.filepreservation"
        | "kickstart.keys"
        | "kickstart.profile"
        | "kickstart.profile.keys"
        | "kickstart.profile.software"
        | "kickstart.profile.system"
        | "kickstart.snippet"
        | "kickstart.tree"
        | "maintenance"
        | "org"
        | "org.trusts"
        | "packages"
        | "packages.provider"
        | "packages.search"
        | "preferences.locale"
        | "system.custominfo"
        | "systemgroup"
        | "user"
        | "user.external"
        | "admin.configuration"
        | "recurring"
        | "recurringaction"
        | "recurring.highstate"
        | "recurring.custom"
        | "auth"
        | "sync.content" => Common,
        "admin.monitoring"
        | "admin.payg"
        | "image"
        | "image.delta"
        | "image.profile"
        | "image.store"
        | "subscriptionmatching.pinnedsubscription"
        | "sync.master"
        | "sync.slave"
        | "taskomatic"
        | "taskomatic.org"
        | "virtualhostmanager" => NodeLocal,
        _ => return None,
    })
}

/// Parameters naming one system (an `int`).
const SYSTEM_PARAMS: &[&str] = &[
    "sid",
    "serverId",
    "systemId",
    "sid1",
    "hostId",
    "targetServerId",
    "controlNodeId",
    "proxyId",
    "buildHostId",
];
/// Parameters naming several systems (an `array`).
const SYSTEM_ARRAYS: &[&str] = &["sids", "serverIds", "systemIds", "systemIDs"];
/// Parameters naming an action.
const ACTION_PARAMS: &[&str] = &["actionId"];
const ACTION_ARRAYS: &[&str] = &["actionIds"];
/// Parameters naming an object of common data by a number each node assigns on its own
/// (writes with one are refused; see [`Refusal::PerNodeId`]). Snapshots, scans, Ansible paths
/// and CLM filters are numbered per node as well.
const PER_NODE_IDS: &[&str] = &[
    "channelId",
    "id",
    "cid",
    "configChannelId",
    "systemGroupId",
    "groupId",
    "sgid",
    "serverGroupIds",
    "errataIds",
    "errataIdsIn",
    "packageIds",
    "pid",
    "psid",
    "orgId",
    "toOrgId",
    "trustOrgId",
    "profileId",
    "snapId",
    "snapshotId",
    "xid",
    "pathId",
    "filterId",
    "preScripts",
    "nid",
    "imageId",
    "entityId",
];
/// Answers listing systems (serializers and field sets of the catalogue's return column).
const SYSTEM_LISTS: &[&str] = &[
    "SystemOverviewSerializer",
    "ServerSerializer",
    "ShortSystemInfoSerializer",
    "VirtualSystemOverviewSerializer",
    "SystemSearchResultSerializer",
    "struct{id,name,extra_pkg_count}",
    "struct{id,name}",
    "{ip,systems}",
    "{mac,systems}",
    "{hostname,systems}",
];
/// Answers listing actions.
const ACTION_LISTS: &[&str] = &["ScheduleActionSerializer"];

/// The rule of one overload, derived from its signature alone (pure): the parameters that
/// carry node-local ids route it; otherwise the namespace's kind and whether it only reads
/// decide. Every signature gets one.
pub fn derive(sig: &Signature) -> (Route, &'static [(&'static str, IdKind)]) {
    let (ns, name) = sig.method.rsplit_once('.').unwrap_or(("", sig.method));
    if !sig.session {
        let by_cert = sig.params.first().is_some_and(|p| {
            p.0.eq_ignore_ascii_case("clientcert") || p.0 == "minionId" || p.0 == "systemid"
        });
        return (
            if by_cert {
                Route::Refuse(Refusal::ClientCertificate)
            } else {
                Route::Plain
            },
            NONE,
        );
    }
    let Some(kind) = namespace_kind(ns) else {
        return (Route::Refuse(Refusal::UnknownMethod), NONE);
    };
    if kind == NsKind::NodeLocal && !sig.params.iter().any(|p| SYSTEM_PARAMS.contains(&p.0)) {
        return (Route::Refuse(Refusal::NodeLocal), NONE);
    }
    let schedules = name.starts_with("schedule") || sig.returns_detail.contains("actionId");
    let new_ids = |r: Route| -> (Route, &'static [(&'static str, IdKind)]) {
        let ids = if schedules && matches!(sig.returns, "int" | "array") {
            NEW_ACTION
        } else if SYSTEM_LISTS.iter().any(|s| sig.returns_detail.contains(s)) {
            SYS_ID
        } else {
            NONE
        };
        (r, ids)
    };
    let reads = uyuni_api::catalogue::read_only(sig.method) || sig.flags.contains("ro");
    for (i, (p, ty)) in sig.params.iter().enumerate() {
        match *ty {
            "int" if SYSTEM_PARAMS.contains(p) => return new_ids(Route::System { arg: i }),
            "int" if ACTION_PARAMS.contains(p) => return new_ids(Route::Action { arg: i }),
            "array" if SYSTEM_ARRAYS.contains(p) => {
                let merged = reads || sig.returns == "array";
                let kind = IdKind::System;
                return new_ids(if merged {
                    Route::IdsMerged { arg: i, kind }
                } else {
                    Route::Ids { arg: i, kind }
                });
            }
            "array" if ACTION_ARRAYS.contains(p) => {
                return new_ids(Route::Ids {
                    arg: i,
                    kind: IdKind::Action,
                });
            }
            _ => {}
        }
    }
    let per_node = sig.params.iter().find(|p| PER_NODE_IDS.contains(&p.0));
    let lists_systems = SYSTEM_LISTS.iter().any(|s| sig.returns_detail.contains(s));
    let lists_actions = ACTION_LISTS.iter().any(|s| sig.returns_detail.contains(s));
    match (kind, per_node) {
        // One object of a node's own (a snapshot, a scan, a profile) or a change by a
        // number the nodes do not share: no node can be chosen.
        (NsKind::Systems, Some((p, _))) => (Route::Refuse(Refusal::PerNodeId(p)), NONE),
        (NsKind::Common, Some((p, _))) if !reads => (Route::Refuse(Refusal::PerNodeId(p)), NONE),
        _ => by_kind(kind, reads, lists_systems, lists_actions, sig.returns),
    }
}

fn by_kind(
    kind: NsKind,
    reads: bool,
    lists_systems: bool,
    lists_actions: bool,
    returns: &str,
) -> (Route, &'static [(&'static str, IdKind)]) {
    match kind {
        _ if reads && lists_systems && returns == "array" => (Route::Merge(Merge::Concat), SYS_ID),
        _ if reads && lists_actions && returns == "array" => {
            (Route::Merge(Merge::Concat), ACTION_ID)
        }
        NsKind::Systems if reads => (Route::Merge(Merge::Concat), NONE),
        // A change to systems without a system id: every node does it for its own systems.
        NsKind::Systems => (Route::EveryNode(Need::All), NONE),
        NsKind::Common if reads => (Route::FirstOk, NONE),
        NsKind::Common => (Route::CommonWrite, NONE),
        NsKind::NodeLocal => (Route::Refuse(Refusal::NodeLocal), NONE),
    }
}

/// The rule of one overload: its overload rule, the method's explicit rule, or the derived
/// one (in that order). A call by system certificate is refused whatever the method.
pub fn rule_of(sig: &'static Signature) -> Rule {
    let (derived, derived_ids) = derive(sig);
    if derived == Route::Refuse(Refusal::ClientCertificate) {
        return Rule {
            method: sig.method,
            route: derived,
            ids_out: NONE,
        };
    }
    let first = sig.params.first().map_or("", |p| p.0);
    if let Some((_, _, route)) = OVERLOAD_RULES
        .iter()
        .find(|(m, p, _)| *m == sig.method && *p == first)
    {
        return Rule {
            method: sig.method,
            route: *route,
            ids_out: NONE,
        };
    }
    if let Some(r) = RULES.iter().find(|r| r.method == sig.method) {
        return *r;
    }
    Rule {
        method: sig.method,
        route: derived,
        ids_out: derived_ids,
    }
}

/// The rule of `method` as most calls use it (its session overload addressed by name; see
/// [`uyuni_api::catalogue::find`]); an unknown method's rule refuses it.
pub fn rule(method: &str) -> Rule {
    let best = (0..=24).find_map(|n| uyuni_api::catalogue::find(method, n));
    match best {
        Some(sig) => rule_of(sig),
        None => unknown(method),
    }
}

/// The rule of one call: the overload its parameters (`params`, the session key included when
/// the call has one) match by count and types, else [`rule`].
pub fn rule_for_call(method: &str, params: &[Value]) -> Rule {
    let keyed =
        matches!(params.first(), Some(Value::String(k)) if crate::sessions::looks_like_key(k));
    let args = if keyed { &params[1..] } else { params };
    rule_for_args(method, args, keyed)
}

/// Like [`rule_for_call`] for the parameters after the session key (`session`: the call had
/// one).
pub fn rule_for_args(method: &str, args: &[Value], session: bool) -> Rule {
    let fits = |s: &&'static Signature| {
        s.session == session
            && s.params.len() == args.len()
            && s.params.iter().zip(args).all(|(p, v)| matches_type(p.1, v))
    };
    match CATALOGUE.iter().filter(|s| s.method == method).find(fits) {
        Some(sig) => rule_of(sig),
        None => rule(method),
    }
}

fn matches_type(ty: &str, v: &Value) -> bool {
    match (ty, v) {
        ("int", v) => uyuni_api::value::as_i64(v).is_some(),
        ("string", Value::String(_)) => true,
        ("array", Value::Array(_)) => true,
        ("struct", Value::Struct(_)) => true,
        ("boolean", Value::Boolean(_)) => true,
        ("string" | "array" | "struct" | "boolean", _) => false,
        _ => true,
    }
}

fn unknown(method: &str) -> Rule {
    // A dynamic namespace forwards any method: node-local, refused as such.
    let route = if uyuni_api::catalogue::dynamic(method) {
        Route::Refuse(Refusal::NodeLocal)
    } else {
        Route::Refuse(Refusal::UnknownMethod)
    };
    Rule {
        method: "",
        route,
        ids_out: NONE,
    }
}

/// Whether the method takes no session key (it is called before login).
pub fn sessionless(method: &str) -> bool {
    matches!(rule(method).route, Route::Login | Route::Plain)
        || uyuni_api::catalogue::overloads(method).all(|s| !s.session)
            && uyuni_api::catalogue::known(method)
}

/// Uyuni's fault code for an object a server does not hold ("no such system", "the errata
/// ... cannot be found", "no such package").
pub const CODE_NO_SUCH: i32 = -208;

/// The faults by which a node of a merged read says it holds **no part** of the answer
/// (docs/GATEWAY.md#partial-answers): the object the call names (an erratum, a package) is
/// content some nodes or zones lack. Such a node adds nothing and is not missing; when every
/// node answers so, the call answers the first such fault, as one server lacking it would.
/// Any other fault is a real failure under the partial-answer policy. Empty: every fault is
/// a failure.
pub fn absent_faults(method: &str) -> &'static [i32] {
    match method {
        // By advisory name: an erratum one zone publishes and another does not.
        "errata.listAffectedSystems" | "errata.applicableToChannels"
        // By package id or name, version, release: a package some nodes lack.
        | "packages.listProvidingChannels"
        | "packages.listProvidingErrata"
        | "system.listSystemsWithPackage" => &[CODE_NO_SUCH],
        _ => &[],
    }
}

/// Methods whose answer is declared the same on every node (or every node of a zone): the
/// only ones [`Route::Any`] or [`Route::FirstOk`] may serve. Common-data namespaces' reads are
/// declared by [`namespace_kind`]; these are the others.
pub const COMMON_SAME_ELSEWHERE: &[&str] = &[
    "system.getSystemCurrencyMultipliers",
    "sync.content.listProducts",
    "sync.content.listChannels",
    "system.provisioning.powermanagement.listTypes",
    "recurring.custom.listAvailable",
];

#[cfg(test)]
mod tests;
