//! What the administrator's actions do to a system record: accept, reject, unregister, ban,
//! tag and untag. Pure (no I/O): the single-system endpoints and bulk actions both apply
//! these through their write paths.

use std::collections::BTreeSet;

use crdt_store::{SystemRecord, SystemStatus};

/// An administrator's action on a system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `new` (or rejected) → `orphan`; the zone's Load Driver then places it.
    Accept,
    /// `new` → `deleted` (it may register again).
    Reject,
    /// `onboarded` → `orphan` (placed again).
    Unregister,
    /// `deleted` and banned for good; its node moves to `previous_node`.
    Ban,
    /// Add and remove tags (removals after additions).
    Tags {
        /// Tags to add.
        add: BTreeSet<String>,
        /// Tags to remove.
        remove: BTreeSet<String>,
    },
}

/// Why an action does not apply to a system (the API answers 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// The system is banned.
    #[error("system {0} is banned")]
    Banned(String),
    /// Only new systems can be rejected.
    #[error(
        "system {fingerprint} is {status}; only new systems can be rejected (use unregister or ban)"
    )]
    NotNew {
        /// The system.
        fingerprint: String,
        /// Its status.
        status: &'static str,
    },
    /// Only onboarded (or orphan) systems can be unregistered.
    #[error("system {fingerprint} is {status}, not onboarded")]
    NotOnboarded {
        /// The system.
        fingerprint: String,
        /// Its status.
        status: &'static str,
    },
}

/// Longest tag accepted, in bytes.
pub const MAX_TAG_LEN: usize = 128;

/// Check tags given by a client: non-empty, at most [`MAX_TAG_LEN`] bytes, no whitespace or
/// control characters.
pub fn check_tags<'a>(tags: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
    for t in tags {
        if t.is_empty()
            || t.len() > MAX_TAG_LEN
            || t.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "invalid tag {t:?}: 1-{MAX_TAG_LEN} bytes without whitespace or control characters"
            ));
        }
    }
    Ok(())
}

/// Apply `action` to `rec`: whether it changed the record (the caller then stamps
/// `updated_at`, see [`touch`]), or why it does not apply.
pub fn apply(action: &Action, rec: &mut SystemRecord) -> Result<bool, Refused> {
    let banned = || Refused::Banned(rec.fingerprint.clone());
    Ok(match action {
        Action::Accept => {
            if rec.banned {
                return Err(banned());
            }
            // Accepted systems wait as orphans until the zone's Load Driver places them.
            match rec.status {
                SystemStatus::New | SystemStatus::Deleted => {
                    rec.status = SystemStatus::Orphan;
                    rec.node = None;
                    true
                }
                SystemStatus::Onboarded | SystemStatus::Orphan => false,
            }
        }
        Action::Reject => {
            if rec.status != SystemStatus::New {
                return Err(Refused::NotNew {
                    fingerprint: rec.fingerprint.clone(),
                    status: rec.status.as_str(),
                });
            }
            rec.status = SystemStatus::Deleted;
            true
        }
        Action::Unregister => {
            if rec.banned {
                return Err(banned());
            }
            match rec.status {
                SystemStatus::Onboarded => {
                    rec.status = SystemStatus::Orphan;
                    rec.node = None;
                    true
                }
                SystemStatus::Orphan => false,
                SystemStatus::New | SystemStatus::Deleted => {
                    return Err(Refused::NotOnboarded {
                        fingerprint: rec.fingerprint.clone(),
                        status: rec.status.as_str(),
                    });
                }
            }
        }
        Action::Ban => {
            if rec.banned {
                return Ok(false);
            }
            rec.banned = true;
            rec.status = SystemStatus::Deleted;
            if rec.node.is_some() {
                rec.previous_node = rec.node.take();
            }
            true
        }
        Action::Tags { add, remove } => {
            let before = rec.tags.clone();
            rec.tags.extend(add.iter().cloned());
            rec.tags.retain(|t| !remove.contains(t));
            rec.tags != before
        }
    })
}

/// Stamp a changed record: `updated_at` moves forward (also when the clock did not), so the
/// record's last-writer rule prefers this version.
pub fn touch(rec: &mut SystemRecord, now_ms: u64) {
    rec.updated_at = now_ms.max(rec.updated_at.saturating_add(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: SystemStatus) -> SystemRecord {
        SystemRecord::new("f", "m", 0)
            .with_status(status)
            .with_node(Some("n1"))
            .with_tags(["a"])
            .with_updated_at(5)
    }

    #[test]
    fn transitions() {
        let mut r = rec(SystemStatus::New);
        assert_eq!(apply(&Action::Accept, &mut r), Ok(true));
        assert_eq!((r.status, r.node.clone()), (SystemStatus::Orphan, None));
        assert!(matches!(
            apply(&Action::Reject, &mut r),
            Err(Refused::NotNew { .. })
        ));
        let mut r = rec(SystemStatus::Onboarded);
        assert_eq!(apply(&Action::Ban, &mut r), Ok(true));
        assert_eq!(r.previous_node.as_deref(), Some("n1"));
        assert_eq!(apply(&Action::Ban, &mut r), Ok(false));
        assert!(matches!(
            apply(&Action::Accept, &mut r),
            Err(Refused::Banned(_))
        ));
        let tags = Action::Tags {
            add: ["b".to_string()].into(),
            remove: ["a".to_string()].into(),
        };
        assert_eq!(apply(&tags, &mut r), Ok(true));
        assert_eq!(apply(&tags, &mut r), Ok(false));
        assert_eq!(r.tags, ["b".to_string()].into());
        touch(&mut r, 1);
        assert_eq!(r.updated_at, 6);
        assert!(check_tags(&["ok".to_string()]).is_ok());
        assert!(check_tags(&["not ok".to_string()]).is_err());
    }
}
