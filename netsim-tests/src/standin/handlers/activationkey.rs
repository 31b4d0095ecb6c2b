//! `activationkey.*`.

use std::collections::BTreeSet;

use sha2::{Digest as _, Sha256};
use uyuni_api::value::{StructBuilder, field_bool, field_int, field_str, int, string, strings};
use uyuni_api::{Fault, Value};

use super::{args, channel_by_label, ok1};
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{ActivationKey, Model, ORG_ID};
use crate::standin::store_pg::{contact_id, q};

/// ActivationKeyAlreadyExistsException.
fn already_exists() -> Fault {
    Fault::xmlrpc(1090, "activation_key_already_exists")
}

/// NoSuchActivationKeyException (10001); the text is unverified.
fn no_such_key(key: &str) -> Fault {
    Fault::xmlrpc(10001, format!("Could not find activation key: {key}"))
}

fn key_struct(m: &Model, k: &ActivationKey) -> Value {
    let chans: Vec<_> = k
        .channels
        .iter()
        .filter_map(|c| m.channels.get(c))
        .collect();
    let base = chans
        .iter()
        .find(|c| c.parent.is_none())
        .map_or("none".to_string(), |c| c.label.clone());
    StructBuilder::new()
        .field("key", string(&k.key))
        .field("description", string(&k.description))
        .field("usage_limit", int(k.usage_limit.unwrap_or(0)))
        .field("base_channel_label", string(base))
        .field(
            "child_channel_labels",
            strings(
                chans
                    .iter()
                    .filter(|c| c.parent.is_some())
                    .map(|c| c.label.clone()),
            ),
        )
        .field("entitlements", strings(k.entitlements.iter().cloned()))
        .field(
            "server_group_ids",
            Value::Array(k.groups.iter().map(|g| int(*g)).collect()),
        )
        .field(
            "package_names",
            strings(k.packages.iter().map(|(n, _)| n.clone())),
        )
        .field(
            "packages",
            Value::Array(
                k.packages
                    .iter()
                    .map(|(n, a)| {
                        let b = StructBuilder::new().field("name", string(n));
                        if a.is_empty() {
                            b.build()
                        } else {
                            b.field("arch", string(a)).build()
                        }
                    })
                    .collect(),
            ),
        )
        .field(
            "universal_default",
            Value::Boolean(m.universal_default == Some(k.id)),
        )
        .field("disabled", Value::Boolean(k.disabled))
        .field("contact_method", string(&k.contact_method))
        .build()
}

fn lookup<'a>(m: &'a Model, key: &str) -> Result<&'a ActivationKey, Fault> {
    m.key_by_name(key).ok_or_else(|| no_such_key(key))
}

fn set_universal_default(ctx: &mut Ctx<'_>, id: i64) {
    ctx.model.universal_default = Some(id);
    ctx.exec(format!(
        "INSERT INTO rhnRegTokenOrgDefault (org_id, reg_token_id) VALUES ({ORG_ID}, {id}) \
         ON CONFLICT (org_id) DO UPDATE SET reg_token_id = EXCLUDED.reg_token_id"
    ));
}

pub(crate) fn list(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(Value::Array(
        ctx.model
            .keys
            .values()
            .map(|k| key_struct(ctx.model, k))
            .collect(),
    ))
}

