//! `[load.auto_accept]`: a zone's optional rule that accepts new systems without an operator
//! (issue 17: a store cut off from the rest keeps onboarding). Off by default.
//!
//! A system registering **for the first time** through a peer with the rule on is stored
//! already accepted (status `orphan`, as after `POST /systems/{fp}/accept`), so the zone's
//! Load Driver places it at once, with no operator and no other zone involved. Re-registering
//! systems keep their status (a rejected one starts over as `new`, an operator's decision is
//! never overridden). The rule is a peer's configuration: set it on every peer of the zone
//! (the peers the zone's agents register through). Pure: no I/O, no clock.

use crdt_store::{SystemRecord, SystemStatus};
use serde::{Deserialize, Serialize};

/// `[load.auto_accept]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoAcceptConfig {
    /// Accept systems that register for the first time through this peer (they wait as
    /// orphans for the zone's Load Driver, as after an operator's accept). Anyone who can
    /// reach the agents' door with a key pair is then onboarded: for closed store networks.
    /// Default false.
    pub enabled: bool,
    /// Only systems whose minion id starts with this (e.g. the store's host prefix).
    /// Default "" (any).
    pub minion_prefix: String,
    /// A tag given to every system the rule accepted, so an operator can review them later
    /// (`/search?q=tag:…`). Default "" (none). A tag: 1–128 bytes, no whitespace or control
    /// characters.
    pub tag: String,
}

impl AutoAcceptConfig {
    /// Why the configuration is unusable, if it is.
    pub fn validate(&self) -> Result<(), String> {
        if self.tag.is_empty() {
            return Ok(());
        }
        crate::system_actions::check_tags([&self.tag])
            .map_err(|e| format!("load.auto_accept.tag: {e}"))
    }

    /// Accept `rec`, a system registering for the first time, if the rule covers it.
    /// Returns whether it did.
    pub fn apply(&self, rec: &mut SystemRecord) -> bool {
        if !self.enabled
            || rec.status != SystemStatus::New
            || rec.banned
            || !rec.minion_id.starts_with(&self.minion_prefix)
        {
            return false;
        }
        rec.status = SystemStatus::Orphan;
        rec.node = None;
        if !self.tag.is_empty() {
            rec.tags.insert(self.tag.clone());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_only_what_the_rule_covers() {
        let mut rec = SystemRecord::new("f", "store1-pos3", 1);
        assert!(!AutoAcceptConfig::default().apply(&mut rec));
        assert_eq!(rec.status, SystemStatus::New);
        let rule = AutoAcceptConfig {
            enabled: true,
            minion_prefix: "store1-".into(),
            tag: "auto-accepted".into(),
        };
        rule.validate().expect("valid");
        let mut other = SystemRecord::new("g", "hq-web", 1);
        assert!(!rule.apply(&mut other), "another prefix");
        assert!(rule.apply(&mut rec));
        assert_eq!(
            (rec.status, rec.node.as_deref()),
            (SystemStatus::Orphan, None)
        );
        assert!(rec.tags.contains("auto-accepted"));
        let mut banned = SystemRecord::new("h", "store1-x", 1);
        banned.banned = true;
        assert!(!rule.apply(&mut banned));
        let bad = AutoAcceptConfig {
            tag: "two words".into(),
            ..rule
        };
        assert!(bad.validate().is_err());
    }
}
