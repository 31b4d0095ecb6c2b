//! `system.*` and `system.search.*`.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};
use uyuni_api::value::{StructBuilder, date_ms, int, string, strings};
use uyuni_api::{Fault, Value};

use super::{args, channel_struct, ok1, server, server_struct};
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{ORG_ID, Server};
use crate::standin::store_pg::{q, ts};

pub(crate) fn overview(s: &Server) -> Value {
    StructBuilder::new()
        .field("id", int(s.id))
        .field("name", string(&s.name))
        .field("last_checkin", date_ms(s.checkin))
        .field("created", date_ms(s.created))
        .field("last_boot", date_ms(s.created))
        .field("extra_pkg_count", int(0))
        .field("outdated_pkg_count", int(0))
        .build()
}

/// Register a Salt minion as a system (what Uyuni does on the minion's first start event):
/// `rhnServer`, `rhnServerInfo` and `suseMinionInfo` rows. Returns the new system id.
pub(crate) fn onboard_minion(ctx: &mut Ctx<'_>, minion_id: &str) -> i64 {
    if let Some(s) = ctx.model.server_by_minion(minion_id) {
        return s.id;
    }
    let id = ctx.model.next_server_id();
    let secret = hex::encode(&Sha256::digest(format!("{id}:{minion_id}:{}", ctx.now))[..16]);
    let machine_id = hex::encode(&Sha256::digest(minion_id.as_bytes())[..16]);
    let s = Server {
        id,
        name: minion_id.to_string(),
        hostname: minion_id.to_string(),
        description: format!(
            "Initial Registration Parameters:\nOS: unknown\nMinion ID: {minion_id}"
        ),
        os: "unknown".into(),
        release: "unknown".into(),
        secret,
        auto_update: false,
        machine_id,
        created: ctx.now,
        checkin: ctx.now,
        minion_id: Some(minion_id.to_string()),
    };
    ctx.exec(format!(
        "INSERT INTO rhnServer (id, org_id, digital_server_id, server_arch_id, os, release, name, description, secret, auto_update, hostname, machine_id, created, modified) \
         VALUES ({id}, {ORG_ID}, {}, {SERVER_ARCH}, {}, {}, {}, {}, {}, 'N', {}, {}, {}, {})",
        q(&format!("ID-{id}")),
        q(&s.os),
        q(&s.release),
        q(&s.name),
        q(&s.description),
        q(&s.secret),
        q(&s.hostname),
        q(&s.machine_id),
        ts(ctx.now),
        ts(ctx.now)
    ));
    ctx.exec(format!(
        "INSERT INTO rhnServerInfo (server_id, checkin, checkin_counter) VALUES ({id}, {}, 0)",
        ts(ctx.now)
    ));
    ctx.exec(format!(
        "INSERT INTO suseMinionInfo (server_id, minion_id, os_family, created, modified) VALUES ({id}, {}, NULL, {}, {})",
        q(minion_id),
        ts(ctx.now),
        ts(ctx.now)
    ));
    ctx.model.servers.insert(id, s);
    id
}

/// Delete a system and everything that hangs off it (explicit deletes, so triggers on each
/// table see them; the foreign keys cascade as well).
pub(crate) fn remove_server(ctx: &mut Ctx<'_>, sid: i64) {
    let Some(s) = ctx.model.servers.remove(&sid) else {
        return;
    };
    ctx.model.group_members.retain(|(_, x)| *x != sid);
    ctx.model.custom_values.remove(&sid);
    ctx.model.installed.retain(|(x, _)| *x != sid);
    ctx.exec(format!(
        "DELETE FROM rhnServerPackage WHERE server_id = {sid}"
    ));
    super::schedule::forget_server(ctx, sid);
    ctx.model.server_channels.retain(|(x, _)| *x != sid);
    for t in [
        "rhnServerGroupMembers",
        "rhnServerChannel",
        "suseMinionInfo",
        "rhnServerInfo",
    ] {
        ctx.exec(format!("DELETE FROM {t} WHERE server_id = {sid}"));
    }
    ctx.exec(format!("DELETE FROM rhnServer WHERE id = {sid}"));
    if let Some(minion) = s.minion_id {
        super::saltkey::forget_key(ctx, &minion);
    }
}

