//! The catalogue of Uyuni methods the cluster knows: name, parameters (Java name and
//! XML-RPC type, session key excluded) and return type, one entry per overload. The one
//! list of signatures: the gateway maps the JSON API's named parameters with it, and the
//! stand-in (netsim-tests) serves no method that is not in it. The names are Uyuni's
//! (reference/uyuni-api.md §1.2).

/// One overload of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// `ns.method`.
    pub method: &'static str,
    /// Takes a session key first (every method but login and the version calls).
    pub session: bool,
    /// Java parameter names and XML-RPC types, in order, session key excluded.
    pub params: &'static [(&'static str, &'static str)],
    /// XML-RPC type of the answer.
    pub returns: &'static str,
}

impl Signature {
    /// Parameter count on the wire (session key included).
    pub fn arity(&self) -> usize {
        self.params.len() + usize::from(self.session)
    }

    /// Read-only by Uyuni's rule ([`read_only`]).
    pub fn read_only(&self) -> bool {
        read_only(self.method)
    }
}

const fn sig(
    method: &'static str,
    params: &'static [(&'static str, &'static str)],
    returns: &'static str,
) -> Signature {
    Signature {
        method,
        session: true,
        params,
        returns,
    }
}

/// A method called without a session key.
const fn plain(
    method: &'static str,
    params: &'static [(&'static str, &'static str)],
    returns: &'static str,
) -> Signature {
    Signature {
        method,
        session: false,
        params,
        returns,
    }
}

