//! Messages peers exchange: request-response (sync, digests) and gossip payloads.
//! Both are CBOR; gossip payloads are decoded defensively (a garbage message is dropped and
//! logged, never a panic).

use serde::{Deserialize, Serialize};

use crate::membership::{Heartbeat, ZoneSummary};

/// Version of the wire protocol this build speaks: the heartbeat, the gossiped change and the
/// sync exchange carry it (`protocol`, `min_protocol`). Version 1 (before issue 16) carried
/// none; a missing field reads as 1. Bump it with every change an older peer would
/// mis-read, and raise [`MIN_WIRE_PROTOCOL`] when this build can no longer work beside the
/// oldest one (docs/UPGRADE.md). Version 3 (issue 17) adds [`Gossip::Changes`], many change
/// chunks in one gossip message; a peer sends it only while every member speaks 3 or newer.
pub const WIRE_PROTOCOL: u32 = 3;
/// The first wire protocol that reads [`Gossip::Changes`].
pub const BATCHED_CHANGES: u32 = 3;
/// The oldest wire protocol this build works beside.
pub const MIN_WIRE_PROTOCOL: u32 = 1;

static SPEAK: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();

/// Speak `protocol` instead of [`WIRE_PROTOCOL`] (**tests only**: the hidden setting
/// `test_wire_protocol`, docs/UPGRADE.md). Version 1 sends none of the fields version 2 added;
/// a version above [`WIRE_PROTOCOL`] stands for a future peer that no longer works beside
/// this one (its minimum is itself). Set once, before the peer starts; later calls are
/// ignored.
pub fn speak(protocol: u32) {
    let min = if protocol > WIRE_PROTOCOL {
        protocol
    } else {
        MIN_WIRE_PROTOCOL.min(protocol)
    };
    let _ = SPEAK.set((protocol, min));
}

/// The protocol this process speaks and the oldest it works beside.
pub fn spoken() -> (u32, u32) {
    SPEAK
        .get()
        .copied()
        .unwrap_or((WIRE_PROTOCOL, MIN_WIRE_PROTOCOL))
}

/// Whether a peer speaking `theirs` (and working beside `their_min` and newer) and one
/// speaking `mine` (beside `my_min`) work together; the error says why not.
pub fn compatible(mine: (u32, u32), theirs: (u32, u32)) -> Result<(), String> {
    let ((p, min), (tp, tmin)) = (mine, theirs);
    if tp < min {
        return Err(format!(
            "it speaks wire protocol {tp}, older than the oldest this peer works beside              ({min}; this peer speaks {p}): upgrade it (docs/UPGRADE.md)"
        ));
    }
    if p < tmin {
        return Err(format!(
            "it speaks wire protocol {tp} and works beside {tmin} and newer only; this peer              speaks {p}: upgrade this peer first (docs/UPGRADE.md)"
        ));
    }
    Ok(())
}

/// `1`: what a missing version field means (a peer from before versions were sent).
pub fn v1() -> u32 {
    1
}

/// Version fields are left out by a peer speaking version 1 (it did not know them).
pub fn is_v1(v: &u32) -> bool {
    *v == 1
}

/// Version of the replication protocol (the libp2p protocol name carries it too).
pub const SYNC_PROTOCOL: &str = "/uyuni-cluster/sync/1";
/// SWIM probes (request-response).
pub const SWIM_PROTOCOL: &str = "/uyuni-cluster/swim/1";
/// Gossip topic of membership heartbeats before issue 17 (flooded to every peer); no longer
/// subscribed: heartbeats go on [`zone_topic`].
pub const TOPIC_MEMBERS: &str = "uyuni-cluster/members/1";
/// Global gossip topic of zone summaries (one sender per zone per summary interval).
pub const TOPIC_ZONES: &str = "uyuni-cluster/zones/1";

/// The gossip topic of one zone's heartbeats: only that zone's peers subscribe.
pub fn zone_topic(zone: &str) -> String {
    format!("uyuni-cluster/zone/1/{zone}")
}
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
        /// The sender's wire protocol.
        #[serde(default = "v1", skip_serializing_if = "is_v1")]
        protocol: u32,
        /// The oldest protocol the sender works beside.
        #[serde(default = "v1", skip_serializing_if = "is_v1")]
        min_protocol: u32,
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
        /// The responder's wire protocol.
        #[serde(default = "v1", skip_serializing_if = "is_v1")]
        protocol: u32,
        /// The oldest protocol the responder works beside.
        #[serde(default = "v1", skip_serializing_if = "is_v1")]
        min_protocol: u32,
    },
    /// The request was refused.
    Error {
        /// Why.
        message: String,
    },
}

/// A SWIM probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SwimRequest {
    /// Are you alive? (answered by the network task at once)
    Ping,
    /// Probe `target` for me and tell me what you saw within `timeout_ms`.
    PingReq {
        /// The peer id to probe.
        target: String,
        /// How long the helper waits for the target's ack before answering `Nack`.
        timeout_ms: u64,
    },
    /// Every zone's latest summary as you hold it (asked by a peer that just started, of the
    /// first peers it connects to; a peer of an older release cannot decode it and the
    /// stream fails, so the asker waits for the zones' turns instead).
    Zones,
    /// The zones' summaries newer than the asker holds (zone → `at_ms` of its newest
    /// summary; its own zone at `u64::MAX`): the periodic pull that repairs what gossip lost.
    /// Answered with [`SwimResponse::Zones`]; a peer of an older release cannot decode it
    /// and the stream fails, which the asker only logs.
    ZonesSince {
        /// What the asker holds.
        held: std::collections::BTreeMap<String, u64>,
    },
}

