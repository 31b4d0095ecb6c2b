//! Typed records kept in the Metastore and the keys they live under.
//!
//! Every record is stored as one flat JSON value under its key (`s/<fingerprint>`,
//! `n/<node>`, `z/<zone>`). A flat value writes about ten times faster in automerge than a nested
//! map (see `docs/ARCHITECTURE.md`) and makes each record last-writer-wins as a whole: concurrent
//! writes to one record resolve to the same winner on every replica. A system's tags and
//! groups are the exception: add-wins sets of keys beside the value ([`system_sets`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::content_record::{
    ClmApplyRecord, ClmVersionRecord, HoldingsRecord, RepoRecord, SubscriptionRecord,
    clm_apply_key, clm_version_key, holdings_key, repo_key, subscription_key,
};
use crate::ops_record::{IntegrityRecord, ReplacementRecord, integrity_key, replacement_key};

mod system_builder;
pub(crate) mod system_sets;

/// Lifecycle of a client system as the cluster sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum SystemStatus {
    /// Registered, waiting to be accepted into the cluster.
    New,
    /// Accepted and (once the Load Driver has run) assigned to a node.
    Onboarded,
    /// Lost its node (node failed, unregistered, rebalanced); waiting for a new one.
    Orphan,
    /// Removed or banned: never gets a node again.
    Deleted,
}

impl SystemStatus {
    /// The lowercase name used on the wire and in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Onboarded => "onboarded",
            Self::Orphan => "orphan",
            Self::Deleted => "deleted",
        }
    }
}

impl std::str::FromStr for SystemStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" => Ok(Self::New),
            "onboarded" => Ok(Self::Onboarded),
            "orphan" => Ok(Self::Orphan),
            "deleted" => Ok(Self::Deleted),
            other => Err(format!(
                "unknown status {other:?} (expected new, onboarded, orphan or deleted)"
            )),
        }
    }
}

/// A client system (a salt minion) known to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemRecord {
    /// Fingerprint of the minion's public key, as `salt-key -F` prints it. The primary key.
    pub fingerprint: String,
    /// Salt minion id.
    pub minion_id: String,
    /// Host name the system reported.
    #[serde(default)]
    pub hostname: String,
    /// Where the system stands.
    pub status: SystemStatus,
    /// Banned systems never get a node again, even if they re-register.
    #[serde(default, skip_serializing_if = "is_false")]
    pub banned: bool,
    /// Node (Uyuni server) the system is assigned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Node the system was assigned to before the current one (disaster recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_node: Option<String>,
    /// Zone of the system (the zone of the peer it registered through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Free-form tags (`db`, `web`, ...).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    /// System groups.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub groups: BTreeSet<String>,
    /// Software channels.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub channels: BTreeSet<String>,
    /// First registration, Unix milliseconds.
    pub registered_at: u64,
    /// Last change of this record, Unix milliseconds.
    pub updated_at: u64,
    /// The system's id on the Uyuni server of every node it was registered on (node name →
    /// Uyuni system id), written by each node's Node Controller when it sees the system
    /// registered there; entries of earlier nodes are kept, so that the API gateway can lead
    /// an id the system had before a move to where it is now (docs/GATEWAY.md).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uyuni_ids: BTreeMap<String, i64>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A node: one Uyuni server and the peer beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Node name (unique in the cluster).
    pub name: String,
    /// Zone the node belongs to.
    pub zone: String,
    /// libp2p peer id of the node's peer.
    pub peer_id: String,
    /// Role of the node (`server` for a peer beside a Uyuni server).
    #[serde(default)]
    pub role: String,
    /// Addresses to dial the peer at: key `*` for any zone, or a zone name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub addresses: BTreeMap<String, Vec<String>>,
    /// The peer's HTTP API (`host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Address of the Uyuni server (its salt master) as minions reach it: `host` or
    /// `host:port` (the master's ret port). `None`: the node name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// Relative capacity used by the Load Driver (default 1.0 = ~10k systems).
    #[serde(default = "default_capacity")]
    pub capacity: f64,
    /// First time the node joined, Unix milliseconds.
    pub joined_at: u64,
    /// The zone's common-data generation this node's Uyuni server holds (written by its Node
    /// Controller after each reconcile). `None`: the peer runs without a Node Controller,
    /// and the Load Driver does not wait for common data before giving it systems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_generation: Option<u64>,
    /// The node's slot in the API gateway's cluster-wide ids (a system's gateway id is
    /// derived from the slot and its id on this node's Uyuni server). Claimed by the node's
    /// Node Controller; `None` until then and on peers without a Uyuni server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
    /// The node's Uyuni XML-RPC API as the API gateway reaches it
    /// (`https://host/rpc/api`). `None` on peers without a Uyuni server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uyuni_api: Option<String>,
}

