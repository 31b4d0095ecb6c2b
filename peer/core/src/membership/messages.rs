//! What members tell each other about membership: heartbeats (with their rumours) on a
//! zone's topic, and zone summaries on the global one. Serialized as they are on the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::MemberStatus;

/// Addresses a member can be dialed at, possibly different per dialer zone (a store peer is
/// reached on its LAN address from its own zone and on a NATed WAN address from the others).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvertisedAddrs {
    /// Addresses for dialers of any zone without an entry of its own.
    #[serde(default)]
    pub default: Vec<String>,
    /// Addresses for dialers of a given zone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_zone: BTreeMap<String, Vec<String>>,
}

impl AdvertisedAddrs {
    /// The addresses a dialer in `zone` should use.
    pub fn for_zone(&self, zone: &str) -> &[String] {
        self.per_zone.get(zone).unwrap_or(&self.default)
    }
}

/// What a member says about itself, every heartbeat interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// Role (`server`).
    pub role: String,
    /// Start time of the member's process (Unix ms): a restart supersedes older heartbeats.
    pub incarnation: u64,
    /// Counter within the incarnation.
    pub seq: u64,
    /// The member's heartbeat interval, which seeds the detector's mean.
    pub interval_ms: u64,
    /// Where to dial it.
    pub addrs: AdvertisedAddrs,
    /// Its HTTP API (`host:port`), for the CLI and agents.
    #[serde(default)]
    pub http: Option<String>,
    /// Root digest of its metastore: differing roots trigger anti-entropy.
    #[serde(default)]
    pub root: String,
    /// Set in the last message of a planned shutdown.
    #[serde(default)]
    pub leaving: bool,
    /// The member's wire protocol ([`crate::net::wire::WIRE_PROTOCOL`]); absent (1) from a
    /// peer before versions were sent.
    #[serde(
        default = "crate::net::wire::v1",
        skip_serializing_if = "crate::net::wire::is_v1"
    )]
    pub protocol: u32,
    /// The oldest wire protocol the member works beside.
    #[serde(
        default = "crate::net::wire::v1",
        skip_serializing_if = "crate::net::wire::is_v1"
    )]
    pub min_protocol: u32,
    /// Systems online by recent heartbeat as this member's agent endpoint saw them, per
    /// assigned node (load statistics; kept in memory, shared only here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub online: BTreeMap<String, u64>,
    /// Suspicions this member refuted in this life: with `incarnation`, its **key**.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refutes: u32,
    /// Rumours piggybacked on the heartbeat: members of the zone this member suspects by its
    /// own failed probe, and those it holds down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspects: Vec<Rumour>,
    /// Set by peers with the zone membership (issue 17). A heartbeat without it on the old
    /// cluster-wide topic ([`crate::net::wire::TOPIC_MEMBERS`]) comes from a peer of the
    /// previous release: see [`Membership::on_legacy_heartbeat`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub swim: bool,
    /// Set on the copy a peer of this release publishes on the old topic for peers of the
    /// previous release: gossip message ids hash the bytes, so the copy must differ from the
    /// heartbeat on the zone topic or it would be dropped as a duplicate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy_copy: bool,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl Heartbeat {
    /// `(incarnation, refutes)`: a larger key supersedes every rumour about a smaller one.
    pub fn key(&self) -> (u64, u32) {
        (self.incarnation, self.refutes)
    }
}

/// "I suspect (or hold down) this member, as of this key of it."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rumour {
    /// The member's peer id.
    pub peer_id: String,
    /// Its incarnation as the rumour's author knows it.
    pub incarnation: u64,
    /// Its refutation count as the author knows it.
    pub refutes: u32,
    /// Down rather than suspect.
    pub down: bool,
}

/// One member in a [`ZoneSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryEntry {
    /// Its peer id.
    pub peer_id: String,
    /// Its status as its zone sees it.
    pub status: MemberStatus,
    /// Its latest heartbeat (without rumours).
    pub info: Heartbeat,
}

/// What one zone tells the others, on the global topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneSummary {
    /// The zone.
    pub zone: String,
    /// The sender's wall clock (Unix ms): older summaries of a zone are ignored.
    pub at_ms: u64,
    /// Its members (the sender included).
    pub members: Vec<SummaryEntry>,
    /// The sender's summary period in ms ([`Membership::summary_period`]): receivers wait
    /// `summary_timeout` scaled by it before suspecting the zone. 0 from older peers (their
    /// period is `summary_interval`).
    #[serde(default)]
    pub period_ms: u64,
}
