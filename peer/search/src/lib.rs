//! # cluster-search — the search component
//!
//! Cluster-wide search over the systems in the Metastore.
//!
//! Listing through the store decodes every automerge value, far too slow for a million
//! systems, so each peer keeps a [`SearchIndex`] in memory, fed by the store's change feed
//! ([`cluster_core::change_feed`], the same pattern as the Load Driver's index) and rebuilt from a
//! full scan at start and after the feed lagged. Queries use a small compound language
//! ([`query`], docs/SEARCH.md); the HTTP endpoints are in [`api`].
//!
//! ```text
//!   store changes ──► change_feed::follow ──► SearchState (RwLock<SearchIndex>)
//!   GET /search, POST /search/bulk ──► parse ──► index.eval ──► records from the store
//! ```
//!
//! The index answers from what this peer holds: results trail a remote write by the
//! replication delay, and a local write by the time the feed takes (milliseconds).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod bits;
pub mod glob;
pub mod index;
pub mod query;

#[cfg(test)]
mod proptests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use cluster_core::{ApiError, Replica};
use crdt_store::{Record, RecordKind, Store};
use load_driver::write_batcher::WriteBatcher;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use index::{Cursor, Page, SearchIndex};
pub use query::{Expr, QueryError, parse};

use cluster_core::change_feed::Follower;

/// What search's endpoints work with.
#[derive(Debug, Clone)]
pub struct SearchCtx {
    /// The metastore replica (records, bulk writes).
    pub replica: Replica,
    /// The index.
    pub search: Arc<SearchState>,
    /// The Load Driver's write batcher (one-system tag edits).
    pub writes: WriteBatcher<ApiError>,
    /// Wakes the Load Driver (a bulk action made orphans).
    pub wake_driver: Arc<Notify>,
    /// The Load Driver's state: while it leads the zone, an accept by query places at once
    /// ([`load_driver::load_driver::LoadState::placer_for_accept`]).
    pub load: Arc<load_driver::load_driver::LoadState>,
}

/// The peer's search index, shared with the HTTP handlers.
#[derive(Debug, Default)]
pub struct SearchState {
    index: RwLock<SearchIndex>,
    ready: AtomicBool,
}

impl SearchState {
    /// An empty, not yet ready index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the first full scan has finished (before it, results would be incomplete).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Read access (queries; hold it briefly, never across an `.await`).
    pub fn read(&self) -> RwLockReadGuard<'_, SearchIndex> {
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, SearchIndex> {
        self.index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Follower for SearchState {
    fn wants(&self, key: &str) -> bool {
        key.starts_with(RecordKind::System.prefix())
    }

    fn rebuild(&self, store: &Store) {
        let started = std::time::Instant::now();
        let mut ix = SearchIndex::new();
        store.systems_where(|s| {
            ix.upsert(s);
            false
        });
        ix.settle();
        tracing::debug!(
            systems = ix.len(),
            bytes = ix.heap_bytes(),
            ms = started.elapsed().as_millis() as u64,
            "search index built"
        );
        *self.write() = ix;
        self.ready.store(true, Ordering::Release);
    }

    fn apply(&self, changes: Vec<(String, Option<Record>)>) {
        let mut ix = self.write();
        for (key, rec) in changes {
            match rec {
                Some(Record::System(s)) => ix.upsert(&s),
                _ => {
                    if let Some(fp) = crdt_store::system_fingerprint(&key) {
                        ix.remove(&fp);
                    }
                }
            }
        }
    }
}

/// Keep `state` current from `store` until `cancel`.
pub async fn run(store: Store, state: Arc<SearchState>, cancel: CancellationToken) {
    let changes = store.subscribe();
    cluster_core::change_feed::follow(store, changes, state, cancel).await;
}