fn default_capacity() -> f64 {
    1.0
}

/// A zone: a data centre or a store site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRecord {
    /// Zone name.
    pub name: String,
    /// First time a node of this zone joined, Unix milliseconds.
    pub created_at: u64,
}

impl NodeRecord {
    /// Where minions assigned to this node must point their salt master.
    pub fn master_address(&self) -> &str {
        self.fqdn.as_deref().unwrap_or(&self.name)
    }
}

/// Why a node was marked faulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultReason {
    /// Silent for longer than the failure timeout.
    Down,
    /// Announced a planned shutdown and stayed away longer than the maintenance window.
    Left,
    /// Replaced by a fresh node (`uyuni-cluster node replace`): its systems moved to the new
    /// node, and it never takes systems or leads its zone again.
    Retired,
    /// Being re-provisioned after failing its integrity check (`uyuni-cluster node
    /// reprovision`): its systems were orphaned; its own Node Controller re-applies the zone's
    /// common data and clears the fault, and it re-onboards empty.
    Reprovision,
}

/// A node the Load Driver declared failed: its systems were remapped, and it must re-onboard
/// (production mode) or be given its systems back (disaster-recovery mode) when it returns.
/// Stored under `f/<node>`; deleted once the node is back in service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// The failed node.
    pub node: String,
    /// Its zone.
    pub zone: String,
    /// Why.
    pub reason: FaultReason,
    /// When the fault was declared, Unix milliseconds.
    pub since: u64,
    /// The node that declared it (the zone's Load Driver leader then).
    pub declared_by: String,
}

/// How the Load Driver treats a zone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadMode {
    /// Balanced by capacity; a failed node's systems are remapped, and the node re-onboards
    /// empty when it returns and is filled by gradual rebalancing.
    #[default]
    Production,
    /// As production, but a failed node that returns (restored or replaced under the same
    /// name) gets back exactly the systems that were remapped away from it; nothing else
    /// moves.
    DisasterRecovery,
}

impl LoadMode {
    /// The name used in configuration, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::DisasterRecovery => "disaster-recovery",
        }
    }
}

impl std::str::FromStr for LoadMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Self::Production),
            "disaster-recovery" | "dr" => Ok(Self::DisasterRecovery),
            other => Err(format!(
                "unknown mode {other:?} (expected production or disaster-recovery)"
            )),
        }
    }
}

/// The Load Driver policy of one zone, stored under `l/<zone>` (a key of its own, so that a
/// new peer creating its zone record cannot overwrite an administrator's choice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZonePolicy {
    /// Zone name.
    pub zone: String,
    /// Distribution mode.
    pub mode: LoadMode,
    /// Last change, Unix milliseconds.
    pub updated_at: u64,
}

