//! Plan what a node must change so that its Uyuni server holds the zone's common data:
//! pure, so every rule is tested without a server.
//!
//! Objects are compared in their normalised form ([`super::common_api`] reads both sides
//! through the same normaliser). Only published objects are managed: an object that exists
//! on the node but was never published is left alone; a published object that the Leader
//! Node deleted (a tombstone) is deleted.

use std::collections::BTreeMap;

use crdt_store::CommonRecord;
use serde_json::Value as Json;

use super::kinds::CommonKind;

/// One change to a node's Uyuni server.
#[derive(Debug, Clone, PartialEq)]
pub enum CommonOp {
    /// Create the object.
    Create {
        /// Kind.
        kind: CommonKind,
        /// Label.
        key: String,
        /// Desired state.
        data: Json,
    },
    /// Change the object.
    Update {
        /// Kind.
        kind: CommonKind,
        /// Label.
        key: String,
        /// Desired state.
        data: Json,
        /// What the node has now.
        current: Json,
    },
    /// Delete the object.
    Delete {
        /// Kind.
        kind: CommonKind,
        /// Label.
        key: String,
    },
}

impl CommonOp {
    /// `<kind>/<key>` of the object.
    pub fn entry(&self) -> String {
        match self {
            Self::Create { kind, key, .. }
            | Self::Update { kind, key, .. }
            | Self::Delete { kind, key } => format!("{kind}/{key}"),
        }
    }
}

/// The node's objects: kind → label → normalised object.
pub type Actual = BTreeMap<CommonKind, BTreeMap<String, Json>>;

/// Depth of a channel in its tree (base channels first when creating).
fn channel_depth(data: &Json) -> u8 {
    match data.get("parent_channel_label").and_then(Json::as_str) {
        Some(p) if !p.is_empty() => 1,
        _ => 0,
    }
}

/// The operations that turn `actual` into `desired` (the zone's published records), in an
/// order Uyuni accepts: creates and updates kind by kind (channels, groups, activation keys,
/// projects; base channels before child channels), then deletes in the reverse order.
pub fn plan(desired: &[CommonRecord], actual: &Actual) -> Vec<CommonOp> {
    let mut upserts: Vec<(CommonKind, u8, CommonOp)> = Vec::new();
    let mut deletes: Vec<(CommonKind, u8, CommonOp)> = Vec::new();
    let empty = BTreeMap::new();
    for rec in desired {
        let Some(kind) = CommonKind::parse(&rec.kind) else {
            continue;
        };
        let have = actual.get(&kind).unwrap_or(&empty).get(&rec.key);
        let depth = match (kind, have) {
            (CommonKind::Channel, Some(cur)) if rec.deleted => channel_depth(cur),
            (CommonKind::Channel, _) => channel_depth(&rec.data),
            _ => 0,
        };
        match (rec.deleted, have) {
            (true, Some(_)) => deletes.push((
                kind,
                depth,
                CommonOp::Delete {
                    kind,
                    key: rec.key.clone(),
                },
            )),
            (true, None) => {}
            (false, None) => upserts.push((
                kind,
                depth,
                CommonOp::Create {
                    kind,
                    key: rec.key.clone(),
                    data: rec.data.clone(),
                },
            )),
            (false, Some(cur)) if *cur != rec.data => upserts.push((
                kind,
                depth,
                CommonOp::Update {
                    kind,
                    key: rec.key.clone(),
                    data: rec.data.clone(),
                    current: cur.clone(),
                },
            )),
            (false, Some(_)) => {}
        }
    }
    upserts.sort_by_key(|a| (a.0, a.1));
    deletes.sort_by_key(|a| std::cmp::Reverse((a.0, a.1)));
    upserts
        .into_iter()
        .chain(deletes)
        .map(|(_, _, op)| op)
        .collect()
}

/// The same for only `keys` of one kind (`local` holds those of them the Leader Node has):
/// a publication of a change set that names its objects reads and compares only them.
pub fn changes_for_keys(
    kind: CommonKind,
    keys: &std::collections::BTreeSet<String>,
    local: &BTreeMap<String, Json>,
    published: &[CommonRecord],
) -> Vec<(CommonKind, String, Option<Json>)> {
    let theirs: BTreeMap<&str, &CommonRecord> = published
        .iter()
        .filter(|r| r.kind == kind.as_str() && keys.contains(&r.key))
        .map(|r| (r.key.as_str(), r))
        .collect();
    let mut out = Vec::new();
    for key in keys {
        match (local.get(key), theirs.get(key.as_str())) {
            (Some(data), Some(r)) if !r.deleted && r.data == *data => {}
            (Some(data), _) => out.push((kind, key.clone(), Some(data.clone()))),
            (None, Some(r)) if !r.deleted => out.push((kind, key.clone(), None)),
            (None, _) => {}
        }
    }
    out
}

