//! `contentmanagement.*`: Content Lifecycle Management projects and environments.

use uyuni_api::value::{StructBuilder, field_str, int, string};
use uyuni_api::{Fault, Value};

use super::{args, channel_by_label};
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{Environment, Filter, Model, ORG_ID, Project};
use crate::standin::store_pg::{q, qi};

/// EntityNotExistsFaultException (10101): the message is the identifier.
fn not_exists(what: &str) -> Fault {
    Fault::xmlrpc(10101, what)
}

/// EntityExistsFaultException (10100); the entity's text form is unverified.
fn exists(what: &str) -> Fault {
    Fault::xmlrpc(10100, format!("Entity already exists: {what}"))
}

fn project_struct(m: &Model, p: &Project) -> Value {
    StructBuilder::new()
        .field("id", int(p.id))
        .field("label", string(&p.label))
        .field("name", string(&p.name))
        .field("description", string(&p.description))
        .field("orgId", int(ORG_ID))
        .opt(
            "firstEnvironment",
            p.first_env
                .and_then(|e| m.envs.get(&e))
                .map(|e| string(&e.label)),
        )
        .build()
}

fn env_struct(m: &Model, e: &Environment) -> Value {
    let project = m.projects.get(&e.project);
    let prev = m.envs.values().find(|x| x.next == Some(e.id));
    StructBuilder::new()
        .field("id", int(e.id))
        .field("label", string(&e.label))
        .field("name", string(&e.name))
        .field("description", string(&e.description))
        .field("version", int(e.version))
        .field("status", string("new"))
        .field(
            "contentProjectLabel",
            string(project.map(|p| p.label.as_str()).unwrap_or("")),
        )
        .opt("previousEnvironmentLabel", prev.map(|p| string(&p.label)))
        .opt(
            "nextEnvironmentLabel",
            e.next
                .and_then(|n| m.envs.get(&n))
                .map(|n| string(&n.label)),
        )
        .build()
}

fn project<'a>(m: &'a Model, label: &str) -> Result<&'a Project, Fault> {
    m.project_by_label(label).ok_or_else(|| not_exists(label))
}

fn env<'a>(m: &'a Model, p: &Project, label: &str) -> Option<&'a Environment> {
    m.envs
        .values()
        .find(|e| e.project == p.id && e.label == label)
}

pub(crate) fn list_projects(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(Value::Array(
        ctx.model
            .projects
            .values()
            .map(|p| project_struct(ctx.model, p))
            .collect(),
    ))
}

pub(crate) fn lookup_project(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.lookupProject", p);
    let pr = project(ctx.model, &a.str(0).map_err(e)?)?;
    Ok(project_struct(ctx.model, pr))
}

pub(crate) fn create_project(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.createProject", p);
    let label = a.str(0).map_err(&e)?;
    let name = a.str(1).map_err(&e)?;
    let description = a.str(2).map_err(&e)?;
    if ctx.model.project_by_label(&label).is_some() {
        return Err(exists(&format!("ContentProject[label={label}]")));
    }
    if label.is_empty() || label.len() > 24 || name.is_empty() {
        return Err(Fault::xmlrpc(
            10102,
            "Label must contain only letters, numbers, hyphens, periods and underscores, and be at most 24 characters",
        ));
    }
    let id = ctx.model.next_project_id();
    ctx.exec(format!(
        "INSERT INTO suseContentProject (id, org_id, label, name, description) VALUES ({id}, {ORG_ID}, {}, {}, {})",
        q(&label),
        q(&name),
        q(&description)
    ));
    let pr = Project {
        id,
        label,
        name,
        description,
        first_env: None,
        sources: Default::default(),
        filters: Default::default(),
    };
    ctx.model.projects.insert(id, pr.clone());
    Ok(project_struct(ctx.model, &pr))
}

pub(crate) fn update_project(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.updateProject", p);
    let label = a.str(0).map_err(&e)?;
    let props = a.strukt(1).map_err(&e)?;
    let mut pr = project(ctx.model, &label)?.clone();
    if let Some(n) = field_str(props, "name") {
        pr.name = n.to_string();
    }
    if let Some(d) = field_str(props, "description") {
        pr.description = d.to_string();
    }
    ctx.exec(format!(
        "UPDATE suseContentProject SET name = {}, description = {}, modified = now() WHERE id = {}",
        q(&pr.name),
        q(&pr.description),
        pr.id
    ));
    ctx.model.projects.insert(pr.id, pr.clone());
    Ok(project_struct(ctx.model, &pr))
}