/// One object of a zone's common data (channel, activation key, system group, CLM project),
/// as the zone's Leader Node published it: every node of the zone copies it. Stored under
/// `c/<zone>/<kind>/<key>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonRecord {
    /// Zone.
    pub zone: String,
    /// `channel`, `activationkey`, `systemgroup` or `contentproject`.
    pub kind: String,
    /// The object's label (channel label, key, group name, project label).
    pub key: String,
    /// The object as the Leader Node's Uyuni API describes it (the fields the Node Controller
    /// replays); `null` for a deleted object.
    #[serde(default)]
    pub data: serde_json::Value,
    /// Removed on the Leader Node: every node removes it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// The zone generation that published this version.
    pub generation: u64,
    /// The node whose Uyuni server it was copied from.
    pub published_by: String,
    /// Unix milliseconds of the publication.
    pub updated_at: u64,
}

/// The Leader Node lease of a zone, stored under `k/<zone>`:
/// while an administrator edits common data, one node holds it and is the pattern the others
/// copy. Its captured changes wait in `pending` until published ("apply cluster update").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// Zone.
    pub zone: String,
    /// The node holding the lease; `None` when released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Increases with every claim: the higher term wins a conflict.
    pub term: u64,
    /// Unix milliseconds of the claim.
    pub claimed_at: u64,
    /// The lease ends here unless renewed (Unix milliseconds).
    pub expires_at: u64,
    /// Publish every captured change at once instead of waiting for "apply cluster update".
    #[serde(default, skip_serializing_if = "is_false")]
    pub auto_publish: bool,
    /// Number of publications in this zone so far (the zone's common-data generation).
    pub generation: u64,
    /// Objects written by the last publication (a follower that sees this generation but
    /// fewer of its records waits for the rest before it counts as holding it).
    #[serde(default)]
    pub published: u64,
    /// Changes captured on the holder since the last publication, `<kind>/<key>` (key `*`
    /// when only the kind is known).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub pending: BTreeSet<String>,
    /// Last change, Unix milliseconds.
    pub updated_at: u64,
}

impl LeaseRecord {
    /// The holder, if the lease has not expired at `now_ms`.
    pub fn holder_at(&self, now_ms: u64) -> Option<&str> {
        self.holder.as_deref().filter(|_| now_ms < self.expires_at)
    }
}

/// **Legacy**: a session of the API gateway as versions before issue 13 stored it under
/// `g/<id>` (with the user's password sealed by a key derived from the cluster key). Gateway
/// sessions are no longer written to the metastore (its history would keep them forever):
/// this type stays so that such records still decode, and peers delete them on sight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Hex SHA-256 of the session key.
    pub id: String,
    /// Uyuni user name.
    pub user: String,
    /// The user's password sealed with a key derived from the cluster key (the gateway logs
    /// in to the nodes with it on demand), base64.
    pub secret: String,
    /// Unix milliseconds of the login.
    pub created_at: u64,
    /// The session ends here unless used (Unix milliseconds); every use pushes it out.
    pub expires_at: u64,
    /// Idle lifetime, milliseconds.
    pub ttl_ms: u64,
    /// Last change, Unix milliseconds.
    pub updated_at: u64,
}

/// Any record the store holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// A client system.
    System(SystemRecord),
    /// A node.
    Node(NodeRecord),
    /// A zone.
    Zone(ZoneRecord),
    /// A failed node.
    Fault(FaultRecord),
    /// A zone's Load Driver policy.
    Policy(ZonePolicy),
    /// A published common-data object.
    Common(CommonRecord),
    /// A zone's Leader Node lease.
    Lease(LeaseRecord),
    /// An API gateway session.
    Session(SessionRecord),
    /// A package repository of a zone.
    Repo(RepoRecord),
    /// A zone's subscription to another zone's repository.
    Subscription(SubscriptionRecord),
    /// A node being replaced by a fresh one.
    Replacement(ReplacementRecord),
    /// A node's last integrity check.
    Integrity(IntegrityRecord),
    /// What a node's content store holds.
    Holdings(HoldingsRecord),
    /// A saved CLM project version.
    ClmVersion(ClmVersionRecord),
    /// The CLM project version a zone must import.
    ClmApply(ClmApplyRecord),
}

