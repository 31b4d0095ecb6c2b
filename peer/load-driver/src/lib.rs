//! # load-driver — where every client system goes
//!
//! The Load Driver of the RFC: it places client systems on the nodes of their zone (balanced
//! by capacity in production mode; given back without reshuffling after a disaster
//! recovery), declares nodes faulty and remaps their systems, and answers the agents.
//! - [`placement`]: weighted rendezvous hashing with bounded load (pure).
//! - [`load_plan`]: the zone leader's decisions for one round (pure: no I/O, no clock).
//! - [`load_index`]: in-memory counts fed from the store's change feed.
//! - [`load_driver`]: the task that carries the plan out as batched store writes.
//! - [`online`]: heartbeat statistics; [`write_batcher`]: group commit of the API's writes.
//! - [`system_actions`]: what accept, reject, unregister, ban and tag edits do to a record.
//! - [`agent_api`], [`load_api`], [`systems_api`], [`replace_api`], [`integrity_api`]: its HTTP
//!   endpoints; [`agent_door`]: who
//!   may use the agent endpoints and how much (signatures, tokens, budgets).
//!
//! It receives only what it uses ([`LoadCtx`]): a [`Replica`] to read and write, the
//! membership table, who this peer is, its own state and the write batcher.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use cluster_core::{ApiError, Members, Replica, SelfInfo};

pub mod agent_api;
pub mod agent_door;
pub mod auto_accept;
pub mod config;
pub mod hints;
pub mod integrity_api;
pub mod load_api;
pub mod load_driver;
pub mod load_index;
pub mod load_plan;
pub mod online;
pub mod placement;
pub mod replace_api;
pub mod system_actions;
pub mod systems_api;
pub mod write_batcher;

pub use load_driver::LoadState;

/// What the Load Driver and its endpoints work with.
#[derive(Debug, Clone)]
pub struct LoadCtx {
    /// The metastore replica.
    pub replica: Replica,
    /// The membership table.
    pub members: Members,
    /// This peer.
    pub me: Arc<SelfInfo>,
    /// The driver's index, hints and heartbeat statistics.
    pub load: Arc<LoadState>,
    /// Group commit of the API's writes to systems.
    pub writes: write_batcher::WriteBatcher<ApiError>,
    /// The agents' door's guard: token key, replay cache, budgets.
    pub door: Arc<agent_door::AgentDoor>,
}

/// The Load Driver's admin routes: `/cluster/load`, `/zones/{zone}/mode`, `/systems...`.
/// The agent protocol is [`agent_routes`], served on the agents' door.
pub fn routes(ctx: LoadCtx) -> Router {
    Router::new()
        .route("/cluster/load", get(load_api::load))
        .route("/zones/{zone}/mode", post(load_api::set_mode))
        .route(
            "/nodes/{old}/replace",
            post(replace_api::request).get(replace_api::show),
        )
        .route("/nodes/{old}/replace/cancel", post(replace_api::cancel))
        .route(
            "/nodes/{node}/reprovision",
            post(integrity_api::reprovision),
        )
        .route("/cluster/integrity", get(integrity_api::integrity))
        .route("/systems", get(systems_api::list_systems))
        .route("/systems/{fingerprint}", get(systems_api::show_system))
        .route("/systems/{fingerprint}/accept", post(systems_api::accept))
        .route("/systems/{fingerprint}/reject", post(systems_api::reject))
        .route(
            "/systems/{fingerprint}/unregister",
            post(systems_api::unregister),
        )
        .route("/systems/{fingerprint}/ban", post(systems_api::ban))
        .with_state(ctx)
}

/// The agent protocol (`/system/status`, `/system/register`, `/system/orphan`): the only
/// routes of the agents' door.
pub fn agent_routes(ctx: LoadCtx) -> Router {
    let limit = ctx.door.config().body_limit_bytes;
    agent_api::routes(limit).with_state(ctx)
}