pub(crate) fn create(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("activationkey.create", p);
    let key = a.str(0).map_err(&e)?;
    let description = a.str(1).map_err(&e)?;
    let base = a.str(2).map_err(&e)?;
    let (usage_limit, ent_idx) = if a.len() == 6 {
        let l = a.int(3).map_err(&e)?;
        ((l > 0).then_some(l), 4)
    } else {
        (None, 3)
    };
    let entitlements: BTreeSet<String> = a
        .array(ent_idx)
        .map_err(&e)?
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let universal = a.bool(ent_idx + 1).map_err(&e)?;
    for ent in &entitlements {
        if !matches!(
            ent.as_str(),
            "container_build_host"
                | "monitoring_entitled"
                | "osimage_build_host"
                | "virtualization_host"
                | "ansible_control_node"
                | "peripheral_server"
        ) {
            return Err(Fault::xmlrpc(1082, format!("Invalid entitlement: {ent}")));
        }
    }
    // Uyuni prefixes keys with "<org id>-"; an empty key gets a random one.
    let key = if key.is_empty() {
        let h = Sha256::digest(rand::random::<[u8; 16]>());
        format!("{ORG_ID}-{}", hex::encode(&h[..16]))
    } else if key.starts_with(&format!("{ORG_ID}-")) {
        key
    } else {
        format!("{ORG_ID}-{key}")
    };
    if ctx.model.key_by_name(&key).is_some() {
        return Err(already_exists());
    }
    let mut channels = BTreeSet::new();
    if !base.is_empty() && base != "none" {
        channels.insert(channel_by_label(ctx.model, &base)?.id);
    }
    let id = ctx.model.next_key_id();
    ctx.exec(format!(
        "INSERT INTO rhnRegToken (id, org_id, note, usage_limit, disabled, contact_method_id) VALUES ({id}, {ORG_ID}, {}, {}, 0, 0)",
        q(&description),
        usage_limit.map_or("NULL".to_string(), |l| l.to_string())
    ));
    ctx.exec(format!(
        "INSERT INTO rhnActivationKey (token, reg_token_id) VALUES ({}, {id})",
        q(&key)
    ));
    for c in &channels {
        ctx.exec(format!(
            "INSERT INTO rhnRegTokenChannels (token_id, channel_id) VALUES ({id}, {c})"
        ));
    }
    for ent in &entitlements {
        ctx.exec(format!(
            "INSERT INTO standin_regtoken_entitlement (reg_token_id, label) VALUES ({id}, {})",
            q(ent)
        ));
    }
    ctx.model.keys.insert(
        id,
        ActivationKey {
            id,
            key: key.clone(),
            description,
            usage_limit,
            disabled: false,
            contact_method: "default".into(),
            channels,
            groups: BTreeSet::new(),
            packages: BTreeSet::new(),
            config_channels: Vec::new(),
            entitlements,
        },
    );
    if universal {
        set_universal_default(ctx, id);
    }
    Ok(string(key))
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("activationkey.delete", p);
    let key = a.str(0).map_err(e)?;
    let id = lookup(ctx.model, &key)?.id;
    ctx.model.keys.remove(&id);
    if ctx.model.universal_default == Some(id) {
        ctx.model.universal_default = None;
        ctx.exec(format!(
            "UPDATE rhnRegTokenOrgDefault SET reg_token_id = NULL WHERE org_id = {ORG_ID}"
        ));
    }
    for t in [
        "rhnRegTokenChannels",
        "rhnRegTokenGroups",
        "rhnRegTokenPackages",
        "rhnRegTokenConfigChannels",
    ] {
        ctx.exec(format!("DELETE FROM {t} WHERE token_id = {id}"));
    }
    ctx.exec(format!(
        "DELETE FROM standin_regtoken_entitlement WHERE reg_token_id = {id}"
    ));
    ctx.exec(format!(
        "DELETE FROM rhnActivationKey WHERE reg_token_id = {id}"
    ));
    ctx.exec(format!("DELETE FROM rhnRegToken WHERE id = {id}"));
    ok1()
}

pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("activationkey.getDetails", p);
    let key = a.str(0).map_err(e)?;
    let k = lookup(ctx.model, &key)?;
    Ok(key_struct(ctx.model, k))
}

pub(crate) fn set_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("activationkey.setDetails", p);
    let key = a.str(0).map_err(&e)?;
    let d = a.strukt(1).map_err(&e)?;
    let mut k = lookup(ctx.model, &key)?.clone();
    if let Some(v) = field_str(d, "description") {
        k.description = v.to_string();
    }
    if let Some(v) = field_int(d, "usage_limit") {
        k.usage_limit = (v > 0).then_some(v);
    }
    if field_bool(d, "unlimited_usage_limit") == Some(true) {
        k.usage_limit = None;
    }
    if let Some(v) = field_bool(d, "disabled") {
        k.disabled = v;
    }
    if let Some(v) = field_str(d, "contact_method") {
        if !matches!(v, "default" | "ssh-push" | "ssh-push-tunnel") {
            return Err(Fault::internal(format!("Invalid contact method: {v}")));
        }
        k.contact_method = v.to_string();
    }
    if let Some(base) = field_str(d, "base_channel_label") {
        let old_base: Vec<i64> = k
            .channels
            .iter()
            .copied()
            .filter(|c| {
                ctx.model
                    .channels
                    .get(c)
                    .is_some_and(|c| c.parent.is_none())
            })
            .collect();
        let new_base = if base.is_empty() || base == "none" {
            None
        } else {
            Some(channel_by_label(ctx.model, base)?.id)
        };
        for c in old_base {
            k.channels.remove(&c);
            ctx.exec(format!(
                "DELETE FROM rhnRegTokenChannels WHERE token_id = {} AND channel_id = {c}",
                k.id
            ));
        }
        if let Some(c) = new_base {
            k.channels.insert(c);
            ctx.exec(format!(
                "INSERT INTO rhnRegTokenChannels (token_id, channel_id) VALUES ({}, {c}) ON CONFLICT DO NOTHING",
                k.id
            ));
        }
    }
    ctx.exec(format!(
        "UPDATE rhnRegToken SET note = {}, usage_limit = {}, disabled = {}, contact_method_id = {} WHERE id = {}",
        q(&k.description),
        k.usage_limit.map_or("NULL".to_string(), |l| l.to_string()),
        i64::from(k.disabled),
        contact_id(&k.contact_method),
        k.id
    ));
    let id = k.id;
    ctx.model.keys.insert(id, k);
    if field_bool(d, "universal_default") == Some(true) {
        set_universal_default(ctx, id);
    }
    ok1()
}

