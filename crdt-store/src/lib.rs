//! # crdt-store — the Metastore
//!
//! Replicated, persistent state about the cluster: nodes, zones and client systems, kept as
//! [automerge] CRDT documents so that every peer can write while partitioned and all replicas
//! converge to the same state when they meet again.
//!
//! ## Layout
//! - **Sharding.** A single automerge document does not scale to a million records (measured:
//!   775 MiB just to load, 14 GiB RSS after edits). Records are spread by a hash of their key
//!   over many small documents ([`shard_of`]); each shard syncs on its own and a [`Digest`]
//!   (8 bytes per shard) tells two peers which shards differ.
//! - **Records** ([`Record`]) are one flat value each: last-writer-wins per record, with the
//!   same winner on every replica; a system's tags and groups are add-wins sets of keys beside
//!   its value (`record/system_sets.rs`).
//! - **Durability.** Every change is appended to a write-ahead log and fsync'd before
//!   [`Store::put`] returns; [`Store::compact`] folds the log into per-shard snapshots.
//!   A torn WAL tail is cut, a corrupt snapshot is quarantined and the shard refilled by peers.
//!   A failed write or fsync is never retried: the store stops taking writes
//!   ([`StoreError::ReadOnly`], [`Store::write_failure`]) and keeps serving reads.
//! - **Sync** is the automerge sync protocol per shard ([`Store::sync_generate`],
//!   [`Store::sync_receive`]) plus a fast path for broadcast change chunks
//!   ([`Store::apply_remote`]). The store does no networking: the peer carries the bytes.
//!
//! Nothing high-frequency belongs here: heartbeats and liveness stay in the peer's memory.
//!
//! ```no_run
//! # fn main() -> Result<(), crdt_store::StoreError> {
//! use crdt_store::{Store, StoreOptions, SystemFilter};
//! let (store, report) = Store::open(std::path::Path::new("/var/lib/uyuni-cluster/store"),
//!                                   StoreOptions::default())?;
//! println!("replayed {} WAL frames", report.wal_frames);
//! let new = store.systems(&SystemFilter { limit: Some(10), ..Default::default() });
//! # let _ = new; Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod backup;
pub mod chunk_guard;
mod compat;
mod content_record;
mod disk;
mod error;
mod ops_record;
mod query;
mod record;
mod shard;
mod snapshot;
mod store;
mod sync;
mod wal;

pub use backup::{BACKUP_FORMAT, BackupError, BackupInfo, read_backup_info, restore_backup};
pub use compat::RECORD_FORMAT;
pub use content_record::{
    ClmApplyRecord, ClmVersionRecord, HoldingsRecord, RepoRecord, SubscriptionRecord, audiences,
    clm_apply_key, clm_version_key, content_missing, content_missing_in, holdings_key, repo_id,
    repo_key, subscription_key, valid_content_name, wanted,
};
pub use disk::FaultInjector;
pub use error::StoreError;
pub use ops_record::{IntegrityRecord, ReplacementRecord, integrity_key, replacement_key};
pub use query::SystemFilter;
pub use record::{
    CodecError, CommonRecord, FaultReason, FaultRecord, LeaseRecord, LoadMode, NodeRecord, Record,
    RecordKind, SessionRecord, SystemRecord, SystemStatus, ZonePolicy, ZoneRecord, common_key,
    system_fingerprint, system_key,
};
pub use shard::{ShardId, shard_of};
pub use store::{
    BatchApplied, ChangeEvent, Digest, Frames, OpenReport, RemoteChange, Store, StoreOptions,
    StoreStats,
};
pub use sync::SyncSession;
pub use wal::WalIssue;
