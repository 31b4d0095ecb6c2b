//! The store's side of replication: automerge sync sessions with another replica, change
//! chunks that arrived by gossip, and the heads a broadcast announces. A child module of
//! `store`, so it works on the shards directly.

use automerge::sync::{Message, SyncDoc};

use super::Store;
use crate::chunk_guard::{self, Allowed};
use crate::error::StoreError;
use crate::shard::{Shard, ShardId};
use crate::sync::SyncSession;
use crate::wal::WalPos;

/// Run automerge on bytes from a peer, turning a panic of its decoder into an error.
///
/// Found by fuzzing (`sync_message`, docs/FUZZING.md): a 20-byte change chunk made
/// automerge's column decoder (`hexane`) unwrap an error and panic, which in the peer would
/// have killed the replication task that received the gossip. Decoding happens before
/// anything is applied, so the shard is left as it was. (The peer unwinds on panic; the static
/// agent, which aborts, holds no store.)
fn guarded<T>(shard: ShardId, f: impl FnOnce() -> T) -> Result<T, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        StoreError::BadSyncMessage {
            shard,
            reason: format!("the automerge decoder panicked: {why}"),
        }
    })
}

/// One change chunk of a batch a peer broadcast ([`Store::apply_remote_batch`]).
#[derive(Debug, Clone, Copy)]
pub struct RemoteChange<'a> {
    /// The shard changed.
    pub shard: ShardId,
    /// The automerge change chunk (empty: only announced, too large for gossip).
    pub chunk: &'a [u8],
    /// The shard's heads at the sender after the change.
    pub heads: &'a [[u8; 32]],
}

/// What [`Store::apply_remote_batch`] did.
#[derive(Debug, Default)]
pub struct BatchApplied {
    /// Shards that still lack something the sender has (pull them from it).
    pub incomplete: Vec<ShardId>,
    /// Shards whose document changed.
    pub changed: usize,
    /// The first chunk refused, if any (its shard is in `incomplete`).
    pub refused: Option<StoreError>,
}

impl Store {
    /// Generate the next sync message for each of `shards` in `session`.
    /// Shards with nothing to say are left out.
    pub fn sync_generate(
        &self,
        session: &mut SyncSession,
        shards: &[ShardId],
    ) -> Result<Vec<(ShardId, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for &id in shards {
            let mut shard = self.shard(id)?;
            let state = session.states.entry(id).or_default();
            if let Some(msg) = shard.doc.sync().generate_sync_message(state) {
                out.push((id, msg.encode()));
            }
        }
        Ok(out)
    }

