//! Method table and dispatch, the way Uyuni's `BaseHandler` does it: by name **and** number of
//! parameters (overloads with different counts are separate entries), the session key in
//! position 0 swapped for the logged-in user.

use std::path::PathBuf;

use uyuni_api::catalogue::Signature;
use uyuni_api::value::ArgError;
use uyuni_api::{Fault, Value};

use super::handlers;
use super::state::{Model, Session};

/// What a handler returns.
pub type Reply = Result<Value, Fault>;
/// A handler: the call's context and its parameters **after** the session key.
pub type Handler = fn(&mut Ctx<'_>, &[Value]) -> Reply;

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct Config {
    /// The admin user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The server's FQDN (reported by some calls).
    pub fqdn: String,
    /// A salt-master pki directory, when salt keys are real files.
    pub salt_pki_dir: Option<PathBuf>,
}

/// One call in progress.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The model (a private copy for calls that change state).
    pub model: &'a mut Model,
    /// SQL statements to run in the call's transaction.
    pub sql: Vec<String>,
    /// Settings.
    pub cfg: &'a Config,
    /// Now, Unix ms.
    pub now: u64,
    /// The caller's session (methods that take one).
    pub session: Option<Session>,
}

impl Ctx<'_> {
    /// Queue a statement.
    pub fn exec(&mut self, sql: impl Into<String>) {
        self.sql.push(sql.into());
    }
}

/// One callable method (one overload): its signature is the catalogue's
/// ([`uyuni_api::catalogue`]), copied here by [`Method::new`].
#[derive(Debug)]
pub struct Method {
    /// `ns.method`.
    pub name: &'static str,
    /// Takes a session key first.
    pub session: bool,
    /// Java parameter names and XML-RPC types, session key excluded.
    pub params: &'static [(&'static str, &'static str)],
    /// Return type (introspection).
    pub returns: &'static str,
    /// The implementation.
    pub handler: Handler,
}

impl Method {
    /// The method of catalogue signature `sig`, answered by `handler`.
    pub const fn new(sig: &'static Signature, handler: Handler) -> Self {
        Self {
            name: sig.method,
            session: sig.session,
            params: sig.params,
            returns: sig.returns,
            handler,
        }
    }

    /// Read-only by Uyuni's naming rule (`@ReadOnly` / `list|get|is|find|lookup*`): GET in the
    /// JSON API, and no write transaction.
    pub fn read_only(&self) -> bool {
        uyuni_api::catalogue::read_only(self.name)
    }

    /// Parameter count on the wire (session key included).
    pub fn arity(&self) -> usize {
        self.params.len() + usize::from(self.session)
    }
}

/// The namespace of a method name (`channel.software.create` → `channel.software`).
pub fn namespace(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(ns, _)| ns)
}

/// Uyuni's handler class of a namespace (fault strings and `api.getApiNamespaces`).
pub fn handler_class(ns: &str) -> &'static str {
    match ns {
        "api" => "com.redhat.rhn.frontend.xmlrpc.api.ApiHandler",
        "auth" => "com.redhat.rhn.frontend.xmlrpc.auth.AuthHandler",
        "user" => "com.redhat.rhn.frontend.xmlrpc.user.UserHandler",
        "org" => "com.redhat.rhn.frontend.xmlrpc.org.OrgHandler",
        "system" => "com.redhat.rhn.frontend.xmlrpc.system.SystemHandler",
        "system.search" => "com.redhat.rhn.frontend.xmlrpc.system.search.SystemSearchHandler",
        "systemgroup" => "com.redhat.rhn.frontend.xmlrpc.systemgroup.ServerGroupHandler",
        "channel" => "com.redhat.rhn.frontend.xmlrpc.channel.ChannelHandler",
        "channel.software" => {
            "com.redhat.rhn.frontend.xmlrpc.channel.software.ChannelSoftwareHandler"
        }
        "activationkey" => "com.redhat.rhn.frontend.xmlrpc.activationkey.ActivationKeyHandler",
        "saltkey" => "com.redhat.rhn.frontend.xmlrpc.saltkey.SaltKeyHandler",
        "schedule" => "com.redhat.rhn.frontend.xmlrpc.schedule.ScheduleHandler",
        "contentmanagement" => {
            "com.redhat.rhn.frontend.xmlrpc.contentmgmt.ContentManagementHandler"
        }
        _ => "com.redhat.rhn.frontend.xmlrpc.BaseHandler",
    }
}

