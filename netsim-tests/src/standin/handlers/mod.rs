//! The method implementations, one module per Uyuni namespace, and the serializers they share.

pub mod activationkey;
pub mod api;
pub mod auth;
pub mod channel;
pub mod configchannel;
pub mod contentmanagement;
pub mod errata;
pub mod org;
pub mod packages;
pub mod saltkey;
pub mod schedule;
pub mod system;
pub mod system_actions;
pub mod system_hw;
pub mod systemgroup;
pub mod user;

use uyuni_api::value::{Args, StructBuilder, date_ms, int, string};
use uyuni_api::{Fault, Value};

use super::dispatch::{Ctx, bad_arg};
use super::state::{Channel, Model, Server};

/// Parameters of a call, with type errors reported as Uyuni does (no such method).
pub(crate) fn args<'a>(
    method: &'static str,
    p: &'a [Value],
) -> (Args<'a>, impl Fn(uyuni_api::value::ArgError) -> Fault + 'a) {
    (Args(p), bad_arg(method, p))
}

/// `No such system - sid = N`.
pub(crate) fn server(m: &Model, sid: i64) -> Result<&Server, Fault> {
    m.servers
        .get(&sid)
        .ok_or_else(|| Fault::no_such_system(sid))
}

/// `No such channel: LABEL` (NoSuchChannelException, -210).
pub(crate) fn no_such_channel(label: &str) -> Fault {
    Fault::xmlrpc(-210, format!("No such channel: {label}"))
}

/// A channel by label or fault.
pub(crate) fn channel_by_label<'a>(m: &'a Model, label: &str) -> Result<&'a Channel, Fault> {
    m.channel_by_label(label)
        .ok_or_else(|| no_such_channel(label))
}

/// `ChannelSerializer`.
pub(crate) fn channel_struct(m: &Model, c: &Channel) -> Value {
    let arch = m.arch(c.arch_id);
    let parent = m.parent_label(c);
    StructBuilder::new()
        .field("id", int(c.id))
        .field("label", string(&c.label))
        .field("name", string(&c.name))
        .field(
            "arch_name",
            string(arch.map(|a| a.name.as_str()).unwrap_or("")),
        )
        .field(
            "arch_label",
            string(arch.map(|a| a.label.as_str()).unwrap_or("")),
        )
        .field("summary", string(&c.summary))
        .field("description", string(&c.description))
        .field("checksum_label", string(&c.checksum))
        .field("last_modified", date_ms(c.last_modified))
        .field("maintainer_name", string(&c.maint_name))
        .field("maintainer_email", string(&c.maint_email))
        .field("maintainer_phone", string(&c.maint_phone))
        .field("support_policy", string(&c.support_policy))
        .field("gpg_key_url", string(&c.gpg_key_url))
        .field("gpg_key_id", string(&c.gpg_key_id))
        .field("gpg_key_fp", string(&c.gpg_key_fp))
        .field("gpg_check", Value::Boolean(c.gpg_check))
        .field("contentSources", Value::Array(vec![]))
        .field("end_of_life", string(""))
        .field("parent_channel_label", string(parent))
        .field("clone_original", string(""))
        .build()
}

/// `ServerSerializer` (system.getDetails, systemgroup.listSystems).
pub(crate) fn server_struct(ctx: &Ctx<'_>, s: &Server) -> Value {
    StructBuilder::new()
        .field("id", int(s.id))
        .field("profile_name", string(&s.name))
        .field("machine_id", string(&s.machine_id))
        .opt("minion_id", s.minion_id.as_deref().map(string))
        .field("hostname", string(&s.hostname))
        .field("base_entitlement", string("salt_entitled"))
        .field("addon_entitlements", Value::Array(vec![]))
        .field("auto_update", Value::Boolean(s.auto_update))
        .field("release", string(&s.release))
        .field("address1", string(""))
        .field("address2", string(""))
        .field("city", string(""))
        .field("state", string(""))
        .field("country", string(""))
        .field("building", string(""))
        .field("room", string(""))
        .field("rack", string(""))
        .field("description", string(&s.description))
        .field("last_boot", date_ms(s.created))
        .field("osa_status", string("unknown"))
        .field("lock_status", Value::Boolean(false))
        .field("contact_method", string("default"))
        .field("payg", Value::Boolean(false))
        .field("virtualization", string(""))
        .field("fqdn_of_server", string(&ctx.cfg.fqdn))
        .build()
}

/// `1`, the usual success value.
pub(crate) fn ok1() -> Result<Value, Fault> {
    Ok(Value::Integer(1))
}
