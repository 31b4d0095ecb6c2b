//! One shard: a small automerge document holding the records whose key hashes to it.

use automerge::{
    ActorId, AutoCommit, ChangeHash, ROOT, ReadDoc, ScalarValue, transaction::Transactable,
};

use crate::error::StoreError;

/// Most point reads a shard remembers.
pub(crate) const READ_CACHE_ENTRIES: usize = 8192;

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
    /// The document. Change it only through this type's methods (`put`,
    /// `delete`, `take_changes`, `load_incremental`, `receive_sync_message`): they keep
    /// `reads` right.
    pub(crate) doc: AutoCommit,
    /// Point reads remembered ([`Shard::get`]): the agents' heartbeat path reads one record
    /// per request, and walking automerge's columns for it was the largest cost of a status
    /// answer. A local write forgets its key; anything merged from elsewhere forgets all. At
    /// most [`READ_CACHE_ENTRIES`], then it starts again.
    reads: std::cell::RefCell<std::collections::HashMap<String, Option<Vec<u8>>>>,
    /// Member elements of systems remembered by member prefix ([`Shard::members`]), under the
    /// same rules as `reads`: a local write of a member key forgets its system's entry.
    members: std::cell::RefCell<std::collections::HashMap<String, Vec<String>>>,
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
            reads: Default::default(),
            members: Default::default(),
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
            reads: Default::default(),
            members: Default::default(),
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
        if let Some(hit) = self.reads.borrow().get(key) {
            return hit.clone();
        }
        let value = self.read(key);
        let mut reads = self.reads.borrow_mut();
        if reads.len() >= READ_CACHE_ENTRIES {
            reads.clear();
        }
        reads.insert(key.to_string(), value.clone());
        value
    }

    /// Forget every remembered read (the document changed from elsewhere).
    fn forget_reads(&mut self) {
        self.reads.get_mut().clear();
        self.members.get_mut().clear();
    }

    /// Forget the remembered read of `key` (a local write of it).
    fn forget(&mut self, key: &str) {
        self.reads.get_mut().remove(key);
        if let Some(prefix) = crate::record::system_sets::prefix_of_member(key) {
            self.members.get_mut().remove(prefix);
        }
    }

    /// The member elements (`t<tag>`, `g<group>`) under a member prefix (`m/<rest>\0`), in
    /// key order, remembered like point reads.
    pub(crate) fn members(&self, prefix: &str) -> Vec<String> {
        if let Some(hit) = self.members.borrow().get(prefix) {
            return hit.clone();
        }
        let mut out = Vec::new();
        for item in self.doc.map_range(ROOT, prefix.to_string()..) {
            let Some(element) = item.key.strip_prefix(prefix) else {
                break;
            };
            out.push(element.to_string());
        }
        let mut members = self.members.borrow_mut();
        if members.len() >= READ_CACHE_ENTRIES {
            members.clear();
        }
        members.insert(prefix.to_string(), out.clone());
        out
    }

    /// Every key under `prefix`, in key order (no cache).
    pub(crate) fn keys(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        for item in self.doc.map_range(ROOT, prefix.to_string()..) {
            if !item.key.starts_with(prefix) {
                break;
            }
            out.push(item.key.to_string());
        }
        out
    }

    /// Start recording what the next merges change (automerge's diff index) and return the
    /// heads before them: [`Shard::end_merge`] after a diff from these heads to the current
    /// ones costs what the merged changes touched. Without it a diff scans every op of the
    /// document, and a peer's cost per applied change grew with its shard documents (issue
    /// 17's onboarding storm: 1.06 ms of CPU per system at 20 systems per shard, 1.75 ms at
    /// 100).
    pub(crate) fn begin_merge(&mut self) -> Vec<ChangeHash> {
        self.doc.update_diff_cursor();
        self.doc.get_heads()
    }

    /// Stop recording (local writes do not pay for the index).
    pub(crate) fn end_merge(&mut self) {
        self.doc.reset_diff_cursor();
    }

    /// Apply changes from a WAL frame or a peer (automerge's `load_incremental`).
    pub(crate) fn load_incremental(
        &mut self,
        bytes: &[u8],
    ) -> Result<usize, automerge::AutomergeError> {
        self.forget_reads();
        self.doc.load_incremental(bytes)
    }

    /// Take a peer's sync message (automerge's `receive_sync_message`).
    pub(crate) fn receive_sync_message(
        &mut self,
        state: &mut automerge::sync::State,
        msg: automerge::sync::Message,
    ) -> Result<(), automerge::AutomergeError> {
        use automerge::sync::SyncDoc as _;
        self.forget_reads();
        self.doc.sync().receive_sync_message(state, msg)
    }

    /// Read `key` from the document (no cache).
    fn read(&self, key: &str) -> Option<Vec<u8>> {
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
        self.forget(key);
        self.doc
            .put(ROOT, key, ScalarValue::Bytes(value))
            .map_err(|source| StoreError::automerge(self.id, source))?;
        Ok(true)
    }

    pub(crate) fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        if self.get(key).is_none() {
            return Ok(false);
        }
        self.forget(key);
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

    fn actor(n: u8) -> ActorId {
        ActorId::from(vec![n; 16])
    }

    /// Remembered reads never hide a change: local writes, deletes, changes loaded from a peer
    /// and a sync message each show on the next read.
    #[test]
    fn remembered_reads_follow_every_change() {
        let mut a = Shard::new(0, actor(1));
        let mut b = Shard::new(0, actor(2));
        assert_eq!(a.get("k"), None);
        assert!(a.put("k", b"1".to_vec()).expect("put"));
        assert_eq!(a.get("k").as_deref(), Some(&b"1"[..]));
        assert!(a.put("k", b"2".to_vec()).expect("put"));
        assert_eq!(a.get("k").as_deref(), Some(&b"2"[..]));
        let first = a.take_changes();

        // b learns k=2 by a chunk, after having read (and remembered) that k is absent.
        assert_eq!(b.get("k"), None);
        b.load_incremental(&first).expect("load");
        assert_eq!(b.get("k").as_deref(), Some(&b"2"[..]));

        // a changes k again; b learns it by sync messages.
        a.put("k", b"3".to_vec()).expect("put");
        a.take_changes();
        let (mut sa, mut sb) = (automerge::sync::State::new(), automerge::sync::State::new());
        for _ in 0..10 {
            use automerge::sync::SyncDoc as _;
            if let Some(m) = a.doc.sync().generate_sync_message(&mut sa) {
                b.receive_sync_message(&mut sb, m).expect("sync");
            }
            match b.doc.sync().generate_sync_message(&mut sb) {
                Some(m) => a.receive_sync_message(&mut sa, m).expect("sync"),
                None => break,
            }
        }
        assert_eq!(b.get("k").as_deref(), Some(&b"3"[..]));
        assert!(b.delete("k").expect("delete"));
        assert_eq!(b.get("k"), None);
    }

    /// The remembered member lists of systems (tags and groups as keys) follow local puts and
    /// deletes of member keys and every change merged from elsewhere.
    #[test]
    fn remembered_members_follow_every_change() {
        let prefix = "m/=fp\0";
        let mut a = Shard::new(0, actor(1));
        let mut b = Shard::new(0, actor(2));
        assert!(a.members(prefix).is_empty());
        assert!(a.put(&format!("{prefix}tdb"), Vec::new()).expect("put"));
        assert_eq!(a.members(prefix), vec!["tdb".to_string()]);
        assert!(a.put(&format!("{prefix}gweb"), Vec::new()).expect("put"));
        assert_eq!(
            a.members(prefix),
            vec!["gweb".to_string(), "tdb".to_string()]
        );
        let chunk = a.take_changes();
        assert!(b.members(prefix).is_empty());
        b.load_incremental(&chunk).expect("load");
        assert_eq!(b.members(prefix).len(), 2, "a merged change is seen");
        assert!(b.delete(&format!("{prefix}tdb")).expect("delete"));
        assert_eq!(b.members(prefix), vec!["gweb".to_string()]);
        // Another system's members are not mixed in.
        assert!(b.put("m/=fp2\0tx", Vec::new()).expect("put"));
        assert_eq!(b.members(prefix), vec!["gweb".to_string()]);
    }

    #[test]
    fn remembered_reads_are_bounded() {
        let mut a = Shard::new(0, actor(1));
        for i in 0..(READ_CACHE_ENTRIES + 10) {
            assert_eq!(a.get(&format!("absent/{i}")), None);
        }
        assert!(a.reads.get_mut().len() <= READ_CACHE_ENTRIES);
    }
}