pub(crate) fn remove_project(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.removeProject", p);
    let id = project(ctx.model, &a.str(0).map_err(e)?)?.id;
    ctx.model.envs.retain(|_, e| e.project != id);
    ctx.model.projects.remove(&id);
    ctx.exec(format!(
        "DELETE FROM suseContentProjectSource WHERE project_id = {id}"
    ));
    ctx.exec(format!(
        "DELETE FROM suseContentFilterProject WHERE project_id = {id}"
    ));
    ctx.exec(format!(
        "DELETE FROM suseContentEnvironment WHERE project_id = {id}"
    ));
    ctx.exec(format!("DELETE FROM suseContentProject WHERE id = {id}"));
    Ok(Value::Integer(1))
}

pub(crate) fn list_environments(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.listProjectEnvironments", p);
    let pr = project(ctx.model, &a.str(0).map_err(e)?)?;
    Ok(Value::Array(
        ctx.model
            .project_envs(pr)
            .into_iter()
            .map(|e| env_struct(ctx.model, e))
            .collect(),
    ))
}

pub(crate) fn lookup_environment(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.lookupEnvironment", p);
    let pl = a.str(0).map_err(&e)?;
    let el = a.str(1).map_err(&e)?;
    let pr = project(ctx.model, &pl)?;
    let en = env(ctx.model, pr, &el).ok_or_else(|| not_exists(&el))?;
    Ok(env_struct(ctx.model, en))
}

pub(crate) fn create_environment(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.createEnvironment", p);
    let pl = a.str(0).map_err(&e)?;
    let pred = a.str(1).map_err(&e)?;
    let label = a.str(2).map_err(&e)?;
    let name = a.str(3).map_err(&e)?;
    let description = a.str(4).map_err(&e)?;
    let pr = project(ctx.model, &pl)?.clone();
    if env(ctx.model, &pr, &label).is_some() {
        return Err(exists(&format!("ContentEnvironment[label={label}]")));
    }
    if label.is_empty() || label.len() > 16 {
        return Err(Fault::xmlrpc(
            10102,
            "Environment label must be 1 to 16 characters long",
        ));
    }
    let pred = if pred.is_empty() {
        None
    } else {
        Some(
            env(ctx.model, &pr, &pred)
                .ok_or_else(|| not_exists(&pred))?
                .clone(),
        )
    };
    let id = ctx.model.next_env_id();
    let next = match &pred {
        Some(p) => p.next,
        None => pr.first_env,
    };
    // next_env_id is unique (suse_ct_env_nid_uq, checked per statement): the predecessor
    // lets go of its successor before the new environment takes it.
    if let Some(p) = pred.as_ref().filter(|p| p.next.is_some()) {
        ctx.exec(format!(
            "UPDATE suseContentEnvironment SET next_env_id = NULL WHERE id = {}",
            p.id
        ));
    }
    ctx.exec(format!(
        "INSERT INTO suseContentEnvironment (id, project_id, label, name, description, version, next_env_id) VALUES ({id}, {}, {}, {}, {}, 0, {})",
        pr.id,
        q(&label),
        q(&name),
        q(&description),
        qi(next)
    ));
    match pred {
        Some(p) => {
            ctx.exec(format!(
                "UPDATE suseContentEnvironment SET next_env_id = {id}, modified = now() WHERE id = {}",
                p.id
            ));
            if let Some(x) = ctx.model.envs.get_mut(&p.id) {
                x.next = Some(id);
            }
        }
        None => {
            ctx.exec(format!(
                "UPDATE suseContentProject SET first_env_id = {id}, modified = now() WHERE id = {}",
                pr.id
            ));
            if let Some(x) = ctx.model.projects.get_mut(&pr.id) {
                x.first_env = Some(id);
            }
        }
    }
    let en = Environment {
        id,
        project: pr.id,
        label,
        name,
        description,
        version: 0,
        next,
    };
    ctx.model.envs.insert(id, en.clone());
    Ok(env_struct(ctx.model, &en))
}

