//! `org.listOrgs`, `org.getDetails` (OrgHandler, OrgDtoSerializer): the one organisation of
//! the stand-in (`web_customer` 1), its counts taken from the model.

use uyuni_api::value::{StructBuilder, int, string};
use uyuni_api::{Fault, Value};

use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{Model, ORG_ID};

/// The organisation's name (`web_customer.name` of `sql/standin.sql`).
pub(crate) const ORG_NAME: &str = "Default Organization";

/// NoSuchOrgException (2850). The message text is unverified.
fn no_such_org(what: &str) -> Fault {
    Fault::xmlrpc(2850, format!("No such organization - {what}"))
}

fn org_struct(m: &Model) -> Value {
    StructBuilder::new()
        .field("id", int(ORG_ID))
        .field("name", string(ORG_NAME))
        .field(
            "active_users",
            int(1 + m.users.values().filter(|u| u.org_id == ORG_ID).count() as i64),
        )
        .field("systems", int(m.servers.len() as i64))
        .field("trusts", int(0))
        .field("system_groups", int(m.groups.len() as i64))
        .field("activation_keys", int(m.keys.len() as i64))
        .field("kickstart_profiles", int(0))
        .field(
            "configuration_channels",
            int(m.config_channels.len() as i64),
        )
        .field("staging_content_enabled", Value::Boolean(false))
        .build()
}

pub(crate) fn list_orgs(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(Value::Array(vec![org_struct(ctx.model)]))
}

/// By name (`String name`) or by id (`int orgId`).
pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    match p.first() {
        Some(Value::String(name)) if name == ORG_NAME => Ok(org_struct(ctx.model)),
        Some(Value::String(name)) => Err(no_such_org(name)),
        Some(v) => match uyuni_api::value::as_i64(v) {
            Some(ORG_ID) => Ok(org_struct(ctx.model)),
            Some(id) => Err(no_such_org(&id.to_string())),
            None => Err(crate::standin::dispatch::no_method("org.getDetails", p)),
        },
        None => Err(crate::standin::dispatch::no_method("org.getDetails", p)),
    }
}
