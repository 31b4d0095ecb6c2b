//! The Leader Node lease of a zone: who is the pattern for common data, and the change set
//! waiting for "apply cluster update". Pure functions of the current record and the clock.
//!
//! Conflicts: the lease lives under one key (`k/<zone>`), so two claims made concurrently
//! (in a partition, or at the same moment) are both kept by automerge and every replica picks
//! the same winner: the higher `term`, then the higher `generation`, then the later
//! `updated_at`, then the lower holder name (`crdt_store` `resolve_conflict`).

use crdt_store::LeaseRecord;

/// A lease operation that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// Another node holds an unexpired lease.
    #[error(
        "zone {zone}: node {holder} holds the Leader Node lease until {expires_at} (use force to take it over)"
    )]
    Held {
        /// Zone.
        zone: String,
        /// Current holder.
        holder: String,
        /// Its expiry, Unix milliseconds.
        expires_at: u64,
    },
    /// The node does not hold the zone's latest common data yet: leading now would publish
    /// from an out-of-date pattern.
    #[error(
        "zone {zone}: node {node} holds common-data generation {holds}, the zone is at {zone_generation}: wait until it has copied the zone's data (or use force)"
    )]
    Behind {
        /// Zone.
        zone: String,
        /// The node that asked.
        node: String,
        /// The generation it holds.
        holds: u64,
        /// The zone's.
        zone_generation: u64,
    },
    /// The node does not hold the lease.
    #[error("zone {zone}: node {node} does not hold the Leader Node lease")]
    NotHolder {
        /// Zone.
        zone: String,
        /// The node that asked.
        node: String,
    },
}

/// Claim (or renew) the lease of `zone` for `me` until `now + ttl_ms`. A holder renewing keeps
/// its term and pending changes, also after its lease expired as long as no other node
/// claimed it meanwhile; a new holder gets `term + 1` and an empty change set. `force` takes
/// over a lease another node holds (its unpublished changes are dropped).
pub fn claim(
    current: Option<&LeaseRecord>,
    zone: &str,
    me: &str,
    now: u64,
    ttl_ms: u64,
    auto_publish: bool,
    force: bool,
) -> Result<LeaseRecord, LeaseError> {
    let expires_at = now.saturating_add(ttl_ms);
    match current {
        Some(l) if l.holder.as_deref() == Some(me) => Ok(LeaseRecord {
            expires_at,
            auto_publish,
            updated_at: now,
            ..l.clone()
        }),
        Some(l) => match l.holder_at(now) {
            Some(other) if !force => Err(LeaseError::Held {
                zone: zone.to_string(),
                holder: other.to_string(),
                expires_at: l.expires_at,
            }),
            _ => Ok(LeaseRecord {
                zone: zone.to_string(),
                holder: Some(me.to_string()),
                term: l.term + 1,
                claimed_at: now,
                expires_at,
                auto_publish,
                generation: l.generation,
                published: l.published,
                pending: Default::default(),
                updated_at: now,
            }),
        },
        None => Ok(LeaseRecord {
            zone: zone.to_string(),
            holder: Some(me.to_string()),
            term: 1,
            claimed_at: now,
            expires_at,
            auto_publish,
            generation: 0,
            published: 0,
            pending: Default::default(),
            updated_at: now,
        }),
    }
}

/// Release the lease (`force`: even if another node holds it). Unpublished changes are
/// dropped: publish first to keep them.
pub fn release(
    current: Option<&LeaseRecord>,
    zone: &str,
    me: &str,
    now: u64,
    force: bool,
) -> Result<Option<LeaseRecord>, LeaseError> {
    let Some(l) = current else { return Ok(None) };
    match l.holder_at(now) {
        None => Ok(None),
        Some(h) if h != me && !force => Err(LeaseError::NotHolder {
            zone: zone.to_string(),
            node: me.to_string(),
        }),
        Some(_) => Ok(Some(LeaseRecord {
            holder: None,
            pending: Default::default(),
            auto_publish: false,
            expires_at: now,
            updated_at: now,
            ..l.clone()
        })),
    }
}