/// Every overload, grouped by namespace.
pub const CATALOGUE: &[Signature] = &[
    // api
    plain("api.getVersion", &[], "string"),
    plain("api.systemVersion", &[], "string"),
    sig("api.getApiNamespaces", &[], "struct"),
    sig(
        "api.getApiNamespaceCallList",
        &[("namespace", "string")],
        "struct",
    ),
    sig("api.getApiCallList", &[], "struct"),
    // auth
    plain(
        "auth.login",
        &[("username", "string"), ("password", "string")],
        "string",
    ),
    plain(
        "auth.login",
        &[
            ("username", "string"),
            ("password", "string"),
            ("duration", "int"),
        ],
        "string",
    ),
    sig("auth.logout", &[], "int"),
    // user
    sig("user.listAssignableRoles", &[], "array"),
    sig("user.getDetails", &[("login", "string")], "struct"),
    sig("user.listRoles", &[("login", "string")], "array"),
    // system
    sig("system.listSystems", &[], "array"),
    sig("system.getDetails", &[("sid", "int")], "struct"),
    sig("system.getName", &[("sid", "int")], "struct"),
    sig("system.getId", &[("name", "string")], "array"),
    sig("system.getMinionIdMap", &[], "struct"),
    sig("system.getNetwork", &[("sid", "int")], "struct"),
    sig("system.listGroups", &[("sid", "int")], "array"),
    sig("system.getRegistrationDate", &[("sid", "int")], "date"),
    sig("system.getUuid", &[("sid", "int")], "string"),
    sig(
        "system.getSubscribedBaseChannel",
        &[("sid", "int")],
        "struct",
    ),
    sig(
        "system.listSubscribedChildChannels",
        &[("sid", "int")],
        "array",
    ),
    sig("system.getEntitlements", &[("sid", "int")], "array"),
    sig("system.deleteSystem", &[("sid", "int")], "int"),
    sig(
        "system.deleteSystem",
        &[("sid", "int"), ("cleanupType", "string")],
        "int",
    ),
    sig("system.deleteSystems", &[("sids", "array")], "int"),
    sig(
        "system.deleteSystems",
        &[("sids", "array"), ("cleanupType", "string")],
        "int",
    ),
    sig("system.getCpu", &[("sid", "int")], "struct"),
    sig("system.getMemory", &[("sid", "int")], "struct"),
    sig("system.getDevices", &[("sid", "int")], "array"),
    sig("system.getDmi", &[("sid", "int")], "struct"),
    sig("system.getNetworkDevices", &[("sid", "int")], "array"),
    sig("system.getRunningKernel", &[("sid", "int")], "string"),
    sig("system.listActivationKeys", &[("sid", "int")], "array"),
    sig("system.listPackages", &[("sid", "int")], "array"),
    sig(
        "system.listLatestUpgradablePackages",
        &[("sid", "int")],
        "array",
    ),
    sig("system.listRelevantErrata", &[("sid", "int")], "array"),
    sig(
        "system.setDetails",
        &[("sid", "int"), ("details", "struct")],
        "int",
    ),
    sig(
        "system.scheduleReboot",
        &[("sid", "int"), ("earliestOccurrence", "date")],
        "int",
    ),
    sig(
        "system.schedulePackageRefresh",
        &[("sid", "int"), ("earliestOccurrence", "date")],
        "int",
    ),
    sig(
        "system.scheduleScriptRun",
        &[
            ("sids", "array"),
            ("username", "string"),
            ("groupname", "string"),
            ("timeout", "int"),
            ("script", "string"),
            ("earliestOccurrence", "date"),
        ],
        "int",
    ),
    sig(
        "system.scheduleScriptRun",
        &[
            ("label", "string"),
            ("sids", "array"),
            ("username", "string"),
            ("groupname", "string"),
            ("timeout", "int"),
            ("script", "string"),
            ("earliestOccurrence", "date"),
        ],
        "int",
    ),
    sig("system.getScriptResults", &[("actionId", "int")], "array"),
    sig("system.listActiveSystems", &[], "array"),
    sig("system.listInactiveSystems", &[], "array"),
    sig("system.listOutOfDateSystems", &[], "array"),
    sig("system.listUserSystems", &[], "array"),
    sig(
        "system.listSystemsWithEntitlement",
        &[("entitlementName", "string")],
        "array",
    ),
    // system.search
    sig(
        "system.search.nameAndDescription",
        &[("searchTerm", "string")],
        "array",
    ),
    sig(
        "system.search.hostname",
        &[("searchTerm", "string")],
        "array",
    ),
    sig("system.search.ip", &[("searchTerm", "string")], "array"),
    sig("system.search.uuid", &[("searchTerm", "string")], "array"),
    sig(
        "system.search.deviceDescription",
        &[("searchTerm", "string")],
        "array",
    ),
    sig(
        "system.search.deviceDriver",
        &[("searchTerm", "string")],
        "array",
    ),
    sig(
        "system.search.deviceId",
        &[("searchTerm", "string")],
        "array",
    ),
    sig(
        "system.search.deviceVendorId",
        &[("searchTerm", "string")],
        "array",
    ),
    // systemgroup
    sig("systemgroup.listAllGroups", &[], "array"),
    sig(
        "systemgroup.listSystems",
        &[("systemGroupName", "string")],
        "array",
    ),
    sig(
        "systemgroup.create",
        &[("name", "string"), ("description", "string")],
        "struct",
    ),
    sig(
        "systemgroup.delete",
        &[("systemGroupName", "string")],
        "int",
    ),
    sig(
        "systemgroup.getDetails",
        &[("systemGroupName", "string")],
        "struct",
    ),
    sig(
        "systemgroup.update",
        &[("systemGroupName", "string"), ("description", "string")],
        "struct",
    ),
    sig(
        "systemgroup.addOrRemoveSystems",
        &[
            ("systemGroupName", "string"),
            ("serverIds", "array"),
            ("add", "boolean"),
        ],
        "int",
    ),
    sig(
        "systemgroup.listSystemsMinimal",
        &[("systemGroupName", "string")],
        "array",
    ),
    // channel
    sig("channel.listAllChannels", &[], "array"),
    sig("channel.listSoftwareChannels", &[], "array"),
    sig("channel.listVendorChannels", &[], "array"),
    sig("channel.listMyChannels", &[], "array"),
    // channel.software
    sig(
        "channel.software.create",
        &[
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string"),
        ],
        "int",
    ),
    sig(
        "channel.software.create",
        &[
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string"),
            ("checksumType", "string"),
        ],
        "int",
    ),
    sig(
        "channel.software.create",
        &[
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string"),
            ("checksumType", "string"),
            ("gpgKey", "struct"),
        ],
        "int",
    ),
    sig(
        "channel.software.create",
        &[
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string"),
            ("checksumType", "string"),
            ("gpgKey", "struct"),
            ("gpgCheck", "boolean"),
        ],
        "int",
    ),
    sig(
        "channel.software.delete",
        &[("channelLabel", "string")],
        "int",
    ),
    sig(
        "channel.software.getDetails",
        &[("channelLabel", "string")],
        "struct",
    ),
    sig(
        "channel.software.setDetails",
        &[("channelId", "int"), ("details", "struct")],
        "int",
    ),
    sig(
        "channel.software.listSubscribedSystems",
        &[("channelLabel", "string")],
        "array",
    ),
    sig(
        "channel.software.listAllPackages",
        &[("channelLabel", "string")],
        "array",
    ),
    sig(
        "channel.software.listErrata",
        &[("channelLabel", "string")],
        "array",
    ),
    // activationkey
    sig("activationkey.listActivationKeys", &[], "array"),
    sig(
        "activationkey.create",
        &[
            ("key", "string"),
            ("description", "string"),
            ("baseChannelLabel", "string"),
            ("usageLimit", "int"),
            ("entitlements", "array"),
            ("universalDefault", "boolean"),
        ],
        "string",
    ),
    sig(
        "activationkey.create",
        &[
            ("key", "string"),
            ("description", "string"),
            ("baseChannelLabel", "string"),
            ("entitlements", "array"),
            ("universalDefault", "boolean"),
        ],
        "string",
    ),
    sig("activationkey.delete", &[("key", "string")], "int"),
    sig("activationkey.getDetails", &[("key", "string")], "struct"),
    sig(
        "activationkey.setDetails",
        &[("key", "string"), ("details", "struct")],
        "int",
    ),
    sig(
        "activationkey.addChildChannels",
        &[("key", "string"), ("childChannelLabels", "array")],
        "int",
    ),
    sig(
        "activationkey.removeChildChannels",
        &[("key", "string"), ("childChannelLabels", "array")],
        "int",
    ),
    sig(
        "activationkey.addServerGroups",
        &[("key", "string"), ("serverGroupIds", "array")],
        "int",
    ),
    sig(
        "activationkey.removeServerGroups",
        &[("key", "string"), ("serverGroupIds", "array")],
        "int",
    ),
    sig(
        "activationkey.listConfigChannels",
        &[("key", "string")],
        "array",
    ),
    sig(
        "activationkey.setConfigChannels",
        &[("keys", "array"), ("configChannelLabels", "array")],
        "int",
    ),
    sig(
        "activationkey.addPackages",
        &[("key", "string"), ("packages", "array")],
        "int",
    ),
    sig(
        "activationkey.removePackages",
        &[("key", "string"), ("packages", "array")],
        "int",
    ),
    // saltkey
    sig("saltkey.acceptedList", &[], "array"),
    sig("saltkey.pendingList", &[], "array"),
    sig("saltkey.rejectedList", &[], "array"),
    sig("saltkey.deniedList", &[], "array"),
    sig("saltkey.accept", &[("minionId", "string")], "int"),
    sig("saltkey.reject", &[("minionId", "string")], "int"),
    sig("saltkey.delete", &[("minionId", "string")], "int"),
    // schedule
    sig("schedule.listInProgressActions", &[], "array"),
    sig("schedule.listCompletedActions", &[], "array"),
    sig("schedule.listFailedActions", &[], "array"),
    sig("schedule.listAllActions", &[], "array"),
    sig("schedule.listArchivedActions", &[], "array"),
    sig(
        "schedule.listInProgressSystems",
        &[("actionId", "int")],
        "array",
    ),
    sig(
        "schedule.listCompletedSystems",
        &[("actionId", "int")],
        "array",
    ),
    sig(
        "schedule.listFailedSystems",
        &[("actionId", "int")],
        "array",
    ),
    sig("schedule.cancelActions", &[("actionIds", "array")], "int"),
    // ---- Id-carrying methods the gateway translates (issue 14, part 2; gwids) ----
    sig(
        "system.schedulePackageInstall",
        &[
            ("sids", "array"),
            ("packageIds", "array"),
            ("earliestOccurrence", "date"),
        ],
        "int",
    ),
    sig(
        "system.schedulePackageInstallByNevra",
        &[
            ("sids", "array"),
            ("packageNevraList", "array"),
            ("earliestOccurrence", "date"),
        ],
        "int",
    ),
    sig(
        "system.schedulePackageRemove",
        &[
            ("sids", "array"),
            ("packageIds", "array"),
            ("earliestOccurrence", "date"),
        ],
        "int",
    ),
    sig(
        "system.schedulePackageRemoveByNevra",
        &[
            ("sids", "array"),
            ("packageNevraList", "array"),
            ("earliestOccurrence", "date"),
        ],
        "int",
    ),
    sig(
        "system.schedulePackageUpdate",
        &[("sids", "array"), ("earliestOccurrence", "date")],
        "int",
    ),
    sig(
        "system.scheduleApplyErrata",
        &[("sids", "array"), ("errataIds", "array")],
        "array",
    ),
    sig(
        "system.scheduleApplyErrata",
        &[
            ("sids", "array"),
            ("errataIds", "array"),
            ("earliestOccurrence", "date"),
        ],
        "array",
    ),
    sig(
        "system.scheduleApplyHighstate",
        &[
            ("sids", "array"),
            ("earliestOccurrence", "date"),
            ("test", "boolean"),
        ],
        "int",
    ),
    sig(
        "system.scheduleApplyStates",
        &[
            ("sids", "array"),
            ("stateNames", "array"),
            ("earliestOccurrence", "date"),
            ("test", "boolean"),
        ],
        "int",
    ),
    sig(
        "system.scheduleHardwareRefresh",
        &[("sid", "int"), ("earliestOccurrence", "date")],
        "int",
    ),
    sig(
        "system.scheduleChangeChannels",
        &[
            ("sids", "array"),
            ("baseChannelLabel", "string"),
            ("childLabels", "array"),
            ("earliestOccurrence", "date"),
        ],
        "array",
    ),
    sig("system.listSystemEvents", &[("sid", "int")], "array"),
    sig(
        "system.listSystemEvents",
        &[("sid", "int"), ("actionType", "string")],
        "array",
    ),
    sig(
        "system.listSystemEvents",
        &[
            ("sid", "int"),
            ("actionType", "string"),
            ("earliestDate", "date"),
        ],
        "array",
    ),
    sig("system.getEventHistory", &[("sid", "int")], "array"),
    sig(
        "system.getEventHistory",
        &[
            ("sid", "int"),
            ("earliestDate", "date"),
            ("offset", "int"),
            ("limit", "int"),
        ],
        "array",
    ),
    sig(
        "system.getEventDetails",
        &[("sid", "int"), ("eid", "int")],
        "struct",
    ),
    sig("system.getCustomValues", &[("sid", "int")], "struct"),
    sig(
        "system.setCustomValues",
        &[("sid", "int"), ("values", "struct")],
        "int",
    ),
    sig(
        "system.deleteCustomValues",
        &[("sid", "int"), ("keys", "array")],
        "int",
    ),
    sig(
        "system.getScriptActionDetails",
        &[("actionId", "int")],
        "struct",
    ),
    sig(
        "schedule.failSystemAction",
        &[("sid", "int"), ("actionId", "int")],
        "int",
    ),
    sig(
        "schedule.failSystemAction",
        &[("sid", "int"), ("actionId", "int"), ("message", "string")],
        "int",
    ),
    sig("schedule.archiveActions", &[("actionIds", "array")], "int"),
    sig("schedule.deleteActions", &[("actionIds", "array")], "int"),
    sig(
        "schedule.rescheduleActions",
        &[("actionIds", "array"), ("onlyFailed", "boolean")],
        "int",
    ),
    sig("schedule.listAllArchivedActions", &[], "array"),
    sig("schedule.listAllCompletedActions", &[], "array"),
    // ---- end of the gwids block ----
    // contentmanagement
    sig("contentmanagement.listProjects", &[], "array"),
    sig(
        "contentmanagement.lookupProject",
        &[("label", "string")],
        "struct",
    ),
    sig(
        "contentmanagement.createProject",
        &[
            ("label", "string"),
            ("name", "string"),
            ("description", "string"),
        ],
        "struct",
    ),
    sig(
        "contentmanagement.updateProject",
        &[("label", "string"), ("props", "struct")],
        "struct",
    ),
    sig(
        "contentmanagement.removeProject",
        &[("label", "string")],
        "int",
    ),
    sig(
        "contentmanagement.listProjectEnvironments",
        &[("projectLabel", "string")],
        "array",
    ),
    sig(
        "contentmanagement.createEnvironment",
        &[
            ("projectLabel", "string"),
            ("predecessorLabel", "string"),
            ("label", "string"),
            ("name", "string"),
            ("description", "string"),
        ],
        "struct",
    ),
    sig(
        "contentmanagement.lookupEnvironment",
        &[("projectLabel", "string"), ("envLabel", "string")],
        "struct",
    ),
    sig(
        "contentmanagement.removeEnvironment",
        &[("projectLabel", "string"), ("envLabel", "string")],
        "int",
    ),
    sig(
        "contentmanagement.listProjectSources",
        &[("projectLabel", "string")],
        "array",
    ),
    sig(
        "contentmanagement.attachSource",
        &[
            ("projectLabel", "string"),
            ("sourceType", "string"),
            ("sourceLabel", "string"),
        ],
        "struct",
    ),
    sig("contentmanagement.listFilters", &[], "array"),
    sig(
        "contentmanagement.createFilter",
        &[
            ("name", "string"),
            ("rule", "string"),
            ("entityType", "string"),
            ("criteria", "struct"),
        ],
        "struct",
    ),
    sig(
        "contentmanagement.updateFilter",
        &[
            ("filterId", "int"),
            ("name", "string"),
            ("rule", "string"),
            ("criteria", "struct"),
        ],
        "struct",
    ),
    sig(
        "contentmanagement.listProjectFilters",
        &[("projectLabel", "string")],
        "array",
    ),
    sig(
        "contentmanagement.attachFilter",
        &[("projectLabel", "string"), ("filterId", "int")],
        "struct",
    ),
    sig(
        "contentmanagement.detachFilter",
        &[("projectLabel", "string"), ("filterId", "int")],
        "int",
    ),
    sig(
        "contentmanagement.detachSource",
        &[
            ("projectLabel", "string"),
            ("sourceType", "string"),
            ("sourceLabel", "string"),
        ],
        "int",
    ),
    // configchannel
    sig("configchannel.listGlobals", &[], "array"),
    sig("configchannel.getDetails", &[("label", "string")], "struct"),
    sig(
        "configchannel.create",
        &[
            ("label", "string"),
            ("name", "string"),
            ("description", "string"),
        ],
        "struct",
    ),
    sig(
        "configchannel.update",
        &[
            ("label", "string"),
            ("name", "string"),
            ("description", "string"),
        ],
        "struct",
    ),
    sig(
        "configchannel.deleteChannels",
        &[("labels", "array")],
        "int",
    ),
    sig("configchannel.listFiles", &[("label", "string")], "array"),
    sig(
        "configchannel.lookupFileInfo",
        &[("label", "string"), ("paths", "array")],
        "array",
    ),
    sig(
        "configchannel.createOrUpdatePath",
        &[
            ("label", "string"),
            ("path", "string"),
            ("isDir", "boolean"),
            ("pathInfo", "struct"),
        ],
        "struct",
    ),
    sig(
        "configchannel.deleteFiles",
        &[("label", "string"), ("paths", "array")],
        "int",
    ),
    // system.config
    sig("system.config.listChannels", &[("sid", "int")], "array"),
];

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The overload of `method` taking `count` parameters after the session key.
pub const fn find(method: &str, count: usize) -> Option<&'static Signature> {
    let mut i = 0;
    while i < CATALOGUE.len() {
        let s = &CATALOGUE[i];
        if s.params.len() == count && same(s.method, method) {
            return Some(s);
        }
        i += 1;
    }
    None
}

