//! Tags and groups of a system as **add-wins sets** (issue 17).
//!
//! A system's record is one value under `s/<fp>` (last writer wins as a whole, by
//! [`super::resolve_conflict`]). Its tags and groups are kept beside it as keys of the same
//! shard's automerge map, one key per element, **present = member**:
//!
//! ```text
//! s/<rest>              the record (CBOR), tags and groups mirrored in `t`/`g`, `k` = hash of them
//! m/<rest>\0t<tag>      one key per tag   (value: empty bytes)
//! m/<rest>\0g<group>    one key per group
//! ```
//!
//! Adding an element puts its key, removing deletes it. Automerge deletes only the operations
//! the deleting replica has seen, so an add concurrent with a remove of the same element
//! survives (**add wins**), and adds of different elements on both sides of a partition all
//! survive. Status, node and the other fields stay in the record value with the rules they
//! had (docs/ARCHITECTURE.md, "The Metastore", per-field table).
//!
//! **The mirror.** Peers before this version read tags and groups from the record value only,
//! so a writer of this version puts the sets as it knows them into the value's `t` and `g`
//! whenever it writes the value, and `k` = a hash of that mirror. A change of the sets alone
//! writes only member keys, **not the value**: rewriting the value would make it a concurrent
//! competitor of a status or node change made elsewhere, and could win by the record rule
//! (e.g. a tag edit of a deleted system, concurrent with its acceptance elsewhere, would
//! re-assert `deleted`; the property test found this). Older readers therefore see tag and
//! group changes made by this version once the value is next written (status, node). A reader
//! of this version:
//! - `k` present and equal to the hash of `t`/`g`: the member keys are the sets (the mirror
//!   may be older than an add or remove, and is ignored);
//! - `k` absent (a record written before this version, or rewritten by a version-1 peer) or
//!   not matching (an older peer edited `t`/`g` and kept `k`, an unknown key to it): the sets
//!   are the member keys **and** the mirror (an older writer's adds survive; its removal of an
//!   element that also has a member key does not, until a peer of this version edits the sets).
//!
//! The first write of this version to a record that changes its sets or its value converts
//! it: member keys for every element, the value rewritten with `k` (keeping its `updated_at`
//! when only the sets changed). During that one conversion the old rules hold: a removal made
//! on one side while the other side converts the same record concurrently comes back (the
//! conversion re-adds what it saw), and the converted value competes with a concurrent
//! change of the value by the record rule. After the conversion the sets are add-wins.
//!
//! Keys must not contain `\0`: tags are checked by the Load Driver (no control characters),
//! and a fingerprint with a `\0` cannot reach the store through an API.

use std::collections::{BTreeMap, BTreeSet};

use super::{CodecError, SystemRecord, SystemWire, fingerprint_of_key};

/// Prefix of the member keys.
pub(crate) const MEMBER_PREFIX: &str = "m/";
/// Ends the system part of a member key.
const SEP: char = '\0';
const TAG: char = 't';
const GROUP: char = 'g';

/// The member-key prefix of the system stored under `system_key` (`s/<rest>` →
/// `m/<rest>\0`); `None` for a key that is not a system's.
pub(crate) fn members_prefix(system_key: &str) -> Option<String> {
    let rest = system_key.strip_prefix(super::RecordKind::System.prefix())?;
    Some(format!("{MEMBER_PREFIX}{rest}{SEP}"))
}

/// [`members_prefix`], or an error naming a key that is not a system's.
pub(crate) fn members_prefix_of_system(key: &str) -> Result<String, CodecError> {
    members_prefix(key).ok_or_else(|| CodecError(format!("not a system key: {key:?}")))
}

/// The prefix (`m/<rest>\0`) of a member key, if `key` is one.
pub(crate) fn prefix_of_member(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(MEMBER_PREFIX)?;
    let end = rest.find(SEP)?;
    Some(&key[..MEMBER_PREFIX.len() + end + SEP.len_utf8()])
}

/// The system key (`s/<rest>`) a member key belongs to.
pub(crate) fn system_key_of_member(key: &str) -> Option<String> {
    let prefix = prefix_of_member(key)?;
    let rest = &prefix[MEMBER_PREFIX.len()..prefix.len() - SEP.len_utf8()];
    Some(format!("{}{rest}", super::RecordKind::System.prefix()))
}

/// The tags and groups held as member keys (element = key without the prefix: `t<tag>`,
/// `g<group>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sets {
    pub(crate) tags: BTreeSet<String>,
    pub(crate) groups: BTreeSet<String>,
}

