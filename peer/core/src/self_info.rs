//! Who this peer is, as announced to the others, and the wall clock the components share.

use std::time::{SystemTime, UNIX_EPOCH};

use libp2p::PeerId;

use crate::membership::AdvertisedAddrs;

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Who this peer is, as announced to others.
#[derive(Debug, Clone)]
pub struct SelfInfo {
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// Role.
    pub role: String,
    /// libp2p peer id.
    pub peer_id: PeerId,
    /// Start time of this process (Unix ms).
    pub incarnation: u64,
    /// HTTP API address.
    pub http: String,
    /// Advertised addresses.
    pub addrs: AdvertisedAddrs,
    /// Salt master address of the Uyuni server beside this peer (`None`: the name).
    pub fqdn: Option<String>,
    /// Relative capacity for the Load Driver.
    pub capacity: f64,
    /// A Node Controller runs beside this peer (`[uyuni] url` set): the Load Driver gives
    /// the node systems only once it holds its zone's common data.
    pub node_controller: bool,
    /// The Uyuni API as the API gateway reaches it (`[uyuni] public_url`, else `url`).
    pub uyuni_api: Option<String>,
}
