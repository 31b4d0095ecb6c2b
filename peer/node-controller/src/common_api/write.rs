//! Applying a replayed operation (create, update, delete) to the node through Uyuni's own calls.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use uyuni_api::value::{int, string, strings};
use uyuni_api::{ApiError, StructBuilder, UyuniClient, Value};

use super::normalise::{normalise_filter, s};
use super::{call, group_ids, list};
use crate::kinds::CommonKind;
use crate::reconcile::CommonOp;

/// What `want` has and `have` lacks.
fn missing<'a>(want: &'a [String], have: &[String]) -> Vec<&'a String> {
    want.iter().filter(|x| !have.contains(x)).collect()
}

/// `name` / `name.arch` (as [`key_packages`] writes them) as `{name, arch?}`; only a known
/// architecture suffix is one (package names contain dots).
fn package_struct(p: &str) -> Value {
    let (name, arch) = match p.rsplit_once('.') {
        Some((n, a))
            if matches!(
                a,
                "noarch"
                    | "x86_64"
                    | "aarch64"
                    | "i686"
                    | "i586"
                    | "ppc64le"
                    | "s390x"
                    | "amd64"
                    | "arm64"
            ) =>
        {
            (n, a)
        }
        _ => (p, ""),
    };
    let b = StructBuilder::new().field("name", string(name));
    if arch.is_empty() {
        b.build()
    } else {
        b.field("arch", string(arch)).build()
    }
}

/// An activation key's name as `activationkey.create` takes it: Uyuni prefixes keys with the
/// organisation id (`1-mykey`) and adds the prefix itself on create.
fn key_name(key: &str) -> &str {
    match key.split_once('-') {
        Some((org, rest)) if !org.is_empty() && org.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => key,
    }
}

fn channel_details(d: &Json) -> Value {
    StructBuilder::new()
        .field("name", string(s(d, "name")))
        .field("summary", string(s(d, "summary")))
        .field("description", string(s(d, "description")))
        .field("checksum_label", string(s(d, "checksum_label")))
        .field("gpg_key_url", string(s(d, "gpg_key_url")))
        .field("gpg_key_id", string(s(d, "gpg_key_id")))
        .field("gpg_key_fp", string(s(d, "gpg_key_fp")))
        .build()
}

