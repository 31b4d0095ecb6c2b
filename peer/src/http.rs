//! The peer's HTTP API (JSON): every component's routes, merged on one listener. Used by the
//! CLI, the agents, the sandbox and tests.
//!
//! | method | path | owner |
//! |---|---|---|
//! | GET | `/health`, `/cluster/status`, `/cluster/members` | cluster core ([`cluster_core::cluster_api`]) |
//! | GET | `/cluster/load` | Load Driver ([`load_driver::load_api`]) |
//! | POST | `/zones/{zone}/mode` | Load Driver: a zone's mode (`production`, `disaster-recovery`) |
//! | GET, POST | `/nodes/{old}/replace`, POST `/nodes/{old}/replace/cancel` | Load Driver: node replacement ([`load_driver::replace_api`]) |
//! | GET | `/cluster/integrity`; POST `/nodes/{node}/reprovision` | Load Driver: integrity handling ([`load_driver::integrity_api`]) |
//! | POST | `/cluster/backup` | cluster core: a consistent backup of the metastore ([`cluster_core::backup_api`]) |
//! | GET | `/systems`, `/systems/{fingerprint}` | Load Driver ([`load_driver::systems_api`]) |
//! | POST | `/systems/{fingerprint}/{accept,reject,unregister,ban}` | Load Driver |
//! | GET, POST | `/system/status`, `/system/register`, `/system/orphan` | Load Driver: the agent protocol ([`load_driver::agent_api`]) |
//! | POST | `/systems/{fingerprint}/tags` | search ([`cluster_search::api`]) |
//! | GET | `/search` | search: compound query over every system, paged |
//! | POST | `/search/bulk` | search: one action on every system a query matches |
//! | GET | `/node-controller`, `/zones/{zone}/{lease,publish,common}` | Node Controller ([`node_controller::api`]) |
//! | … | `/content/...`, `/repo/...`, `/clm/...` | content sync ([`content_peer::api`]) |
//!
//! | GET | `/metrics` | Prometheus metrics, open, aggregate only ([`crate::metrics`]; docs/SECURITY.md) |
//! | GET | `/audit` | the admin door: this peer's audit log ([`crate::admin_door`]) |
//! | GET | `/gateway/actions`, `/gateway/actions/{id}` | this peer's gateway: its cluster action tag and the node actions of a cluster action it gave, for the other gateways (peer certificates only; [`crate::gateway_actions`]) |
//! | GET, DELETE | `/gateway/sessions/{id}` | this peer's gateway: its sessions, for the other gateways (peer certificates only; [`crate::gateway_sessions`]) |
//!
//! Two doors on one listener: the agents' door (`/system/...`, rate-limited, each agent
//! proving its key), `/health` and `/metrics` are open; every other route is behind the admin door
//! ([`crate::admin_door`]: a client certificate from the cluster CA, changes audited).
//!
//! Errors are `{"error": "..."}` with a 4xx/5xx status ([`cluster_core::ApiError`]).

use axum::Router;

/// Each component's context, as its routes receive it.
#[derive(Debug)]
pub struct Routes {
    /// The core's view.
    pub cluster: cluster_core::cluster_api::ClusterView,
    /// The Load Driver's.
    pub load: load_driver::LoadCtx,
    /// The Node Controller's.
    pub nc: node_controller::NcCtx,
    /// Search's.
    pub search: cluster_search::SearchCtx,
    /// Content sync's.
    pub content: content_peer::ContentCtx,
    /// This peer's gateway sessions, for the other gateways.
    pub sessions: crate::gateway_sessions::Sessions,
    /// This peer's gateway's cluster actions, for the other gateways.
    pub actions: crate::gateway_actions::Actions,
    /// The admin door.
    pub door: crate::admin_door::Door,
}

/// Build the router.
pub fn router(r: Routes) -> Router {
    let admin = Router::new()
        .merge(cluster_core::cluster_api::routes(r.cluster.clone()))
        .merge(load_driver::routes(r.load.clone()))
        .merge(cluster_search::api::routes(r.search))
        .merge(node_controller::api::routes(r.nc))
        .merge(content_peer::api::routes(r.content.clone()))
        .merge(crate::admin_door::routes(r.door.clone()))
        .merge(crate::gateway_sessions::routes(r.sessions))
        .merge(crate::gateway_actions::routes(r.actions))
        .layer(axum::middleware::from_fn_with_state(
            r.door,
            crate::admin_door::gate,
        ));
    let metrics = crate::metrics::routes(crate::metrics::MetricsView {
        cluster: r.cluster.clone(),
        content: r.content.clone(),
    });
    Router::new()
        .merge(cluster_core::cluster_api::public_routes(r.cluster))
        .merge(metrics)
        .merge(load_driver::agent_routes(r.load))
        .merge(admin)
}