impl Sets {
    /// From the member elements of one system (unknown kinds are left out: a newer peer's).
    pub(crate) fn from_elements<'a>(elements: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = Self::default();
        for e in elements {
            let mut chars = e.chars();
            match chars.next() {
                Some(TAG) => {
                    out.tags.insert(chars.as_str().to_string());
                }
                Some(GROUP) => {
                    out.groups.insert(chars.as_str().to_string());
                }
                _ => {}
            }
        }
        out
    }
}

/// Every system's members in one shard, by member prefix, from `(key)`s in key order.
pub(crate) fn group_members<'a>(keys: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, Sets> {
    let mut out: BTreeMap<String, Sets> = BTreeMap::new();
    for key in keys {
        if let Some(prefix) = prefix_of_member(key) {
            let element = &key[prefix.len()..];
            let sets = out.entry(prefix.to_string()).or_default();
            let one = Sets::from_elements([element]);
            sets.tags.extend(one.tags);
            sets.groups.extend(one.groups);
        }
    }
    out
}

/// Hash of a mirror (`t` and `g` as written), 32 bits of BLAKE3.
fn sets_hash(tags: &BTreeSet<String>, groups: &BTreeSet<String>) -> u32 {
    let mut h = blake3::Hasher::new();
    for (kind, set) in [(TAG, tags), (GROUP, groups)] {
        for e in set {
            h.update(&[kind as u8]);
            h.update(&(e.len() as u64).to_le_bytes());
            h.update(e.as_bytes());
        }
    }
    let mut first = [0u8; 4];
    first.copy_from_slice(&h.finalize().as_bytes()[..4]);
    u32::from_le_bytes(first)
}

/// A stored record value decoded, with whether its mirror defers to the member keys.
#[derive(Debug)]
pub(crate) struct Base {
    /// The record as the value alone says (tags and groups = the mirror).
    pub(crate) record: SystemRecord,
    /// `k` matches the mirror: the member keys are the sets.
    pub(crate) members_rule: bool,
}

/// Decode the value stored under a system key.
pub(crate) fn decode_base(key: &str, bytes: &[u8]) -> Result<Base, CodecError> {
    let fingerprint = key
        .strip_prefix(super::RecordKind::System.prefix())
        .and_then(fingerprint_of_key)
        .ok_or_else(|| CodecError(format!("bad system key {key:?}")))?;
    let wire: SystemWire = ciborium::from_reader(bytes).map_err(|e| CodecError(e.to_string()))?;
    let members_rule = wire.sets_hash == Some(sets_hash(&wire.tags, &wire.groups));
    Ok(Base {
        record: wire.into_record(fingerprint),
        members_rule,
    })
}

/// The system as a reader of this version sees it: the value's fields, and the sets by the
/// rule in the module doc.
pub(crate) fn effective(base: Base, members: Option<&Sets>) -> SystemRecord {
    let mut rec = base.record;
    let empty = Sets::default();
    let members = members.unwrap_or(&empty);
    if base.members_rule {
        rec.tags = members.tags.clone();
        rec.groups = members.groups.clone();
    } else {
        rec.tags.extend(members.tags.iter().cloned());
        rec.groups.extend(members.groups.iter().cloned());
    }
    rec
}

/// The value of this version for `rec` (CBOR with the mirror and `k`).
pub(crate) fn encode_base(rec: &SystemRecord) -> Result<Vec<u8>, CodecError> {
    let mut wire = SystemWire::from(rec);
    wire.sets_hash = Some(sets_hash(&rec.tags, &rec.groups));
    let mut out = Vec::with_capacity(96);
    ciborium::into_writer(&wire, &mut out).map_err(|e| CodecError(e.to_string()))?;
    Ok(out)
}

/// A stored value re-encoded as this version understands it (`k` included), for
/// `compat::keep_unknown`'s comparison.
pub(crate) fn reencode_known(bytes: &[u8]) -> Option<Vec<u8>> {
    let wire: SystemWire = ciborium::from_reader(bytes).ok()?;
    let mut out = Vec::with_capacity(bytes.len());
    ciborium::into_writer(&wire, &mut out).ok()?;
    Some(out)
}

/// What writing a system changes in its shard.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct WritePlan {
    /// The new value for `s/<rest>`, if it must be rewritten.
    pub(crate) base: Option<Vec<u8>>,
    /// Member keys to put.
    pub(crate) put: Vec<String>,
    /// Member keys to delete.
    pub(crate) delete: Vec<String>,
}

