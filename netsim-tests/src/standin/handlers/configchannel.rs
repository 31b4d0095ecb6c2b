//! `configchannel.*`: global (normal) configuration channels and their text files, on
//! Uyuni's tables (`rhnConfigChannel`, `rhnConfigFile`, `rhnConfigFileName`,
//! `rhnConfigRevision`, `rhnConfigContent`, `rhnConfigInfo`, `rhnChecksum`), written as
//! `rhn_config.insert_revision` does. Directories and symlinks are not modelled.

use uyuni_api::value::{StructBuilder, field_int, field_str, int, string};
use uyuni_api::{Fault, Value};

use super::args;
use crate::standin::dispatch::{Ctx, Reply};
use crate::standin::state::{ConfigChannel, ConfigFile, ORG_ID};
use crate::standin::store_pg::q;

/// NoSuchConfigChannelException (text unverified).
fn no_channel(label: &str) -> Fault {
    Fault::xmlrpc(4000, format!("No such configuration channel: {label}"))
}

fn channel_struct(c: &ConfigChannel) -> Value {
    StructBuilder::new()
        .field("id", int(c.id))
        .field("orgId", int(ORG_ID))
        .field("label", string(&c.label))
        .field("name", string(&c.name))
        .field("description", string(&c.description))
        .field(
            "configChannelType",
            StructBuilder::new()
                .field("label", string("normal"))
                .build(),
        )
        .build()
}

fn file_struct(c: &ConfigChannel, path: &str, f: &ConfigFile) -> Value {
    StructBuilder::new()
        .field("type", string("file"))
        .field("path", string(path))
        .field("channel", string(&c.label))
        .field("revision", int(f.revision))
        .field("contents", string(&f.contents))
        .field("owner", string(&f.owner))
        .field("group", string(&f.group))
        .field("permissions", int(f.permissions))
        .field("permissions_mode", string(format!("{}", f.permissions)))
        .field("binary", Value::Boolean(false))
        .build()
}

fn lookup(ctx: &Ctx<'_>, label: &str) -> Result<ConfigChannel, Fault> {
    ctx.model
        .config_channel_by_label(label)
        .cloned()
        .ok_or_else(|| no_channel(label))
}