fn labels(a: &[Value]) -> Vec<String> {
    a.iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// `addChildChannels` / `removeChildChannels`: child channels by label.
fn child_channels(ctx: &mut Ctx<'_>, p: &[Value], add: bool) -> Reply {
    let method = if add {
        "activationkey.addChildChannels"
    } else {
        "activationkey.removeChildChannels"
    };
    let (a, e) = args(method, p);
    let key = a.str(0).map_err(&e)?;
    let wanted = labels(&a.array(1).map_err(&e)?);
    let mut k = lookup(ctx.model, &key)?.clone();
    for label in wanted {
        let ch = channel_by_label(ctx.model, &label)?;
        if ch.parent.is_none() {
            return Err(Fault::xmlrpc(
                1210,
                format!("Invalid channel: {label} is not a child channel"),
            ));
        }
        let c = ch.id;
        if add && k.channels.insert(c) {
            ctx.exec(format!(
                "INSERT INTO rhnRegTokenChannels (token_id, channel_id) VALUES ({}, {c}) ON CONFLICT DO NOTHING",
                k.id
            ));
        } else if !add && k.channels.remove(&c) {
            ctx.exec(format!(
                "DELETE FROM rhnRegTokenChannels WHERE token_id = {} AND channel_id = {c}",
                k.id
            ));
        }
    }
    ctx.model.keys.insert(k.id, k);
    ok1()
}

pub(crate) fn add_child_channels(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    child_channels(ctx, p, true)
}

pub(crate) fn remove_child_channels(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    child_channels(ctx, p, false)
}

/// `addServerGroups` / `removeServerGroups`: groups by id.
fn server_groups(ctx: &mut Ctx<'_>, p: &[Value], add: bool) -> Reply {
    let method = if add {
        "activationkey.addServerGroups"
    } else {
        "activationkey.removeServerGroups"
    };
    let (a, e) = args(method, p);
    let key = a.str(0).map_err(&e)?;
    let ids: Vec<i64> = a
        .array(1)
        .map_err(&e)?
        .iter()
        .filter_map(|v| match v {
            Value::Integer(i) => Some(i64::from(*i)),
            Value::Long(i) => Some(*i),
            _ => None,
        })
        .collect();
    let mut k = lookup(ctx.model, &key)?.clone();
    for g in ids {
        if !ctx.model.groups.contains_key(&g) {
            return Err(Fault::xmlrpc(
                2201,
                format!("Unable to locate or access server group: {g}"),
            ));
        }
        if add && k.groups.insert(g) {
            ctx.exec(format!(
                "INSERT INTO rhnRegTokenGroups (token_id, server_group_id) VALUES ({}, {g}) ON CONFLICT DO NOTHING",
                k.id
            ));
        } else if !add && k.groups.remove(&g) {
            ctx.exec(format!(
                "DELETE FROM rhnRegTokenGroups WHERE token_id = {} AND server_group_id = {g}",
                k.id
            ));
        }
    }
    ctx.model.keys.insert(k.id, k);
    ok1()
}

pub(crate) fn add_server_groups(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    server_groups(ctx, p, true)
}

pub(crate) fn remove_server_groups(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    server_groups(ctx, p, false)
}

/// `addPackages` / `removePackages`: `[{name, arch?}]`. A name Uyuni has not seen gets its
/// `rhnPackageName` row, as `lookup_package_name` does.
fn packages(ctx: &mut Ctx<'_>, p: &[Value], add: bool) -> Reply {
    let method = if add {
        "activationkey.addPackages"
    } else {
        "activationkey.removePackages"
    };
    let (a, e) = args(method, p);
    let key = a.str(0).map_err(&e)?;
    let mut wanted = Vec::new();
    for v in a.array(1).map_err(&e)? {
        let Value::Struct(d) = v else {
            return Err(Fault::xmlrpc(-1, "packages must be structs {name, arch}"));
        };
        let name = field_str(&d, "name").unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(Fault::xmlrpc(-1, "a package needs a name"));
        }
        let arch = field_str(&d, "arch").unwrap_or_default().to_string();
        if !arch.is_empty() && !matches!(arch.as_str(), "noarch" | "x86_64" | "aarch64" | "i686") {
            return Err(Fault::xmlrpc(-1, format!("Invalid package arch: {arch}")));
        }
        wanted.push((name, arch));
    }
    let mut k = lookup(ctx.model, &key)?.clone();
    for (name, arch) in wanted {
        let arch_id = if arch.is_empty() {
            "NULL".to_string()
        } else {
            format!("(SELECT id FROM rhnPackageArch WHERE label = {})", q(&arch))
        };
        if add && k.packages.insert((name.clone(), arch.clone())) {
            ctx.exec(format!(
                "INSERT INTO rhnPackageName (id, name) SELECT nextval('rhn_pkg_name_seq'), {n} \
                 WHERE NOT EXISTS (SELECT 1 FROM rhnPackageName WHERE name = {n})",
                n = q(&name)
            ));
            ctx.exec(format!(
                "INSERT INTO rhnRegTokenPackages (id, token_id, name_id, arch_id) \
                 VALUES (nextval('rhn_reg_tok_pkg_id_seq'), {}, (SELECT id FROM rhnPackageName WHERE name = {}), {arch_id})",
                k.id,
                q(&name)
            ));
        } else if !add && k.packages.remove(&(name.clone(), arch.clone())) {
            ctx.exec(format!(
                "DELETE FROM rhnRegTokenPackages WHERE token_id = {} \
                 AND name_id = (SELECT id FROM rhnPackageName WHERE name = {}) AND arch_id IS NOT DISTINCT FROM {arch_id}",
                k.id,
                q(&name)
            ));
        }
    }
    ctx.model.keys.insert(k.id, k);
    ok1()
}

