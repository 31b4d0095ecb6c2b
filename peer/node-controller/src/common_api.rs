//! Reading and writing common data through a node's Uyuni API.
//!
//! Every object is normalised to the fields the cluster replays, in the same form on every
//! node, so that two nodes holding the same object compare equal (ids, counts and dates,
//! which differ per server, are left out). The calls are Uyuni's own (see
//! docs/NODE-CONTROLLER.md for the list).

mod normalise;
mod write;

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use uyuni_api::value::{string, strings};
use uyuni_api::{ApiError, UyuniClient, Value};

use super::kinds::CommonKind;
use normalise::s;
pub use normalise::{
    normalise_channel, normalise_config_channel, normalise_filter, normalise_group, normalise_key,
    normalise_project,
};
pub use write::apply;

pub(super) async fn call(
    c: &UyuniClient,
    method: &str,
    params: Vec<Value>,
) -> Result<Json, ApiError> {
    Ok(uyuni_api::json::to_json(&c.call(method, params).await?))
}

/// A listing; anything but an array is an error (never read as "nothing there", which
/// would publish tombstones).
pub(super) async fn list(
    c: &UyuniClient,
    method: &str,
    params: Vec<Value>,
) -> Result<Vec<Json>, ApiError> {
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
pub(super) async fn group_ids(c: &UyuniClient) -> Result<BTreeMap<String, i64>, ApiError> {
    Ok(list(c, "systemgroup.listAllGroups", vec![])
        .await?
        .iter()
        .filter_map(|g| Some((s(g, "name"), g.get("id")?.as_i64()?)))
        .collect())
}