impl WritePlan {
    /// Nothing to write.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.base.is_none() && self.put.is_empty() && self.delete.is_empty()
    }
}

/// The fields the value decides (all but the sets and `updated_at`) are equal.
fn same_value_fields(a: &SystemRecord, b: &SystemRecord) -> bool {
    a.minion_id == b.minion_id
        && a.hostname == b.hostname
        && a.status == b.status
        && a.banned == b.banned
        && a.node == b.node
        && a.previous_node == b.previous_node
        && a.zone == b.zone
        && a.channels == b.channels
        && a.registered_at == b.registered_at
        && a.uyuni_ids == b.uyuni_ids
}

/// Plan writing `new` under `key`, given the stored value (`None`: absent or undecodable)
/// and the stored member keys.
///
/// - Sets: put the member keys of elements `new` has and the keys lack, delete the others.
/// - Value: written as `new` when a field it decides changed (or only `updated_at`: a
///   deliberate touch) or when there is none; when only the sets changed, the stored value is
///   rewritten with the new mirror and **its own `updated_at`**, so that it loses to any
///   concurrent change of the value's fields; an older writer's value is converted (`k` set)
///   the first time the sets change.
pub(crate) fn plan_write(
    prefix: &str,
    stored: Option<Base>,
    members: &Sets,
    new: &SystemRecord,
) -> Result<WritePlan, CodecError> {
    let mut plan = WritePlan::default();
    for (kind, want, have) in [
        (TAG, &new.tags, &members.tags),
        (GROUP, &new.groups, &members.groups),
    ] {
        plan.put
            .extend(want.difference(have).map(|e| format!("{prefix}{kind}{e}")));
        plan.delete
            .extend(have.difference(want).map(|e| format!("{prefix}{kind}{e}")));
    }
    let Some(stored) = stored else {
        plan.base = Some(encode_base(new)?);
        return Ok(plan);
    };
    let members_rule = stored.members_rule;
    let old = stored.record;
    let sets_changed = if members_rule {
        !plan.put.is_empty() || !plan.delete.is_empty()
    } else {
        // The sets an older writer's value stands for: mirror ∪ members.
        let mut tags = old.tags.clone();
        tags.extend(members.tags.iter().cloned());
        let mut groups = old.groups.clone();
        groups.extend(members.groups.iter().cloned());
        tags != new.tags || groups != new.groups
    };
    if !same_value_fields(&old, new) || (old.updated_at != new.updated_at && !sets_changed) {
        plan.base = Some(encode_base(new)?);
    } else if !members_rule && sets_changed {
        let mut refreshed = new.clone();
        refreshed.updated_at = old.updated_at;
        plan.base = Some(encode_base(&refreshed)?);
    }
    if !members_rule && plan.base.is_none() {
        // An older writer's value, left as it is: its mirror still covers the sets.
        plan.put.clear();
        plan.delete.clear();
    }
    // Otherwise every value written carries `k`, so the member keys become exactly the sets
    // (for an older writer's value: the conversion).
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, system_key};

    fn base_of(rec: &SystemRecord) -> Base {
        let key = system_key(&rec.fingerprint);
        decode_base(&key, &encode_base(rec).expect("encode")).expect("decode")
    }

    #[test]
    fn member_keys_map_back_to_their_system() {
        let key = system_key("aa:bb");
        let prefix = members_prefix(&key).expect("system key");
        let member = format!("{prefix}tdb");
        assert_eq!(prefix_of_member(&member), Some(prefix.as_str()));
        assert_eq!(system_key_of_member(&member).as_deref(), Some(key.as_str()));
        assert_eq!(members_prefix("n/x"), None);
        assert_eq!(prefix_of_member("m/no-separator"), None);
        let grouped = group_members([
            member.as_str(),
            &format!("{prefix}gweb"),
            &format!("{prefix}xz"),
        ]);
        let sets = grouped.get(&prefix).expect("grouped");
        assert_eq!(sets.tags, ["db".to_string()].into());
        assert_eq!(sets.groups, ["web".to_string()].into());
    }

    #[test]
    fn a_sets_only_change_writes_member_keys_only() {
        let old = SystemRecord::new("f", "m", 1)
            .with_tags(["a"])
            .with_updated_at(10);
        let prefix = members_prefix(&system_key("f")).expect("prefix");
        let members = Sets::from_elements(["ta"]);
        let new = old.clone().with_tags(["a", "b"]).with_updated_at(20);
        let plan = plan_write(&prefix, Some(base_of(&old)), &members, &new).expect("plan");
        assert_eq!(plan.put, vec![format!("{prefix}tb")]);
        assert!(plan.delete.is_empty());
        assert_eq!(
            plan.base, None,
            "the value is not a competitor of a concurrent change"
        );
        // A field of the value changes: written as given, with the mirror.
        let moved = new.clone().with_node(Some("n1"));
        let plan = plan_write(&prefix, Some(base_of(&old)), &members, &moved).expect("plan");
        let value = plan.base.expect("value");
        let Ok(Some(Record::System(seen_by_old))) = Record::decode(&system_key("f"), &value) else {
            panic!("decodes")
        };
        assert_eq!(seen_by_old.tags, moved.tags, "older readers see the mirror");
        let b = decode_base(&system_key("f"), &value).expect("decode");
        assert_eq!(
            (b.record.updated_at, b.record.node.as_deref()),
            (20, Some("n1"))
        );
        // Nothing changed: nothing written.
        let plan = plan_write(&prefix, Some(base_of(&old)), &members, &old).expect("plan");
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn an_older_writers_value_is_read_as_mirror_and_members_and_converted_on_change() {
        let key = system_key("f");
        let prefix = members_prefix(&key).expect("prefix");
        let legacy = SystemRecord::new("f", "m", 1).with_tags(["a", "b"]);
        let legacy_bytes = Record::System(legacy.clone()).encode().expect("encode");
        let base = decode_base(&key, &legacy_bytes).expect("decode");
        assert!(!base.members_rule);
        let members = Sets::from_elements(["tc"]);
        let seen = effective(base, Some(&members));
        assert_eq!(seen.tags.len(), 3, "mirror ∪ members: {:?}", seen.tags);
        // Unchanged: nothing written, not even a conversion.
        let plan = plan_write(
            &prefix,
            Some(decode_base(&key, &legacy_bytes).expect("decode")),
            &members,
            &seen,
        )
        .expect("plan");
        assert!(plan.is_empty(), "{plan:?}");
        // Remove b: converted (members a and c, value with k and the new mirror).
        let mut edited = seen.clone();
        edited.tags.remove("b");
        let plan = plan_write(
            &prefix,
            Some(decode_base(&key, &legacy_bytes).expect("decode")),
            &members,
            &edited,
        )
        .expect("plan");
        assert_eq!(plan.put, vec![format!("{prefix}ta")]);
        let converted = decode_base(&key, &plan.base.expect("converted")).expect("decode");
        assert!(converted.members_rule);
        let after = Sets::from_elements(["ta", "tc"]);
        assert_eq!(effective(converted, Some(&after)).tags, edited.tags);
    }

    #[test]
    fn an_older_peer_editing_the_mirror_is_not_ignored() {
        let key = system_key("f");
        let rec = SystemRecord::new("f", "m", 1).with_tags(["a"]);
        let mut wire = SystemWire::from(&rec);
        wire.sets_hash = Some(sets_hash(&rec.tags, &rec.groups));
        // An older peer adds "z" to the value and keeps `k` (unknown to it).
        wire.tags.insert("z".into());
        let mut bytes = Vec::new();
        ciborium::into_writer(&wire, &mut bytes).expect("cbor");
        let base = decode_base(&key, &bytes).expect("decode");
        assert!(!base.members_rule);
        let seen = effective(base, Some(&Sets::from_elements(["ta"])));
        assert_eq!(seen.tags, ["a".to_string(), "z".to_string()].into());
    }

    #[test]
    fn a_change_of_uyuni_ids_alone_rewrites_the_value() {
        // The Node Controller records a system's Uyuni id without touching `updated_at`
        // (a concurrent placement must win): the value must still be written.
        let key = system_key("aa:bb");
        let prefix = members_prefix(&key).expect("system key");
        let old = SystemRecord::new("aa:bb", "m1", 1);
        let mut new = old.clone();
        new.uyuni_ids.insert("n1".into(), 1_000_010_002);
        let plan = plan_write(&prefix, Some(base_of(&old)), &Sets::default(), &new).expect("plan");
        let written = plan.base.expect("the value is rewritten");
        let back = decode_base(&key, &written).expect("decode").record;
        assert_eq!(back.uyuni_ids, new.uyuni_ids);
    }
}