/// The answer to a [`SwimRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SwimResponse {
    /// Alive (the target acked).
    Ack,
    /// The helper is alive but the target did not ack in time (Lifeguard's nack).
    Nack,
    /// The answer to [`SwimRequest::Zones`] and [`SwimRequest::ZonesSince`]: the responder's
    /// own zone's summary first (unless the asker has a recent one), then one per other zone
    /// it holds (newer than the asker's), built from its view.
    Zones(Vec<ZoneSummary>),
}

/// What travels on the gossip topics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Gossip {
    /// A membership heartbeat (or, with `leaving`, a goodbye), on the zone topic.
    Heartbeat(Heartbeat),
    /// One zone's members and their states, on [`TOPIC_ZONES`].
    Summary(ZoneSummary),
    /// A metastore change.
    Change {
        /// The shard changed.
        shard: u32,
        /// Heads of the shard after the change at the sender.
        heads: Vec<[u8; 32]>,
        /// The automerge change chunk, or empty when too large for gossip (pull it).
        #[serde(with = "serde_bytes")]
        chunk: Vec<u8>,
        /// The sender's wire protocol.
        #[serde(default = "v1", skip_serializing_if = "is_v1")]
        protocol: u32,
        /// The oldest protocol the sender works beside.
        #[serde(default = "v1", skip_serializing_if = "is_v1")]
        min_protocol: u32,
    },
    /// Many metastore changes in one message (wire protocol 3): one gossip signature and one
    /// message for a whole write batch instead of one per shard. A peer before version 3
    /// cannot decode it, so it is sent only while every member speaks 3 or newer
    /// ([`BATCHED_CHANGES`]; docs/UPGRADE.md).
    Changes {
        /// The shards' changes, in the order they were written.
        items: Vec<ChangeItem>,
        /// The sender's wire protocol.
        protocol: u32,
        /// The oldest protocol the sender works beside.
        min_protocol: u32,
    },
}

/// One shard's change in a [`Gossip::Changes`] batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeItem {
    /// The shard changed.
    pub shard: u32,
    /// Heads of the shard after the change at the sender.
    pub heads: Vec<[u8; 32]>,
    /// The automerge change chunk, or empty when too large for gossip (pull it).
    #[serde(with = "serde_bytes")]
    pub chunk: Vec<u8>,
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
            protocol: 2,
            min_protocol: 1,
        };
        match Gossip::decode(&g.encode()).expect("decode") {
            Gossip::Change {
                shard,
                heads,
                chunk,
                ..
            } => {
                assert_eq!((shard, heads.len(), chunk), (7, 1, vec![1, 2, 3]));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Gossip::decode(b"\xff\x00garbage").is_err());
        assert!(Gossip::decode(b"").is_err());
    }

    #[test]
    fn batched_changes_round_trip_and_an_older_peer_cannot_read_them() {
        let g = Gossip::Changes {
            items: vec![
                ChangeItem {
                    shard: 3,
                    heads: vec![[2; 32]],
                    chunk: vec![4, 5],
                },
                ChangeItem {
                    shard: 9,
                    heads: vec![],
                    chunk: vec![],
                },
            ],
            protocol: 3,
            min_protocol: 1,
        };
        match Gossip::decode(&g.encode()).expect("decode") {
            Gossip::Changes {
                items, protocol, ..
            } => {
                let shards: Vec<u32> = items.iter().map(|i| i.shard).collect();
                assert_eq!((shards, protocol), (vec![3, 9], 3));
                assert_eq!(items[0].chunk, vec![4, 5]);
            }
            other => panic!("unexpected {other:?}"),
        }
        // A peer before version 3 knows only these two kinds: the batch is undecodable to it
        // (dropped and logged there), which is why it is sent only while every member
        // speaks 3 (`controller::batching_allowed`).
        #[derive(Deserialize)]
        #[allow(dead_code)]
        enum V2 {
            Heartbeat(serde::de::IgnoredAny),
            Change(serde::de::IgnoredAny),
        }
        assert!(ciborium::from_reader::<V2, _>(g.encode().as_slice()).is_err());
    }

    #[test]
    fn version_fields_are_optional_both_ways_and_incompatible_peers_are_told_why() {
        // A version 1 peer's change (no version fields) reads as version 1.
        #[derive(Serialize)]
        enum V1 {
            Change {
                shard: u32,
                heads: Vec<[u8; 32]>,
                #[serde(with = "serde_bytes")]
                chunk: Vec<u8>,
            },
        }
        let mut old = Vec::new();
        ciborium::into_writer(
            &V1::Change {
                shard: 1,
                heads: vec![],
                chunk: vec![9],
            },
            &mut old,
        )
        .expect("cbor");
        match Gossip::decode(&old).expect("decodes") {
            Gossip::Change {
                protocol,
                min_protocol,
                ..
            } => assert_eq!((protocol, min_protocol), (1, 1)),
            other => panic!("{other:?}"),
        }
        // A version 1 sender writes exactly the old form.
        let g = Gossip::Change {
            shard: 1,
            heads: vec![],
            chunk: vec![9],
            protocol: 1,
            min_protocol: 1,
        };
        assert_eq!(g.encode(), old);
        assert!(compatible((2, 1), (1, 1)).is_ok(), "N beside N-1");
        assert!(compatible((1, 1), (2, 1)).is_ok(), "N-1 beside N");
        let e = compatible((2, 1), (3, 3)).expect_err("a future peer");
        assert!(e.contains("upgrade this peer"), "{e}");
        let e = compatible((3, 3), (2, 1)).expect_err("an old peer");
        assert!(e.contains("upgrade it"), "{e}");
        assert!(Gossip::decode(b"").is_err());
    }
}