/// Kinds of record; the first segment of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `s/<fingerprint>`
    System,
    /// `n/<name>`
    Node,
    /// `z/<name>`
    Zone,
    /// `f/<node>`
    Fault,
    /// `l/<zone>`
    Policy,
    /// `c/<zone>/<kind>/<key>`
    Common,
    /// `k/<zone>`
    Lease,
    /// `g/<id>`
    Session,
    /// `r/<zone>/<name>`
    Repo,
    /// `u/<subscriber>/<zone>/<name>`
    Subscription,
    /// `h/<node>`
    Holdings,
    /// `d/<zone>/<project>/<version id>`
    ClmVersion,
    /// `a/<zone>/<project>`
    ClmApply,
    /// `x/<old node>`
    Replacement,
    /// `i/<node>`
    Integrity,
}

impl RecordKind {
    /// The key prefix of this kind, including the slash.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::System => "s/",
            Self::Node => "n/",
            Self::Zone => "z/",
            Self::Fault => "f/",
            Self::Policy => "l/",
            Self::Common => "c/",
            Self::Lease => "k/",
            Self::Session => "g/",
            Self::Repo => "r/",
            Self::Subscription => "u/",
            Self::Holdings => "h/",
            Self::ClmVersion => "d/",
            Self::ClmApply => "a/",
            Self::Replacement => "x/",
            Self::Integrity => "i/",
        }
    }
}

