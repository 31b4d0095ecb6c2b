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
//! The gateway holds no state of its own: sessions live in the metastore ([`Metastore`]), so
//! any replica accepts them and a restart loses none. docs/GATEWAY.md has the design.

pub mod config;
pub mod dispatch;
pub mod fanout;
pub mod ids;
pub mod json_api;
pub mod merge;
pub mod metastore;
pub mod params;
pub mod pool;
pub mod rawmerge;
pub mod rest;
pub mod sessions;
pub mod table;
pub mod translate;
pub mod xmlrpc;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

pub use config::GatewayConfig;
pub use dispatch::Outcome;
pub use metastore::{BulkReport, BulkRequest, Metastore, MetastoreError, NodeView, SearchPage};

/// Header listing the nodes a merged answer lacks (they did not answer in time).
pub const PARTIAL_HEADER: &str = "x-uyuni-cluster-partial";
/// Request header asking for a fault instead of a partial answer (`1`).
pub const STRICT_HEADER: &str = "x-uyuni-cluster-strict";

/// The gateway: the metastore it reads, its clients of the nodes, the session sealer.
#[derive(Debug)]
pub struct Gateway<M> {
    pub(crate) meta: Arc<M>,
    pub(crate) pool: Arc<pool::Pool>,
    pub(crate) sealer: sessions::Sealer,
    pub(crate) cfg: GatewayConfig,
    pub(crate) turn: AtomicUsize,
}

impl<M: Metastore> Gateway<M> {
    /// A gateway over `meta`; `cluster_key` (the cluster key file's bytes) seals sessions.
    pub fn new(meta: Arc<M>, cfg: GatewayConfig, cluster_key: &[u8]) -> Self {
        Self {
            meta,
            pool: Arc::new(pool::Pool::new(cfg.node_timeout, cfg.uyuni_ca_file.clone())),
            sealer: sessions::Sealer::new(cluster_key),
            cfg,
            turn: AtomicUsize::new(0),
        }
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
        .layer(axum::extract::DefaultBodyLimit::max(limit))
}
