//! Parameter names of the methods the gateway knows, for Uyuni's JSON API (which passes
//! parameters by their Java names: `/rhn/manager/api/system/getDetails?sid=...`). The names
//! are Uyuni's (reference/uyuni-api.md §1.2); overloads are separate entries.

/// One overload: method, then (parameter name, XML-RPC type) after the session key.
pub type Overload = (&'static str, &'static [(&'static str, &'static str)]);

/// Every overload the JSON API maps by name.
pub static OVERLOADS: &[Overload] = &[
    ("api.getVersion", &[]),
    ("api.systemVersion", &[]),
    ("api.getApiNamespaces", &[]),
    ("api.getApiNamespaceCallList", &[("namespace", "string")]),
    ("api.getApiCallList", &[]),
    ("user.listAssignableRoles", &[]),
    ("system.listSystems", &[]),
    ("system.getDetails", &[("sid", "int")]),
    ("system.getName", &[("sid", "int")]),
    ("system.getId", &[("name", "string")]),
    ("system.getMinionIdMap", &[]),
    ("system.getNetwork", &[("sid", "int")]),
    ("system.listGroups", &[("sid", "int")]),
    ("system.getRegistrationDate", &[("sid", "int")]),
    ("system.getUuid", &[("sid", "int")]),
    ("system.getSubscribedBaseChannel", &[("sid", "int")]),
    ("system.listSubscribedChildChannels", &[("sid", "int")]),
    ("system.getEntitlements", &[("sid", "int")]),
    ("system.deleteSystem", &[("sid", "int")]),
    (
        "system.deleteSystem",
        &[("sid", "int"), ("cleanupType", "string")],
    ),
    ("system.deleteSystems", &[("sids", "array")]),
    (
        "system.deleteSystems",
        &[("sids", "array"), ("cleanupType", "string")],
    ),
    (
        "system.search.nameAndDescription",
        &[("searchTerm", "string")],
    ),
    ("system.search.hostname", &[("searchTerm", "string")]),
    ("system.search.ip", &[("searchTerm", "string")]),
    ("systemgroup.listAllGroups", &[]),
    ("systemgroup.listSystems", &[("systemGroupName", "string")]),
    (
        "systemgroup.create",
        &[("name", "string"), ("description", "string")],
    ),
    ("systemgroup.delete", &[("systemGroupName", "string")]),
    ("systemgroup.getDetails", &[("systemGroupName", "string")]),
    (
        "systemgroup.update",
        &[("systemGroupName", "string"), ("description", "string")],
    ),
    (
        "systemgroup.addOrRemoveSystems",
        &[
            ("systemGroupName", "string"),
            ("serverIds", "array"),
            ("add", "boolean"),
        ],
    ),
    ("channel.listAllChannels", &[]),
    ("channel.listSoftwareChannels", &[]),
    (
        "channel.software.create",
        &[
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string"),
        ],
    ),
    (
        "channel.software.create",
        &[
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string"),
            ("checksumType", "string"),
        ],
    ),
    (
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
    ),
    (
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
    ),
    ("channel.software.delete", &[("channelLabel", "string")]),
    ("channel.software.getDetails", &[("channelLabel", "string")]),
    (
        "channel.software.setDetails",
        &[("channelId", "int"), ("details", "struct")],
    ),
    (
        "channel.software.listSubscribedSystems",
        &[("channelLabel", "string")],
    ),
    (
        "channel.software.listAllPackages",
        &[("channelLabel", "string")],
    ),
    ("channel.software.listErrata", &[("channelLabel", "string")]),
    ("activationkey.listActivationKeys", &[]),
    (
        "activationkey.create",
        &[
            ("key", "string"),
            ("description", "string"),
            ("baseChannelLabel", "string"),
            ("usageLimit", "int"),
            ("entitlements", "array"),
            ("universalDefault", "boolean"),
        ],
    ),
    (
        "activationkey.create",
        &[
            ("key", "string"),
            ("description", "string"),
            ("baseChannelLabel", "string"),
            ("entitlements", "array"),
            ("universalDefault", "boolean"),
        ],
    ),
    ("activationkey.delete", &[("key", "string")]),
    ("activationkey.getDetails", &[("key", "string")]),
    (
        "activationkey.setDetails",
        &[("key", "string"), ("details", "struct")],
    ),
    ("saltkey.acceptedList", &[]),
    ("saltkey.pendingList", &[]),
    ("saltkey.rejectedList", &[]),
    ("saltkey.deniedList", &[]),
    ("saltkey.accept", &[("minionId", "string")]),
    ("saltkey.reject", &[("minionId", "string")]),
    ("saltkey.delete", &[("minionId", "string")]),
    ("schedule.listInProgressActions", &[]),
    ("schedule.listCompletedActions", &[]),
    ("schedule.listFailedActions", &[]),
    ("schedule.listAllActions", &[]),
    ("contentmanagement.listProjects", &[]),
    ("contentmanagement.lookupProject", &[("label", "string")]),
    (
        "contentmanagement.createProject",
        &[
            ("label", "string"),
            ("name", "string"),
            ("description", "string"),
        ],
    ),
    (
        "contentmanagement.updateProject",
        &[("label", "string"), ("props", "struct")],
    ),
    ("contentmanagement.removeProject", &[("label", "string")]),
    (
        "contentmanagement.listProjectEnvironments",
        &[("projectLabel", "string")],
    ),
    (
        "contentmanagement.createEnvironment",
        &[
            ("projectLabel", "string"),
            ("predecessorLabel", "string"),
            ("label", "string"),
            ("name", "string"),
            ("description", "string"),
        ],
    ),
    (
        "contentmanagement.lookupEnvironment",
        &[("projectLabel", "string"), ("envLabel", "string")],
    ),
    (
        "contentmanagement.removeEnvironment",
        &[("projectLabel", "string"), ("envLabel", "string")],
    ),
    ("system.getCpu", &[("sid", "int")]),
    ("system.getMemory", &[("sid", "int")]),
    ("system.getDevices", &[("sid", "int")]),
    ("system.getDmi", &[("sid", "int")]),
    ("system.getNetworkDevices", &[("sid", "int")]),
    ("system.getRunningKernel", &[("sid", "int")]),
    ("system.listActivationKeys", &[("sid", "int")]),
    ("system.listPackages", &[("sid", "int")]),
    ("system.listLatestUpgradablePackages", &[("sid", "int")]),
    ("system.listRelevantErrata", &[("sid", "int")]),
    ("system.config.listChannels", &[("sid", "int")]),
    (
        "system.setDetails",
        &[("sid", "int"), ("details", "struct")],
    ),
    (
        "system.scheduleReboot",
        &[("sid", "int"), ("earliestOccurrence", "date")],
    ),
    (
        "system.schedulePackageRefresh",
        &[("sid", "int"), ("earliestOccurrence", "date")],
    ),
    (
        "system.scheduleScriptRun",
        &[
            ("sids", "array"),
            ("username", "string"),
            ("groupname", "string"),
            ("timeout", "int"),
            ("script", "string"),
            ("earliestOccurrence", "date"),
        ],
    ),
    (
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
    ),
    ("system.getScriptResults", &[("actionId", "int")]),
    ("system.listActiveSystems", &[]),
    ("system.listInactiveSystems", &[]),
    ("system.listOutOfDateSystems", &[]),
    ("system.listUserSystems", &[]),
    (
        "system.listSystemsWithEntitlement",
        &[("entitlementName", "string")],
    ),
    ("system.search.uuid", &[("searchTerm", "string")]),
    (
        "system.search.deviceDescription",
        &[("searchTerm", "string")],
    ),
    ("system.search.deviceDriver", &[("searchTerm", "string")]),
    ("system.search.deviceId", &[("searchTerm", "string")]),
    ("system.search.deviceVendorId", &[("searchTerm", "string")]),
    (
        "systemgroup.listSystemsMinimal",
        &[("systemGroupName", "string")],
    ),
    ("schedule.listArchivedActions", &[]),
    ("schedule.listInProgressSystems", &[("actionId", "int")]),
    ("schedule.listCompletedSystems", &[("actionId", "int")]),
    ("schedule.listFailedSystems", &[("actionId", "int")]),
    ("schedule.cancelActions", &[("actionIds", "array")]),
    ("channel.listVendorChannels", &[]),
    ("channel.listMyChannels", &[]),
];

/// The overload of `method` whose parameter names are exactly `names` (any order).
pub fn overload(method: &str, names: &[&str]) -> Option<&'static [(&'static str, &'static str)]> {
    OVERLOADS
        .iter()
        .filter(|(m, _)| *m == method)
        .map(|(_, p)| *p)
        .find(|p| p.len() == names.len() && p.iter().all(|(n, _)| names.contains(n)))
}

/// Whether the gateway knows `method` (under any overload).
pub fn known(method: &str) -> bool {
    OVERLOADS.iter().any(|(m, _)| *m == method)
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
    fn overloads_are_found_by_their_names_in_any_order() {
        assert!(overload("system.getDetails", &["sid"]).is_some());
        assert!(overload("system.getDetails", &["id"]).is_none());
        let p = overload("system.deleteSystem", &["cleanupType", "sid"]).expect("overload");
        assert_eq!(p[0].0, "sid");
        assert!(read_only("system.listSystems") && !read_only("systemgroup.create"));
    }
}
