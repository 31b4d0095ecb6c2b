//! What a change captured in Uyuni's database means for the cluster: a common-data object
//! (replicated across the zone), a client system, package content, or nothing.

use std::fmt;

use serde_json::Value as Json;

use crate::outbox::{OutboxEvent, OutboxOp};

/// Kinds of common data every node of a zone holds alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CommonKind {
    /// Software channels (`channel.software.*`).
    Channel,
    /// System groups (`systemgroup.*`).
    SystemGroup,
    /// Configuration channels with their files (`configchannel.*`).
    ConfigChannel,
    /// Activation keys (`activationkey.*`); they name channels, so they come after them.
    ActivationKey,
    /// Content Lifecycle projects with their environments (`contentmanagement.*`).
    ContentProject,
}

impl CommonKind {
    /// All kinds, in the order they are created on a node.
    pub const ALL: [CommonKind; 5] = [
        Self::Channel,
        Self::SystemGroup,
        Self::ConfigChannel,
        Self::ActivationKey,
        Self::ContentProject,
    ];

    /// The name used in keys, the API and the change set.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::SystemGroup => "systemgroup",
            Self::ConfigChannel => "configchannel",
            Self::ActivationKey => "activationkey",
            Self::ContentProject => "contentproject",
        }
    }

    /// Parse [`CommonKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for CommonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The meaning of one outbox event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A common-data object changed; `key` is `None` when the row does not name it (an
    /// activation key's `rhnRegToken` row, a CLM environment), so the whole kind is re-read.
    Common {
        /// Kind.
        kind: CommonKind,
        /// Label, when known.
        key: Option<String>,
    },
    /// A system was registered on this node (its minion row appeared).
    SystemAdded {
        /// Salt minion id.
        minion_id: String,
        /// Uyuni's system id.
        server_id: i64,
    },
    /// A system was removed from this node (its minion row disappeared).
    SystemRemoved {
        /// Salt minion id.
        minion_id: String,
        /// Uyuni's system id.
        server_id: i64,
    },
    /// Packages were added to or removed from a channel (content sync acts on these).
    Content {
        /// `rhnChannel.id`.
        channel_id: i64,
    },
    /// Nothing the cluster acts on (e.g. a rhnServer row: its suseMinionInfo row says more).
    Ignored,
}

impl Change {
    /// The change-set entry of a common-data change: `<kind>/<key>` or `<kind>/*`.
    pub fn pending_entry(&self) -> Option<String> {
        match self {
            Self::Common { kind, key } => Some(format!(
                "{}/{}",
                kind.as_str(),
                key.as_deref().unwrap_or("*")
            )),
            _ => None,
        }
    }
}

fn text(row: &Json, field: &str) -> Option<String> {
    row.get(field).and_then(Json::as_str).map(str::to_string)
}

