//! # peer — the `uyuni-cluster` daemon
//!
//! One process beside every Uyuni server. This crate holds its parts:
//! - [`membership`]: who is in the cluster and who is alive (phi-accrual over gossiped
//!   heartbeats; no I/O, no clock).
//! - [`net`]: the libp2p swarm (TCP + pnet + noise + yamux; gossipsub, request-response,
//!   identify, ping), owned by one task.
//! - [`replication`]: moving metastore changes between peers (broadcast, pull, anti-entropy).
//! - [`node`]: starting a peer and its controller loop; [`http`]: its JSON API.
//! - The Load Driver: [`placement`] (weighted rendezvous hashing with bounded load),
//!   [`load_plan`] (the zone leader's decisions), [`load_index`] (in-memory counts),
//!   [`load_driver`] (the task that carries decisions out), [`online`] (heartbeat statistics)
//!   and [`agent_api`] (the endpoints agents knock on).
//! - [`serve`]: the HTTP listener (TLS with the cluster CA, or plain for development).
//! - [`tls`]: the cluster CA, node certificates, rustls configurations (ring only).
//! - [`outbox`]: events out of Uyuni's database (triggers, an outbox table, NOTIFY as wake-up).
//! - [`search`]: the in-memory search index and its query language, fed by
//!   [`change_feed`]; [`search_api`] serves it; [`system_actions`] holds what accept, reject,
//!   unregister, ban and tag edits do to a record.
//! - [`client`]: the blocking HTTP client the CLI uses. The command line itself is the binary.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod agent_api;
pub mod change_feed;
pub mod client;
pub mod cluster_key;
pub mod config;
pub mod content;
pub mod gateway_meta;
pub mod http;
pub mod identity;
pub mod load_api;
pub mod load_driver;
pub mod load_index;
pub mod load_plan;
pub mod membership;
pub mod net;
pub mod node;
pub mod node_controller;
pub mod node_controller_api;
pub mod online;
pub mod outbox;
pub mod placement;
pub mod replication;
pub mod search;
pub mod search_api;
pub mod serve;
pub mod system_actions;
pub mod tls;
pub mod write_batcher;
