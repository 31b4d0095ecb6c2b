//! `errata.*` and `channel.software.listErrata`: errata of `rhnErrata`, their packages
//! (`rhnErrataPackage`) and channels (`rhnChannelErrata`), and the test hook that imports one.
//!
//! A system is affected by an erratum when it has an older build of one of the erratum's
//! packages installed: the same name and arch, another package (Uyuni reads its
//! `rhnServerNeededCache`, which the stand-in does not keep; the erratum's build is taken to
//! be the newer one, as a reposync ships it). CVEs (`rhnCve`, `rhnErrataCve`) are not in the
//! loaded schema: `listCves` answers none and `findByCve` finds none.

use uyuni_api::value::{StructBuilder, date_ms, int, string};
use uyuni_api::{Fault, Value};

use super::args;
use super::packages::details_struct;
use super::system::overview;
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{Erratum, Model};
use crate::standin::store_pg::{q, ts};

/// Uyuni's `no_such_errata` fault.
fn no_such_erratum(name: &str) -> Fault {
    Fault::xmlrpc(-208, format!("The errata {name} cannot be found."))
}

fn erratum<'a>(ctx: &'a Ctx<'_>, method: &'static str, p: &[Value]) -> Result<&'a Erratum, Fault> {
    let (a, e) = args(method, p);
    let name = a.str(0).map_err(e)?;
    ctx.model
        .erratum_by_name(&name)
        .ok_or_else(|| no_such_erratum(&name))
}

/// The systems affected by `e` (see the module's note), by id.
pub(crate) fn affected_systems(m: &Model, e: &Erratum) -> Vec<i64> {
    let targets: Vec<(&str, &str)> = e
        .packages
        .iter()
        .filter_map(|p| m.packages.get(p))
        .map(|p| (p.name.as_str(), p.arch.as_str()))
        .collect();
    let mut sids: Vec<i64> = m
        .installed
        .iter()
        .filter(|(_, pid)| !e.packages.contains(pid))
        .filter(|(_, pid)| {
            m.packages
                .get(pid)
                .is_some_and(|p| targets.contains(&(p.name.as_str(), p.arch.as_str())))
        })
        .map(|(s, _)| *s)
        .collect();
    sids.sort_unstable();
    sids.dedup();
    sids
}

/// `errata.getDetails(advisoryName)`.
pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let e = erratum(ctx, "errata.getDetails", p)?;
    Ok(StructBuilder::new()
        .field("id", int(e.id))
        .field("issue_date", date_ms(e.issue_date))
        .field("update_date", date_ms(e.update_date))
        .field("last_modified_date", date_ms(e.last_modified))
        .field("synopsis", string(&e.synopsis))
        .field("release", int(e.release))
        .field("type", string(&e.advisory_type))
        .field("product", string(&e.product))
        .field("errataFrom", string(""))
        .field("topic", string(&e.topic))
        .field("description", string(&e.description))
        .field("references", string(&e.references))
        .field("notes", string(&e.notes))
        .field("solution", string(&e.solution))
        .field("severity", string(""))
        .build())
}

/// `errata.listPackages(advisoryName)`.
pub(crate) fn list_packages(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let e = erratum(ctx, "errata.listPackages", p)?;
    Ok(Value::Array(
        e.packages
            .iter()
            .filter_map(|pid| ctx.model.packages.get(pid))
            .map(|pk| details_struct(ctx.model, pk))
            .collect(),
    ))
}

/// `errata.listAffectedSystems(advisoryName)`.
pub(crate) fn list_affected_systems(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let e = erratum(ctx, "errata.listAffectedSystems", p)?;
    Ok(Value::Array(
        affected_systems(ctx.model, e)
            .iter()
            .filter_map(|s| ctx.model.servers.get(s))
            .map(overview)
            .collect(),
    ))
}

/// `errata.listCves(advisoryName)`: none (no CVE tables loaded; module note).
pub(crate) fn list_cves(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    erratum(ctx, "errata.listCves", p)?;
    Ok(Value::Array(vec![]))
}

/// `errata.findByCve(cveName)`: none (no CVE tables loaded; module note).
pub(crate) fn find_by_cve(_: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("errata.findByCve", p);
    a.str(0).map_err(e)?;
    Ok(Value::Array(vec![]))
}

/// `errata.applicableToChannels(advisoryName)`.
pub(crate) fn applicable_to_channels(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let e = erratum(ctx, "errata.applicableToChannels", p)?;
    let m = &*ctx.model;
    Ok(Value::Array(
        m.channel_errata
            .iter()
            .filter(|(_, eid)| *eid == e.id)
            .filter_map(|(c, _)| m.channels.get(c))
            .map(|c| {
                StructBuilder::new()
                    .field("channel_id", int(c.id))
                    .field("label", string(&c.label))
                    .field("name", string(&c.name))
                    .field("parent_channel_label", string(m.parent_label(c)))
                    .build()
            })
            .collect(),
    ))
}

