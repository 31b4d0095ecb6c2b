//! This peer's replica of the Metastore as the components write to it: the store, the lock
//! that serialises the peer's own read-modify-write operations, and the broadcast that
//! carries each local write's changes to the other peers.
//!
//! Every component that writes (the Load Driver, the Node Controller, search's bulk actions,
//! content sync, the gateway's sessions) gets a [`Replica`] and nothing more of the network.

use std::sync::Arc;

use crdt_store::{Record, ShardId, Store, StoreError};

use crate::replication::BoxFuture;

/// Carries the change chunks of a local write to the other peers.
pub trait Broadcast: Send + Sync + std::fmt::Debug + 'static {
    /// Publish the frames `Store::put_batch` returned.
    fn broadcast(&self, frames: Vec<(ShardId, Vec<u8>)>) -> BoxFuture<'_, ()>;
}

impl Broadcast for crate::replication::Replicator {
    fn broadcast(&self, frames: Vec<(ShardId, Vec<u8>)>) -> BoxFuture<'_, ()> {
        Box::pin(crate::replication::Replicator::broadcast(self, frames))
    }
}

/// Why a write through the replica failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The store refused or could not write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task that wrote panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
}

impl From<WriteError> for crate::api_error::ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Store(e) => e.into(),
            WriteError::Task(m) => crate::api_error::internal(m),
        }
    }
}

/// The store, its write lock and its broadcast (cheap to clone).
#[derive(Debug, Clone)]
pub struct Replica {
    store: Store,
    out: Arc<dyn Broadcast>,
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Replica {
    /// A replica of `store` whose writes go out through `out`.
    pub fn new(store: Store, out: Arc<dyn Broadcast>) -> Self {
        Self {
            store,
            out,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serialise a read-modify-write of this peer's (hold the guard across the read and the
    /// write).
    pub async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    /// Send the frames of a local write to the other peers.
    pub async fn broadcast(&self, frames: Vec<(ShardId, Vec<u8>)>) {
        if !frames.is_empty() {
            self.out.broadcast(frames).await;
        }
    }

    /// Write `recs` in one batch (on a blocking thread) and broadcast the change.
    pub async fn put_batch(&self, recs: Vec<Record>) -> Result<(), WriteError> {
        let store = self.store.clone();
        let frames = tokio::task::spawn_blocking(move || store.put_batch(&recs))
            .await
            .map_err(|e| WriteError::Task(e.to_string()))??;
        self.broadcast(frames).await;
        Ok(())
    }
}