/// The Java class name redstone reports for a parameter value.
pub fn java_type(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "class java.lang.Integer",
        Value::Long(_) => "class java.lang.Long",
        Value::Boolean(_) => "class java.lang.Boolean",
        Value::String(_) => "class java.lang.String",
        Value::Double(_) => "class java.lang.Double",
        Value::DateTime(_) => "class java.util.Date",
        Value::Base64(_) => "class [B",
        Value::Struct(_) => "class java.util.HashMap",
        Value::Array(_) => "class java.util.ArrayList",
        _ => "null",
    }
}

/// `Could not find method: ...` for a call that matches no overload.
pub fn no_method(name: &str, params: &[Value]) -> Fault {
    let types: Vec<&str> = params.iter().map(java_type).collect();
    Fault::no_such_method(name, handler_class(namespace(name)), &types)
}

/// A parameter of the wrong type: Uyuni finds no method to coerce it into.
pub fn bad_arg<'a>(name: &'a str, params: &'a [Value]) -> impl Fn(ArgError) -> Fault + 'a {
    move |_| no_method(name, params)
}

/// One entry of the method table: the overload of `name` taking `count` parameters after the
/// session key, as [`uyuni_api::catalogue`] lists it (a method missing there stops the build),
/// and its handler.
macro_rules! m {
    ($name:literal, $count:literal, $h:path) => {
        Method::new(uyuni_api::catalogue::expect($name, $count), $h)
    };
}

