//! Every object normalised to the fields the cluster replays, in the same form on every node
//! (ids, counts and dates, which differ per server, are left out).

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

pub(super) fn s(v: &Json, f: &str) -> String {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

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
    }
}
