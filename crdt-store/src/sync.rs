//! State of automerge sync sessions with one remote peer, one `sync::State` per shard.
//!
//! Sessions are short-lived: the initiator starts a fresh state for each shard it wants to
//! reconcile and tells the responder to reset its side (`reset` in the wire message), so a
//! restarted peer never confuses the other with stale "already sent" bookkeeping.

use std::collections::HashMap;

use automerge::sync;

use crate::shard::ShardId;

/// Per-shard automerge sync states for one remote peer.
#[derive(Debug, Default)]
pub struct SyncSession {
    pub(crate) states: HashMap<ShardId, sync::State>,
}

impl SyncSession {
    /// A session with no shard in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget the state of `shard`: the next message starts the protocol from scratch.
    pub fn reset(&mut self, shard: ShardId) {
        self.states.remove(&shard);
    }

    /// Forget every shard's state.
    pub fn clear(&mut self) {
        self.states.clear();
    }

    /// Number of shards with a state.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// True when no shard has a state.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}