/// [`find`] for tables built at compile time: a method missing from the catalogue stops
/// the build.
pub const fn expect(method: &str, count: usize) -> &'static Signature {
    match find(method, count) {
        Some(s) => s,
        None => panic!("a method (with that many parameters) missing from uyuni_api::catalogue"),
    }
}

/// Every overload of `method`.
pub fn overloads(method: &str) -> impl Iterator<Item = &'static Signature> + '_ {
    CATALOGUE.iter().filter(move |s| s.method == method)
}

/// The overload of `method` whose parameter names are exactly `names` (any order): Uyuni's
/// JSON API passes parameters by name.
pub fn by_names(method: &str, names: &[&str]) -> Option<&'static Signature> {
    overloads(method)
        .find(|s| s.params.len() == names.len() && s.params.iter().all(|(n, _)| names.contains(n)))
}

/// Whether the catalogue knows `method` (under any overload).
pub fn known(method: &str) -> bool {
    overloads(method).next().is_some()
}

/// Read-only by Uyuni's rule (`@ReadOnly`: `list*`, `get*`, `is*`, `find*`, `lookup*` and the
/// searches): called with GET in the JSON API, the rest with POST.
pub fn read_only(method: &str) -> bool {
    let m = method.rsplit('.').next().unwrap_or(method);
    ["list", "get", "is", "find", "lookup"]
        .iter()
        .any(|p| m.starts_with(p))
        || method.starts_with("system.search.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_overload_is_listed_once_with_its_own_count() {
        let mut keys: Vec<(&str, usize)> = CATALOGUE
            .iter()
            .map(|s| (s.method, s.params.len()))
            .collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(
            before,
            keys.len(),
            "two overloads of one method with one count"
        );
    }

    #[test]
    fn overloads_are_found_by_count_and_by_names_in_any_order() {
        assert_eq!(find("system.getDetails", 1).map(Signature::arity), Some(2));
        assert!(find("system.getDetails", 2).is_none());
        assert_eq!(expect("api.getVersion", 0).arity(), 0);
        assert!(by_names("system.getDetails", &["id"]).is_none());
        let s = by_names("system.deleteSystem", &["cleanupType", "sid"]).expect("overload");
        assert_eq!(s.params[0].0, "sid");
        assert!(known("auth.login") && !known("kickstart.listKickstarts"));
    }

    #[test]
    fn read_only_follows_uyunis_naming_rule() {
        assert!(read_only("system.listSystems") && !read_only("systemgroup.create"));
        assert!(read_only("system.search.ip") && read_only("contentmanagement.lookupProject"));
        assert!(expect("system.getDetails", 1).read_only());
    }

    #[test]
    fn only_login_and_the_version_calls_go_without_a_session() {
        let plain: Vec<&str> = CATALOGUE
            .iter()
            .filter(|s| !s.session)
            .map(|s| s.method)
            .collect();
        assert_eq!(
            plain,
            [
                "api.getVersion",
                "api.systemVersion",
                "auth.login",
                "auth.login"
            ]
        );
    }

    #[test]
    fn parameter_types_are_xmlrpc_types() {
        const TYPES: &[&str] = &["int", "string", "boolean", "array", "struct", "date"];
        for s in CATALOGUE {
            for (name, ty) in s.params {
                assert!(TYPES.contains(ty), "{}: {name} is a {ty}", s.method);
            }
            assert!(
                TYPES.contains(&s.returns),
                "{} returns {}",
                s.method,
                s.returns
            );
        }
    }
}