/// Add captured changes to the holder's change set; `None` when nothing is new or `me` is not
/// the holder (the caller then counts them as drift). An expired lease still collects its
/// holder's changes until another node claims it: a renewal keeps them.
pub fn capture(
    current: Option<&LeaseRecord>,
    me: &str,
    now: u64,
    changes: impl IntoIterator<Item = String>,
) -> Option<LeaseRecord> {
    let l = current?;
    if l.holder.as_deref() != Some(me) {
        return None;
    }
    let mut next = l.clone();
    let before = next.pending.len();
    next.pending.extend(changes);
    if next.pending.len() == before {
        return None;
    }
    next.updated_at = now.max(l.updated_at + 1);
    Some(next)
}

/// The lease after a publication of `objects` records: generation + 1 and the change set
/// emptied; with nothing to write, the change set is emptied and the generation stays (no
/// follower needs to look again).
pub fn published(current: &LeaseRecord, now: u64, objects: u64) -> LeaseRecord {
    LeaseRecord {
        generation: current.generation + u64::from(objects > 0),
        published: if objects > 0 {
            objects
        } else {
            current.published
        },
        pending: Default::default(),
        updated_at: now.max(current.updated_at + 1),
        ..current.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_renew_takeover_and_expiry() {
        let a = claim(None, "z", "a", 100, 50, false, false).expect("first claim");
        assert_eq!((a.term, a.holder.as_deref()), (1, Some("a")));
        let err = claim(Some(&a), "z", "b", 120, 50, false, false).expect_err("held");
        assert!(matches!(err, LeaseError::Held { ref holder, .. } if holder == "a"));
        let a2 = capture(Some(&a), "a", 121, ["channel/x".to_string()]).expect("captured");
        let renewed = claim(Some(&a2), "z", "a", 130, 50, true, false).expect("renew");
        assert_eq!(renewed.term, 1, "a renewal keeps the term");
        assert_eq!(renewed.pending.len(), 1, "and the change set");
        let mine_again = claim(Some(&renewed), "z", "a", 400, 50, true, false).expect("re-claim");
        assert_eq!(
            (mine_again.term, mine_again.pending.len()),
            (1, 1),
            "the holder re-claiming its expired lease keeps term and change set"
        );
        assert!(
            capture(Some(&renewed), "a", 300, ["channel/y".to_string()]).is_some(),
            "an expired lease still collects its holder's changes"
        );
        let expired = claim(Some(&renewed), "z", "b", 181, 50, false, false).expect("expired");
        assert_eq!((expired.term, expired.holder.as_deref()), (2, Some("b")));
        assert!(expired.pending.is_empty());
        let forced = claim(Some(&expired), "z", "c", 182, 50, false, true).expect("force");
        assert_eq!(forced.term, 3);
    }

    #[test]
    fn only_the_holder_captures_and_releases() {
        let a = claim(None, "z", "a", 0, 1000, false, false).expect("claim");
        assert!(capture(Some(&a), "b", 1, ["channel/x".to_string()]).is_none());
        assert!(capture(Some(&a), "a", 1, Vec::<String>::new()).is_none());
        assert!(release(Some(&a), "z", "b", 2, false).is_err());
        let r = release(Some(&a), "z", "a", 2, false)
            .expect("release")
            .expect("record");
        assert_eq!(r.holder_at(3), None);
        assert_eq!(release(Some(&r), "z", "a", 3, false), Ok(None));
        let p = published(&a, 5, 3);
        assert_eq!((p.generation, p.published), (a.generation + 1, 3));
        let nothing = published(&p, 6, 0);
        assert_eq!(
            (nothing.generation, nothing.published),
            (p.generation, 3),
            "an empty publication does not move the generation"
        );
    }
}
