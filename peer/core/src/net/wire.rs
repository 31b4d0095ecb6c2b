//! Messages peers exchange: request-response (sync, digests) and gossip payloads.
//! Both are CBOR; gossip payloads are decoded defensively (a garbage message is dropped and
//! logged, never a panic).

use serde::{Deserialize, Serialize};

use crate::membership::Heartbeat;

/// Version of the replication protocol (the libp2p protocol name carries it too).
pub const SYNC_PROTOCOL: &str = "/uyuni-cluster/sync/1";
/// Gossip topic of membership heartbeats.
pub const TOPIC_MEMBERS: &str = "uyuni-cluster/members/1";
/// Gossip topic of metastore change chunks.
pub const TOPIC_CHANGES: &str = "uyuni-cluster/changes/1";

/// One shard's part of a sync exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncItem {
    /// The shard.
    pub shard: u32,
    /// Start this shard's sync state afresh (first message of a session).
    pub reset: bool,
    /// Encoded automerge sync message; empty when this side has nothing to say.
    #[serde(with = "serde_bytes")]
    pub msg: Vec<u8>,
}

/// A request to another peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Send me your per-shard digest.
    Digest,
    /// A round of the automerge sync protocol over some shards.
    Sync {
        /// Shard count of the sender's store; a mismatch is refused.
        shard_count: u32,
        /// Per-shard messages.
        items: Vec<SyncItem>,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    /// Per-shard digest.
    Digest {
        /// The responder's shard count.
        shard_count: u32,
        /// One digest per shard.
        digest: Vec<u64>,
    },
    /// The responder's next sync messages.
    Sync {
        /// Per-shard messages.
        items: Vec<SyncItem>,
    },
    /// The request was refused.
    Error {
        /// Why.
        message: String,
    },
}

/// What travels on the gossip topics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Gossip {
    /// A membership heartbeat (or, with `leaving`, a goodbye).
    Heartbeat(Heartbeat),
    /// A metastore change.
    Change {
        /// The shard changed.
        shard: u32,
        /// Heads of the shard after the change at the sender.
        heads: Vec<[u8; 32]>,
        /// The automerge change chunk, or empty when too large for gossip (pull it).
        #[serde(with = "serde_bytes")]
        chunk: Vec<u8>,
    },
}

/// Errors decoding a gossip payload.
#[derive(Debug, thiserror::Error)]
#[error("undecodable gossip message: {0}")]
pub struct DecodeError(String);

impl Gossip {
    /// CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail for these plain types.
        if let Err(e) = ciborium::into_writer(self, &mut out) {
            tracing::error!("encoding gossip: {e}");
        }
        out
    }

    /// Decode, refusing garbage.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        ciborium::from_reader(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gossip_round_trip_and_garbage_is_an_error() {
        let g = Gossip::Change {
            shard: 7,
            heads: vec![[1; 32]],
            chunk: vec![1, 2, 3],
        };
        match Gossip::decode(&g.encode()).expect("decode") {
            Gossip::Change {
                shard,
                heads,
                chunk,
            } => {
                assert_eq!((shard, heads.len(), chunk), (7, 1, vec![1, 2, 3]));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Gossip::decode(b"\xff\x00garbage").is_err());
        assert!(Gossip::decode(b"").is_err());
    }
}
