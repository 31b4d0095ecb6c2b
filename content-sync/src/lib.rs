//! # content-sync — packages and CLM documents as verified iroh blobs
//!
//! Every node of a zone holds the same package trees and Content Lifecycle documents without
//! each downloading them from the vendor. The pieces, all driven by the peer:
//! - [`BlobStore`]: iroh-blobs' filesystem store under the peer's data directory; everything
//!   a repository or CLM version references is kept under a tag, the rest garbage-collected.
//! - [`ContentEndpoint`]: an iroh endpoint on a closed network (no relays, no pkarr/DNS, no
//!   port mapping) with the libp2p identity's key, serving only cluster members and only the
//!   blobs their zone receives ([`Gate`]).
//! - [`Fetcher`]: verified, resumable, rate-limited fetches from several providers; large
//!   blobs as byte ranges from several at once; streamed repairs.
//! - [`seed`]: super-seeding (an origin hands each file out as few times as it can).
//! - [`have`]: who holds which file of a repository version (a bitmap per node, asked over
//!   the endpoint); [`news`]: told to recent askers when it changes; [`plan`] and
//!   [`swarm`]: rarest-first fetching of a whole repository.
//! - [`Manifest`]: a tree's index (path → BLAKE3 hash, size), itself a blob.
//! - [`tree::scan`]: reading a package tree (yum repository or Uyuni's package store).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod access;
mod announce;
mod blobs;
mod endpoint;
mod error;
mod fetch;
mod hash;
pub mod have;
mod manifest;
pub mod news;
pub mod plan;
pub mod rate;
pub mod seed;
pub mod swarm;
pub mod tree;

pub use access::AccessTable;
pub use blobs::{BlobState, BlobStore, RepairWriter};
pub use endpoint::{ContentEndpoint, Gate, ServeOptions, ServeStats};
pub use error::ContentError;
pub use fetch::{FetchStats, Fetcher, Provider};
pub use hash::{hash_hex, parse_hash};
pub use have::{Bitmap, HaveAnswer, HaveTable};
pub use iroh::EndpointId;
pub use iroh_blobs::{Hash, api::TempTag};
pub use manifest::{FileEntry, Layout, MANIFEST_FORMAT, Manifest, check_path};
pub use news::WatchOptions;
pub use seed::SeedOptions;
pub use swarm::{SwarmFile, SwarmOptions, SwarmProvider, SwarmReport, fetch_repository};