pub(crate) fn list_systems(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    let visible = super::user::visible_servers(ctx);
    Ok(Value::Array(
        ctx.model
            .servers
            .values()
            .filter(|s| visible.as_ref().is_none_or(|v| v.contains(&s.id)))
            .map(overview)
            .collect(),
    ))
}

fn sid_arg(method: &'static str, p: &[Value]) -> Result<i64, Fault> {
    let (a, e) = args(method, p);
    a.int(0).map_err(e)
}

pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getDetails", p)?;
    let s = server(ctx.model, sid)?;
    Ok(server_struct(ctx, s))
}

pub(crate) fn get_name(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getName", p)?;
    let s = server(ctx.model, sid)?;
    Ok(StructBuilder::new()
        .field("id", int(s.id))
        .field("name", string(&s.name))
        .field("last_checkin", date_ms(s.checkin))
        .build())
}

pub(crate) fn get_id(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.getId", p);
    let name = a.str(0).map_err(e)?;
    Ok(Value::Array(
        ctx.model
            .servers
            .values()
            .filter(|s| s.name == name)
            .map(|s| {
                StructBuilder::new()
                    .field("id", int(s.id))
                    .field("name", string(&s.name))
                    .field("last_checkin", date_ms(s.checkin))
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn get_minion_id_map(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    let visible = super::user::visible_servers(ctx);
    let map: BTreeMap<String, Value> = ctx
        .model
        .servers
        .values()
        .filter(|s| visible.as_ref().is_none_or(|v| v.contains(&s.id)))
        .filter_map(|s| Some((s.minion_id.clone()?, int(s.id))))
        .collect();
    Ok(Value::Struct(map))
}

pub(crate) fn get_network(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getNetwork", p)?;
    let s = server(ctx.model, sid)?;
    Ok(StructBuilder::new()
        .field("ip", string(""))
        .field("ip6", string(""))
        .field("hostname", string(&s.hostname))
        .build())
}

pub(crate) fn list_groups(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.listGroups", p)?;
    server(ctx.model, sid)?;
    let mine: Vec<i64> = ctx.model.groups_of(sid).iter().map(|g| g.id).collect();
    Ok(Value::Array(
        ctx.model
            .groups
            .values()
            .map(|g| {
                StructBuilder::new()
                    .field("id", int(g.id))
                    .field("sgid", int(g.id))
                    .field("system_group_name", string(&g.name))
                    .field("subscribed", int(i64::from(mine.contains(&g.id))))
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn get_registration_date(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getRegistrationDate", p)?;
    Ok(date_ms(server(ctx.model, sid)?.created))
}

pub(crate) fn get_uuid(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getUuid", p)?;
    server(ctx.model, sid)?;
    Ok(string(""))
}

pub(crate) fn get_base_channel(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getSubscribedBaseChannel", p)?;
    server(ctx.model, sid)?;
    let base = ctx
        .model
        .channels_of(sid)
        .into_iter()
        .find(|c| c.parent.is_none());
    Ok(match base {
        Some(c) => channel_struct(ctx.model, c),
        None => StructBuilder::new().build(),
    })
}

pub(crate) fn list_child_channels(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.listSubscribedChildChannels", p)?;
    server(ctx.model, sid)?;
    Ok(Value::Array(
        ctx.model
            .channels_of(sid)
            .into_iter()
            .filter(|c| c.parent.is_some())
            .map(|c| channel_struct(ctx.model, c))
            .collect(),
    ))
}

pub(crate) fn get_entitlements(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.getEntitlements", p)?;
    server(ctx.model, sid)?;
    Ok(strings(["salt_entitled"]))
}

pub(crate) fn delete_system(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let sid = sid_arg("system.deleteSystem", p)?;
    server(ctx.model, sid)?;
    remove_server(ctx, sid);
    ok1()
}

pub(crate) fn delete_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.deleteSystems", p);
    let sids = a.array(0).map_err(&e)?;
    let mut ids = Vec::new();
    for v in &sids {
        let sid = uyuni_api::value::as_i64(v).ok_or_else(|| {
            e(uyuni_api::value::ArgError {
                index: 0,
                expected: "int",
                got: uyuni_api::value::type_name(v),
            })
        })?;
        server(ctx.model, sid)?;
        ids.push(sid);
    }
    for sid in ids {
        remove_server(ctx, sid);
    }
    ok1()
}

fn search(
    ctx: &mut Ctx<'_>,
    method: &'static str,
    p: &[Value],
    field: fn(&Server) -> String,
) -> Reply {
    let (a, e) = args(method, p);
    let term = a.str(0).map_err(e)?.to_lowercase();
    Ok(Value::Array(
        ctx.model
            .servers
            .values()
            .filter(|s| field(s).to_lowercase().contains(&term))
            .map(|s| {
                StructBuilder::new()
                    .field("id", int(s.id))
                    .field("name", string(&s.name))
                    .field("last_checkin", date_ms(s.checkin))
                    .field("hostname", string(&s.hostname))
                    .field("ip", string(""))
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn search_name(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    search(ctx, "system.search.nameAndDescription", p, |s| {
        format!("{}\n{}", s.name, s.description)
    })
}

pub(crate) fn search_hostname(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    search(ctx, "system.search.hostname", p, |s| s.hostname.clone())
}

pub(crate) fn search_ip(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    // The stand-in knows no addresses: nothing matches.
    search(ctx, "system.search.ip", p, |_| String::from("\u{0}"))
}

/// What `POST /standin/seed` asks for.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct SeedSpec {
    /// How many systems.
    pub count: usize,
    /// Names are `<prefix><n>.<domain>`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// See `prefix`.
    #[serde(default = "default_domain")]
    pub domain: String,
    /// The first `n` (default 1).
    #[serde(default = "default_start")]
    pub start: u64,
    /// Groups every system joins (missing ones are created).
    #[serde(default)]
    pub groups: Vec<String>,
    /// A base channel every system is subscribed to (it must exist).
    #[serde(default)]
    pub base_channel: Option<String>,
    /// The hostname every system reports (default: its own name): systems of one hostname
    /// are duplicates (`system.listDuplicatesByHostname`).
    #[serde(default)]
    pub hostname: Option<String>,
}

impl SeedSpec {
    /// `count` systems `sys<n>.example.org` from n = 1, in no group, on no channel.
    pub fn new(count: usize) -> Self {
        Self {
            count,
            prefix: default_prefix(),
            domain: default_domain(),
            start: default_start(),
            groups: Vec::new(),
            base_channel: None,
            hostname: None,
        }
    }
}

fn default_prefix() -> String {
    "sys".into()
}
fn default_domain() -> String {
    "example.org".into()
}
fn default_start() -> u64 {
    1
}

/// What `POST /standin/seed` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Seeded {
    /// Systems created.
    pub created: usize,
    /// Id of the first (0 when none).
    pub first_id: i64,
    /// Id of the last (0 when none).
    pub last_id: i64,
}

/// Rows per multi-row `INSERT` of the seed.
const SEED_BATCH: usize = 1000;

/// `rhnServerArch` of every system (`x86_64-redhat-linux`, sql/standin.sql).
const SERVER_ARCH: i64 = 1000;

/// Test hook (`POST /standin/seed`): `count` onboarded Salt minions at once, as if their keys
/// had been accepted (`rhnServer`, `rhnServerInfo`, `suseMinionInfo`; no salt key), with ids
/// allocated as usual, in the given groups and base channel. The SQL is a few multi-row
/// `INSERT`s in the call's one transaction.
pub(crate) fn seed(ctx: &mut Ctx<'_>, spec: &SeedSpec) -> Result<Seeded, Fault> {
    const MAX: usize = 1_000_000;
    if spec.count > MAX {
        return Err(Fault::internal(format!("count over {MAX}")));
    }
    let base = match &spec.base_channel {
        Some(label) => {
            let c = ctx
                .model
                .channel_by_label(label)
                .ok_or_else(|| Fault::internal(format!("no such channel: {label}")))?;
            if c.parent.is_some() {
                return Err(Fault::internal(format!("not a base channel: {label}")));
            }
            Some(c.id)
        }
        None => None,
    };
    let names: Vec<String> = (0..spec.count as u64)
        .map(|i| format!("{}{}.{}", spec.prefix, spec.start + i, spec.domain))
        .collect();
    if let Some(n) = names.iter().find(|n| n.is_empty() || n.len() > 128) {
        return Err(Fault::internal(format!("invalid system name: {n:?}")));
    }
    let taken: std::collections::HashSet<&str> = ctx
        .model
        .servers
        .values()
        .filter_map(|s| s.minion_id.as_deref())
        .collect();
    if let Some(n) = names.iter().find(|n| taken.contains(n.as_str())) {
        return Err(Fault::internal(format!("a system named {n} exists")));
    }
    let mut gids = Vec::new();
    for g in &spec.groups {
        let gid = match ctx.model.group_by_name(g) {
            Some(g) => g.id,
            None => {
                if g.trim().is_empty() || g.len() > 64 {
                    return Err(Fault::internal(format!("invalid group name: {g:?}")));
                }
                let id = ctx.model.next_group_id();
                ctx.exec(format!(
                    "INSERT INTO rhnServerGroup (id, name, description, current_members, group_type, org_id) VALUES ({id}, {}, '', 0, NULL, {ORG_ID})",
                    q(g)
                ));
                ctx.model.groups.insert(
                    id,
                    crate::standin::state::Group {
                        id,
                        name: g.clone(),
                        description: String::new(),
                    },
                );
                id
            }
        };
        if !gids.contains(&gid) {
            gids.push(gid);
        }
    }
    let first = ctx.model.next_server_id();
    let now = ts(ctx.now);
    for (batch_no, batch) in names.chunks(SEED_BATCH).enumerate() {
        let mut servers = Vec::with_capacity(batch.len());
        let mut infos = Vec::with_capacity(batch.len());
        let mut minions = Vec::with_capacity(batch.len());
        let mut members = Vec::new();
        let mut channels = Vec::new();
        for (i, name) in batch.iter().enumerate() {
            let id = first + (batch_no * SEED_BATCH + i) as i64;
            let secret = hex::encode(&Sha256::digest(format!("{id}:{name}:{}", ctx.now))[..16]);
            let machine_id = hex::encode(&Sha256::digest(name.as_bytes())[..16]);
            let s = Server {
                id,
                name: name.clone(),
                hostname: spec.hostname.clone().unwrap_or_else(|| name.clone()),
                description: format!(
                    "Initial Registration Parameters:\nOS: unknown\nMinion ID: {name}"
                ),
                os: "unknown".into(),
                release: "unknown".into(),
                secret,
                auto_update: false,
                machine_id,
                created: ctx.now,
                checkin: ctx.now,
                minion_id: Some(name.clone()),
            };
            servers.push(format!(
                "({id}, {ORG_ID}, {}, {SERVER_ARCH}, {}, {}, {}, {}, {}, 'N', {}, {}, {now}, {now})",
                q(&format!("ID-{id}")),
                q(&s.os),
                q(&s.release),
                q(&s.name),
                q(&s.description),
                q(&s.secret),
                q(&s.hostname),
                q(&s.machine_id),
            ));
            infos.push(format!("({id}, {now}, 0)"));
            minions.push(format!("({id}, {}, NULL, {now}, {now})", q(name)));
            for gid in &gids {
                members.push(format!("({id}, {gid})"));
                ctx.model.group_members.insert((*gid, id));
            }
            if let Some(cid) = base {
                channels.push(format!("({id}, {cid})"));
                ctx.model.server_channels.insert((id, cid));
            }
            ctx.model.servers.insert(id, s);
        }
        ctx.exec(format!(
            "INSERT INTO rhnServer (id, org_id, digital_server_id, server_arch_id, os, release, name, description, secret, auto_update, hostname, machine_id, created, modified) VALUES {}",
            servers.join(",\n")
        ));
        ctx.exec(format!(
            "INSERT INTO rhnServerInfo (server_id, checkin, checkin_counter) VALUES {}",
            infos.join(",")
        ));
        ctx.exec(format!(
            "INSERT INTO suseMinionInfo (server_id, minion_id, os_family, created, modified) VALUES {}",
            minions.join(",")
        ));
        if !members.is_empty() {
            ctx.exec(format!(
                "INSERT INTO rhnServerGroupMembers (server_id, server_group_id) VALUES {}",
                members.join(",")
            ));
        }
        if !channels.is_empty() {
            ctx.exec(format!(
                "INSERT INTO rhnServerChannel (server_id, channel_id) VALUES {}",
                channels.join(",")
            ));
        }
    }
    for gid in gids {
        let n = ctx.model.members_of(gid).len();
        ctx.exec(format!(
            "UPDATE rhnServerGroup SET current_members = {n}, modified = now() WHERE id = {gid}"
        ));
    }
    let created = spec.count;
    Ok(Seeded {
        created,
        first_id: if created == 0 { 0 } else { first },
        last_id: if created == 0 {
            0
        } else {
            first + created as i64 - 1
        },
    })
}

/// `system.listDuplicatesBy{Hostname,Ip,Mac}`: the groups of two or more systems sharing the
/// value, each `{<key>, systems: [{systemId, systemName, last_checkin}]}` (Uyuni's
/// `NetworkDtoSerializer`), by key. The stand-in records no addresses (`getNetwork` answers
/// an empty `ip`): only hostnames group.
fn duplicates(ctx: &Ctx<'_>, key: &str, value: fn(&Server) -> Option<String>) -> Reply {
    let visible = super::user::visible_servers(ctx);
    let mut groups: std::collections::BTreeMap<String, Vec<&Server>> = Default::default();
    for s in ctx
        .model
        .servers
        .values()
        .filter(|s| visible.as_ref().is_none_or(|v| v.contains(&s.id)))
    {
        if let Some(v) = value(s) {
            groups.entry(v).or_default().push(s);
        }
    }
    Ok(Value::Array(
        groups
            .into_iter()
            .filter(|(_, ss)| ss.len() > 1)
            .map(|(v, ss)| {
                StructBuilder::new()
                    .field(key, string(&v))
                    .field(
                        "systems",
                        Value::Array(
                            ss.iter()
                                .map(|s| {
                                    StructBuilder::new()
                                        .field("systemId", int(s.id))
                                        .field("systemName", string(&s.name))
                                        .field("last_checkin", date_ms(s.checkin))
                                        .build()
                                })
                                .collect(),
                        ),
                    )
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn list_duplicates_by_hostname(ctx: &mut Ctx<'_>, _p: &[Value]) -> Reply {
    duplicates(ctx, "hostname", |s| Some(s.hostname.clone()))
}

pub(crate) fn list_duplicates_by_ip(ctx: &mut Ctx<'_>, _p: &[Value]) -> Reply {
    duplicates(ctx, "ip", |_| None)
}

pub(crate) fn list_duplicates_by_mac(ctx: &mut Ctx<'_>, _p: &[Value]) -> Reply {
    duplicates(ctx, "mac", |_| None)
}
