//! Who may fetch which blob: only cluster members, and only content their zone receives.

use std::collections::{BTreeSet, HashMap};

use iroh_blobs::Hash;

/// Blob → zones allowed to fetch it (the owning zone and its subscribers). Rebuilt by the peer
/// from the manifests it holds.
#[derive(Debug, Default, Clone)]
pub struct AccessTable {
    zones: HashMap<Hash, BTreeSet<String>>,
}

impl AccessTable {
    /// Allow `zones` to fetch `hashes` (adds to what is already allowed).
    pub fn allow<'a>(
        &mut self,
        hashes: impl IntoIterator<Item = Hash>,
        zones: impl IntoIterator<Item = &'a str> + Clone,
    ) {
        for h in hashes {
            let set = self.zones.entry(h).or_default();
            set.extend(zones.clone().into_iter().map(str::to_string));
        }
    }

    /// May a member of `zone` fetch `hash`?
    pub fn may_fetch(&self, zone: &str, hash: &Hash) -> bool {
        self.zones.get(hash).is_some_and(|z| z.contains(zone))
    }

    /// Number of blobs with a rule.
    pub fn len(&self) -> usize {
        self.zones.len()
    }

    /// No blob has a rule.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_zones_fetch() {
        let (a, b) = (Hash::new(b"a"), Hash::new(b"b"));
        let mut t = AccessTable::default();
        t.allow([a], ["dc1"]);
        t.allow([a, b], ["store7"]);
        assert!(t.may_fetch("dc1", &a));
        assert!(t.may_fetch("store7", &a));
        assert!(!t.may_fetch("dc1", &b));
        assert!(!t.may_fetch("dc2", &a));
        assert!(!t.may_fetch("dc1", &Hash::new(b"unknown")));
        assert_eq!(t.len(), 2);
    }
}
