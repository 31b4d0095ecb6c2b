//! `packages.*` and `system.listSystemsWithPackage`: packages of `rhnPackage`, the channels
//! holding them (`rhnChannelPackage`), the systems that have them installed
//! (`rhnServerPackage`), and the test hook that imports one (as a reposync would).

use uyuni_api::value::{StructBuilder, date_ms, int, string};
use uyuni_api::{Fault, Value};

use super::args;
use super::system::overview;
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{Model, Package};
use crate::standin::store_pg::{q, qn};

/// The fault of an unknown package id.
pub(crate) fn no_such_package(pid: i64) -> Fault {
    Fault::xmlrpc(-208, format!("No such package: {pid}"))
}

fn package(m: &Model, pid: i64) -> Result<&Package, Fault> {
    m.packages.get(&pid).ok_or_else(|| no_such_package(pid))
}

/// The labels of the channels holding `pid`, sorted.
fn providing_channels(m: &Model, pid: i64) -> Vec<String> {
    let mut out: Vec<String> = m
        .channel_packages
        .iter()
        .filter(|(_, p)| *p == pid)
        .filter_map(|(c, _)| m.channels.get(c))
        .map(|c| c.label.clone())
        .collect();
    out.sort();
    out
}

/// The `packages.getDetails` / `errata.listPackages` struct of a package.
pub(crate) fn details_struct(m: &Model, pk: &Package) -> Value {
    let file = pk.path.rsplit('/').next().unwrap_or("").to_string();
    StructBuilder::new()
        .field("id", int(pk.id))
        .field("name", string(&pk.name))
        .field("epoch", string(&pk.epoch))
        .field("version", string(&pk.version))
        .field("release", string(&pk.release))
        .field("arch_label", string(&pk.arch))
        .field(
            "providing_channels",
            Value::Array(providing_channels(m, pk.id).iter().map(string).collect()),
        )
        .field("build_host", string(""))
        .field("description", string(&pk.description))
        .field("checksum", string(&pk.checksum))
        .field("checksum_type", string("sha256"))
        .field("vendor", string(""))
        .field("summary", string(&pk.summary))
        .field("cookie", string(""))
        .field("license", string(""))
        .field("file", string(&file))
        .field("path", string(&pk.path))
        .field("build_date", date_ms(pk.last_modified))
        .field("last_modified_date", date_ms(pk.last_modified))
        .field("size", string(pk.size.to_string()))
        .field("payload_size", string(pk.size.to_string()))
        .field("part_of_retracted_patch", Value::Boolean(false))
        .build()
}

fn pid_arg(method: &'static str, p: &[Value]) -> Result<i64, Fault> {
    let (a, e) = args(method, p);
    a.int(0).map_err(e)
}

/// `packages.getDetails(pid)`.
pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let pid = pid_arg("packages.getDetails", p)?;
    let pk = package(ctx.model, pid)?;
    Ok(details_struct(ctx.model, pk))
}

/// `packages.listProvidingChannels(pid)`: `label`, `parent_label`, `name`.
pub(crate) fn list_providing_channels(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let pid = pid_arg("packages.listProvidingChannels", p)?;
    package(ctx.model, pid)?;
    let m = &*ctx.model;
    Ok(Value::Array(
        providing_channels(m, pid)
            .iter()
            .filter_map(|l| m.channel_by_label(l))
            .map(|c| {
                StructBuilder::new()
                    .field("label", string(&c.label))
                    .field("parent_label", string(m.parent_label(c)))
                    .field("name", string(&c.name))
                    .build()
            })
            .collect(),
    ))
}

/// `packages.listProvidingErrata(pid)`: the errata that ship the package.
pub(crate) fn list_providing_errata(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let pid = pid_arg("packages.listProvidingErrata", p)?;
    package(ctx.model, pid)?;
    Ok(Value::Array(
        ctx.model
            .errata
            .values()
            .filter(|e| e.packages.contains(&pid))
            .map(|e| {
                StructBuilder::new()
                    .field("advisory", string(&e.advisory_name))
                    .field("issue_date", date_ms(e.issue_date))
                    .field("last_modified_date", date_ms(e.last_modified))
                    .field("update_date", date_ms(e.update_date))
                    .field("synopsis", string(&e.synopsis))
                    .field("type", string(&e.advisory_type))
                    .build()
            })
            .collect(),
    ))
}

/// The systems with one of `pids` installed, as `SystemOverviewSerializer`, by id.
pub(crate) fn systems_with(m: &Model, pids: &[i64]) -> Value {
    let mut sids: Vec<i64> = m
        .installed
        .iter()
        .filter(|(_, p)| pids.contains(p))
        .map(|(s, _)| *s)
        .collect();
    sids.sort_unstable();
    sids.dedup();
    Value::Array(
        sids.iter()
            .filter_map(|s| m.servers.get(s))
            .map(overview)
            .collect(),
    )
}

/// `system.listSystemsWithPackage(pid)`.
pub(crate) fn list_systems_with_package(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let pid = pid_arg("system.listSystemsWithPackage", p)?;
    package(ctx.model, pid)?;
    Ok(systems_with(ctx.model, &[pid]))
}