/// Every method the stand-in implements.
pub static METHODS: &[Method] = &[
    // api
    m!("api.getVersion", 0, handlers::api::get_version),
    m!("api.systemVersion", 0, handlers::api::system_version),
    m!("api.getApiNamespaces", 0, handlers::api::namespaces),
    m!(
        "api.getApiNamespaceCallList",
        1,
        handlers::api::namespace_call_list
    ),
    m!("api.getApiCallList", 0, handlers::api::call_list),
    // auth
    m!("auth.login", 2, handlers::auth::login),
    m!("auth.login", 3, handlers::auth::login),
    m!("auth.logout", 0, handlers::auth::logout),
    // user
    m!(
        "user.listAssignableRoles",
        0,
        handlers::auth::list_assignable_roles
    ),
    m!("user.getDetails", 1, handlers::user::get_details),
    m!("user.listRoles", 1, handlers::user::list_roles),
    m!("user.listUsers", 0, handlers::user::list_users),
    m!(
        "user.listAssignedSystemGroups",
        1,
        handlers::user::list_assigned_system_groups
    ),
    m!(
        "user.listDefaultSystemGroups",
        1,
        handlers::user::list_default_system_groups
    ),
    // org
    m!("org.listOrgs", 0, handlers::org::list_orgs),
    m!("org.getDetails", 1, handlers::org::get_details),
    // system
    m!("system.listSystems", 0, handlers::system::list_systems),
    m!("system.getDetails", 1, handlers::system::get_details),
    m!("system.getName", 1, handlers::system::get_name),
    m!("system.getId", 1, handlers::system::get_id),
    m!(
        "system.getMinionIdMap",
        0,
        handlers::system::get_minion_id_map
    ),
    m!("system.getNetwork", 1, handlers::system::get_network),
    m!(
        "system.listDuplicatesByHostname",
        0,
        handlers::system::list_duplicates_by_hostname
    ),
    m!(
        "system.listDuplicatesByIp",
        0,
        handlers::system::list_duplicates_by_ip
    ),
    m!(
        "system.listDuplicatesByMac",
        0,
        handlers::system::list_duplicates_by_mac
    ),
    m!("system.listGroups", 1, handlers::system::list_groups),
    m!(
        "system.getRegistrationDate",
        1,
        handlers::system::get_registration_date
    ),
    m!("system.getUuid", 1, handlers::system::get_uuid),
    m!(
        "system.getSubscribedBaseChannel",
        1,
        handlers::system::get_base_channel
    ),
    m!(
        "system.listSubscribedChildChannels",
        1,
        handlers::system::list_child_channels
    ),
    m!(
        "system.getEntitlements",
        1,
        handlers::system::get_entitlements
    ),
    m!("system.deleteSystem", 1, handlers::system::delete_system),
    m!("system.deleteSystem", 2, handlers::system::delete_system),
    m!("system.deleteSystems", 1, handlers::system::delete_systems),
    m!("system.deleteSystems", 2, handlers::system::delete_systems),
    m!(
        "system.search.nameAndDescription",
        1,
        handlers::system::search_name
    ),
    m!(
        "system.search.hostname",
        1,
        handlers::system::search_hostname
    ),
    m!("system.search.ip", 1, handlers::system::search_ip),
    // systemgroup
    m!(
        "systemgroup.listAllGroups",
        0,
        handlers::systemgroup::list_all_groups
    ),
    m!(
        "systemgroup.listSystems",
        1,
        handlers::systemgroup::list_systems
    ),
    m!("systemgroup.create", 2, handlers::systemgroup::create),
    m!("systemgroup.delete", 1, handlers::systemgroup::delete),
    m!(
        "systemgroup.getDetails",
        1,
        handlers::systemgroup::get_details
    ),
    m!("systemgroup.update", 2, handlers::systemgroup::update),
    m!(
        "systemgroup.addOrRemoveSystems",
        3,
        handlers::systemgroup::add_or_remove_systems
    ),
    // channel
    m!(
        "channel.listAllChannels",
        0,
        handlers::channel::list_all_channels
    ),
    m!(
        "channel.listSoftwareChannels",
        0,
        handlers::channel::list_software_channels
    ),
    m!("channel.software.create", 5, handlers::channel::create),
    m!("channel.software.create", 6, handlers::channel::create),
    m!("channel.software.create", 7, handlers::channel::create),
    m!("channel.software.create", 8, handlers::channel::create),
    m!("channel.software.delete", 1, handlers::channel::delete),
    m!(
        "channel.software.getDetails",
        1,
        handlers::channel::get_details
    ),
    m!(
        "channel.software.setDetails",
        2,
        handlers::channel::set_details
    ),
    m!(
        "channel.software.listSubscribedSystems",
        1,
        handlers::channel::list_subscribed_systems
    ),
    m!(
        "channel.software.listAllPackages",
        1,
        handlers::channel::list_all_packages
    ),
    m!(
        "channel.software.listErrata",
        1,
        handlers::errata::list_channel_errata
    ),
    // errata
    m!("errata.getDetails", 1, handlers::errata::get_details),
    m!("errata.listPackages", 1, handlers::errata::list_packages),
    m!(
        "errata.listAffectedSystems",
        1,
        handlers::errata::list_affected_systems
    ),
    m!("errata.listCves", 1, handlers::errata::list_cves),
    m!("errata.findByCve", 1, handlers::errata::find_by_cve),
    m!(
        "errata.applicableToChannels",
        1,
        handlers::errata::applicable_to_channels
    ),
    // packages
    m!("packages.getDetails", 1, handlers::packages::get_details),
    m!(
        "packages.listProvidingChannels",
        1,
        handlers::packages::list_providing_channels
    ),
    m!(
        "packages.listProvidingErrata",
        1,
        handlers::packages::list_providing_errata
    ),
    m!(
        "system.listSystemsWithPackage",
        1,
        handlers::packages::list_systems_with_package
    ),
    m!(
        "system.listSystemsWithPackage",
        3,
        handlers::packages::list_systems_with_package_nvr
    ),
    // activationkey
    m!(
        "activationkey.listActivationKeys",
        0,
        handlers::activationkey::list
    ),
    m!("activationkey.create", 6, handlers::activationkey::create),
    m!("activationkey.create", 5, handlers::activationkey::create),
    m!("activationkey.delete", 1, handlers::activationkey::delete),
    m!(
        "activationkey.getDetails",
        1,
        handlers::activationkey::get_details
    ),
    m!(
        "activationkey.setDetails",
        2,
        handlers::activationkey::set_details
    ),
    m!(
        "activationkey.addChildChannels",
        2,
        handlers::activationkey::add_child_channels
    ),
    m!(
        "activationkey.removeChildChannels",
        2,
        handlers::activationkey::remove_child_channels
    ),
    m!(
        "activationkey.addServerGroups",
        2,
        handlers::activationkey::add_server_groups
    ),
    m!(
        "activationkey.removeServerGroups",
        2,
        handlers::activationkey::remove_server_groups
    ),
    m!(
        "activationkey.listConfigChannels",
        1,
        handlers::activationkey::list_config_channels
    ),
    m!(
        "activationkey.checkConfigDeployment",
        1,
        handlers::activationkey::check_config_deployment
    ),
    m!(
        "activationkey.listActivatedSystems",
        1,
        handlers::activationkey::list_activated_systems
    ),
    m!("kickstart.tree.list", 1, handlers::channel::kickstart_trees),
    m!(
        "activationkey.setConfigChannels",
        2,
        handlers::activationkey::set_config_channels
    ),
    m!(
        "activationkey.addPackages",
        2,
        handlers::activationkey::add_packages
    ),
    m!(
        "activationkey.removePackages",
        2,
        handlers::activationkey::remove_packages
    ),
    // configchannel
    m!(
        "configchannel.listGlobals",
        0,
        handlers::configchannel::list_globals
    ),
    m!(
        "configchannel.getDetails",
        1,
        handlers::configchannel::get_details
    ),
    m!("configchannel.create", 3, handlers::configchannel::create),
    m!("configchannel.update", 3, handlers::configchannel::update),
    m!(
        "configchannel.deleteChannels",
        1,
        handlers::configchannel::delete_channels
    ),
    m!(
        "configchannel.listFiles",
        1,
        handlers::configchannel::list_files
    ),
    m!(
        "configchannel.lookupFileInfo",
        2,
        handlers::configchannel::lookup_file_info
    ),
    m!(
        "configchannel.createOrUpdatePath",
        4,
        handlers::configchannel::create_or_update_path
    ),
    m!(
        "configchannel.deleteFiles",
        2,
        handlers::configchannel::delete_files
    ),
    // saltkey
    m!("saltkey.acceptedList", 0, handlers::saltkey::accepted_list),
    m!("saltkey.pendingList", 0, handlers::saltkey::pending_list),
    m!("saltkey.rejectedList", 0, handlers::saltkey::rejected_list),
    m!("saltkey.deniedList", 0, handlers::saltkey::denied_list),
    m!("saltkey.accept", 1, handlers::saltkey::accept),
    m!("saltkey.reject", 1, handlers::saltkey::reject),
    m!("saltkey.delete", 1, handlers::saltkey::delete),
    // schedule (actions: handlers/schedule.rs)
    m!("schedule.listAllActions", 0, handlers::schedule::list_all),
    m!(
        "schedule.listInProgressActions",
        0,
        handlers::schedule::list_in_progress
    ),
    m!(
        "schedule.listCompletedActions",
        0,
        handlers::schedule::list_completed
    ),
    m!(
        "schedule.listFailedActions",
        0,
        handlers::schedule::list_failed
    ),
    m!(
        "schedule.listArchivedActions",
        0,
        handlers::schedule::list_archived
    ),
    m!(
        "schedule.listCompletedSystems",
        1,
        handlers::schedule::list_completed_systems
    ),
    m!(
        "schedule.listFailedSystems",
        1,
        handlers::schedule::list_failed_systems
    ),
    m!(
        "schedule.listInProgressSystems",
        1,
        handlers::schedule::list_in_progress_systems
    ),
    m!(
        "schedule.archiveActions",
        1,
        handlers::schedule::archive_actions
    ),
    m!(
        "schedule.deleteActions",
        1,
        handlers::schedule::delete_actions
    ),
    m!(
        "schedule.cancelActions",
        1,
        handlers::schedule::cancel_actions
    ),
    m!(
        "schedule.rescheduleActions",
        2,
        handlers::schedule::reschedule_actions
    ),
    m!(
        "schedule.failSystemAction",
        2,
        handlers::schedule::fail_system_action
    ),
    m!(
        "schedule.failSystemAction",
        3,
        handlers::schedule::fail_system_action
    ),
    m!(
        "system.getScriptResults",
        1,
        handlers::schedule::get_script_results
    ),
    m!(
        "system.getScriptActionDetails",
        1,
        handlers::schedule::get_script_action_details
    ),
    m!(
        "system.listSystemEvents",
        1,
        handlers::schedule::list_system_events
    ),
    m!(
        "system.listSystemEvents",
        2,
        handlers::schedule::list_system_events
    ),
    m!(
        "system.getEventHistory",
        1,
        handlers::schedule::get_event_history
    ),
    m!(
        "system.getEventHistory",
        4,
        handlers::schedule::get_event_history
    ),
    m!(
        "system.getEventDetails",
        2,
        handlers::schedule::get_event_details
    ),
    m!(
        "system.scheduleReboot",
        2,
        handlers::system_actions::schedule_reboot
    ),
    m!(
        "system.scheduleHardwareRefresh",
        2,
        handlers::system_actions::schedule_hardware_refresh
    ),
    m!(
        "system.schedulePackageRefresh",
        2,
        handlers::system_actions::schedule_package_refresh
    ),
    m!(
        "system.schedulePackageInstall",
        3,
        handlers::system_actions::schedule_package_install
    ),
    m!(
        "system.schedulePackageRemove",
        3,
        handlers::system_actions::schedule_package_remove
    ),
    m!(
        "system.scheduleApplyErrata",
        2,
        handlers::system_actions::schedule_apply_errata
    ),
    m!(
        "system.scheduleApplyErrata",
        3,
        handlers::system_actions::schedule_apply_errata
    ),
    m!(
        "system.scheduleScriptRun",
        6,
        handlers::system_actions::schedule_script_run
    ),
    m!(
        "system.scheduleScriptRun",
        7,
        handlers::system_actions::schedule_script_run
    ),
    m!(
        "system.getCustomValues",
        1,
        handlers::system_actions::get_custom_values
    ),
    m!("system.getCpu", 1, handlers::system_hw::get_cpu),
    m!("system.getMemory", 1, handlers::system_hw::get_memory),
    m!("system.getDmi", 1, handlers::system_hw::get_dmi),
    m!("system.getDevices", 1, handlers::system_hw::get_devices),
    m!(
        "system.getNetworkDevices",
        1,
        handlers::system_hw::get_network_devices
    ),
    m!("system.listPackages", 1, handlers::system_hw::list_packages),
    m!(
        "system.setCustomValues",
        2,
        handlers::system_actions::set_custom_values
    ),
    m!(
        "system.deleteCustomValues",
        2,
        handlers::system_actions::delete_custom_values
    ),
    // contentmanagement
    m!(
        "contentmanagement.listProjects",
        0,
        handlers::contentmanagement::list_projects
    ),
    m!(
        "contentmanagement.lookupProject",
        1,
        handlers::contentmanagement::lookup_project
    ),
    m!(
        "contentmanagement.createProject",
        3,
        handlers::contentmanagement::create_project
    ),
    m!(
        "contentmanagement.updateProject",
        2,
        handlers::contentmanagement::update_project
    ),
    m!(
        "contentmanagement.removeProject",
        1,
        handlers::contentmanagement::remove_project
    ),
    m!(
        "contentmanagement.listProjectEnvironments",
        1,
        handlers::contentmanagement::list_environments
    ),
    m!(
        "contentmanagement.createEnvironment",
        5,
        handlers::contentmanagement::create_environment
    ),
    m!(
        "contentmanagement.lookupEnvironment",
        2,
        handlers::contentmanagement::lookup_environment
    ),
    m!(
        "contentmanagement.removeEnvironment",
        2,
        handlers::contentmanagement::remove_environment
    ),
    m!(
        "contentmanagement.listProjectSources",
        1,
        handlers::contentmanagement::list_sources
    ),
    m!(
        "contentmanagement.attachSource",
        3,
        handlers::contentmanagement::attach_source
    ),
    m!(
        "contentmanagement.detachSource",
        3,
        handlers::contentmanagement::detach_source
    ),
    m!(
        "contentmanagement.listFilters",
        0,
        handlers::contentmanagement::list_filters
    ),
    m!(
        "contentmanagement.createFilter",
        4,
        handlers::contentmanagement::create_filter
    ),
    m!(
        "contentmanagement.updateFilter",
        4,
        handlers::contentmanagement::update_filter
    ),
    m!(
        "contentmanagement.listProjectFilters",
        1,
        handlers::contentmanagement::list_project_filters
    ),
    m!(
        "contentmanagement.attachFilter",
        2,
        handlers::contentmanagement::attach_filter
    ),
    m!(
        "contentmanagement.detachFilter",
        2,
        handlers::contentmanagement::detach_filter
    ),
];

