//! Reading and writing common data through a node's Uyuni API.
//!
//! Every object is normalised to the fields the cluster replays, in the same form on every
//! node, so that two nodes holding the same object compare equal (ids, counts and dates,
//! which differ per server, are left out). The calls are Uyuni's own (see
//! docs/NODE-CONTROLLER.md for the list).

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use uyuni_api::value::{int, string, strings};
use uyuni_api::{ApiError, StructBuilder, UyuniClient, Value};

use super::kinds::CommonKind;
use super::reconcile::CommonOp;

fn s(v: &Json, f: &str) -> String {
    match v.get(f) {
        Some(Json::String(x)) => x.clone(),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn sorted_strings(v: &Json, f: &str) -> Json {
    let mut items: Vec<String> = v
        .get(f)
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    items.sort();
    json!(items)
}

/// `channel.software.getDetails` → the replayed fields.
pub fn normalise_channel(d: &Json) -> Json {
    json!({
        "label": s(d, "label"),
        "name": s(d, "name"),
        "summary": s(d, "summary"),
        "description": s(d, "description"),
        "arch_label": s(d, "arch_label"),
        "parent_channel_label": s(d, "parent_channel_label"),
        "checksum_label": s(d, "checksum_label"),
        "gpg_key_url": s(d, "gpg_key_url"),
        "gpg_key_id": s(d, "gpg_key_id"),
        "gpg_key_fp": s(d, "gpg_key_fp"),
    })
}

/// `configchannel.getDetails` (or a `listGlobals` entry) + `lookupFileInfo` of its files →
/// the replayed fields (files sorted by path; revisions and dates left out).
pub fn normalise_config_channel(d: &Json, files: &[Json]) -> Json {
    let mut files: Vec<Json> = files
        .iter()
        .map(|f| {
            json!({
                "path": s(f, "path"),
                "type": s(f, "type"),
                "contents": s(f, "contents"),
                "owner": s(f, "owner"),
                "group": s(f, "group"),
                "permissions": s(f, "permissions"),
            })
        })
        .collect();
    files.sort_by_key(|f| s(f, "path"));
    json!({
        "label": s(d, "label"),
        "name": s(d, "name"),
        "description": s(d, "description"),
        "files": files,
    })
}

/// `systemgroup.listAllGroups` entry → the replayed fields.
pub fn normalise_group(d: &Json) -> Json {
    json!({"name": s(d, "name"), "description": s(d, "description")})
}

/// An activation key's packages (`[{name, arch?}]`) as sorted `name` / `name.arch` strings.
fn key_packages(d: &Json) -> Vec<String> {
    let mut out: Vec<String> = d
        .get("packages")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .map(|p| match s(p, "arch").as_str() {
                    "" => s(p, "name"),
                    arch => format!("{}.{arch}", s(p, "name")),
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// `activationkey.getDetails` / `listActivationKeys` entry → the replayed fields. Its
/// `server_group_ids` become names through `groups` (id → name on this node): ids differ per
/// server, names are what the cluster replicates.
pub fn normalise_key(d: &Json, groups: &BTreeMap<i64, String>) -> Json {
    let mut group_names: Vec<String> = d
        .get("server_group_ids")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Json::as_i64)
                .filter_map(|id| groups.get(&id).cloned())
                .collect()
        })
        .unwrap_or_default();
    group_names.sort();
    let base = s(d, "base_channel_label");
    json!({
        "key": s(d, "key"),
        "description": s(d, "description"),
        "base_channel_label": if base == "none" { String::new() } else { base },
        "child_channel_labels": sorted_strings(d, "child_channel_labels"),
        "server_groups": group_names,
        "packages": key_packages(d),
        "entitlements": sorted_strings(d, "entitlements"),
        "usage_limit": d.get("usage_limit").and_then(Json::as_i64).unwrap_or(0),
        "universal_default": d.get("universal_default").and_then(Json::as_bool).unwrap_or(false),
        "disabled": d.get("disabled").and_then(Json::as_bool).unwrap_or(false),
    })
}

/// A CLM filter (`listFilters` entry, or the `filter` of a `listProjectFilters` entry) → the
/// replayed fields.
pub fn normalise_filter(f: &Json) -> Json {
    let c = f.get("criteria").cloned().unwrap_or(Json::Null);
    json!({
        "name": s(f, "name"),
        "rule": s(f, "rule"),
        "entity_type": s(f, "entityType"),
        "matcher": s(&c, "matcher"),
        "field": s(&c, "field"),
        "value": s(&c, "value"),
    })
}

/// `contentmanagement.lookupProject` + `listProjectEnvironments` + `listProjectSources` +
/// `listProjectFilters` → the replayed fields (environments in their promotion order; software
/// sources as sorted channel labels; filters sorted by name).
pub fn normalise_project(p: &Json, envs: &[Json], sources: &[Json], filters: &[Json]) -> Json {
    let mut filters: Vec<Json> = filters
        .iter()
        .map(|x| normalise_filter(x.get("filter").unwrap_or(x)))
        .collect();
    filters.sort_by_key(|f| s(f, "name"));
    let mut sources: Vec<String> = sources
        .iter()
        .filter(|x| s(x, "type") == "software")
        .map(|x| s(x, "channelLabel"))
        .filter(|l| !l.is_empty())
        .collect();
    sources.sort();
    let envs: Vec<Json> = envs
        .iter()
        .map(|e| json!({"label": s(e, "label"), "name": s(e, "name"), "description": s(e, "description")}))
        .collect();
    json!({
        "label": s(p, "label"),
        "name": s(p, "name"),
        "description": s(p, "description"),
        "environments": envs,
        "sources": sources,
        "filters": filters,
    })
}

async fn call(c: &UyuniClient, method: &str, params: Vec<Value>) -> Result<Json, ApiError> {
    Ok(uyuni_api::json::to_json(&c.call(method, params).await?))
}

/// A listing; anything but an array is an error (never read as "nothing there", which
/// would publish tombstones).
async fn list(c: &UyuniClient, method: &str, params: Vec<Value>) -> Result<Vec<Json>, ApiError> {
    match call(c, method, params).await? {
        Json::Array(a) => Ok(a),
        other => Err(ApiError::Decode {
            url: c.url().to_string(),
            reason: format!("{method} returned {} instead of an array", kind_of(&other)),
        }),
    }
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "nil",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "a struct",
    }
}

/// Which objects of a kind to read.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// Every object of the kind.
    All,
    /// Only these labels (absent ones are simply not in the answer). The kind is still listed
    /// (one call) so that absence is known from the listing, never guessed from a fault.
    Only(&'a std::collections::BTreeSet<String>),
}

impl Which<'_> {
    fn wants(&self, key: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(keys) => keys.contains(key),
        }
    }
}