pub(crate) fn remove_environment(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.removeEnvironment", p);
    let pl = a.str(0).map_err(&e)?;
    let el = a.str(1).map_err(&e)?;
    let pr = project(ctx.model, &pl)?.clone();
    let en = env(ctx.model, &pr, &el)
        .ok_or_else(|| not_exists(&el))?
        .clone();
    let prev = ctx
        .model
        .envs
        .values()
        .find(|x| x.next == Some(en.id))
        .map(|x| x.id);
    // next_env_id is unique: the removed environment lets go of its successor first.
    if en.next.is_some() {
        ctx.exec(format!(
            "UPDATE suseContentEnvironment SET next_env_id = NULL WHERE id = {}",
            en.id
        ));
    }
    match prev {
        Some(pid) => {
            ctx.exec(format!(
                "UPDATE suseContentEnvironment SET next_env_id = {}, modified = now() WHERE id = {pid}",
                qi(en.next)
            ));
            if let Some(x) = ctx.model.envs.get_mut(&pid) {
                x.next = en.next;
            }
        }
        None => {
            if pr.first_env == Some(en.id) {
                ctx.exec(format!(
                    "UPDATE suseContentProject SET first_env_id = {}, modified = now() WHERE id = {}",
                    qi(en.next),
                    pr.id
                ));
                if let Some(x) = ctx.model.projects.get_mut(&pr.id) {
                    x.first_env = en.next;
                }
            }
        }
    }
    ctx.exec(format!(
        "DELETE FROM suseContentEnvironment WHERE id = {}",
        en.id
    ));
    ctx.model.envs.remove(&en.id);
    Ok(Value::Integer(1))
}

fn source_struct(m: &Model, p: &Project, channel: i64) -> Value {
    StructBuilder::new()
        .field("contentProjectLabel", string(&p.label))
        .field("type", string("software"))
        .field("state", string("ATTACHED"))
        .field(
            "channelLabel",
            string(m.channels.get(&channel).map_or("", |c| c.label.as_str())),
        )
        .build()
}

pub(crate) fn list_sources(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.listProjectSources", p);
    let pr = project(ctx.model, &a.str(0).map_err(e)?)?;
    Ok(Value::Array(
        pr.sources
            .iter()
            .map(|c| source_struct(ctx.model, pr, *c))
            .collect(),
    ))
}

/// `attachSource` / `detachSource` of a software channel (the only source type modelled).
fn source(ctx: &mut Ctx<'_>, p: &[Value], attach: bool) -> Reply {
    let method = if attach {
        "contentmanagement.attachSource"
    } else {
        "contentmanagement.detachSource"
    };
    let (a, e) = args(method, p);
    let mut pr = project(ctx.model, &a.str(0).map_err(&e)?)?.clone();
    let kind = a.str(1).map_err(&e)?;
    if kind != "software" {
        return Err(Fault::xmlrpc(
            2802,
            format!("Unsupported source type: {kind}"),
        ));
    }
    let label = a.str(2).map_err(&e)?;
    let channel = channel_by_label(ctx.model, &label)?.id;
    if attach {
        if pr.sources.insert(channel) {
            ctx.exec(format!(
                "INSERT INTO suseContentProjectSource (id, type, state, project_id, channel_id) \
                 VALUES (nextval('suse_ct_prj_src_seq'), 'software', 'ATTACHED', {}, {channel})",
                pr.id
            ));
        }
    } else if pr.sources.remove(&channel) {
        ctx.exec(format!(
            "DELETE FROM suseContentProjectSource WHERE project_id = {} AND channel_id = {channel}",
            pr.id
        ));
    } else {
        return Err(not_exists(&label));
    }
    let out = source_struct(ctx.model, &pr, channel);
    ctx.model.projects.insert(pr.id, pr);
    if attach {
        Ok(out)
    } else {
        Ok(Value::Integer(1))
    }
}

pub(crate) fn attach_source(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    source(ctx, p, true)
}

pub(crate) fn detach_source(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    source(ctx, p, false)
}

fn filter_struct(f: &Filter) -> Value {
    StructBuilder::new()
        .field("id", int(f.id))
        .field("name", string(&f.name))
        .field("orgId", int(ORG_ID))
        .field("entityType", string(&f.entity_type))
        .field("rule", string(&f.rule))
        .field(
            "criteria",
            StructBuilder::new()
                .field("matcher", string(&f.matcher))
                .field("field", string(&f.field))
                .field("value", string(&f.value))
                .build(),
        )
        .build()
}

fn filter_by_id(m: &Model, id: i64) -> Result<&Filter, Fault> {
    m.filters
        .get(&id)
        .ok_or_else(|| not_exists(&id.to_string()))
}

/// `rule`, `entityType` and the criteria a filter may have (Uyuni checks more combinations).
fn check_filter(rule: &str, entity: &str, matcher: &str, field: &str) -> Result<(), Fault> {
    let bad = |what: &str, v: &str| Fault::xmlrpc(2800, format!("Invalid {what}: {v}"));
    if !matches!(rule, "allow" | "deny") {
        return Err(bad("rule", rule));
    }
    if !matches!(entity, "package" | "erratum" | "module") {
        return Err(bad("entity type", entity));
    }
    if matcher.is_empty() || field.is_empty() {
        return Err(bad("criteria", "matcher and field are required"));
    }
    Ok(())
}

