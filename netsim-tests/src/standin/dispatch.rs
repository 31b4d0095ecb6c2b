//! Method table and dispatch, the way Uyuni's `BaseHandler` does it: by name **and** number of
//! parameters (overloads with different counts are separate entries), the session key in
//! position 0 swapped for the logged-in user.

use std::path::PathBuf;

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

/// One callable method (one overload).
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
    /// Read-only by Uyuni's naming rule (`@ReadOnly` / `list|get|is|find|lookup*`): GET in the
    /// JSON API, and no write transaction.
    pub fn read_only(&self) -> bool {
        gateway::params::read_only(self.name)
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

macro_rules! m {
    ($name:literal, $session:expr, [$(($p:literal, $t:literal)),* $(,)?], $ret:literal, $h:path) => {
        Method {
            name: $name,
            session: $session,
            params: &[$(($p, $t)),*],
            returns: $ret,
            handler: $h,
        }
    };
}

/// Every method the stand-in implements.
pub static METHODS: &[Method] = &[
    // api
    m!(
        "api.getVersion",
        false,
        [],
        "string",
        handlers::api::get_version
    ),
    m!(
        "api.systemVersion",
        false,
        [],
        "string",
        handlers::api::system_version
    ),
    m!(
        "api.getApiNamespaces",
        true,
        [],
        "struct",
        handlers::api::namespaces
    ),
    m!(
        "api.getApiNamespaceCallList",
        true,
        [("namespace", "string")],
        "struct",
        handlers::api::namespace_call_list
    ),
    m!(
        "api.getApiCallList",
        true,
        [],
        "struct",
        handlers::api::call_list
    ),
    // auth
    m!(
        "auth.login",
        false,
        [("username", "string"), ("password", "string")],
        "string",
        handlers::auth::login
    ),
    m!(
        "auth.login",
        false,
        [
            ("username", "string"),
            ("password", "string"),
            ("duration", "int")
        ],
        "string",
        handlers::auth::login
    ),
    m!("auth.logout", true, [], "int", handlers::auth::logout),
    // user
    m!(
        "user.listAssignableRoles",
        true,
        [],
        "array",
        handlers::auth::list_assignable_roles
    ),
    // system
    m!(
        "system.listSystems",
        true,
        [],
        "array",
        handlers::system::list_systems
    ),
    m!(
        "system.getDetails",
        true,
        [("sid", "int")],
        "struct",
        handlers::system::get_details
    ),
    m!(
        "system.getName",
        true,
        [("sid", "int")],
        "struct",
        handlers::system::get_name
    ),
    m!(
        "system.getId",
        true,
        [("name", "string")],
        "array",
        handlers::system::get_id
    ),
    m!(
        "system.getMinionIdMap",
        true,
        [],
        "struct",
        handlers::system::get_minion_id_map
    ),
    m!(
        "system.getNetwork",
        true,
        [("sid", "int")],
        "struct",
        handlers::system::get_network
    ),
    m!(
        "system.listGroups",
        true,
        [("sid", "int")],
        "array",
        handlers::system::list_groups
    ),
    m!(
        "system.getRegistrationDate",
        true,
        [("sid", "int")],
        "date",
        handlers::system::get_registration_date
    ),
    m!(
        "system.getUuid",
        true,
        [("sid", "int")],
        "string",
        handlers::system::get_uuid
    ),
    m!(
        "system.getSubscribedBaseChannel",
        true,
        [("sid", "int")],
        "struct",
        handlers::system::get_base_channel
    ),
    m!(
        "system.listSubscribedChildChannels",
        true,
        [("sid", "int")],
        "array",
        handlers::system::list_child_channels
    ),
    m!(
        "system.getEntitlements",
        true,
        [("sid", "int")],
        "array",
        handlers::system::get_entitlements
    ),
    m!(
        "system.deleteSystem",
        true,
        [("sid", "int")],
        "int",
        handlers::system::delete_system
    ),
    m!(
        "system.deleteSystem",
        true,
        [("sid", "int"), ("cleanupType", "string")],
        "int",
        handlers::system::delete_system
    ),
    m!(
        "system.deleteSystems",
        true,
        [("sids", "array")],
        "int",
        handlers::system::delete_systems
    ),
    m!(
        "system.deleteSystems",
        true,
        [("sids", "array"), ("cleanupType", "string")],
        "int",
        handlers::system::delete_systems
    ),
    m!(
        "system.search.nameAndDescription",
        true,
        [("searchTerm", "string")],
        "array",
        handlers::system::search_name
    ),
    m!(
        "system.search.hostname",
        true,
        [("searchTerm", "string")],
        "array",
        handlers::system::search_hostname
    ),
    m!(
        "system.search.ip",
        true,
        [("searchTerm", "string")],
        "array",
        handlers::system::search_ip
    ),
    // systemgroup
    m!(
        "systemgroup.listAllGroups",
        true,
        [],
        "array",
        handlers::systemgroup::list_all_groups
    ),
    m!(
        "systemgroup.listSystems",
        true,
        [("systemGroupName", "string")],
        "array",
        handlers::systemgroup::list_systems
    ),
    m!(
        "systemgroup.create",
        true,
        [("name", "string"), ("description", "string")],
        "struct",
        handlers::systemgroup::create
    ),
    m!(
        "systemgroup.delete",
        true,
        [("systemGroupName", "string")],
        "int",
        handlers::systemgroup::delete
    ),
    m!(
        "systemgroup.getDetails",
        true,
        [("systemGroupName", "string")],
        "struct",
        handlers::systemgroup::get_details
    ),
    m!(
        "systemgroup.update",
        true,
        [("systemGroupName", "string"), ("description", "string")],
        "struct",
        handlers::systemgroup::update
    ),
    m!(
        "systemgroup.addOrRemoveSystems",
        true,
        [
            ("systemGroupName", "string"),
            ("serverIds", "array"),
            ("add", "boolean")
        ],
        "int",
        handlers::systemgroup::add_or_remove_systems
    ),
    // channel
    m!(
        "channel.listAllChannels",
        true,
        [],
        "array",
        handlers::channel::list_all_channels
    ),
    m!(
        "channel.listSoftwareChannels",
        true,
        [],
        "array",
        handlers::channel::list_software_channels
    ),
    m!(
        "channel.software.create",
        true,
        [
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string")
        ],
        "int",
        handlers::channel::create
    ),
    m!(
        "channel.software.create",
        true,
        [
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string"),
            ("checksumType", "string")
        ],
        "int",
        handlers::channel::create
    ),
    m!(
        "channel.software.create",
        true,
        [
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string"),
            ("checksumType", "string"),
            ("gpgKey", "struct")
        ],
        "int",
        handlers::channel::create
    ),
    m!(
        "channel.software.create",
        true,
        [
            ("label", "string"),
            ("name", "string"),
            ("summary", "string"),
            ("archLabel", "string"),
            ("parentLabel", "string"),
            ("checksumType", "string"),
            ("gpgKey", "struct"),
            ("gpgCheck", "boolean")
        ],
        "int",
        handlers::channel::create
    ),
    m!(
        "channel.software.delete",
        true,
        [("channelLabel", "string")],
        "int",
        handlers::channel::delete
    ),
    m!(
        "channel.software.getDetails",
        true,
        [("channelLabel", "string")],
        "struct",
        handlers::channel::get_details
    ),
    m!(
        "channel.software.setDetails",
        true,
        [("channelId", "int"), ("details", "struct")],
        "int",
        handlers::channel::set_details
    ),
    m!(
        "channel.software.listSubscribedSystems",
        true,
        [("channelLabel", "string")],
        "array",
        handlers::channel::list_subscribed_systems
    ),
    m!(
        "channel.software.listAllPackages",
        true,
        [("channelLabel", "string")],
        "array",
        handlers::channel::list_all_packages
    ),
    m!(
        "channel.software.listErrata",
        true,
        [("channelLabel", "string")],
        "array",
        handlers::channel::list_errata
    ),
    // activationkey
    m!(
        "activationkey.listActivationKeys",
        true,
        [],
        "array",
        handlers::activationkey::list
    ),
    m!(
        "activationkey.create",
        true,
        [
            ("key", "string"),
            ("description", "string"),
            ("baseChannelLabel", "string"),
            ("usageLimit", "int"),
            ("entitlements", "array"),
            ("universalDefault", "boolean")
        ],
        "string",
        handlers::activationkey::create
    ),
    m!(
        "activationkey.create",
        true,
        [
            ("key", "string"),
            ("description", "string"),
            ("baseChannelLabel", "string"),
            ("entitlements", "array"),
            ("universalDefault", "boolean")
        ],
        "string",
        handlers::activationkey::create
    ),
    m!(
        "activationkey.delete",
        true,
        [("key", "string")],
        "int",
        handlers::activationkey::delete
    ),
    m!(
        "activationkey.getDetails",
        true,
        [("key", "string")],
        "struct",
        handlers::activationkey::get_details
    ),
    m!(
        "activationkey.setDetails",
        true,
        [("key", "string"), ("details", "struct")],
        "int",
        handlers::activationkey::set_details
    ),
    // saltkey
    m!(
        "saltkey.acceptedList",
        true,
        [],
        "array",
        handlers::saltkey::accepted_list
    ),
    m!(
        "saltkey.pendingList",
        true,
        [],
        "array",
        handlers::saltkey::pending_list
    ),
    m!(
        "saltkey.rejectedList",
        true,
        [],
        "array",
        handlers::saltkey::rejected_list
    ),
    m!(
        "saltkey.deniedList",
        true,
        [],
        "array",
        handlers::saltkey::denied_list
    ),
    m!(
        "saltkey.accept",
        true,
        [("minionId", "string")],
        "int",
        handlers::saltkey::accept
    ),
    m!(
        "saltkey.reject",
        true,
        [("minionId", "string")],
        "int",
        handlers::saltkey::reject
    ),
    m!(
        "saltkey.delete",
        true,
        [("minionId", "string")],
        "int",
        handlers::saltkey::delete
    ),
    // schedule
    m!(
        "schedule.listInProgressActions",
        true,
        [],
        "array",
        handlers::schedule::empty_list
    ),
    m!(
        "schedule.listCompletedActions",
        true,
        [],
        "array",
        handlers::schedule::empty_list
    ),
    m!(
        "schedule.listFailedActions",
        true,
        [],
        "array",
        handlers::schedule::empty_list
    ),
    m!(
        "schedule.listAllActions",
        true,
        [],
        "array",
        handlers::schedule::empty_list
    ),
    // contentmanagement
    m!(
        "contentmanagement.listProjects",
        true,
        [],
        "array",
        handlers::contentmanagement::list_projects
    ),
    m!(
        "contentmanagement.lookupProject",
        true,
        [("label", "string")],
        "struct",
        handlers::contentmanagement::lookup_project
    ),
    m!(
        "contentmanagement.createProject",
        true,
        [
            ("label", "string"),
            ("name", "string"),
            ("description", "string")
        ],
        "struct",
        handlers::contentmanagement::create_project
    ),
    m!(
        "contentmanagement.updateProject",
        true,
        [("label", "string"), ("props", "struct")],
        "struct",
        handlers::contentmanagement::update_project
    ),
    m!(
        "contentmanagement.removeProject",
        true,
        [("label", "string")],
        "int",
        handlers::contentmanagement::remove_project
    ),
    m!(
        "contentmanagement.listProjectEnvironments",
        true,
        [("projectLabel", "string")],
        "array",
        handlers::contentmanagement::list_environments
    ),
    m!(
        "contentmanagement.createEnvironment",
        true,
        [
            ("projectLabel", "string"),
            ("predecessorLabel", "string"),
            ("label", "string"),
            ("name", "string"),
            ("description", "string")
        ],
        "struct",
        handlers::contentmanagement::create_environment
    ),
    m!(
        "contentmanagement.lookupEnvironment",
        true,
        [("projectLabel", "string"), ("envLabel", "string")],
        "struct",
        handlers::contentmanagement::lookup_environment
    ),
    m!(
        "contentmanagement.removeEnvironment",
        true,
        [("projectLabel", "string"), ("envLabel", "string")],
        "int",
        handlers::contentmanagement::remove_environment
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