    /// Take sync messages from a peer, persist what they brought (one fsync) and announce the
    /// changed keys. Returns the number of shards that changed. Every message is decoded
    /// before any is applied; if applying one fails, what the others brought is still logged.
    pub fn sync_receive(
        &self,
        session: &mut SyncSession,
        messages: &[(ShardId, Vec<u8>)],
    ) -> Result<usize, StoreError> {
        self.check_writable()?;
        let mut decoded = Vec::with_capacity(messages.len());
        for (id, bytes) in messages {
            if *id >= self.inner.shard_count {
                return Err(StoreError::NoSuchShard {
                    shard: *id,
                    count: self.inner.shard_count,
                });
            }
            let msg = guarded(*id, || Message::decode(bytes))?.map_err(|e| {
                StoreError::BadSyncMessage {
                    shard: *id,
                    reason: e.to_string(),
                }
            })?;
            for chunk in msg.changes.iter().filter(|c| !c.is_empty()) {
                chunk_guard::check(chunk, Allowed::ChangesOrDocument).map_err(|e| {
                    StoreError::BadSyncMessage {
                        shard: *id,
                        reason: e.to_string(),
                    }
                })?;
            }
            decoded.push((*id, msg));
        }
        let mut keys = Vec::new();
        let mut pos = WalPos::default();
        let mut changed = 0;
        let mut first_err = None;
        for (id, msg) in decoded {
            let mut shard = self.shard(id)?;
            let before = shard.doc.get_heads();
            let state = session.states.entry(id).or_default();
            match guarded(id, || shard.receive_sync_message(state, msg)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_err.get_or_insert(StoreError::automerge(id, e));
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
            match self.log_changes(&mut shard) {
                Ok(Some((_, p))) => {
                    collect_changed_keys(&mut shard, &before, &mut keys);
                    shard.damaged = false;
                    changed += 1;
                    pos = pos.max(p);
                }
                Ok(None) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let synced = self.sync_wal(pos);
        self.notify(keys, true);
        match first_err {
            Some(e) => Err(e),
            None => synced.map(|()| changed),
        }
    }

    /// Apply a change chunk a peer broadcast. Returns `true` when the shard now contains every
    /// head the sender announced; `false` means some dependency is missing and the caller
    /// should run a sync of that shard with the sender.
    pub fn apply_remote(
        &self,
        id: ShardId,
        chunk: &[u8],
        sender_heads: &[[u8; 32]],
    ) -> Result<bool, StoreError> {
        self.check_writable()?;
        chunk_guard::check(chunk, Allowed::Changes).map_err(|e| StoreError::BadSyncMessage {
            shard: id,
            reason: e.to_string(),
        })?;
        let (logged, complete, keys) = {
            let mut shard = self.shard(id)?;
            let before = shard.begin_merge();
            let logged = guarded(id, || shard.load_incremental(chunk))
                .and_then(|loaded| loaded.map_err(|source| StoreError::automerge(id, source)))
                .and_then(|_| self.log_changes(&mut shard));
            let mut keys = Vec::new();
            if let Ok(Some(_)) = &logged {
                collect_changed_keys(&mut shard, &before, &mut keys);
            }
            shard.end_merge();
            let logged = logged?;
            let complete = sender_heads.iter().all(|h| {
                shard
                    .doc
                    .get_change_by_hash(&automerge::ChangeHash(*h))
                    .is_some()
            });
            (logged, complete, keys)
        };
        if let Some((_, pos)) = logged {
            self.sync_wal(pos)?;
            self.notify(keys, true);
        }
        Ok(complete)
    }

    /// Apply many change chunks a peer broadcast in one message (wire protocol 3): each
    /// shard's chunks are loaded together (one `load_incremental` and one changed-keys diff
    /// per shard), the WAL is fsync'd once for the whole batch and the changed keys are
    /// announced once. A chunk that is refused (malformed, or automerge rejects it) leaves its
    /// shard as it was and does not stop the others: the shard is reported `incomplete`, so
    /// the caller pulls it, and the first refusal is returned beside.
    ///
    /// Items are `(shard, chunk, heads the sender announced)`; an empty chunk (too large for
    /// gossip: only announced) makes its shard incomplete unless the heads are already here.
    pub fn apply_remote_batch(
        &self,
        items: &[RemoteChange<'_>],
    ) -> Result<BatchApplied, StoreError> {
        self.check_writable()?;
        // Group by shard, in order of first appearance; chunks of one shard are concatenated
        // (automerge loads a sequence of chunks).
        let mut order: Vec<ShardId> = Vec::new();
        let mut grouped: std::collections::HashMap<ShardId, (Vec<u8>, Vec<[u8; 32]>)> =
            std::collections::HashMap::new();
        let mut out = BatchApplied::default();
        for item in items {
            if item.shard >= self.inner.shard_count {
                out.refused.get_or_insert(StoreError::NoSuchShard {
                    shard: item.shard,
                    count: self.inner.shard_count,
                });
                continue;
            }
            if !item.chunk.is_empty()
                && let Err(e) = chunk_guard::check(item.chunk, Allowed::Changes)
            {
                out.refused.get_or_insert(StoreError::BadSyncMessage {
                    shard: item.shard,
                    reason: e.to_string(),
                });
                out.incomplete.push(item.shard);
                continue;
            }
            let e = grouped.entry(item.shard).or_insert_with(|| {
                order.push(item.shard);
                (Vec::new(), Vec::new())
            });
            e.0.extend_from_slice(item.chunk);
            e.1.extend_from_slice(item.heads);
        }
        let mut keys = Vec::new();
        let mut pos = WalPos::default();
        for id in order {
            let Some((chunk, heads)) = grouped.remove(&id) else {
                continue;
            };
            let mut shard = self.shard(id)?;
            if !chunk.is_empty() {
                let before = shard.begin_merge();
                match guarded(id, || shard.load_incremental(&chunk)) {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        out.refused.get_or_insert(StoreError::automerge(id, e));
                        out.incomplete.push(id);
                    }
                    Err(e) => {
                        out.refused.get_or_insert(e);
                        out.incomplete.push(id);
                    }
                }
                // Whatever was applied is logged, even beside a refusal.
                let logged = self.log_changes(&mut shard);
                if let Ok(Some((_, p))) = &logged {
                    collect_changed_keys(&mut shard, &before, &mut keys);
                    pos = pos.max(*p);
                    out.changed += 1;
                }
                shard.end_merge();
                logged?;
            }
            let complete = heads.iter().all(|h| {
                shard
                    .doc
                    .get_change_by_hash(&automerge::ChangeHash(*h))
                    .is_some()
            });
            if !complete && !out.incomplete.contains(&id) {
                out.incomplete.push(id);
            }
        }
        if out.changed > 0 {
            self.sync_wal(pos)?;
            self.notify(keys, true);
        }
        Ok(out)
    }

    /// Heads of a shard (32-byte change hashes), announced along with a broadcast chunk.
    pub fn heads(&self, id: ShardId) -> Result<Vec<[u8; 32]>, StoreError> {
        Ok(self
            .shard(id)?
            .doc
            .get_heads()
            .into_iter()
            .map(|h| h.0)
            .collect())
    }
}

impl Store {
    /// Heads of several shards, in the order given (one call for a broadcast of many).
    pub fn heads_of(&self, ids: &[ShardId]) -> Result<Vec<Vec<[u8; 32]>>, StoreError> {
        ids.iter().map(|&id| self.heads(id)).collect()
    }
}

fn collect_changed_keys(
    shard: &mut Shard,
    before: &[automerge::ChangeHash],
    out: &mut Vec<String>,
) {
    let after = shard.doc.get_heads();
    for patch in shard.doc.diff(before, &after) {
        match patch.action {
            // A value that arrived concurrently with the current one and loses by automerge's
            // order shows as a conflict only; by the record kind's rule it may well be the one
            // readers now see (a ban, a deletion, a later `updated_at`), so the key changed.
            // (Found by the partition schedules: a remap merged in this way never reached the
            // Load Driver's index, and an accepted system stayed orphan.)
            automerge::PatchAction::Conflict {
                prop: automerge::Prop::Map(key),
            }
            | automerge::PatchAction::PutMap { key, .. }
            | automerge::PatchAction::DeleteMap { key } => {
                // A tag or group of a system changed: the system changed.
                match crate::record::system_sets::system_key_of_member(&key) {
                    Some(system) => {
                        if out.last() != Some(&system) {
                            out.push(system);
                        }
                    }
                    None => out.push(key),
                }
            }
            _ => {}
        }
    }
}
