//! # cluster-core — what every peer is, whatever else it runs
//!
//! The cluster's own machinery, with no knowledge of the components built on it (the Load
//! Driver, the Node Controller, search, content sync, the gateway):
//! - [`membership`]: who is in the cluster and who is alive (phi-accrual over gossiped
//!   heartbeats; no I/O, no clock), shared as [`members::Members`].
//! - [`net`]: the libp2p swarm (TCP + pnet + noise + yamux; gossipsub, request-response,
//!   identify, ping), owned by one task; [`net::wire`] its messages.
//! - [`replication`]: moving metastore changes between peers (broadcast, pull,
//!   anti-entropy) over a [`replication::Transport`].
//! - [`replica`]: the handle components write through (store, write lock, broadcast).
//! - [`controller`]: the loop of heartbeats, failure detection, dialing, anti-entropy.
//! - [`identity`], [`cluster_key`], [`self_info`]: who this peer is and the cluster's key.
//! - [`change_feed`]: following the store's change feed into an in-memory view.
//! - [`tls`], [`serve`], [`client`], [`api_error`], [`cluster_api`]: the HTTPS API's plumbing
//!   and the core's own endpoints.
//! - [`audit`]: the audit log of admin actions.
//! - [`metrics`]: the process's Prometheus counters (atomic; read by `/metrics`).
//! - [`remote_addr`]: the client's address as a request extension.
//! - [`config`]: the core's configuration sections and the shared configuration error.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api_error;
pub mod audit;
pub mod backup_api;
pub mod change_feed;
pub mod client;
pub mod cluster_api;
pub mod cluster_key;
pub mod config;
pub mod controller;
pub mod identity;
pub mod members;
pub mod membership;
pub mod metrics;
pub mod net;
pub mod remote_addr;
pub mod replica;
pub mod replication;
pub mod self_info;
pub mod serve;
pub mod swim;
pub mod tls;

pub use api_error::ApiError;
pub use members::Members;
pub use replica::Replica;
pub use self_info::{SelfInfo, now_ms};
