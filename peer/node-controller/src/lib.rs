//! # node-controller — the bridge between this peer and the Uyuni server beside it
//!
//! The Node Controller: the bridge between this peer and the Uyuni server beside it.
//!
//! * **Out of Uyuni**: the outbox reader ([`crate::outbox`]) delivers the server's row
//!   changes; [`kinds::classify`] says what each means. Common-data changes on the zone's
//!   Leader Node join the lease's change set (published at once with `auto_publish`); a
//!   system removed on the node by an administrator is marked deleted in the cluster.
//! * **Into Uyuni**: every `reconcile_interval` the controller makes the server hold the
//!   zone's published common data ([`reconcile`]) and exactly the systems assigned to it
//!   ([`systems`]), through the server's XML-RPC API ([`common_api`], `uyuni_api`).
//! * **Leader Node**: [`lease`] holds the rules; "apply cluster update" is
//!   [`Handle::publish`].
//!
//! [`NcCtx`] is all it receives of the peer: a [`Replica`], who this peer is, its own
//! handle and the Load Driver's start-up grace.
//!
//! One task owns the API client and the outbox channel; the HTTP API talks to it through
//! [`Handle`] (a bounded command channel and a status snapshot).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod common_api;
pub mod config;
mod controller;
pub mod kinds;
pub mod lease;
mod leases;
pub mod outbox;
pub mod reconcile;
pub mod slot;
pub mod systems;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_core::{Replica, SelfInfo};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use uyuni_api::{ApiError, ClientConfig, UyuniClient};

pub use config::UyuniConfig;
pub use controller::run;
use lease::LeaseError;
pub use leases::{claim_lease, claim_lease_for, put, release_lease};

/// What the Node Controller and its endpoints work with.
#[derive(Debug, Clone)]
pub struct NcCtx {
    /// The metastore replica.
    pub replica: Replica,
    /// This peer.
    pub me: Arc<SelfInfo>,
    /// The controller's handle (`None` without `[uyuni] url`).
    pub nc: Option<Handle>,
    /// How long after a start the Load Driver makes no decisions: the controller does not
    /// take a system missing from the replica for a removed one meanwhile.
    pub startup_grace: Duration,
}

/// What the Node Controller is doing, for `GET /node-controller`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The Uyuni API endpoint.
    pub uyuni_url: String,
    /// Whether events are read from the database outbox.
    pub outbox: bool,
    /// The last API call succeeded.
    pub reachable: bool,
    /// The last error, if the last round failed.
    pub last_error: Option<String>,
    /// Outbox events received.
    pub outbox_events: u64,
    /// Highest outbox id acknowledged.
    pub last_outbox_id: Option<i64>,
    /// Common-data changes added to the Leader Node change set.
    pub captured: u64,
    /// Common-data changes made on this node outside a lease it holds (not replicated).
    pub drift: u64,
    /// Package content changes seen (content sync acts on them).
    pub content_events: u64,
    /// Systems an administrator removed on this node, marked deleted in the cluster.
    pub removed_on_node: u64,
    /// Salt keys accepted for systems assigned here.
    pub keys_accepted: u64,
    /// Systems removed from this node because the cluster moved or deleted them.
    pub systems_removed: u64,
    /// Common-data operations applied to this node.
    pub common_ops: u64,
    /// Zone common-data generation this node holds.
    pub common_generation: Option<u64>,
    /// Minions on this node the cluster does not know.
    pub unmanaged_systems: usize,
    /// Systems assigned here whose minion has not connected yet.
    pub awaiting_minion: usize,
    /// End of the last integrity check (a full comparison of the common data; Unix ms).
    pub last_integrity_check_ms: Option<u64>,
    /// End of the last complete reconcile (Unix ms).
    pub last_reconcile_ms: Option<u64>,
    /// Published objects this node's server refused (`<kind>/<key>: fault`): left out, the
    /// rest of the generation is applied. Cleared by the next successful comparison.
    pub common_failures: Vec<String>,
    /// The zone's newest generation is not complete in this replica yet (its records are
    /// still arriving).
    pub waiting_for_records: bool,
}

/// Errors of Node Controller operations.
#[derive(Debug, thiserror::Error)]
pub enum NcError {
    /// The Uyuni API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The lease forbids it.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The metastore failed.
    #[error("metastore: {0}")]
    Store(String),
    /// The controller is stopped.
    #[error("the Node Controller is not running")]
    Unavailable,
}

/// What a publication wrote.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PublishReport {
    /// Zone.
    pub zone: String,
    /// The zone's generation after it.
    pub generation: u64,
    /// `<kind>/<key>` written (`-<kind>/<key>` for removals).
    pub published: Vec<String>,
}

pub(crate) enum Command {
    Publish {
        all: bool,
        reply: oneshot::Sender<Result<PublishReport, NcError>>,
    },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Publish { all, .. } => f.debug_struct("Publish").field("all", all).finish(),
        }
    }
}

/// The HTTP API's handle on the controller.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    status: Arc<Mutex<Status>>,
    lease_ttl: Duration,
    client: UyuniClient,
}

impl Handle {
    /// The Uyuni API client of this node's server (CLM documents export and import through it).
    pub fn client(&self) -> &UyuniClient {
        &self.client
    }

    /// Default lease length (`[uyuni] lease_ttl_ms`).
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// A snapshot of the status.
    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// "Apply cluster update": publish this node's change set (or, with `all`, every common
    /// object it has) to its zone. This node must hold the zone's lease.
    pub async fn publish(&self, all: bool) -> Result<PublishReport, NcError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Publish { all, reply })
            .await
            .map_err(|_| NcError::Unavailable)?;
        rx.await.map_err(|_| NcError::Unavailable)?
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The controller before it runs (made before [`NcCtx`], which holds its [`Handle`]).
#[derive(Debug)]
pub struct Prepared {
    pub(crate) cfg: UyuniConfig,
    pub(crate) client: UyuniClient,
    pub(crate) cmds: mpsc::Receiver<Command>,
    pub(crate) status: Arc<Mutex<Status>>,
}

/// Set up the controller for `cfg` (`None` when `[uyuni] url` is not set).
pub fn prepare(cfg: &UyuniConfig) -> Result<Option<(Handle, Prepared)>, NcError> {
    let Some(url) = &cfg.url else { return Ok(None) };
    let password = cfg
        .password()
        .map_err(|e| NcError::Api(ApiError::Config(e.to_string())))?;
    let mut cc = ClientConfig::new(url, &cfg.user, &password);
    cc.ca_file = cfg.ca_file.clone();
    cc.timeout = cfg.request_timeout;
    cc.retries = cfg.retries;
    let client = UyuniClient::new(cc)?;
    let (tx, cmds) = mpsc::channel(8);
    let status = Arc::new(Mutex::new(Status {
        uyuni_url: url.clone(),
        outbox: cfg.db.is_some(),
        ..Status::default()
    }));
    Ok(Some((
        Handle {
            tx,
            status: status.clone(),
            lease_ttl: cfg.lease_ttl,
            client: client.clone(),
        },
        Prepared {
            cfg: cfg.clone(),
            client,
            cmds,
            status,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_url_means_no_controller() {
        assert!(prepare(&UyuniConfig::default()).expect("prepare").is_none());
        let cfg = UyuniConfig {
            url: Some("http://127.0.0.1:1/rpc/api".into()),
            password: Some("x".into()),
            ..UyuniConfig::default()
        };
        let (h, _p) = prepare(&cfg).expect("prepare").expect("configured");
        assert_eq!(h.status().uyuni_url, "http://127.0.0.1:1/rpc/api");
        assert!(!h.status().outbox);
    }
}