/// The node's objects of `kind` (all, or only some labels), normalised, by label.
pub async fn fetch(
    c: &UyuniClient,
    kind: CommonKind,
    which: Which<'_>,
) -> Result<BTreeMap<String, Json>, ApiError> {
    let mut out = BTreeMap::new();
    match kind {
        CommonKind::Channel => {
            for ch in list(c, "channel.listAllChannels", vec![]).await? {
                let label = s(&ch, "label");
                if !which.wants(&label) {
                    continue;
                }
                let d = call(c, "channel.software.getDetails", vec![string(&label)]).await?;
                out.insert(label, normalise_channel(&d));
            }
        }
        CommonKind::SystemGroup => {
            for g in list(c, "systemgroup.listAllGroups", vec![]).await? {
                let name = s(&g, "name");
                if which.wants(&name) {
                    out.insert(name, normalise_group(&g));
                }
            }
        }
        CommonKind::ConfigChannel => {
            for ch in list(c, "configchannel.listGlobals", vec![]).await? {
                let label = s(&ch, "label");
                if !which.wants(&label) {
                    continue;
                }
                let paths: Vec<String> = list(c, "configchannel.listFiles", vec![string(&label)])
                    .await?
                    .iter()
                    .filter(|f| s(f, "type") == "file")
                    .map(|f| s(f, "path"))
                    .collect();
                let files = if paths.is_empty() {
                    Vec::new()
                } else {
                    list(
                        c,
                        "configchannel.lookupFileInfo",
                        vec![string(&label), strings(paths)],
                    )
                    .await?
                };
                out.insert(label, normalise_config_channel(&ch, &files));
            }
        }
        CommonKind::ActivationKey => {
            let groups: BTreeMap<i64, String> = group_ids(c)
                .await?
                .into_iter()
                .map(|(n, id)| (id, n))
                .collect();
            for k in list(c, "activationkey.listActivationKeys", vec![]).await? {
                let key = s(&k, "key");
                if which.wants(&key) {
                    let configs: Vec<String> =
                        list(c, "activationkey.listConfigChannels", vec![string(&key)])
                            .await?
                            .iter()
                            .map(|x| s(x, "label"))
                            .collect();
                    let mut d = normalise_key(&k, &groups);
                    d["config_channels"] = json!(configs);
                    out.insert(key, d);
                }
            }
        }
        CommonKind::ContentProject => {
            for p in list(c, "contentmanagement.listProjects", vec![]).await? {
                let label = s(&p, "label");
                if !which.wants(&label) {
                    continue;
                }
                let envs = list(
                    c,
                    "contentmanagement.listProjectEnvironments",
                    vec![string(&label)],
                )
                .await?;
                let sources = list(
                    c,
                    "contentmanagement.listProjectSources",
                    vec![string(&label)],
                )
                .await?;
                let filters = list(
                    c,
                    "contentmanagement.listProjectFilters",
                    vec![string(&label)],
                )
                .await?;
                out.insert(label, normalise_project(&p, &envs, &sources, &filters));
            }
        }
    }
    Ok(out)
}