fn str_list(d: &Json, f: &str) -> Vec<String> {
    d.get(f)
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Apply one operation to the node.
pub async fn apply(c: &UyuniClient, op: &CommonOp) -> Result<(), ApiError> {
    match op {
        CommonOp::Create { kind, key, data } => create(c, *kind, key, data).await,
        CommonOp::Update {
            kind,
            key,
            data,
            current,
        } => update(c, *kind, key, data, current).await,
        CommonOp::Delete { kind, key } => {
            let (method, arg) = match kind {
                CommonKind::Channel => ("channel.software.delete", key.as_str()),
                CommonKind::SystemGroup => ("systemgroup.delete", key.as_str()),
                CommonKind::ConfigChannel => {
                    return c
                        .call(
                            "configchannel.deleteChannels",
                            vec![strings([key.as_str()])],
                        )
                        .await
                        .map(|_| ());
                }
                CommonKind::ActivationKey => ("activationkey.delete", key.as_str()),
                CommonKind::ContentProject => ("contentmanagement.removeProject", key.as_str()),
            };
            c.call(method, vec![string(arg)]).await.map(|_| ())
        }
    }
}

async fn create(c: &UyuniClient, kind: CommonKind, key: &str, d: &Json) -> Result<(), ApiError> {
    match kind {
        CommonKind::Channel => {
            let gpg = StructBuilder::new()
                .field("url", string(s(d, "gpg_key_url")))
                .field("id", string(s(d, "gpg_key_id")))
                .field("fingerprint", string(s(d, "gpg_key_fp")))
                .build();
            c.call(
                "channel.software.create",
                vec![
                    string(key),
                    string(s(d, "name")),
                    string(s(d, "summary")),
                    string(s(d, "arch_label")),
                    string(s(d, "parent_channel_label")),
                    string(s(d, "checksum_label")),
                    gpg,
                ],
            )
            .await?;
            // create takes no description: set it (and the rest) in a second call.
            c.call(
                "channel.software.setDetails",
                vec![string(key), channel_details(d)],
            )
            .await
            .map(|_| ())
        }
        CommonKind::SystemGroup => c
            .call(
                "systemgroup.create",
                vec![string(key), string(s(d, "description"))],
            )
            .await
            .map(|_| ()),
        CommonKind::ConfigChannel => {
            c.call(
                "configchannel.create",
                vec![
                    string(key),
                    string(s(d, "name")),
                    string(s(d, "description")),
                ],
            )
            .await?;
            sync_config_files(c, key, d, &json!({})).await
        }
        CommonKind::ActivationKey => {
            c.call(
                "activationkey.create",
                vec![
                    string(key_name(key)),
                    string(s(d, "description")),
                    string(s(d, "base_channel_label")),
                    strings(str_list(d, "entitlements")),
                    Value::Boolean(
                        d.get("universal_default")
                            .and_then(Json::as_bool)
                            .unwrap_or(false),
                    ),
                ],
            )
            .await?;
            update(c, kind, key, d, &json!({})).await
        }
        CommonKind::ContentProject => {
            c.call(
                "contentmanagement.createProject",
                vec![
                    string(key),
                    string(s(d, "name")),
                    string(s(d, "description")),
                ],
            )
            .await?;
            sync_environments(c, key, d, &json!({"environments": []})).await?;
            sync_sources(c, key, d, &json!({})).await?;
            sync_filters(c, key, d, &json!({})).await
        }
    }
}

async fn update(
    c: &UyuniClient,
    kind: CommonKind,
    key: &str,
    d: &Json,
    current: &Json,
) -> Result<(), ApiError> {
    match kind {
        CommonKind::Channel => c
            .call(
                "channel.software.setDetails",
                vec![string(key), channel_details(d)],
            )
            .await
            .map(|_| ()),
        CommonKind::SystemGroup => c
            .call(
                "systemgroup.update",
                vec![string(key), string(s(d, "description"))],
            )
            .await
            .map(|_| ()),
        CommonKind::ConfigChannel => {
            if s(d, "name") != s(current, "name")
                || s(d, "description") != s(current, "description")
            {
                c.call(
                    "configchannel.update",
                    vec![
                        string(key),
                        string(s(d, "name")),
                        string(s(d, "description")),
                    ],
                )
                .await?;
            }
            sync_config_files(c, key, d, current).await
        }
        CommonKind::ActivationKey => {
            let limit = d.get("usage_limit").and_then(Json::as_i64).unwrap_or(0);
            let details = StructBuilder::new()
                .field("description", string(s(d, "description")))
                .field("base_channel_label", string(s(d, "base_channel_label")))
                .field(
                    "universal_default",
                    Value::Boolean(
                        d.get("universal_default")
                            .and_then(Json::as_bool)
                            .unwrap_or(false),
                    ),
                )
                .field(
                    "disabled",
                    Value::Boolean(d.get("disabled").and_then(Json::as_bool).unwrap_or(false)),
                );
            let details = if limit > 0 {
                details.field("usage_limit", int(limit))
            } else {
                details.field("unlimited_usage_limit", Value::Boolean(true))
            };
            c.call(
                "activationkey.setDetails",
                vec![string(key), details.build()],
            )
            .await?;
            let want = str_list(d, "child_channel_labels");
            let have = str_list(current, "child_channel_labels");
            let add: Vec<&String> = want.iter().filter(|l| !have.contains(l)).collect();
            let remove: Vec<&String> = have.iter().filter(|l| !want.contains(l)).collect();
            if !add.is_empty() {
                c.call(
                    "activationkey.addChildChannels",
                    vec![string(key), strings(add.iter().map(|s| s.as_str()))],
                )
                .await?;
            }
            if !remove.is_empty() {
                c.call(
                    "activationkey.removeChildChannels",
                    vec![string(key), strings(remove.iter().map(|s| s.as_str()))],
                )
                .await?;
            }
            // Groups by name; this node's ids (groups are applied before keys). A field a
            // record written by an older version lacks is left as the node has it.
            let (want, have) = (
                str_list(d, "server_groups"),
                str_list(current, "server_groups"),
            );
            let (add, remove) = if d.get("server_groups").is_some() {
                (missing(&want, &have), missing(&have, &want))
            } else {
                (Vec::new(), Vec::new())
            };
            if !add.is_empty() || !remove.is_empty() {
                let ids = group_ids(c).await?;
                let to_ids = |names: &[&String]| -> Result<Value, ApiError> {
                    let mut out = Vec::new();
                    for n in names {
                        let id = ids.get(*n).ok_or_else(|| ApiError::Decode {
                            url: c.url().to_string(),
                            reason: format!("activation key {key} names system group {n:?}, which this node lacks"),
                        })?;
                        out.push(int(*id));
                    }
                    Ok(Value::Array(out))
                };
                if !add.is_empty() {
                    c.call(
                        "activationkey.addServerGroups",
                        vec![string(key), to_ids(&add)?],
                    )
                    .await?;
                }
                if !remove.is_empty() {
                    c.call(
                        "activationkey.removeServerGroups",
                        vec![string(key), to_ids(&remove)?],
                    )
                    .await?;
                }
            }
            // Configuration channels: an ordered list, set as a whole.
            let (want, have) = (
                str_list(d, "config_channels"),
                str_list(current, "config_channels"),
            );
            if d.get("config_channels").is_some() && want != have {
                c.call(
                    "activationkey.setConfigChannels",
                    vec![strings([key]), strings(want)],
                )
                .await?;
            }
            let (want, have) = (str_list(d, "packages"), str_list(current, "packages"));
            let (add, remove) = if d.get("packages").is_some() {
                (missing(&want, &have), missing(&have, &want))
            } else {
                (Vec::new(), Vec::new())
            };
            if !add.is_empty() {
                c.call(
                    "activationkey.addPackages",
                    vec![
                        string(key),
                        Value::Array(add.iter().map(|p| package_struct(p)).collect()),
                    ],
                )
                .await?;
            }
            if !remove.is_empty() {
                c.call(
                    "activationkey.removePackages",
                    vec![
                        string(key),
                        Value::Array(remove.iter().map(|p| package_struct(p)).collect()),
                    ],
                )
                .await?;
            }
            Ok(())
        }
        CommonKind::ContentProject => {
            if s(d, "name") != s(current, "name")
                || s(d, "description") != s(current, "description")
            {
                let props = StructBuilder::new()
                    .field("name", string(s(d, "name")))
                    .field("description", string(s(d, "description")))
                    .build();
                c.call("contentmanagement.updateProject", vec![string(key), props])
                    .await?;
            }
            sync_environments(c, key, d, current).await?;
            sync_sources(c, key, d, current).await?;
            sync_filters(c, key, d, current).await
        }
    }
}

/// Make a configuration channel's files equal to the replicated ones: new or changed files as
/// a new revision (`createOrUpdatePath`), extra ones deleted.
async fn sync_config_files(
    c: &UyuniClient,
    label: &str,
    d: &Json,
    current: &Json,
) -> Result<(), ApiError> {
    let files = |v: &Json| -> Vec<Json> {
        v.get("files")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (want, have) = (files(d), files(current));
    for f in &want {
        if have.contains(f) {
            continue;
        }
        let info = StructBuilder::new()
            .field("contents", string(s(f, "contents")))
            .field("owner", string(s(f, "owner")))
            .field("group", string(s(f, "group")))
            .field("permissions", string(s(f, "permissions")))
            .build();
        c.call(
            "configchannel.createOrUpdatePath",
            vec![
                string(label),
                string(s(f, "path")),
                Value::Boolean(false),
                info,
            ],
        )
        .await?;
    }
    let gone: Vec<String> = have
        .iter()
        .map(|h| s(h, "path"))
        .filter(|p| !want.iter().any(|f| &s(f, "path") == p))
        .collect();
    if !gone.is_empty() {
        c.call(
            "configchannel.deleteFiles",
            vec![string(label), strings(gone)],
        )
        .await?;
    }
    Ok(())
}

/// Attach the software sources (channels, replicated before projects) the project lacks and
/// detach the extra ones.
async fn sync_sources(
    c: &UyuniClient,
    project: &str,
    d: &Json,
    current: &Json,
) -> Result<(), ApiError> {
    if d.get("sources").is_none() {
        return Ok(()); // written by a version without the field: leave the node's as they are
    }
    let (want, have) = (str_list(d, "sources"), str_list(current, "sources"));
    for label in missing(&want, &have) {
        c.call(
            "contentmanagement.attachSource",
            vec![string(project), string("software"), string(label)],
        )
        .await?;
    }
    for label in missing(&have, &want) {
        c.call(
            "contentmanagement.detachSource",
            vec![string(project), string("software"), string(label)],
        )
        .await?;
    }
    Ok(())
}

fn filters_of(v: &Json) -> Vec<Json> {
    v.get("filters")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Attach the filters the project lacks (created, or updated to the replicated definition,
/// under the same name in this organisation) and detach the extra ones. Filters are shared
/// within an organisation; a name identifies one.
async fn sync_filters(
    c: &UyuniClient,
    project: &str,
    d: &Json,
    current: &Json,
) -> Result<(), ApiError> {
    if d.get("filters").is_none() {
        return Ok(()); // written by a version without the field
    }
    let (want, have) = (filters_of(d), filters_of(current));
    if want == have {
        return Ok(());
    }
    let mut by_name: BTreeMap<String, (i64, Json)> = BTreeMap::new();
    for f in list(c, "contentmanagement.listFilters", vec![]).await? {
        if let Some(id) = f.get("id").and_then(Json::as_i64) {
            by_name.insert(s(&f, "name"), (id, normalise_filter(&f)));
        }
    }
    let criteria = |f: &Json| {
        StructBuilder::new()
            .field("matcher", string(s(f, "matcher")))
            .field("field", string(s(f, "field")))
            .field("value", string(s(f, "value")))
            .build()
    };
    for f in &want {
        let name = s(f, "name");
        let id = match by_name.get(&name) {
            Some((id, existing)) if existing == f => *id,
            Some((id, _)) => {
                c.call(
                    "contentmanagement.updateFilter",
                    vec![int(*id), string(&name), string(s(f, "rule")), criteria(f)],
                )
                .await?;
                *id
            }
            None => {
                let created = call(
                    c,
                    "contentmanagement.createFilter",
                    vec![
                        string(&name),
                        string(s(f, "rule")),
                        string(s(f, "entity_type")),
                        criteria(f),
                    ],
                )
                .await?;
                created
                    .get("id")
                    .and_then(Json::as_i64)
                    .ok_or_else(|| ApiError::Decode {
                        url: c.url().to_string(),
                        reason: "contentmanagement.createFilter returned no id".into(),
                    })?
            }
        };
        if !have.iter().any(|h| s(h, "name") == name) {
            c.call(
                "contentmanagement.attachFilter",
                vec![string(project), int(id)],
            )
            .await?;
        }
    }
    for h in &have {
        let name = s(h, "name");
        if !want.iter().any(|f| s(f, "name") == name)
            && let Some((id, _)) = by_name.get(&name)
        {
            c.call(
                "contentmanagement.detachFilter",
                vec![string(project), int(*id)],
            )
            .await?;
        }
    }
    Ok(())
}

/// Make the project's environment chain equal to the desired one: missing environments are
/// inserted after their predecessor, extra ones removed, changed ones updated.
async fn sync_environments(
    c: &UyuniClient,
    project: &str,
    d: &Json,
    current: &Json,
) -> Result<(), ApiError> {
    let envs = |v: &Json| -> Vec<Json> {
        v.get("environments")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let want = envs(d);
    let have = envs(current);
    let want_labels: Vec<String> = want.iter().map(|e| s(e, "label")).collect();
    for e in &have {
        if !want_labels.contains(&s(e, "label")) {
            c.call(
                "contentmanagement.removeEnvironment",
                vec![string(project), string(s(e, "label"))],
            )
            .await?;
        }
    }
    let mut predecessor = String::new();
    for e in &want {
        let label = s(e, "label");
        match have.iter().find(|h| s(h, "label") == label) {
            None => {
                c.call(
                    "contentmanagement.createEnvironment",
                    vec![
                        string(project),
                        string(&predecessor),
                        string(&label),
                        string(s(e, "name")),
                        string(s(e, "description")),
                    ],
                )
                .await?;
            }
            Some(h) if h != e => {
                let props = StructBuilder::new()
                    .field("name", string(s(e, "name")))
                    .field("description", string(s(e, "description")))
                    .build();
                c.call(
                    "contentmanagement.updateEnvironment",
                    vec![string(project), string(&label), props],
                )
                .await?;
            }
            Some(_) => {}
        }
        predecessor = label;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_names_and_package_structs() {
        assert_eq!(key_name("1-web"), "web");
        let p = uyuni_api::json::to_json(&package_struct("vim.x86_64"));
        assert_eq!(p, json!({"name": "vim", "arch": "x86_64"}));
        let p = uyuni_api::json::to_json(&package_struct("python3.11"));
        assert_eq!(
            p,
            json!({"name": "python3.11"}),
            "a dot in a name is no arch"
        );
        assert_eq!(key_name("web-1"), "web-1");
    }
}