fn criteria(d: &std::collections::BTreeMap<String, Value>) -> (String, String, String) {
    let f = |n: &str| field_str(d, n).unwrap_or_default().to_string();
    (f("matcher"), f("field"), f("value"))
}

pub(crate) fn list_filters(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(Value::Array(
        ctx.model.filters.values().map(filter_struct).collect(),
    ))
}

pub(crate) fn create_filter(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.createFilter", p);
    let name = a.str(0).map_err(&e)?;
    let rule = a.str(1).map_err(&e)?;
    let entity = a.str(2).map_err(&e)?;
    let (matcher, field, value) = criteria(a.strukt(3).map_err(&e)?);
    check_filter(&rule, &entity, &matcher, &field)?;
    if ctx.model.filters.values().any(|f| f.name == name) {
        return Err(exists(&name));
    }
    let id = ctx.model.next_filter_id();
    ctx.exec(format!(
        "INSERT INTO suseContentFilter (id, org_id, type, rule, name, matcher, field, value) \
         VALUES ({id}, {ORG_ID}, {}, {}, {}, {}, {}, {})",
        q(&entity),
        q(&rule),
        q(&name),
        q(&matcher),
        q(&field),
        q(&value)
    ));
    let f = Filter {
        id,
        name,
        rule,
        entity_type: entity,
        matcher,
        field,
        value,
    };
    let out = filter_struct(&f);
    ctx.model.filters.insert(id, f);
    Ok(out)
}

pub(crate) fn update_filter(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.updateFilter", p);
    let mut f = filter_by_id(ctx.model, a.int(0).map_err(&e)?)?.clone();
    let name = a.str(1).map_err(&e)?;
    let rule = a.str(2).map_err(&e)?;
    let (matcher, field, value) = criteria(a.strukt(3).map_err(&e)?);
    check_filter(&rule, &f.entity_type, &matcher, &field)?;
    if ctx
        .model
        .filters
        .values()
        .any(|x| x.name == name && x.id != f.id)
    {
        return Err(exists(&name));
    }
    (f.name, f.rule, f.matcher, f.field, f.value) = (name, rule, matcher, field, value);
    ctx.exec(format!(
        "UPDATE suseContentFilter SET name = {}, rule = {}, matcher = {}, field = {}, value = {}, \
         modified = now() WHERE id = {}",
        q(&f.name),
        q(&f.rule),
        q(&f.matcher),
        q(&f.field),
        q(&f.value),
        f.id
    ));
    let out = filter_struct(&f);
    ctx.model.filters.insert(f.id, f);
    Ok(out)
}

pub(crate) fn list_project_filters(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("contentmanagement.listProjectFilters", p);
    let pr = project(ctx.model, &a.str(0).map_err(e)?)?;
    Ok(Value::Array(
        pr.filters
            .iter()
            .filter_map(|f| ctx.model.filters.get(f))
            .map(|f| {
                StructBuilder::new()
                    .field("projectLabel", string(&pr.label))
                    .field("state", string("ATTACHED"))
                    .field("filter", filter_struct(f))
                    .build()
            })
            .collect(),
    ))
}

/// `attachFilter` / `detachFilter`.
fn project_filter(ctx: &mut Ctx<'_>, p: &[Value], attach: bool) -> Reply {
    let method = if attach {
        "contentmanagement.attachFilter"
    } else {
        "contentmanagement.detachFilter"
    };
    let (a, e) = args(method, p);
    let mut pr = project(ctx.model, &a.str(0).map_err(&e)?)?.clone();
    let f = filter_by_id(ctx.model, a.int(1).map_err(&e)?)?.clone();
    if attach {
        if pr.filters.insert(f.id) {
            ctx.exec(format!(
                "INSERT INTO suseContentFilterProject (filter_id, project_id, position) VALUES ({}, {}, {})",
                f.id,
                pr.id,
                pr.filters.len()
            ));
        }
    } else if pr.filters.remove(&f.id) {
        ctx.exec(format!(
            "DELETE FROM suseContentFilterProject WHERE filter_id = {} AND project_id = {}",
            f.id, pr.id
        ));
    }
    ctx.model.projects.insert(pr.id, pr);
    if attach {
        Ok(filter_struct(&f))
    } else {
        Ok(Value::Integer(1))
    }
}

pub(crate) fn attach_filter(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    project_filter(ctx, p, true)
}

pub(crate) fn detach_filter(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    project_filter(ctx, p, false)
}