/// This node's system groups: name → id.
async fn group_ids(c: &UyuniClient) -> Result<BTreeMap<String, i64>, ApiError> {
    Ok(list(c, "systemgroup.listAllGroups", vec![])
        .await?
        .iter()
        .filter_map(|g| Some((s(g, "name"), g.get("id")?.as_i64()?)))
        .collect())
}

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
    use super::*;

    #[test]
    fn a_config_channel_is_its_files_without_revisions() {
        let a = normalise_config_channel(
            &json!({"id": 3, "label": "motd", "name": "MOTD", "description": "d"}),
            &[
                json!({"path": "/etc/motd", "type": "file", "contents": "hi", "owner": "root",
                       "group": "root", "permissions": 644, "revision": 7}),
                json!({"path": "/etc/issue", "type": "file", "contents": "x", "owner": "root",
                       "group": "root", "permissions": 600, "revision": 1}),
            ],
        );
        assert_eq!(a["files"][0]["path"], "/etc/issue", "sorted by path");
        assert_eq!(a["files"][1]["permissions"], "644");
        assert!(a["files"][1].get("revision").is_none());
        assert!(a.get("id").is_none());
    }

    #[test]
    fn a_projects_sources_are_its_software_channels_sorted() {
        let p = normalise_project(
            &json!({"label": "p", "name": "P", "id": 7}),
            &[json!({"label": "dev", "name": "Dev", "id": 9, "version": 3})],
            &[
                json!({"type": "software", "channelLabel": "b", "state": "ATTACHED"}),
                json!({"type": "software", "channelLabel": "a", "state": "BUILT"}),
            ],
            &[
                json!({"state": "ATTACHED", "filter": {"id": 4, "name": "no-debug", "rule": "deny",
                "entityType": "package", "criteria": {"matcher": "contains", "field": "name", "value": "debug"}}}),
            ],
        );
        assert_eq!(
            p["filters"],
            json!([{"name": "no-debug", "rule": "deny", "entity_type": "package",
                    "matcher": "contains", "field": "name", "value": "debug"}]),
            "ids left out"
        );
        assert_eq!(p["sources"], json!(["a", "b"]));
        assert_eq!(
            p["environments"],
            json!([{"label": "dev", "name": "Dev", "description": ""}])
        );
    }

    #[test]
    fn normalised_objects_ignore_server_specific_fields() {
        let a = normalise_channel(
            &json!({"id": 101, "label": "x", "name": "X", "last_modified": "2020"}),
        );
        let b = normalise_channel(&json!({"id": 202, "label": "x", "name": "X"}));
        assert_eq!(a, b);
        let groups = BTreeMap::from([(5, "web".to_string())]);
        let k = normalise_key(
            &json!({"key": "1-k", "base_channel_label": "none", "child_channel_labels": ["b", "a"], "server_group_ids": [5, 6],
                    "packages": [{"name": "vim", "arch": "x86_64"}, {"name": "python3.11"}]}),
            &groups,
        );
        assert_eq!(
            k["server_groups"],
            json!(["web"]),
            "ids as names; unknown ids left out"
        );
        assert_eq!(k["packages"], json!(["python3.11", "vim.x86_64"]));
        assert_eq!(k["base_channel_label"], "");
        assert_eq!(k["child_channel_labels"], json!(["a", "b"]));
        assert!(k.get("server_group_ids").is_none());
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