/// Normalise a method name the way `BaseHandler` does: the last segment may be given
/// `snake_case` (`get_version` is `getVersion`).
pub fn beanify(name: &str) -> String {
    let (ns, last) = match name.rsplit_once('.') {
        Some((ns, last)) => (Some(ns), last),
        None => (None, name),
    };
    let mut out = String::new();
    let mut upper = false;
    for c in last.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    match ns {
        Some(ns) => format!("{ns}.{out}"),
        None => out,
    }
}

/// The overload of `name` taking `count` parameters (session key included).
pub fn find(name: &str, count: usize) -> Option<&'static Method> {
    METHODS
        .iter()
        .find(|m| m.name == name && m.arity() == count)
}

/// Is there any method of this name?
pub fn exists(name: &str) -> bool {
    METHODS.iter().any(|m| m.name == name)
}

/// Is `key` shaped like a Uyuni session key (`^[1-9][0-9]*x[a-f0-9]{64}$`)?
pub fn key_well_formed(key: &str) -> bool {
    let Some((id, hash)) = key.split_once('x') else {
        return false;
    };
    !id.is_empty()
        && !id.starts_with('0')
        && id.bytes().all(|b| b.is_ascii_digit())
        && hash.len() == 64
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Look a session key up (expired keys are as unknown as missing ones).
pub fn lookup_session(model: &Model, key: &str, now: u64) -> Result<Session, Fault> {
    if !key_well_formed(key) {
        return Err(Fault::invalid_session(key));
    }
    model
        .sessions
        .values()
        .find(|s| s.key == key && s.expires > now)
        .cloned()
        .ok_or_else(|| Fault::invalid_session(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_served_is_in_the_catalogue_with_the_same_arity() {
        for m in METHODS {
            let sig = uyuni_api::catalogue::find(m.name, m.params.len())
                .unwrap_or_else(|| panic!("{} is not in the catalogue", m.name));
            assert_eq!(sig.arity(), m.arity(), "{}", m.name);
            assert_eq!(
                (sig.session, sig.params, sig.returns),
                (m.session, m.params, m.returns),
                "{}",
                m.name
            );
            assert_eq!(sig.read_only(), m.read_only(), "{}", m.name);
        }
    }

    #[test]
    fn one_handler_per_overload_found_by_wire_arity() {
        let mut keys: Vec<(&str, usize)> = METHODS.iter().map(|m| (m.name, m.arity())).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "an overload served twice");
        let login = find("auth.login", 3).expect("login with a duration");
        assert!(!login.session && login.params[2].0 == "duration");
        assert!(find("system.getDetails", 2).is_some_and(|m| m.session));
        assert!(find("system.getDetails", 1).is_none());
    }

    #[test]
    fn the_gateways_json_api_maps_every_method_served_by_the_same_names() {
        for m in METHODS.iter().filter(|m| !m.name.starts_with("auth.")) {
            let names: Vec<&str> = m.params.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                gateway::params::overload(m.name, &names),
                Some(m.params),
                "{}",
                m.name
            );
        }
    }
}
