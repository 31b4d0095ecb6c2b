//! # peer — the `uyuni-cluster` daemon, composed
//!
//! One process beside every Uyuni server. The components live in crates of their own
//! (docs/ARCHITECTURE.md has the map); this crate composes them:
//! - [`node`]: starting a peer: each component gets a narrow context of what it uses.
//! - [`http`]: the components' routes merged on one listener.
//! - [`gateway_meta`]: the API gateway's view of this peer's replica.
//! - [`config`]: the whole configuration, one section per component.
//!
//! The command line (`uyuni-cluster …`) is the binary, `src/main.rs` and `src/cli*`.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod admin_door;
pub mod config;
pub mod gateway_actions;
pub mod gateway_ids;
pub mod gateway_meta;
pub mod gateway_sessions;
pub mod http;
pub mod metrics;
pub mod node;
