//! Filters for listing client systems.

use crate::record::{SystemRecord, SystemStatus};

/// Which systems to list. Empty fields match everything; tags and groups must all be present.
#[derive(Debug, Clone, Default)]
pub struct SystemFilter {
    /// Only systems in this status.
    pub status: Option<SystemStatus>,
    /// Only systems assigned to this node.
    pub node: Option<String>,
    /// Only systems of this zone.
    pub zone: Option<String>,
    /// Only systems carrying every one of these tags.
    pub tags: Vec<String>,
    /// Only systems in every one of these groups.
    pub groups: Vec<String>,
    /// Stop after this many matches (`None`: all).
    pub limit: Option<usize>,
}

impl SystemFilter {
    /// Whether `rec` passes the filter (the limit aside).
    pub fn matches(&self, rec: &SystemRecord) -> bool {
        self.status.is_none_or(|s| rec.status == s)
            && self
                .node
                .as_deref()
                .is_none_or(|n| rec.node.as_deref() == Some(n))
            && self
                .zone
                .as_deref()
                .is_none_or(|z| rec.zone.as_deref() == Some(z))
            && self.tags.iter().all(|t| rec.tags.contains(t))
            && self.groups.iter().all(|g| rec.groups.contains(g))
    }
}
