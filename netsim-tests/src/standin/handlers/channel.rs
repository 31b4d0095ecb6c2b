//! `channel.*` and `channel.software.*`.

use uyuni_api::value::{StructBuilder, date_ms, field_bool, field_str, int, string};
use uyuni_api::{Fault, Value};

use super::{args, channel_by_label, channel_struct, no_such_channel, ok1};
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{Channel, ORG_ID};
use crate::standin::store_pg::{q, qn, ts, yn};

/// Checksum labels and their `rhnChecksumType` ids (as seeded by the schema).
const CHECKSUMS: &[(&str, i64)] = &[
    ("md5", 1),
    ("sha1", 2),
    ("sha256", 3),
    ("sha384", 4),
    ("sha512", 5),
];

fn checksum_id(label: &str) -> Option<i64> {
    CHECKSUMS.iter().find(|(l, _)| *l == label).map(|(_, i)| *i)
}

pub(crate) fn list_all_channels(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    let m = &*ctx.model;
    Ok(Value::Array(
        m.channels
            .values()
            .map(|c| {
                let packages = m
                    .channel_packages
                    .iter()
                    .filter(|(x, _)| *x == c.id)
                    .count();
                let systems = m.server_channels.iter().filter(|(_, x)| *x == c.id).count();
                StructBuilder::new()
                    .field("id", int(c.id))
                    .field("label", string(&c.label))
                    .field("name", string(&c.name))
                    .field("provider_name", string("Default Organization"))
                    .field("packages", int(packages as i64))
                    .field("systems", int(systems as i64))
                    .field(
                        "arch_name",
                        string(m.arch(c.arch_id).map(|a| a.name.as_str()).unwrap_or("")),
                    )
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn list_software_channels(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    let m = &*ctx.model;
    Ok(Value::Array(
        m.channels
            .values()
            .map(|c| {
                let parent = m.parent_label(c);
                StructBuilder::new()
                    .field("label", string(&c.label))
                    .field("name", string(&c.name))
                    .field("parent_label", string(parent))
                    .field("end_of_life", string(""))
                    .field(
                        "arch",
                        string(m.arch(c.arch_id).map(|a| a.name.as_str()).unwrap_or("")),
                    )
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn create(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("channel.software.create", p);
    let label = a.str(0).map_err(&e)?;
    let name = a.str(1).map_err(&e)?;
    let summary = a.str(2).map_err(&e)?;
    let arch_label = a.str(3).map_err(&e)?;
    let parent_label = a.str(4).map_err(&e)?;
    let checksum = if a.len() > 5 {
        a.str(5).map_err(&e)?
    } else {
        "sha256".into()
    };
    let gpg = if a.len() > 6 {
        Some(a.strukt(6).map_err(&e)?)
    } else {
        None
    };
    let gpg_check = if a.len() > 7 {
        a.bool(7).map_err(&e)?
    } else {
        true
    };
    let gpg_field = |k: &str| gpg.and_then(|g| field_str(g, k)).unwrap_or("").to_string();

    if label.len() < 6 {
        return Err(Fault::xmlrpc(1201, "Invalid channel label"));
    }
    if ctx.model.channel_by_label(&label).is_some() {
        // InvalidChannelLabelException(LABEL_IN_USE); the localized text is unverified.
        return Err(Fault::xmlrpc(
            1201,
            format!(
                "The channel label '{label}' is already in use, please enter a different label"
            ),
        ));
    }
    if name.len() < 6 {
        return Err(Fault::xmlrpc(1202, "Invalid channel name"));
    }
    if ctx.model.channels.values().any(|c| c.name == name) {
        return Err(Fault::xmlrpc(
            1202,
            format!("The channel name '{name}' is already in use, please enter a different name"),
        ));
    }
    let arch_id = ctx
        .model
        .arches
        .iter()
        .find(|x| x.label == arch_label)
        .map(|x| x.id)
        .ok_or_else(|| Fault::xmlrpc(1203, format!("Invalid architecture label: {arch_label}")))?;
    let parent = if parent_label.is_empty() {
        None
    } else {
        let pc = ctx.model.channel_by_label(&parent_label).ok_or_else(|| {
            Fault::xmlrpc(1205, format!("Invalid parent channel: {parent_label}"))
        })?;
        if pc.parent.is_some() {
            return Err(Fault::xmlrpc(
                1205,
                format!("Invalid parent channel: {parent_label}"),
            ));
        }
        Some(pc.id)
    };
    let checksum_id = checksum_id(&checksum)
        .ok_or_else(|| Fault::xmlrpc(1207, format!("Invalid checksum label: {checksum}")))?;
    let id = ctx.model.next_channel_id();
    let c = Channel {
        id,
        parent,
        arch_id,
        label,
        name,
        summary,
        description: String::new(),
        gpg_check,
        gpg_key_url: gpg_field("url"),
        gpg_key_id: gpg_field("id"),
        gpg_key_fp: gpg_field("fingerprint"),
        checksum,
        maint_name: String::new(),
        maint_email: String::new(),
        maint_phone: String::new(),
        support_policy: String::new(),
        last_modified: ctx.now,
    };
    ctx.exec(format!(
        "INSERT INTO rhnChannel (id, parent_channel, org_id, channel_arch_id, label, basedir, name, summary, status, description, \
         gpg_check, gpg_key_url, gpg_key_id, gpg_key_fp, checksum_type_id, last_modified, created, modified) \
         VALUES ({id}, {}, {ORG_ID}, {arch_id}, {}, '/dev/null', {}, {}, 'active', NULL, {}, {}, {}, {}, {checksum_id}, {}, {}, {})",
        parent.map_or("NULL".to_string(), |p| p.to_string()),
        q(&c.label),
        q(&c.name),
        q(&c.summary),
        yn(c.gpg_check),
        qn(&c.gpg_key_url),
        qn(&c.gpg_key_id),
        qn(&c.gpg_key_fp),
        ts(ctx.now),
        ts(ctx.now),
        ts(ctx.now)
    ));
    ctx.model.channels.insert(id, c);
    ok1()
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("channel.software.delete", p);
    let label = a.str(0).map_err(e)?;
    let id = channel_by_label(ctx.model, &label)?.id;
    if ctx.model.channels.values().any(|c| c.parent == Some(id)) {
        // Uyuni refuses to delete a base channel that has children (text unverified).
        return Err(Fault::xmlrpc(
            1200,
            format!("Unable to delete channel {label}: it has child channels"),
        ));
    }
    ctx.model.channels.remove(&id);
    ctx.model.channel_packages.retain(|(c, _)| *c != id);
    for pr in ctx.model.projects.values_mut() {
        pr.sources.remove(&id);
    }
    ctx.model.server_channels.retain(|(_, c)| *c != id);
    for k in ctx.model.keys.values_mut() {
        k.channels.remove(&id);
    }
    for t in [
        "rhnChannelPackage",
        "rhnServerChannel",
        "rhnRegTokenChannels",
    ] {
        ctx.exec(format!("DELETE FROM {t} WHERE channel_id = {id}"));
    }
    ctx.exec(format!("DELETE FROM rhnChannel WHERE id = {id}"));
    ok1()
}

fn lookup<'a>(ctx: &'a Ctx<'_>, v: Option<&Value>) -> Result<&'a Channel, Fault> {
    match v {
        Some(Value::Integer(_) | Value::Long(_)) => {
            let id = v.and_then(uyuni_api::value::as_i64).unwrap_or(0);
            ctx.model
                .channels
                .get(&id)
                .ok_or_else(|| Fault::xmlrpc(-210, format!("No such channel with id: {id}")))
        }
        Some(Value::String(label)) => channel_by_label(ctx.model, label),
        _ => Err(no_such_channel("")),
    }
}

pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let c = lookup(ctx, p.first())?;
    Ok(channel_struct(ctx.model, c))
}

pub(crate) fn set_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("channel.software.setDetails", p);
    let details = a.strukt(1).map_err(&e)?;
    let id = lookup(ctx, p.first())?.id;
    const VALID: &[&str] = &[
        "checksum_label",
        "name",
        "summary",
        "description",
        "maintainer_name",
        "maintainer_email",
        "maintainer_phone",
        "gpg_key_url",
        "gpg_key_id",
        "gpg_key_fp",
        "gpg_check",
        "vendor_channel",
    ];
    if let Some(bad) = details.keys().find(|k| !VALID.contains(&k.as_str())) {
        return Err(Fault::xmlrpc(
            -1,
            format!("unhandled internal exception: Invalid key: {bad}"),
        ));
    }
    let mut c = ctx
        .model
        .channels
        .get(&id)
        .cloned()
        .ok_or_else(|| no_such_channel(&id.to_string()))?;
    let s = |k: &str| field_str(details, k).map(str::to_string);
    if let Some(v) = s("checksum_label") {
        checksum_id(&v)
            .ok_or_else(|| Fault::xmlrpc(1207, format!("Invalid checksum label: {v}")))?;
        c.checksum = v;
    }
    if let Some(v) = s("name") {
        c.name = v;
    }
    if let Some(v) = s("summary") {
        c.summary = v;
    }
    if let Some(v) = s("description") {
        c.description = v;
    }
    if let Some(v) = s("maintainer_name") {
        c.maint_name = v;
    }
    if let Some(v) = s("maintainer_email") {
        c.maint_email = v;
    }
    if let Some(v) = s("maintainer_phone") {
        c.maint_phone = v;
    }
    if let Some(v) = s("gpg_key_url") {
        c.gpg_key_url = v;
    }
    if let Some(v) = s("gpg_key_id") {
        c.gpg_key_id = v;
    }
    if let Some(v) = s("gpg_key_fp") {
        c.gpg_key_fp = v;
    }
    if let Some(b) = field_bool(details, "gpg_check")
        .or_else(|| field_str(details, "gpg_check").map(|v| v.eq_ignore_ascii_case("true")))
    {
        c.gpg_check = b;
    }
    c.last_modified = ctx.now;
    ctx.exec(format!(
        "UPDATE rhnChannel SET name = {}, summary = {}, description = {}, maint_name = {}, maint_email = {}, \
         maint_phone = {}, gpg_key_url = {}, gpg_key_id = {}, gpg_key_fp = {}, gpg_check = {}, \
         checksum_type_id = {}, last_modified = {}, modified = {} WHERE id = {id}",
        q(&c.name),
        q(&c.summary),
        qn(&c.description),
        qn(&c.maint_name),
        qn(&c.maint_email),
        qn(&c.maint_phone),
        qn(&c.gpg_key_url),
        qn(&c.gpg_key_id),
        qn(&c.gpg_key_fp),
        yn(c.gpg_check),
        checksum_id(&c.checksum).map_or("NULL".into(), |i| i.to_string()),
        ts(ctx.now),
        ts(ctx.now)
    ));
    ctx.model.channels.insert(id, c);
    ok1()
}

pub(crate) fn list_subscribed_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("channel.software.listSubscribedSystems", p);
    let id = channel_by_label(ctx.model, &a.str(0).map_err(e)?)?.id;
    Ok(Value::Array(
        ctx.model
            .server_channels
            .iter()
            .filter(|(_, c)| *c == id)
            .filter_map(|(s, _)| ctx.model.servers.get(s))
            .map(|s| {
                StructBuilder::new()
                    .field("id", int(s.id))
                    .field("name", string(&s.name))
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn list_all_packages(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("channel.software.listAllPackages", p);
    let id = channel_by_label(ctx.model, &a.str(0).map_err(e)?)?.id;
    Ok(Value::Array(
        ctx.model
            .channel_packages
            .iter()
            .filter(|(c, _)| *c == id)
            .filter_map(|(_, pk)| ctx.model.packages.get(pk))
            .map(|pk| {
                StructBuilder::new()
                    .field("id", int(pk.id))
                    .field("name", string(&pk.name))
                    .field("epoch", string(&pk.epoch))
                    .field("version", string(&pk.version))
                    .field("release", string(&pk.release))
                    .field("arch_label", string(&pk.arch))
                    .field("checksum", string(""))
                    .field("checksum_type", string("sha256"))
                    .field("last_modified", date_ms(pk.last_modified))
                    .build()
            })
            .collect(),
    ))
}

/// `kickstart.tree.list(channelLabel)`: the kickstart trees of a base channel (spacecmd's
/// `softwarechannel_details`); the stand-in holds none.
pub(crate) fn kickstart_trees(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    lookup(ctx, p.first())?;
    Ok(Value::Array(Vec::new()))
}