/// `channel.software.listErrata(channelLabel)`: the channel's errata, by advisory name.
pub(crate) fn list_channel_errata(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("channel.software.listErrata", p);
    let cid = super::channel_by_label(ctx.model, &a.str(0).map_err(e)?)?.id;
    let m = &*ctx.model;
    let mut list: Vec<&Erratum> = m
        .channel_errata
        .iter()
        .filter(|(c, _)| *c == cid)
        .filter_map(|(_, eid)| m.errata.get(eid))
        .collect();
    list.sort_by(|a, b| a.advisory_name.cmp(&b.advisory_name));
    Ok(Value::Array(
        list.into_iter()
            .map(|e| {
                StructBuilder::new()
                    .field("id", int(e.id))
                    .field("advisory_synopsis", string(&e.synopsis))
                    .field("advisory_type", string(&e.advisory_type))
                    .field("advisory_name", string(&e.advisory_name))
                    .field("advisory", string(&e.advisory_name))
                    .field("issue_date", date_ms(e.issue_date))
                    .field("update_date", date_ms(e.update_date))
                    .field("synopsis", string(&e.synopsis))
                    .field("last_modified_date", date_ms(e.last_modified))
                    .field("date", date_ms(e.issue_date))
                    .build()
            })
            .collect(),
    ))
}

/// What the test hook `POST /standin/erratum` imports.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewErratum {
    /// Advisory name (`SUSE-2026-1234`), also its `advisory`.
    pub advisory_name: String,
    /// `Security Advisory`, `Bug Fix Advisory` or `Product Enhancement Advisory`.
    pub advisory_type: String,
    /// Synopsis.
    pub synopsis: String,
    /// Product.
    #[serde(default)]
    pub product: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Topic.
    #[serde(default)]
    pub topic: String,
    /// Solution.
    #[serde(default)]
    pub solution: String,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// Channels (labels) it is published in.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Its packages (ids of this server).
    #[serde(default)]
    pub packages: Vec<i64>,
}

const TYPES: &[&str] = &[
    "Bug Fix Advisory",
    "Product Enhancement Advisory",
    "Security Advisory",
];

/// Import an erratum: `rhnErrata`, `rhnErrataPackage`, `rhnChannelErrata`. Returns its id.
pub(crate) fn add_erratum(ctx: &mut Ctx<'_>, ne: &NewErratum) -> Result<i64, Fault> {
    let bad = |what: String| Fault::xmlrpc(-1, format!("bad erratum: {what}"));
    if ne.advisory_name.is_empty() || ne.synopsis.is_empty() {
        return Err(bad("advisory_name and synopsis are required".into()));
    }
    if !TYPES.contains(&ne.advisory_type.as_str()) {
        return Err(bad(format!("advisory_type one of {TYPES:?}")));
    }
    if ctx.model.erratum_by_name(&ne.advisory_name).is_some() {
        return Err(bad(format!("{} exists", ne.advisory_name)));
    }
    let mut channels = Vec::new();
    for label in &ne.channels {
        channels.push(super::channel_by_label(ctx.model, label)?.id);
    }
    for pid in &ne.packages {
        if !ctx.model.packages.contains_key(pid) {
            return Err(super::packages::no_such_package(*pid));
        }
    }
    let id = ctx.model.next_erratum_id();
    let now = ctx.now;
    let name = q(&ne.advisory_name);
    ctx.exec(format!(
        "INSERT INTO rhnErrata (id, advisory, advisory_type, advisory_name, advisory_rel, product, \
                                description, synopsis, topic, solution, issue_date, update_date, \
                                notes, org_id, last_modified) \
         VALUES ({id}, {name}, {}, {name}, 1, {}, {}, {}, {}, {}, {t}, {t}, {}, 1, {t})",
        q(&ne.advisory_type),
        q(&ne.product),
        q(&ne.description),
        q(&ne.synopsis),
        q(&ne.topic),
        q(&ne.solution),
        q(&ne.notes),
        t = ts(now),
    ));
    for pid in &ne.packages {
        ctx.exec(format!(
            "INSERT INTO rhnErrataPackage (errata_id, package_id) VALUES ({id}, {pid})"
        ));
    }
    for c in &channels {
        if ctx.model.channel_errata.insert((*c, id)) {
            ctx.exec(format!(
                "INSERT INTO rhnChannelErrata (channel_id, errata_id) VALUES ({c}, {id})"
            ));
        }
    }
    ctx.model.errata.insert(
        id,
        Erratum {
            id,
            advisory_name: ne.advisory_name.clone(),
            advisory_type: ne.advisory_type.clone(),
            release: 1,
            product: ne.product.clone(),
            synopsis: ne.synopsis.clone(),
            description: ne.description.clone(),
            topic: ne.topic.clone(),
            solution: ne.solution.clone(),
            references: String::new(),
            notes: ne.notes.clone(),
            issue_date: now,
            update_date: now,
            last_modified: now,
            packages: ne.packages.iter().copied().collect(),
        },
    );
    Ok(id)
}