/// `system.listSystemsWithPackage(name, version, release)`: every arch and epoch of it.
pub(crate) fn list_systems_with_package_nvr(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("system.listSystemsWithPackage", p);
    let name = a.str(0).map_err(&e)?;
    let version = a.str(1).map_err(&e)?;
    let release = a.str(2).map_err(&e)?;
    let pids: Vec<i64> = ctx
        .model
        .packages
        .values()
        .filter(|pk| pk.name == name && pk.version == version && pk.release == release)
        .map(|pk| pk.id)
        .collect();
    if pids.is_empty() {
        return Err(Fault::xmlrpc(
            -1,
            format!("No such package: {name}-{version}-{release}"),
        ));
    }
    Ok(systems_with(ctx.model, &pids))
}

/// What the test hook `POST /standin/package` imports.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewPackage {
    /// Name.
    pub name: String,
    /// Epoch ("" for none).
    #[serde(default)]
    pub epoch: String,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Package arch label (`x86_64`, `noarch`, ...).
    pub arch: String,
    /// Summary.
    #[serde(default)]
    pub summary: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Channels (labels) to put it in, as a reposync does.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Systems (ids) that have it installed (as a package-list refresh reports).
    #[serde(default)]
    pub installed_on: Vec<i64>,
}

/// Import a package: `rhnPackageName` (shared by name), `rhnPackageEVR`, `rhnChecksum`,
/// `rhnPackage`, its `rhnChannelPackage` rows and the systems' `rhnServerPackage` rows.
/// Returns its id.
pub(crate) fn add_package(ctx: &mut Ctx<'_>, np: &NewPackage) -> Result<i64, Fault> {
    let bad = |what: &str| Fault::xmlrpc(-1, format!("bad package: {what}"));
    if np.name.is_empty() || np.version.is_empty() || np.release.is_empty() {
        return Err(bad("name, version and release are required"));
    }
    if ctx.model.packages.values().any(|p| {
        (&p.name, &p.epoch, &p.version, &p.release, &p.arch)
            == (&np.name, &np.epoch, &np.version, &np.release, &np.arch)
    }) {
        return Err(bad("already imported"));
    }
    let mut channels = Vec::new();
    for label in &np.channels {
        channels.push(super::channel_by_label(ctx.model, label)?.id);
    }
    for sid in &np.installed_on {
        super::server(ctx.model, *sid)?;
    }
    let id = ctx.model.next_package_id();
    let file = format!("{}-{}-{}.{}.rpm", np.name, np.version, np.release, np.arch);
    let path = format!("packages/1/{file}");
    let checksum = {
        use sha2::{Digest as _, Sha256};
        hex::encode(Sha256::digest(path.as_bytes()))
    };
    let size = 4096;
    let (n, v, r, a) = (q(&np.name), q(&np.version), q(&np.release), q(&np.arch));
    let ep = qn(&np.epoch);
    ctx.exec(format!(
        "INSERT INTO rhnPackageName (id, name) SELECT nextval('rhn_pkg_name_seq'), {n} \
         WHERE NOT EXISTS (SELECT 1 FROM rhnPackageName WHERE name = {n})"
    ));
    ctx.exec(format!(
        "INSERT INTO rhnPackageEVR (id, epoch, version, release, evr) \
         VALUES (nextval('rhn_pkg_evr_seq'), {ep}, {v}, {r}, evr_t({ep}, {v}, {r}, 'rpm'))"
    ));
    ctx.exec(format!(
        "INSERT INTO rhnChecksum (id, checksum_type_id, checksum) \
         VALUES (nextval('rhnChecksum_seq'), (SELECT id FROM rhnChecksumType WHERE label = 'sha256'), {})",
        q(&checksum)
    ));
    ctx.exec(format!(
        "INSERT INTO rhnPackage (id, org_id, name_id, evr_id, package_arch_id, summary, description, \
                                 package_size, checksum_id, path) \
         VALUES ({id}, 1, (SELECT id FROM rhnPackageName WHERE name = {n}), currval('rhn_pkg_evr_seq'), \
                 (SELECT id FROM rhnPackageArch WHERE label = {a}), {}, {}, {size}, \
                 currval('rhnChecksum_seq'), {})",
        q(&np.summary),
        q(&np.description),
        q(&path)
    ));
    let now = ctx.now;
    ctx.model.packages.insert(
        id,
        Package {
            id,
            name: np.name.clone(),
            epoch: np.epoch.clone(),
            version: np.version.clone(),
            release: np.release.clone(),
            arch: np.arch.clone(),
            last_modified: now,
            summary: np.summary.clone(),
            description: np.description.clone(),
            path,
            size,
            checksum,
        },
    );
    for c in channels {
        if ctx.model.channel_packages.insert((c, id)) {
            ctx.exec(format!(
                "INSERT INTO rhnChannelPackage (channel_id, package_id) VALUES ({c}, {id})"
            ));
        }
    }
    for sid in &np.installed_on {
        super::system_hw::set_installed(ctx, *sid, &[id], true);
    }
    Ok(id)
}