fn strs(v: &[Value]) -> Vec<String> {
    v.iter()
        .filter_map(|x| match x {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn list_globals(ctx: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(Value::Array(
        ctx.model
            .config_channels
            .values()
            .map(channel_struct)
            .collect(),
    ))
}

pub(crate) fn get_details(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("configchannel.getDetails", p);
    let c = lookup(ctx, &a.str(0).map_err(e)?)?;
    Ok(channel_struct(&c))
}

pub(crate) fn create(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("configchannel.create", p);
    let label = a.str(0).map_err(&e)?;
    let name = a.str(1).map_err(&e)?;
    let description = a.str(2).map_err(&e)?;
    if label.is_empty() || name.is_empty() {
        return Err(Fault::xmlrpc(
            4001,
            "A configuration channel needs a label and a name",
        ));
    }
    if ctx.model.config_channel_by_label(&label).is_some() {
        return Err(Fault::xmlrpc(
            4002,
            format!("Configuration channel {label} already exists"),
        ));
    }
    let id = ctx.model.config_channels.keys().max().map_or(1, |m| m + 1);
    ctx.exec(format!(
        "INSERT INTO rhnConfigChannel (id, org_id, confchan_type_id, name, label, description) \
         VALUES ({id}, {ORG_ID}, (SELECT id FROM rhnConfigChannelType WHERE label = 'normal'), {}, {}, {})",
        q(&name),
        q(&label),
        q(&description)
    ));
    let c = ConfigChannel {
        id,
        label,
        name,
        description,
        files: Default::default(),
    };
    let out = channel_struct(&c);
    ctx.model.config_channels.insert(id, c);
    Ok(out)
}

pub(crate) fn update(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("configchannel.update", p);
    let mut c = lookup(ctx, &a.str(0).map_err(&e)?)?;
    c.name = a.str(1).map_err(&e)?;
    c.description = a.str(2).map_err(&e)?;
    ctx.exec(format!(
        "UPDATE rhnConfigChannel SET name = {}, description = {}, modified = now() WHERE id = {}",
        q(&c.name),
        q(&c.description),
        c.id
    ));
    let out = channel_struct(&c);
    ctx.model.config_channels.insert(c.id, c);
    Ok(out)
}

/// Remove a file's rows (its revisions first: `latest_config_revision_id` has no foreign key).
fn delete_file_rows(ctx: &mut Ctx<'_>, file_id: i64) {
    ctx.exec(format!(
        "UPDATE rhnConfigFile SET latest_config_revision_id = NULL WHERE id = {file_id}"
    ));
    ctx.exec(format!(
        "DELETE FROM rhnConfigRevision WHERE config_file_id = {file_id}"
    ));
    ctx.exec(format!("DELETE FROM rhnConfigFile WHERE id = {file_id}"));
}

pub(crate) fn delete_channels(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("configchannel.deleteChannels", p);
    let labels = strs(&a.array(0).map_err(&e)?);
    let mut gone = Vec::new();
    for l in &labels {
        gone.push(lookup(ctx, l)?);
    }
    for c in gone {
        for f in c.files.values() {
            delete_file_rows(ctx, f.id);
        }
        ctx.exec(format!(
            "DELETE FROM rhnRegTokenConfigChannels WHERE config_channel_id = {}",
            c.id
        ));
        ctx.exec(format!("DELETE FROM rhnConfigChannel WHERE id = {}", c.id));
        ctx.model.config_channels.remove(&c.id);
        for k in ctx.model.keys.values_mut() {
            k.config_channels.retain(|x| *x != c.id);
        }
    }
    Ok(Value::Integer(1))
}

pub(crate) fn list_files(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("configchannel.listFiles", p);
    let c = lookup(ctx, &a.str(0).map_err(e)?)?;
    Ok(Value::Array(
        c.files
            .keys()
            .map(|path| {
                StructBuilder::new()
                    .field("type", string("file"))
                    .field("path", string(path))
                    .build()
            })
            .collect(),
    ))
}

pub(crate) fn lookup_file_info(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("configchannel.lookupFileInfo", p);
    let c = lookup(ctx, &a.str(0).map_err(&e)?)?;
    let paths = strs(&a.array(1).map_err(&e)?);
    Ok(Value::Array(
        paths
            .iter()
            .filter_map(|path| c.files.get(path).map(|f| file_struct(&c, path, f)))
            .collect(),
    ))
}

pub(crate) fn create_or_update_path(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("configchannel.createOrUpdatePath", p);
    let mut c = lookup(ctx, &a.str(0).map_err(&e)?)?;
    let path = a.str(1).map_err(&e)?;
    if a.bool(2).map_err(&e)? {
        return Err(Fault::xmlrpc(
            -1,
            "directories are not modelled by the stand-in",
        ));
    }
    let info = a.strukt(3).map_err(&e)?;
    if !path.starts_with('/') {
        return Err(Fault::xmlrpc(4003, format!("Invalid path: {path}")));
    }
    let contents = field_str(info, "contents").unwrap_or_default().to_string();
    let owner = field_str(info, "owner").unwrap_or("root").to_string();
    let group = field_str(info, "group").unwrap_or("root").to_string();
    let permissions = match field_str(info, "permissions") {
        Some(s) => s.parse::<i64>().unwrap_or(644),
        None => field_int(info, "permissions").unwrap_or(644),
    };
    let (file_id, revision) = match c.files.get(&path) {
        Some(f) => (f.id, f.revision + 1),
        None => {
            let id = ctx
                .model
                .config_channels
                .values()
                .flat_map(|c| c.files.values().map(|f| f.id))
                .max()
                .unwrap_or(0)
                + 1;
            ctx.exec(format!(
                "INSERT INTO rhnConfigFileName (id, path) SELECT nextval('rhn_cfname_id_seq'), {p} \
                 WHERE NOT EXISTS (SELECT 1 FROM rhnConfigFileName WHERE path = {p})",
                p = q(&path)
            ));
            ctx.exec(format!(
                "INSERT INTO rhnConfigFile (id, config_channel_id, config_file_name_id, latest_config_revision_id, state_id) \
                 VALUES ({id}, {}, (SELECT id FROM rhnConfigFileName WHERE path = {}), NULL, \
                 (SELECT id FROM rhnConfigFileState WHERE label = 'alive'))",
                c.id,
                q(&path)
            ));
            (id, 1)
        }
    };
    // rhn_config.insert_revision: checksum, content, info, revision, then the file's latest.
    ctx.exec(format!(
        "INSERT INTO rhnChecksum (id, checksum_type_id, checksum) \
         SELECT nextval('rhnChecksum_seq'), (SELECT id FROM rhnChecksumType WHERE label = 'sha256'), d \
         FROM (SELECT encode(sha256({c}::bytea), 'hex') AS d) x \
         WHERE NOT EXISTS (SELECT 1 FROM rhnChecksum WHERE checksum = x.d)",
        c = q(&contents)
    ));
    ctx.exec(format!(
        "INSERT INTO rhnConfigContent (id, contents, file_size, checksum_id, is_binary, delim_start, delim_end) \
         VALUES (nextval('rhn_confcontent_id_seq'), {c}::bytea, {}, \
                 (SELECT id FROM rhnChecksum WHERE checksum = encode(sha256({c}::bytea), 'hex') LIMIT 1), 'N', '{{|', '|}}')",
        contents.len(),
        c = q(&contents)
    ));
    ctx.exec(format!(
        "INSERT INTO rhnConfigInfo (id, username, groupname, filemode) \
         VALUES (nextval('rhn_confinfo_id_seq'), {}, {}, {permissions})",
        q(&owner),
        q(&group)
    ));
    ctx.exec(format!(
        "INSERT INTO rhnConfigRevision (id, revision, config_file_id, config_content_id, config_info_id, config_file_type_id) \
         VALUES (nextval('rhn_confrevision_id_seq'), {revision}, {file_id}, currval('rhn_confcontent_id_seq'), \
                 currval('rhn_confinfo_id_seq'), (SELECT id FROM rhnConfigFileType WHERE label = 'file'))"
    ));
    ctx.exec(format!(
        "UPDATE rhnConfigFile SET latest_config_revision_id = currval('rhn_confrevision_id_seq'), modified = now() \
         WHERE id = {file_id}"
    ));
    let f = ConfigFile {
        id: file_id,
        revision,
        contents,
        owner,
        group,
        permissions,
    };
    let out = file_struct(&c, &path, &f);
    c.files.insert(path, f);
    ctx.model.config_channels.insert(c.id, c);
    Ok(out)
}

pub(crate) fn delete_files(ctx: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("configchannel.deleteFiles", p);
    let mut c = lookup(ctx, &a.str(0).map_err(&e)?)?;
    for path in strs(&a.array(1).map_err(&e)?) {
        if let Some(f) = c.files.remove(&path) {
            delete_file_rows(ctx, f.id);
        }
    }
    ctx.model.config_channels.insert(c.id, c);
    Ok(Value::Integer(1))
}
