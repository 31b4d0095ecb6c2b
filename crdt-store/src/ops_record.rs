//! Records of operations on the cluster itself (issue 16): a node replaced by a fresh one, and
//! each node's integrity check.

use serde::{Deserialize, Serialize};

/// Node `old` is to be replaced by the fresh node `new` (a major upgrade by fresh
/// installation), stored under `x/<old>`. Written by `uyuni-cluster node replace`; `new` takes
/// over once it holds its zone's common data and content: every system of `old` moves to
/// `new` (nobody else moves), `old` is retired (a fault with reason `retired`) and `done_at`
/// is set. While pending, `new` is no placement target, so that it starts empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplacementRecord {
    /// The node replaced.
    pub old: String,
    /// The node taking over.
    pub new: String,
    /// Their zone.
    pub zone: String,
    /// When the replacement was requested, Unix milliseconds.
    pub requested_at: u64,
    /// When `new` took over, Unix milliseconds; `None` while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<u64>,
    /// Systems moved to `new`.
    #[serde(default)]
    pub moved: u64,
    /// Cancelled by an operator before it was carried out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    /// Last change, Unix milliseconds.
    pub updated_at: u64,
}

impl ReplacementRecord {
    /// Requested, and neither carried out nor cancelled.
    pub fn pending(&self) -> bool {
        self.done_at.is_none() && !self.cancelled
    }
}

/// Key of a replacement record.
pub fn replacement_key(old: &str) -> String {
    format!("x/{old}")
}

/// The last integrity check of a node (RFC "Integrity Handling"), stored under `i/<node>` and
/// written by that node's Node Controller only: how its Uyuni server's common data and its
/// content differ from what its zone published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityRecord {
    /// The node.
    pub node: String,
    /// Its zone.
    pub zone: String,
    /// When the check ran, Unix milliseconds.
    pub checked_at: u64,
    /// The zone generation compared against.
    pub generation: u64,
    /// Published objects the server did not hold as published, `<kind>/<key>: <what>` with
    /// `<what>` one of `missing`, `differs`, `not deleted` (drift: the node claimed to hold
    /// the generation). Repaired in place while at most the threshold; beyond it the node is
    /// `faulty` and left as found until it is re-provisioned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub common: Vec<String>,
    /// Repositories its zone receives that it does not hold completely (`<zone>/<name>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_missing: Vec<String>,
    /// Published objects its server refused (`<kind>/<key>: fault`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    /// More differences than the threshold: the node takes no new systems until an operator
    /// re-provisions it (`uyuni-cluster node reprovision`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub faulty: bool,
    /// End of the last re-provisioning, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reprovisioned_at: Option<u64>,
}

impl IntegrityRecord {
    /// Identical to its zone's published state.
    pub fn identical(&self) -> bool {
        self.common.is_empty() && self.content_missing.is_empty() && self.refused.is_empty()
    }
}

/// Key of an integrity record.
pub fn integrity_key(node: &str) -> String {
    format!("i/{node}")
}
