//! The API gateway's view of the metastore, served from this peer's own replica: nodes with
//! their membership status and id slots, gateway sessions, the zones' Leader Node leases,
//! search and bulk operations. See the `gateway` crate.

use std::time::Duration;

use crdt_store::{Record, RecordKind, SessionRecord, SystemRecord};
use gateway::{BulkReport, BulkRequest, Metastore, MetastoreError, NodeView, SearchPage};

use crate::node::Shared;
use crate::node_controller::{NcError, claim_lease_for, put};

/// How long a lease the gateway claims for a common-data write lasts (renewed by the next
/// write). Its holder publishes every captured change at once.
const GATEWAY_LEASE: Duration = Duration::from_secs(300);

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct PeerMetastore {
    shared: Shared,
}

impl PeerMetastore {
    /// The metastore of this peer.
    pub fn new(shared: Shared) -> Self {
        Self { shared }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The peer API's error as the gateway's: a bad request stays one.
fn api_error(e: crate::http::ApiError) -> MetastoreError {
    match e.status().as_u16() {
        400..=499 => MetastoreError::BadQuery(e.message().to_string()),
        _ => MetastoreError::Unavailable(e.message().to_string()),
    }
}

fn write_error(e: impl std::fmt::Display) -> MetastoreError {
    MetastoreError::Write(e.to_string())
}

impl Metastore for PeerMetastore {
    fn nodes(&self) -> Vec<NodeView> {
        let records: Vec<_> = self
            .shared
            .store
            .nodes()
            .into_iter()
            .filter(|n| (n.role == "server" || n.role.is_empty()) && n.uyuni_api.is_some())
            .collect();
        let members = self.shared.members();
        let index = self.shared.load.index();
        let mut out: Vec<NodeView> = records
            .iter()
            .map(|n| {
                // Two nodes claiming one slot (until the later one re-claims): the ids are
                // the first one's, the other shows no systems meanwhile.
                let slot = n.slot.filter(|s| {
                    !records.iter().any(|o| {
                        o.name != n.name
                            && o.slot == Some(*s)
                            && (o.joined_at, &o.name) < (n.joined_at, &n.name)
                    })
                });
                let status = if n.name == self.shared.me.name {
                    "alive"
                } else {
                    members
                        .get(&n.peer_id)
                        .map_or("unknown", |m| m.status.as_str())
                };
                NodeView {
                    name: n.name.clone(),
                    zone: n.zone.clone(),
                    slot,
                    uyuni_api: n.uyuni_api.clone().unwrap_or_default(),
                    status: status.to_string(),
                    systems: index.assigned(&n.name),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn session(&self, id: &str) -> Option<SessionRecord> {
        match self
            .shared
            .store
            .get(&format!("{}{id}", RecordKind::Session.prefix()))
        {
            Ok(Some(Record::Session(s))) => Some(s),
            _ => None,
        }
    }

    async fn put_session(&self, rec: SessionRecord) -> Result<(), MetastoreError> {
        put(&self.shared, Record::Session(rec))
            .await
            .map_err(write_error)
    }

    async fn delete_session(&self, id: &str) -> Result<(), MetastoreError> {
        let store = self.shared.store.clone();
        let key = format!("{}{id}", RecordKind::Session.prefix());
        let frames = tokio::task::spawn_blocking(move || store.delete(&key))
            .await
            .map_err(write_error)?
            .map_err(write_error)?;
        self.shared.repl.broadcast(frames).await;
        Ok(())
    }

    async fn zone_leader(&self, zone: &str) -> Result<String, MetastoreError> {
        let key = format!("{}{zone}", RecordKind::Lease.prefix());
        if let Ok(Some(Record::Lease(l))) = self.shared.store.get(&key)
            && let Some(holder) = l.holder_at(now_ms())
        {
            return Ok(holder.to_string());
        }
        let candidates: Vec<NodeView> = self
            .nodes()
            .into_iter()
            .filter(|n| n.zone == zone && n.healthy())
            .collect();
        for c in candidates {
            match claim_lease_for(&self.shared, zone, &c.name, GATEWAY_LEASE, true, false).await {
                Ok(l) => return Ok(l.holder.unwrap_or(c.name)),
                // A node that does not hold the zone's common data yet cannot lead it.
                Err(NcError::Lease(e)) => {
                    tracing::debug!(node = %c.name, error = %e, "not a Leader Node candidate");
                }
                Err(e) => return Err(write_error(e)),
            }
        }
        Err(MetastoreError::NoLeader(zone.to_string()))
    }

    async fn search(
        &self,
        q: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<SearchPage, MetastoreError> {
        crate::search_api::find(&self.shared, q, Some(limit), cursor)
            .await
            .map_err(api_error)
    }

    fn system(&self, fingerprint: &str) -> Option<SystemRecord> {
        self.shared.store.get_system(fingerprint).ok().flatten()
    }

    async fn bulk(&self, req: BulkRequest) -> Result<BulkReport, MetastoreError> {
        crate::search_api::apply_bulk(&self.shared, req)
            .await
            .map_err(api_error)
    }
}