fn number(row: &Json, field: &str) -> Option<i64> {
    let v = row.get(field)?;
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// Classify an outbox event (tables are matched case-insensitively: PostgreSQL folds
/// Uyuni's unquoted names to lower case).
pub fn classify(ev: &OutboxEvent) -> Change {
    let row = &ev.row;
    match ev.table.to_ascii_lowercase().as_str() {
        "rhnchannel" => Change::Common {
            kind: CommonKind::Channel,
            key: text(row, "label"),
        },
        // Only user-managed groups (no group_type) are common data; entitlement groups are
        // the server's own.
        "rhnservergroup" => {
            if row.get("group_type").is_some_and(|t| !t.is_null()) {
                Change::Ignored
            } else {
                Change::Common {
                    kind: CommonKind::SystemGroup,
                    key: text(row, "name"),
                }
            }
        }
        "rhnactivationkey" => Change::Common {
            kind: CommonKind::ActivationKey,
            key: text(row, "token"),
        },
        // A key's channels, groups, packages and configuration channels: the rows name the
        // key by its rhnRegToken id only, so the kind is re-read.
        "rhnregtokenchannels"
        | "rhnregtokengroups"
        | "rhnregtokenpackages"
        | "rhnregtokenconfigchannels" => Change::Common {
            kind: CommonKind::ActivationKey,
            key: None,
        },
        "rhnregtoken" => {
            // A token that belongs to a system (re-activation key) is not common data.
            if row.get("server_id").is_some_and(|t| !t.is_null()) {
                Change::Ignored
            } else {
                Change::Common {
                    kind: CommonKind::ActivationKey,
                    key: None,
                }
            }
        }
        "rhnconfigchannel" => Change::Common {
            kind: CommonKind::ConfigChannel,
            key: text(row, "label"),
        },
        // A file's row (a new revision moves its latest_config_revision_id) names the channel
        // by id only.
        "rhnconfigfile" => Change::Common {
            kind: CommonKind::ConfigChannel,
            key: None,
        },
        "susecontentproject" => Change::Common {
            kind: CommonKind::ContentProject,
            key: text(row, "label"),
        },
        // A project's environments, sources, filters and built targets name it by id only.
        "susecontentenvironment"
        | "susecontentprojectsource"
        | "susecontentfilter"
        | "susecontentfilterproject"
        | "susecontentenvironmenttarget" => Change::Common {
            kind: CommonKind::ContentProject,
            key: None,
        },
        "suseminioninfo" => match (text(row, "minion_id"), number(row, "server_id")) {
            (Some(minion_id), Some(server_id)) => match ev.op {
                OutboxOp::Insert | OutboxOp::Update => Change::SystemAdded {
                    minion_id,
                    server_id,
                },
                OutboxOp::Delete => Change::SystemRemoved {
                    minion_id,
                    server_id,
                },
            },
            _ => Change::Ignored,
        },
        "rhnchannelpackage" => match number(row, "channel_id") {
            Some(channel_id) => Change::Content { channel_id },
            None => Change::Ignored,
        },
        _ => Change::Ignored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(table: &str, op: OutboxOp, row: Json) -> OutboxEvent {
        OutboxEvent {
            id: 1,
            table: table.into(),
            op,
            row,
            at_ms: 0,
        }
    }

    #[test]
    fn tables_map_to_cluster_meanings() {
        assert_eq!(
            classify(&ev(
                "rhnchannel",
                OutboxOp::Insert,
                json!({"id": 1, "label": "sles"})
            )),
            Change::Common {
                kind: CommonKind::Channel,
                key: Some("sles".into())
            }
        );
        assert_eq!(
            classify(&ev(
                "rhnservergroup",
                OutboxOp::Insert,
                json!({"name": "x", "group_type": 2})
            )),
            Change::Ignored,
            "entitlement groups are the server's own"
        );
        assert_eq!(
            classify(&ev(
                "rhnregtoken",
                OutboxOp::Update,
                json!({"id": 3, "server_id": null})
            ))
            .pending_entry()
            .as_deref(),
            Some("activationkey/*")
        );
        assert_eq!(
            classify(&ev(
                "suseMinionInfo",
                OutboxOp::Delete,
                json!({"server_id": "1000010000", "minion_id": "web1"})
            )),
            Change::SystemRemoved {
                minion_id: "web1".into(),
                server_id: 1000010000
            }
        );
        assert_eq!(
            classify(&ev(
                "rhnchannelpackage",
                OutboxOp::Insert,
                json!({"channel_id": 7, "packages": 3})
            )),
            Change::Content { channel_id: 7 }
        );
        assert_eq!(
            classify(&ev("rhnserver", OutboxOp::Insert, json!({}))),
            Change::Ignored
        );
        for (table, entry) in [
            ("rhnconfigfile", "configchannel/*"),
            ("rhnregtokenpackages", "activationkey/*"),
            ("rhnregtokengroups", "activationkey/*"),
            ("rhnregtokenchannels", "activationkey/*"),
            ("rhnregtokenconfigchannels", "activationkey/*"),
            ("susecontentprojectsource", "contentproject/*"),
            ("susecontentfilter", "contentproject/*"),
            ("susecontentfilterproject", "contentproject/*"),
            ("susecontentenvironmenttarget", "contentproject/*"),
        ] {
            assert_eq!(
                classify(&ev(table, OutboxOp::Insert, json!({"token_id": 1})))
                    .pending_entry()
                    .as_deref(),
                Some(entry),
                "{table}"
            );
        }
        for k in CommonKind::ALL {
            assert_eq!(CommonKind::parse(k.as_str()), Some(k));
        }
    }
}
