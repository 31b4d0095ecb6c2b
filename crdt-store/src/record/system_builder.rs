//! Building a [`SystemRecord`] field by field: `SystemRecord::new(..).with_*(..)` (tests and
//! tools; the agent endpoint's first registration).

use std::collections::BTreeSet;

use super::{SystemRecord, SystemStatus};

impl SystemRecord {
    /// A system as it first registers: status `new`, hostname = minion id, no node, zone,
    /// tags, groups or channels, registered and updated at `now`. The `with_*` methods set the
    /// rest (tests and tools build records this way instead of spelling out every field).
    pub fn new(fingerprint: impl Into<String>, minion_id: impl Into<String>, now: u64) -> Self {
        let minion_id = minion_id.into();
        Self {
            fingerprint: fingerprint.into(),
            hostname: minion_id.clone(),
            minion_id,
            status: SystemStatus::New,
            banned: false,
            node: None,
            previous_node: None,
            zone: None,
            tags: BTreeSet::new(),
            groups: BTreeSet::new(),
            channels: BTreeSet::new(),
            registered_at: now,
            updated_at: now,
            uyuni_ids: Default::default(),
        }
    }

    /// With this status.
    pub fn with_status(mut self, status: SystemStatus) -> Self {
        self.status = status;
        self
    }

    /// Assigned to this node (`None`: none).
    pub fn with_node(mut self, node: Option<&str>) -> Self {
        self.node = node.map(String::from);
        self
    }

    /// In this zone.
    pub fn with_zone(mut self, zone: &str) -> Self {
        self.zone = Some(zone.into());
        self
    }

    /// With this host name.
    pub fn with_hostname(mut self, hostname: &str) -> Self {
        self.hostname = hostname.into();
        self
    }

    /// With these tags.
    pub fn with_tags<'a>(mut self, tags: impl IntoIterator<Item = &'a str>) -> Self {
        self.tags = tags.into_iter().map(String::from).collect();
        self
    }

    /// In these system groups.
    pub fn with_groups<'a>(mut self, groups: impl IntoIterator<Item = &'a str>) -> Self {
        self.groups = groups.into_iter().map(String::from).collect();
        self
    }

    /// Last updated at `ms`.
    pub fn with_updated_at(mut self, ms: u64) -> Self {
        self.updated_at = ms;
        self
    }
}