impl Record {
    /// The key this record is stored under.
    pub fn key(&self) -> String {
        match self {
            Self::System(s) => system_key(&s.fingerprint),
            Self::Node(n) => format!("{}{}", RecordKind::Node.prefix(), n.name),
            Self::Zone(z) => format!("{}{}", RecordKind::Zone.prefix(), z.name),
            Self::Fault(f) => format!("{}{}", RecordKind::Fault.prefix(), f.node),
            Self::Policy(p) => format!("{}{}", RecordKind::Policy.prefix(), p.zone),
            Self::Common(c) => common_key(&c.zone, &c.kind, &c.key),
            Self::Lease(l) => format!("{}{}", RecordKind::Lease.prefix(), l.zone),
            Self::Session(g) => format!("{}{}", RecordKind::Session.prefix(), g.id),
            Self::Repo(r) => repo_key(&r.zone, &r.name),
            Self::Subscription(u) => subscription_key(&u.subscriber, &u.zone, &u.name),
            Self::Holdings(h) => holdings_key(&h.node),
            Self::ClmVersion(d) => clm_version_key(&d.zone, &d.project, &d.id()),
            Self::ClmApply(a) => clm_apply_key(&a.zone, &a.project),
            Self::Replacement(x) => replacement_key(&x.old),
            Self::Integrity(i) => integrity_key(&i.node),
        }
    }

    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::System(_) => RecordKind::System,
            Self::Node(_) => RecordKind::Node,
            Self::Zone(_) => RecordKind::Zone,
            Self::Fault(_) => RecordKind::Fault,
            Self::Policy(_) => RecordKind::Policy,
            Self::Common(_) => RecordKind::Common,
            Self::Lease(_) => RecordKind::Lease,
            Self::Session(_) => RecordKind::Session,
            Self::Repo(_) => RecordKind::Repo,
            Self::Subscription(_) => RecordKind::Subscription,
            Self::Holdings(_) => RecordKind::Holdings,
            Self::ClmVersion(_) => RecordKind::ClmVersion,
            Self::ClmApply(_) => RecordKind::ClmApply,
            Self::Replacement(_) => RecordKind::Replacement,
            Self::Integrity(_) => RecordKind::Integrity,
        }
    }

    /// Encode the payload (without the kind tag: the key carries it). Systems use the compact
    /// CBOR form of [`SystemWire`] (a million of them must fit in memory); the rare node and
    /// zone records are JSON.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        match self {
            Self::System(s) => {
                let mut out = Vec::with_capacity(96);
                ciborium::into_writer(&SystemWire::from(s), &mut out)
                    .map_err(|e| CodecError(e.to_string()))?;
                Ok(out)
            }
            Self::Node(n) => serde_json::to_vec(n).map_err(CodecError::from),
            Self::Zone(z) => serde_json::to_vec(z).map_err(CodecError::from),
            Self::Fault(f) => serde_json::to_vec(f).map_err(CodecError::from),
            Self::Policy(p) => serde_json::to_vec(p).map_err(CodecError::from),
            Self::Common(c) => serde_json::to_vec(c).map_err(CodecError::from),
            Self::Lease(l) => serde_json::to_vec(l).map_err(CodecError::from),
            Self::Session(g) => serde_json::to_vec(g).map_err(CodecError::from),
            Self::Repo(r) => serde_json::to_vec(r).map_err(CodecError::from),
            Self::Subscription(u) => serde_json::to_vec(u).map_err(CodecError::from),
            Self::Holdings(h) => serde_json::to_vec(h).map_err(CodecError::from),
            Self::ClmVersion(d) => serde_json::to_vec(d).map_err(CodecError::from),
            Self::ClmApply(a) => serde_json::to_vec(a).map_err(CodecError::from),
            Self::Replacement(x) => serde_json::to_vec(x).map_err(CodecError::from),
            Self::Integrity(i) => serde_json::to_vec(i).map_err(CodecError::from),
        }
    }

    /// Decode a payload stored under `key`. Unknown key prefixes yield `Ok(None)` so that a
    /// newer peer's record kinds pass through an older one untouched.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Option<Self>, CodecError> {
        Ok(Some(
            if let Some(rest) = key.strip_prefix(RecordKind::System.prefix()) {
                let fingerprint = fingerprint_of_key(rest)
                    .ok_or_else(|| CodecError(format!("bad system key {key:?}")))?;
                let wire: SystemWire =
                    ciborium::from_reader(bytes).map_err(|e| CodecError(e.to_string()))?;
                Self::System(wire.into_record(fingerprint))
            } else if key.starts_with(RecordKind::Node.prefix()) {
                Self::Node(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Zone.prefix()) {
                Self::Zone(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Fault.prefix()) {
                Self::Fault(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Policy.prefix()) {
                Self::Policy(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Common.prefix()) {
                Self::Common(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Lease.prefix()) {
                Self::Lease(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Session.prefix()) {
                Self::Session(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Repo.prefix()) {
                Self::Repo(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Subscription.prefix()) {
                Self::Subscription(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Holdings.prefix()) {
                Self::Holdings(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::ClmVersion.prefix()) {
                Self::ClmVersion(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::ClmApply.prefix()) {
                Self::ClmApply(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Replacement.prefix()) {
                Self::Replacement(serde_json::from_slice(bytes)?)
            } else if key.starts_with(RecordKind::Integrity.prefix()) {
                Self::Integrity(serde_json::from_slice(bytes)?)
            } else {
                return Ok(None);
            },
        ))
    }
}

/// A record that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

impl From<serde_json::Error> for CodecError {
    fn from(e: serde_json::Error) -> Self {
        Self(e.to_string())
    }
}

/// The stored form of a [`SystemRecord`]: one-letter CBOR keys, the fingerprint left out (the
/// key carries it), the host name left out when it equals the minion id. About 70 bytes for a
/// typical system instead of about 250 as JSON; unknown keys are ignored, so a newer peer can
/// add fields without breaking an older one.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SystemWire {
    #[serde(rename = "m")]
    minion_id: String,
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(rename = "s")]
    status: u8,
    #[serde(rename = "b", default, skip_serializing_if = "is_false")]
    banned: bool,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    previous_node: Option<String>,
    #[serde(rename = "z", default, skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
    #[serde(rename = "t", default, skip_serializing_if = "BTreeSet::is_empty")]
    tags: BTreeSet<String>,
    #[serde(rename = "g", default, skip_serializing_if = "BTreeSet::is_empty")]
    groups: BTreeSet<String>,
    #[serde(rename = "c", default, skip_serializing_if = "BTreeSet::is_empty")]
    channels: BTreeSet<String>,
    #[serde(rename = "r")]
    registered_at: u64,
    #[serde(rename = "u")]
    updated_at: u64,
    #[serde(rename = "i", default, skip_serializing_if = "BTreeMap::is_empty")]
    uyuni_ids: BTreeMap<String, i64>,
    /// Set by peers that keep tags and groups as add-wins sets of keys
    /// (`record/system_sets.rs`): a hash of `t` and `g` as written, which then only mirror
    /// the sets for older readers. Absent: `t` and `g` are the whole truth (an older writer).
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub(crate) sets_hash: Option<u32>,
}

impl From<&SystemRecord> for SystemWire {
    fn from(s: &SystemRecord) -> Self {
        Self {
            minion_id: s.minion_id.clone(),
            hostname: (s.hostname != s.minion_id).then(|| s.hostname.clone()),
            status: match s.status {
                SystemStatus::New => 0,
                SystemStatus::Onboarded => 1,
                SystemStatus::Orphan => 2,
                SystemStatus::Deleted => 3,
            },
            banned: s.banned,
            node: s.node.clone(),
            previous_node: s.previous_node.clone(),
            zone: s.zone.clone(),
            tags: s.tags.clone(),
            groups: s.groups.clone(),
            channels: s.channels.clone(),
            registered_at: s.registered_at,
            updated_at: s.updated_at,
            uyuni_ids: s.uyuni_ids.clone(),
            sets_hash: None,
        }
    }
}

impl SystemWire {
    pub(crate) fn into_record(self, fingerprint: String) -> SystemRecord {
        SystemRecord {
            fingerprint,
            hostname: self.hostname.unwrap_or_else(|| self.minion_id.clone()),
            minion_id: self.minion_id,
            status: match self.status {
                0 => SystemStatus::New,
                1 => SystemStatus::Onboarded,
                2 => SystemStatus::Orphan,
                // Unknown future states are shown as deleted: never assigned by mistake.
                _ => SystemStatus::Deleted,
            },
            banned: self.banned,
            node: self.node,
            previous_node: self.previous_node,
            zone: self.zone,
            tags: self.tags,
            groups: self.groups,
            channels: self.channels,
            registered_at: self.registered_at,
            updated_at: self.updated_at,
            uyuni_ids: self.uyuni_ids,
        }
    }
}

/// Which of several concurrently written values of `key` wins (`values` in automerge's op
/// order, so the last is automerge's own default winner). Every replica holding the same
/// conflict picks the same value.
///
/// Systems: a banned value wins (a ban is never lost to a concurrent placement), then a
/// deleted one, then the most recent `updated_at`; ties and other kinds go to automerge's
/// default. Values that do not decode never win over ones that do.
pub(crate) fn resolve_conflict(key: &str, values: &[&[u8]]) -> usize {
    let last = values.len().saturating_sub(1);
    if key.starts_with(RecordKind::Lease.prefix()) {
        return best_by(values, |b| {
            serde_json::from_slice::<LeaseRecord>(b).ok().map(|l| {
                let holder = l.holder.unwrap_or_default();
                (
                    l.term,
                    l.generation,
                    l.updated_at,
                    std::cmp::Reverse(holder),
                )
            })
        });
    }
    if key.starts_with(RecordKind::Session.prefix()) {
        // A logout (the secret wiped) beats a concurrent renewal; then the later expiry.
        return best_by(values, |b| {
            serde_json::from_slice::<SessionRecord>(b)
                .ok()
                .map(|g| (g.secret.is_empty(), g.expires_at, g.updated_at))
        });
    }
    if key.starts_with(RecordKind::Repo.prefix()) {
        // The later import (or removal) wins; then the higher version.
        return best_by(values, |b| {
            serde_json::from_slice::<RepoRecord>(b)
                .ok()
                .map(|r| (r.updated_at, r.version))
        });
    }
    if key.starts_with(RecordKind::ClmApply.prefix()) {
        return best_by(values, |b| {
            serde_json::from_slice::<ClmApplyRecord>(b)
                .ok()
                .map(|a| (a.applied_at, a.version_id))
        });
    }
    if key.starts_with(RecordKind::Common.prefix()) {
        return best_by(values, |b| {
            serde_json::from_slice::<CommonRecord>(b).ok().map(|c| {
                (
                    c.updated_at,
                    c.generation,
                    std::cmp::Reverse(c.published_by),
                )
            })
        });
    }
    let Some(rest) = key.strip_prefix(RecordKind::System.prefix()) else {
        return last;
    };
    let Some(fp) = fingerprint_of_key(rest) else {
        return last;
    };
    let rank = |bytes: &[u8]| {
        ciborium::from_reader::<SystemWire, _>(bytes).ok().map(|w| {
            let s = w.into_record(fp.clone());
            (s.banned, s.status == SystemStatus::Deleted, s.updated_at)
        })
    };
    let mut best = last;
    let mut best_rank = values.get(last).and_then(|v| rank(v));
    for (i, v) in values.iter().enumerate().take(last).rev() {
        let r = rank(v);
        if r > best_rank {
            best = i;
            best_rank = r;
        }
    }
    best
}

/// The index of the value with the highest rank; values without a rank lose, and ties go to
/// the later value (automerge's default).
fn best_by<R: Ord>(values: &[&[u8]], rank: impl Fn(&[u8]) -> Option<R>) -> usize {
    let mut best = values.len().saturating_sub(1);
    let mut best_rank = values.get(best).and_then(|v| rank(v));
    for (i, v) in values.iter().enumerate().rev().skip(1) {
        let r = rank(v);
        if r > best_rank {
            best = i;
            best_rank = r;
        }
    }
    best
}

/// The key of a common-data object.
pub fn common_key(zone: &str, kind: &str, key: &str) -> String {
    format!("{}{zone}/{kind}/{key}", RecordKind::Common.prefix())
}

/// Parse `aa:bb:..` (lowercase hex pairs joined by colons) into bytes.
fn canonical_fingerprint_bytes(fp: &str) -> Option<Vec<u8>> {
    if fp.is_empty() || !(fp.len() + 1).is_multiple_of(3) {
        return None;
    }
    let mut out = Vec::with_capacity(fp.len().div_ceil(3));
    for (i, part) in fp.split(':').enumerate() {
        let ok = part.len() == 2
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok || i >= fp.len().div_ceil(3) {
            return None;
        }
        out.push(u8::from_str_radix(part, 16).ok()?);
    }
    Some(out)
}

/// The key of the system with this fingerprint: `s/b<base64url>` for the canonical
/// `salt-key -F` form (lowercase hex pairs with colons; 45 characters for SHA-256 instead of
/// 97), `s/=<fingerprint>` for anything else.
pub fn system_key(fingerprint: &str) -> String {
    use base64::Engine as _;
    match canonical_fingerprint_bytes(fingerprint) {
        Some(bytes) => format!(
            "{}b{}",
            RecordKind::System.prefix(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ),
        None => format!("{}={fingerprint}", RecordKind::System.prefix()),
    }
}

/// The fingerprint a system key (`s/...`) stands for: the inverse of [`system_key`].
pub fn system_fingerprint(key: &str) -> Option<String> {
    fingerprint_of_key(key.strip_prefix(RecordKind::System.prefix())?)
}

/// Inverse of [`system_key`] (given the part after `s/`).
pub(crate) fn fingerprint_of_key(rest: &str) -> Option<String> {
    use base64::Engine as _;
    if let Some(raw) = rest.strip_prefix('=') {
        return Some(raw.to_string());
    }
    let b64 = rest.strip_prefix('b')?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .ok()?;
    Some(
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_round_trip_is_compact() {
        let rec = Record::System(SystemRecord {
            uyuni_ids: Default::default(),
            fingerprint: "ab:cd".into(),
            minion_id: "web1".into(),
            hostname: "web1.acme.org".into(),
            status: SystemStatus::New,
            banned: false,
            node: None,
            previous_node: None,
            zone: Some("dc1".into()),
            tags: BTreeSet::new(),
            groups: BTreeSet::new(),
            channels: BTreeSet::new(),
            registered_at: 1,
            updated_at: 2,
        });
        let bytes = rec.encode().expect("encode");
        assert!(bytes.len() < 60, "compact: {} bytes", bytes.len());
        let back = Record::decode(&rec.key(), &bytes).expect("decode");
        assert_eq!(back, Some(rec));
        assert_eq!(Record::decode("q/unknown", b"{}").expect("decode"), None);
        assert!(
            Record::decode("s/=x", b"\xff").is_err(),
            "garbage is an error"
        );
    }

    #[test]
    fn uyuni_ids_per_node_round_trip_and_older_records_read_without_them() {
        let mut r = SystemRecord::new("ab:cd", "web1", 1).with_node(Some("n2"));
        r.uyuni_ids.insert("n1".into(), 1_000_010_004);
        r.uyuni_ids.insert("n2".into(), 1_000_010_001);
        let rec = Record::System(r);
        let bytes = rec.encode().expect("encode");
        assert_eq!(
            Record::decode(&rec.key(), &bytes).expect("decode"),
            Some(rec)
        );
        // A record written before the field existed decodes with none.
        let old = Record::System(SystemRecord::new("ab:cd", "web1", 1));
        let bytes = old.encode().expect("encode");
        match Record::decode(&old.key(), &bytes).expect("decode") {
            Some(Record::System(s)) => assert!(s.uyuni_ids.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn system_keys_round_trip_and_are_short_for_salt_fingerprints() {
        let salt = (0..32)
            .map(|i| format!("{:02x}", i * 7))
            .collect::<Vec<_>>()
            .join(":");
        for fp in [
            salt.as_str(),
            "AB:CD",
            "ab:cd",
            "weird fp/with stuff",
            "a",
            "ab:c",
        ] {
            let key = system_key(fp);
            let rest = key.strip_prefix("s/").expect("prefix");
            assert_eq!(fingerprint_of_key(rest).as_deref(), Some(fp), "{key}");
        }
        assert!(system_key(&salt).len() <= 46, "{}", system_key(&salt));
        assert!(
            system_key("AB:CD").starts_with("s/="),
            "non-canonical case is kept verbatim"
        );
    }

    #[test]
    fn fault_and_policy_round_trip() {
        for rec in [
            Record::Fault(FaultRecord {
                node: "n1".into(),
                zone: "dc1".into(),
                reason: FaultReason::Down,
                since: 5,
                declared_by: "n2".into(),
            }),
            Record::Policy(ZonePolicy {
                zone: "dc1".into(),
                mode: LoadMode::DisasterRecovery,
                updated_at: 7,
            }),
        ] {
            let bytes = rec.encode().expect("encode");
            assert_eq!(
                Record::decode(&rec.key(), &bytes).expect("decode"),
                Some(rec)
            );
        }
        assert_eq!("dr".parse::<LoadMode>(), Ok(LoadMode::DisasterRecovery));
        assert!("x".parse::<LoadMode>().is_err());
    }

    #[test]
    fn status_parses_its_own_names() {
        for s in [
            SystemStatus::New,
            SystemStatus::Onboarded,
            SystemStatus::Orphan,
            SystemStatus::Deleted,
        ] {
            assert_eq!(s.as_str().parse::<SystemStatus>(), Ok(s));
        }
        assert!("bogus".parse::<SystemStatus>().is_err());
    }
}