/// What a publication of whole kinds writes: for every object of `kinds` the Leader Node has
/// (`local`) that differs from the zone's records (`published`), the new version. Objects the
/// leader lacks are **not** turned into tombstones: absence is no evidence of a deletion (the
/// leader may not have copied them yet, or they came from the other side of a partition). A
/// deletion is published when the change set names the object ([`changes_for_keys`]).
pub fn changes_to_publish(
    kinds: &[CommonKind],
    local: &Actual,
    published: &[CommonRecord],
) -> Vec<(CommonKind, String, Option<Json>)> {
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    for &kind in kinds {
        let mine = local.get(&kind).unwrap_or(&empty);
        let theirs: BTreeMap<&str, &CommonRecord> = published
            .iter()
            .filter(|r| r.kind == kind.as_str())
            .map(|r| (r.key.as_str(), r))
            .collect();
        for (key, data) in mine {
            match theirs.get(key.as_str()) {
                Some(r) if !r.deleted && r.data == *data => {}
                _ => out.push((kind, key.clone(), Some(data.clone()))),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(kind: &str, key: &str, data: Json, deleted: bool) -> CommonRecord {
        CommonRecord {
            zone: "z".into(),
            kind: kind.into(),
            key: key.into(),
            data,
            deleted,
            generation: 1,
            published_by: "a".into(),
            updated_at: 1,
        }
    }

    #[test]
    fn creates_parents_first_and_deletes_children_first() {
        let desired = vec![
            rec("activationkey", "1-k", json!({"key": "1-k"}), false),
            rec(
                "channel",
                "child",
                json!({"label": "child", "parent_channel_label": "base"}),
                false,
            ),
            rec(
                "channel",
                "base",
                json!({"label": "base", "parent_channel_label": ""}),
                false,
            ),
            rec("channel", "oldbase", Json::Null, true),
            rec("channel", "oldchild", Json::Null, true),
            rec("systemgroup", "gone", Json::Null, true),
        ];
        let mut actual = Actual::new();
        actual.entry(CommonKind::Channel).or_default().extend([
            ("oldbase".to_string(), json!({"label": "oldbase"})),
            (
                "oldchild".to_string(),
                json!({"label": "oldchild", "parent_channel_label": "oldbase"}),
            ),
            ("local-only".to_string(), json!({"label": "local-only"})),
        ]);
        let ops: Vec<String> = plan(&desired, &actual)
            .iter()
            .map(|op| match op {
                CommonOp::Create { .. } => format!("+{}", op.entry()),
                CommonOp::Update { .. } => format!("~{}", op.entry()),
                CommonOp::Delete { .. } => format!("-{}", op.entry()),
            })
            .collect();
        assert_eq!(
            ops,
            [
                "+channel/base",
                "+channel/child",
                "+activationkey/1-k",
                "-channel/oldchild",
                "-channel/oldbase"
            ],
            "unpublished local objects and absent tombstones are left alone"
        );
    }

    #[test]
    fn equal_objects_plan_nothing_and_differences_update() {
        let desired = vec![rec(
            "systemgroup",
            "g",
            json!({"name": "g", "description": "new"}),
            false,
        )];
        let mut actual = Actual::new();
        actual
            .entry(CommonKind::SystemGroup)
            .or_default()
            .insert("g".into(), json!({"name": "g", "description": "old"}));
        assert!(matches!(
            plan(&desired, &actual)[..],
            [CommonOp::Update { .. }]
        ));
        actual
            .entry(CommonKind::SystemGroup)
            .or_default()
            .insert("g".into(), json!({"name": "g", "description": "new"}));
        assert!(plan(&desired, &actual).is_empty());
    }

    #[test]
    fn publication_writes_differences_and_names_its_tombstones() {
        let published = vec![
            rec("channel", "same", json!({"label": "same"}), false),
            rec("channel", "removed", json!({"label": "removed"}), false),
            rec(
                "channel",
                "old",
                json!({"label": "old", "name": "x"}),
                false,
            ),
        ];
        let mut local = Actual::new();
        local.entry(CommonKind::Channel).or_default().extend([
            ("same".to_string(), json!({"label": "same"})),
            ("old".to_string(), json!({"label": "old", "name": "y"})),
            ("new".to_string(), json!({"label": "new"})),
        ]);
        let mut got: Vec<(String, bool)> =
            changes_to_publish(&[CommonKind::Channel], &local, &published)
                .into_iter()
                .map(|(_, k, d)| (k, d.is_some()))
                .collect();
        got.sort();
        assert_eq!(
            got,
            [("new".to_string(), true), ("old".to_string(), true)],
            "a whole-kind publication never deletes what the leader merely lacks"
        );
        assert!(changes_to_publish(&[CommonKind::SystemGroup], &local, &published).is_empty());
        // Only the named keys: "same" unchanged, "removed" gone, "ghost" never existed.
        let keys = ["same", "removed", "ghost", "new"].map(String::from).into();
        let mine = local.remove(&CommonKind::Channel).unwrap_or_default();
        let mut got: Vec<(String, bool)> =
            changes_for_keys(CommonKind::Channel, &keys, &mine, &published)
                .into_iter()
                .map(|(_, k, d)| (k, d.is_some()))
                .collect();
        got.sort();
        assert_eq!(
            got,
            [("new".to_string(), true), ("removed".to_string(), false)]
        );
    }
}
