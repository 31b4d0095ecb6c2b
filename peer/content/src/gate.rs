//! Who may fetch from this node: cluster members (their iroh endpoint id is their libp2p
//! public key, found among the metastore's node records), and only blobs shared with their
//! zone.

use std::sync::RwLock;

use content_sync::{AccessTable, EndpointId, Gate, Hash};
use crdt_store::Store;

/// The peer's [`Gate`].
#[derive(Debug)]
pub struct PeerGate {
    store: Store,
    access: RwLock<AccessTable>,
}

impl PeerGate {
    /// A gate over the metastore's members, with no blob shared yet.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            access: RwLock::new(AccessTable::default()),
        }
    }

    /// Replace the blob → zones table.
    pub fn set_access(&self, t: AccessTable) {
        *self
            .access
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = t;
    }
}

/// The libp2p peer id with the same ed25519 public key as an iroh endpoint id.
pub fn peer_id_of(id: &EndpointId) -> Option<String> {
    let pk = libp2p::identity::ed25519::PublicKey::try_from_bytes(id.as_bytes()).ok()?;
    Some(
        libp2p::identity::PublicKey::from(pk)
            .to_peer_id()
            .to_string(),
    )
}

impl Gate for PeerGate {
    fn member_zone(&self, id: &EndpointId) -> Option<String> {
        let peer = peer_id_of(id)?;
        self.store
            .nodes()
            .into_iter()
            .find(|n| n.peer_id == peer)
            .map(|n| n.zone)
    }

    fn may_fetch(&self, zone: &str, hash: &Hash) -> bool {
        self.access
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .may_fetch(zone, hash)
    }
}