pub(crate) fn add_packages(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    packages(ctx, p, true)
}

pub(crate) fn remove_packages(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    packages(ctx, p, false)
}

pub(crate) fn list_config_channels(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("activationkey.listConfigChannels", p);
    let k = lookup(ctx.model, &a.str(0).map_err(e)?)?;
    Ok(Value::Array(
        k.config_channels
            .iter()
            .filter_map(|c| ctx.model.config_channels.get(c))
            .map(|c| {
                StructBuilder::new()
                    .field("id", int(c.id))
                    .field("label", string(&c.label))
                    .field("name", string(&c.name))
                    .field("description", string(&c.description))
                    .build()
            })
            .collect(),
    ))
}

/// `setConfigChannels(keys, labels)`: each key's configuration channels become `labels`, in
/// that order.
pub(crate) fn set_config_channels(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("activationkey.setConfigChannels", p);
    let keys = labels(&a.array(0).map_err(&e)?);
    let mut ids = Vec::new();
    for l in labels(&a.array(1).map_err(&e)?) {
        let c = ctx
            .model
            .config_channel_by_label(&l)
            .ok_or_else(|| Fault::xmlrpc(4000, format!("No such configuration channel: {l}")))?;
        if !ids.contains(&c.id) {
            ids.push(c.id);
        }
    }
    let mut changed = Vec::new();
    for key in keys {
        let mut k = lookup(ctx.model, &key)?.clone();
        k.config_channels = ids.clone();
        changed.push(k);
    }
    for k in changed {
        ctx.exec(format!(
            "DELETE FROM rhnRegTokenConfigChannels WHERE token_id = {}",
            k.id
        ));
        for (i, c) in k.config_channels.iter().enumerate() {
            ctx.exec(format!(
                "INSERT INTO rhnRegTokenConfigChannels (token_id, config_channel_id, position) VALUES ({}, {c}, {})",
                k.id,
                i + 1
            ));
        }
        ctx.model.keys.insert(k.id, k);
    }
    ok1()
}

/// `activationkey.checkConfigDeployment(key)`: whether systems registered with the key deploy
/// its configuration files; the stand-in keeps no such flag: 0 (Uyuni's default).
pub(crate) fn check_config_deployment(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("activationkey.checkConfigDeployment", p);
    lookup(ctx.model, &a.str(0).map_err(e)?)?;
    Ok(int(0))
}

/// `activationkey.listActivatedSystems(key)`: the systems registered with the key; the
/// stand-in records no registration by key (systems are seeded or registered by a test
/// hook): none.
pub(crate) fn list_activated_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("activationkey.listActivatedSystems", p);
    lookup(ctx.model, &a.str(0).map_err(e)?)?;
    Ok(Value::Array(Vec::new()))
}
