//! One shard: a small automerge document holding the records whose key hashes to it.

use automerge::{
    ActorId, AutoCommit, ChangeHash, ROOT, ReadDoc, ScalarValue, transaction::Transactable,
};

use crate::error::StoreError;

/// Index of a shard, `0..shard_count`.
pub type ShardId = u32;

/// Which shard a key lives in: the first 8 bytes of its BLAKE3 hash, modulo the shard count.
/// Every peer must use the same count; it is fixed when a store is created.
pub fn shard_of(key: &str, shard_count: u32) -> ShardId {
    let h = blake3::hash(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    (u64::from_le_bytes(first) % u64::from(shard_count)) as ShardId
}

/// Compact digest of a set of heads: 0 for an empty shard, else 8 bytes of BLAKE3 over the
/// sorted head hashes. Two replicas of a shard with the same digest hold the same changes.
pub(crate) fn heads_digest(heads: &mut [ChangeHash]) -> u64 {
    if heads.is_empty() {
        return 0;
    }
    heads.sort_unstable();
    let mut h = blake3::Hasher::new();
    for head in heads.iter() {
        h.update(&head.0);
    }
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.finalize().as_bytes()[..8]);
    // Reserve 0 for "empty".
    u64::from_le_bytes(first).max(1)
}

#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) id: ShardId,
    pub(crate) doc: AutoCommit,
    /// Changed since the last snapshot.
    pub(crate) dirty: bool,
    /// Digest of the current heads (see [`heads_digest`]).
    pub(crate) digest: u64,
    /// The snapshot was corrupt: the shard waits for a peer to send it back.
    pub(crate) damaged: bool,
}

impl Shard {
    pub(crate) fn new(id: ShardId, actor: ActorId) -> Self {
        Self {
            id,
            doc: AutoCommit::new().with_actor(actor),
            dirty: false,
            digest: 0,
            damaged: false,
        }
    }

    pub(crate) fn load(id: ShardId, bytes: &[u8], actor: ActorId) -> Result<Self, StoreError> {
        let doc = AutoCommit::load(bytes).map_err(|source| StoreError::automerge(id, source))?;
        let mut s = Self {
            id,
            doc: doc.with_actor(actor),
            dirty: false,
            digest: 0,
            damaged: false,
        };
        s.refresh_digest();
        Ok(s)
    }

    pub(crate) fn refresh_digest(&mut self) {
        let mut heads = self.doc.get_heads();
        self.digest = heads_digest(&mut heads);
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let values = self.doc.get_all(ROOT, key).ok()?;
        let bytes: Vec<&[u8]> = values
            .iter()
            .filter_map(|(v, _)| match v {
                automerge::Value::Scalar(s) => s.as_bytes(),
                _ => None,
            })
            .collect();
        match bytes.len() {
            0 => None,
            1 => Some(bytes[0].to_vec()),
            _ => Some(bytes[crate::record::resolve_conflict(key, &bytes)].to_vec()),
        }
    }

    /// Put `value` under `key` unless it is already there. Returns whether anything changed.
    pub(crate) fn put(&mut self, key: &str, value: Vec<u8>) -> Result<bool, StoreError> {
        if self.get(key).as_deref() == Some(value.as_slice()) {
            return Ok(false);
        }
        self.doc
            .put(ROOT, key, ScalarValue::Bytes(value))
            .map_err(|source| StoreError::automerge(self.id, source))?;
        Ok(true)
    }

    /// Put without comparing with the current value first (the caller just read it).
    pub(crate) fn put_unchecked(&mut self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.doc
            .put(ROOT, key, ScalarValue::Bytes(value))
            .map_err(|source| StoreError::automerge(self.id, source))
    }

    pub(crate) fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        if self.get(key).is_none() {
            return Ok(false);
        }
        self.doc
            .delete(ROOT, key)
            .map_err(|source| StoreError::automerge(self.id, source))?;
        Ok(true)
    }

    /// Commit pending operations and return the change chunk to persist and broadcast
    /// (empty when nothing changed since the last call).
    pub(crate) fn take_changes(&mut self) -> Vec<u8> {
        self.doc.commit();
        let bytes = self.doc.save_incremental();
        if !bytes.is_empty() {
            self.dirty = true;
            self.refresh_digest();
        }
        bytes
    }

    /// Visit every `(key, value)` whose key starts with `prefix`, in key order.
    pub(crate) fn scan(&self, prefix: &str, mut f: impl FnMut(&str, &[u8])) {
        for item in self.doc.map_range(ROOT, prefix.to_string()..) {
            if !item.key.starts_with(prefix) {
                break;
            }
            if item.conflict {
                // Concurrent writes: every replica picks the same value by the record
                // kind's rule, not by automerge's arbitrary-but-stable op order.
                if let Some(v) = self.get(&item.key) {
                    f(&item.key, &v);
                }
            } else if let automerge::ValueRef::Scalar(automerge::ScalarValueRef::Bytes(b)) =
                &item.value
            {
                f(&item.key, b);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.doc.length(ROOT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_of_is_stable_and_in_range() {
        for i in 0..1000 {
            let k = format!("s/{i}");
            let s = shard_of(&k, 64);
            assert!(s < 64);
            assert_eq!(s, shard_of(&k, 64));
        }
        // Spread: 1000 keys over 64 shards touch most shards.
        let used: std::collections::HashSet<_> =
            (0..1000).map(|i| shard_of(&format!("s/{i}"), 64)).collect();
        assert!(used.len() > 55, "only {} shards used", used.len());
    }

    #[test]
    fn put_is_idempotent_and_digest_follows_heads() {
        let mut s = Shard::new(0, ActorId::random());
        assert_eq!(s.digest, 0);
        assert!(s.put("s/a", b"1".to_vec()).expect("put"));
        let c = s.take_changes();
        assert!(!c.is_empty());
        let d1 = s.digest;
        assert_ne!(d1, 0);
        assert!(!s.put("s/a", b"1".to_vec()).expect("put"));
        assert!(s.take_changes().is_empty());
        assert_eq!(s.digest, d1);
        let mut seen = Vec::new();
        s.scan("s/", |k, v| seen.push((k.to_string(), v.to_vec())));
        assert_eq!(seen, vec![("s/a".to_string(), b"1".to_vec())]);
    }
}
