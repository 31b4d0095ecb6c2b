//! The API gateway: one Uyuni API for the whole cluster.
//!
//! - `POST /rpc/api`: Uyuni's XML-RPC API, in the conventions of a single server (same
//!   methods and signatures, session keys in Uyuni's form, the nodes' own faults), fanned out
//!   to the nodes and merged back ([`table`]; the routing core [`fanout`], unit-tested over
//!   fake nodes, inside the I/O shell [`dispatch`]), with cluster-unique system ids ([`ids`]).
//! - `/rhn/manager/api/<ns>/<method>`: the same calls as Uyuni's JSON API ([`json_api`]).
//! - `/api/v1/...`: the cluster's own REST API (search, bulk operations, nodes), described by
//!   an OpenAPI document at `/api/v1/openapi.json` and browsable in Swagger UI at
//!   `/swagger-ui/`, served from the binary ([`rest`]).
//!
//! - `/`: the Cluster UI, a single-page app compiled into the binary ([`ui`], docs/UI.md).
//!
//! Sessions are the gateway's own ([`sessions`], [`session_file`]): outside the replicated
//! metastore, whose history would keep them forever, with no password in them; a restart
//! loses none. docs/GATEWAY.md has the design, docs/security/gwtrust.md the trust model.

pub mod access;
pub mod cluster_actions;
pub mod config;
pub mod dispatch;
pub mod fanout;
pub mod ids;
pub mod json_api;
pub mod jsonstream;
pub mod merge;
pub mod metastore;
pub mod metrics;
pub mod params;
pub mod pool;
pub mod rawmerge;
pub mod rawstream;
pub mod rest;
pub mod rest_body;
pub mod rest_cluster;
pub mod rest_content;
pub mod session_file;
pub mod sessions;
pub mod table;
pub mod translate;
mod ui;
pub mod visible;
pub mod watch;
pub mod xmlrpc;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

pub use config::GatewayConfig;
pub use dispatch::Outcome;
pub use metastore::{
    AuditRecord, BulkReport, BulkRequest, ClmAppliedView, ClmProjectView, ClmVersionView,
    CommonView, Metastore, MetastoreError, NodeAnswer, NodeView, PublishedView, Relocation,
    RepoStatus, SearchPage, ZoneView,
};

/// Header listing the nodes a merged answer lacks (they did not answer in time).
pub const PARTIAL_HEADER: &str = "x-uyuni-cluster-partial";
/// Request header asking for a fault instead of a partial answer (`1`).
pub const STRICT_HEADER: &str = "x-uyuni-cluster-strict";

/// The gateway: the metastore it reads, its clients of the nodes, its sessions.
#[derive(Debug)]
pub struct Gateway<M> {
    pub(crate) meta: Arc<M>,
    pub(crate) pool: Arc<pool::Pool>,
    pub(crate) sessions: Arc<session_file::SessionStore>,
    /// Cluster actions: one action id over several nodes' actions (kept beside the sessions).
    pub(crate) actions: Arc<cluster_actions::ClusterActions>,
    /// Session ids no gateway of the cluster knew, recently (so that a client repeating an
    /// unknown key does not make this gateway ask every other one each time).
    pub(crate) unknown: std::sync::Mutex<sessions::UnknownIds>,
    pub(crate) cfg: GatewayConfig,
    pub(crate) turn: AtomicUsize,
    pub(crate) watch: std::sync::Mutex<watch::Watch>,
}

impl<M: Metastore> Gateway<M> {
    /// A gateway over `meta` keeping its sessions in `sessions`.
    pub fn new(meta: Arc<M>, cfg: GatewayConfig, sessions: session_file::SessionStore) -> Self {
        let actions = sessions
            .path()
            .and_then(|p| p.parent())
            .map(|dir| dir.join(cluster_actions::FILE_NAME))
            .map_or_else(
                || Ok(cluster_actions::ClusterActions::in_memory()),
                |p| cluster_actions::ClusterActions::open(&p),
            )
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cluster actions kept in memory only");
                cluster_actions::ClusterActions::in_memory()
            });
        Self {
            actions: Arc::new(actions),
            meta,
            pool: Arc::new(pool::Pool::new(cfg.node_timeout, cfg.uyuni_ca_file.clone())),
            sessions: Arc::new(sessions),
            unknown: std::sync::Mutex::new(sessions::UnknownIds::default()),
            cfg,
            turn: AtomicUsize::new(0),
            watch: std::sync::Mutex::new(watch::Watch::default()),
        }
    }

    /// Take a snapshot of the cluster for the UI's recent changes and charts
    /// ([`watch::Watch::observe`]); the peer calls it every second.
    pub fn observe(&self, now_ms: u64) {
        let (nodes, zones) = (self.meta.nodes(), self.meta.zones());
        if let Ok(mut w) = self.watch.lock() {
            w.observe(now_ms, &nodes, &zones);
        }
    }

    /// Drop the sessions expired at `now` (from memory and disk); how many.
    pub fn expire_sessions(&self, now: u64) -> Result<usize, session_file::SessionFileError> {
        self.sessions.expire(now)
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// This gateway's session table, as the other gateways of the cluster read it (a session
    /// opened here is found there: [`Metastore::peer_session`]).
    pub fn session_store(&self) -> Arc<session_file::SessionStore> {
        self.sessions.clone()
    }

    /// This gateway's cluster actions, as the other gateways of the cluster read them (an
    /// action id given here is followed up there: [`Metastore::peer_cluster_action`]).
    pub fn cluster_actions(&self) -> Arc<cluster_actions::ClusterActions> {
        self.actions.clone()
    }

    /// The metastore.
    pub fn metastore(&self) -> &M {
        &self.meta
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.cfg
    }
}

/// Every route of the gateway.
pub fn router<M: Metastore>(gw: Arc<Gateway<M>>) -> axum::Router {
    let limit = gw.cfg.max_request_mib * 1024 * 1024;
    axum::Router::new()
        .merge(xmlrpc::routes(gw.clone()))
        .merge(json_api::routes(gw.clone()))
        .merge(rest::routes(gw))
        .merge(ui::routes())
        .layer(axum::extract::DefaultBodyLimit::max(limit))
}
