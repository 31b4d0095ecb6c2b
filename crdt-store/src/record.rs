//! Typed records kept in the Metastore and the keys they live under.
//!
//! Every record is stored as one flat JSON value under its key (`s/<fingerprint>`,
//! `n/<node>`, `z/<zone>`). A flat value writes about ten times faster in automerge than a nested
//! map (see `docs/ARCHITECTURE.md`) and makes each record last-writer-wins as a whole: concurrent
//! writes to one record resolve to the same winner on every replica.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Lifecycle of a client system as the cluster sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum SystemStatus {
    /// Registered, waiting to be accepted into the cluster.
    New,
    /// Accepted and (once the Load Driver has run) assigned to a node.
    Onboarded,
    /// Lost its node (node failed, unregistered, rebalanced); waiting for a new one.
    Orphan,
    /// Removed or banned: never gets a node again.
    Deleted,
}

impl SystemStatus {
    /// The lowercase name used on the wire and in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Onboarded => "onboarded",
            Self::Orphan => "orphan",
            Self::Deleted => "deleted",
        }
    }
}

impl std::str::FromStr for SystemStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" => Ok(Self::New),
            "onboarded" => Ok(Self::Onboarded),
            "orphan" => Ok(Self::Orphan),
            "deleted" => Ok(Self::Deleted),
            other => Err(format!(
                "unknown status {other:?} (expected new, onboarded, orphan or deleted)"
            )),
        }
    }
}

/// A client system (a salt minion) known to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemRecord {
    /// Fingerprint of the minion's public key, as `salt-key -F` prints it. The primary key.
    pub fingerprint: String,
    /// Salt minion id.
    pub minion_id: String,
    /// Host name the system reported.
    #[serde(default)]
    pub hostname: String,
    /// Where the system stands.
    pub status: SystemStatus,
    /// Banned systems never get a node again, even if they re-register.
    #[serde(default, skip_serializing_if = "is_false")]
    pub banned: bool,
    /// Node (Uyuni server) the system is assigned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Node the system was assigned to before the current one (disaster recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_node: Option<String>,
    /// Zone of the system (the zone of the peer it registered through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Free-form tags (`db`, `web`, ...).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    /// System groups.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub groups: BTreeSet<String>,
    /// Software channels.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub channels: BTreeSet<String>,
    /// First registration, Unix milliseconds.
    pub registered_at: u64,
    /// Last change of this record, Unix milliseconds.
    pub updated_at: u64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A node: one Uyuni server and the peer beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Node name (unique in the cluster).
    pub name: String,
    /// Zone the node belongs to.
    pub zone: String,
    /// libp2p peer id of the node's peer.
    pub peer_id: String,
    /// Role of the node (`server` for a peer beside a Uyuni server).
    #[serde(default)]
    pub role: String,
    /// Addresses to dial the peer at: key `*` for any zone, or a zone name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub addresses: BTreeMap<String, Vec<String>>,
    /// The peer's HTTP API (`host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Relative capacity used by the Load Driver (default 1.0 = ~10k systems).
    #[serde(default = "default_capacity")]
    pub capacity: f64,
    /// First time the node joined, Unix milliseconds.
    pub joined_at: u64,
}

fn default_capacity() -> f64 {
    1.0
}

/// A zone: a data centre or a store site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRecord {
    /// Zone name.
    pub name: String,
    /// First time a node of this zone joined, Unix milliseconds.
    pub created_at: u64,
}

/// Any record the store holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// A client system.
    System(SystemRecord),
    /// A node.
    Node(NodeRecord),
    /// A zone.
    Zone(ZoneRecord),
}

/// Kinds of record; the first segment of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `s/<fingerprint>`
    System,
    /// `n/<name>`
    Node,
    /// `z/<name>`
    Zone,
}

impl RecordKind {
    /// The key prefix of this kind, including the slash.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::System => "s/",
            Self::Node => "n/",
            Self::Zone => "z/",
        }
    }
}

impl Record {
    /// The key this record is stored under.
    pub fn key(&self) -> String {
        match self {
            Self::System(s) => system_key(&s.fingerprint),
            Self::Node(n) => format!("{}{}", RecordKind::Node.prefix(), n.name),
            Self::Zone(z) => format!("{}{}", RecordKind::Zone.prefix(), z.name),
        }
    }

    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::System(_) => RecordKind::System,
            Self::Node(_) => RecordKind::Node,
            Self::Zone(_) => RecordKind::Zone,
        }
    }

    /// Encode the payload (without the kind tag: the key carries it).
    pub(crate) fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::System(s) => serde_json::to_vec(s),
            Self::Node(n) => serde_json::to_vec(n),
            Self::Zone(z) => serde_json::to_vec(z),
        }
    }

    /// Decode a payload stored under `key`. Unknown key prefixes yield `Ok(None)` so that a
    /// newer peer's record kinds pass through an older one untouched.
    pub(crate) fn decode(key: &str, bytes: &[u8]) -> Result<Option<Self>, serde_json::Error> {
        Ok(Some(if key.starts_with(RecordKind::System.prefix()) {
            Self::System(serde_json::from_slice(bytes)?)
        } else if key.starts_with(RecordKind::Node.prefix()) {
            Self::Node(serde_json::from_slice(bytes)?)
        } else if key.starts_with(RecordKind::Zone.prefix()) {
            Self::Zone(serde_json::from_slice(bytes)?)
        } else {
            return Ok(None);
        }))
    }
}

/// The key of the system with this fingerprint.
pub fn system_key(fingerprint: &str) -> String {
    format!("{}{fingerprint}", RecordKind::System.prefix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_round_trip_is_compact() {
        let rec = Record::System(SystemRecord {
            fingerprint: "ab:cd".into(),
            minion_id: "web1".into(),
            hostname: "web1.acme.org".into(),
            status: SystemStatus::New,
            banned: false,
            node: None,
            previous_node: None,
            zone: Some("dc1".into()),
            tags: BTreeSet::new(),
            groups: BTreeSet::new(),
            channels: BTreeSet::new(),
            registered_at: 1,
            updated_at: 2,
        });
        let bytes = rec.encode().expect("encode");
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(!text.contains("banned"), "defaults are not written: {text}");
        assert!(!text.contains("tags"), "empty sets are not written: {text}");
        let back = Record::decode(&rec.key(), &bytes).expect("decode");
        assert_eq!(back, Some(rec));
        assert_eq!(Record::decode("x/unknown", b"{}").expect("decode"), None);
    }

    #[test]
    fn status_parses_its_own_names() {
        for s in [
            SystemStatus::New,
            SystemStatus::Onboarded,
            SystemStatus::Orphan,
            SystemStatus::Deleted,
        ] {
            assert_eq!(s.as_str().parse::<SystemStatus>(), Ok(s));
        }
        assert!("bogus".parse::<SystemStatus>().is_err());
    }
}
