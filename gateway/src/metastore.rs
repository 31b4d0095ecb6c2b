//! What the gateway needs from the metastore. The peer implements it on its own replica (a
//! gateway is a cluster member with a replica of its own), so lookups and searches never
//! leave the process; tests can implement it in memory.

use std::future::Future;

use crdt_store::SystemRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A Uyuni node as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// Slot in the gateway's ids (`None` until claimed, or while another node holds it).
    pub slot: Option<u32>,
    /// The node's Uyuni XML-RPC API.
    pub uyuni_api: String,
    /// Membership status: `alive`, `suspect`, `down`, `left` or `unknown`.
    pub status: String,
    /// Systems the metastore assigns to it.
    pub systems: u64,
    /// Systems of the node whose agents heartbeat (as the peers of the cluster report them).
    #[serde(default)]
    pub online: u64,
    /// Host name of the node's Uyuni server (its web UI is `https://<fqdn>/`).
    #[serde(default)]
    pub fqdn: String,
    /// Relative capacity (1.0: a standard node).
    #[serde(default = "one")]
    pub capacity: f64,
    /// Why the cluster marked it faulty (`down`, `left`); absent when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faulty: Option<String>,
    /// Whether it holds its zone's published common data (channels, keys, groups, CLM):
    /// a node that does not is not given systems yet.
    #[serde(default)]
    pub common_ready: bool,
}

fn one() -> f64 {
    1.0
}

/// A zone as the gateway sees it: its distribution mode and its Leader Node lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ZoneView {
    /// Zone name.
    pub name: String,
    /// Distribution mode: `production` or `disaster-recovery`.
    pub mode: String,
    /// The Leader Node holding the zone's lease now; absent when nobody does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// When the lease ends unless renewed (Unix ms; 0: never claimed).
    #[serde(default)]
    pub lease_expires_ms: u64,
    /// Publications of the zone's common data so far (its generation).
    #[serde(default)]
    pub generation: u64,
    /// Changes captured on the Leader Node since the last publication ("Apply cluster
    /// update" publishes them), `<kind>/<key>`.
    #[serde(default)]
    pub pending: Vec<String>,
    /// Systems of the zone on no node yet (orphans).
    #[serde(default)]
    pub orphans: u64,
}

/// What "Apply cluster update" published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublishedView {
    /// Zone.
    pub zone: String,
    /// The Leader Node that published.
    pub leader: String,
    /// The zone's generation after it.
    pub generation: u64,
    /// `<kind>/<key>` written (`-<kind>/<key>` for removals).
    pub published: Vec<String>,
}

impl NodeView {
    /// Worth calling: alive or only suspected (calls are bounded by timeouts anyway).
    pub fn healthy(&self) -> bool {
        matches!(self.status.as_str(), "alive" | "suspect")
    }
}

/// Where a system is now, given its id on a node it was on (ids outlive moves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relocation {
    /// Nothing recorded about that id: the caller answers as before (the node's own answer,
    /// or the node unavailable).
    Unknown,
    /// The system was deleted or banned, or its node's systems all left it without it being
    /// found elsewhere: Uyuni's "no such system".
    Gone,
    /// Registered on `node` now, under its id `local` there.
    At {
        /// The node holding it.
        node: String,
        /// Its id on that node's Uyuni server.
        local: i64,
    },
}

/// Problems of the metastore behind the gateway.
#[derive(Debug, thiserror::Error)]
pub enum MetastoreError {
    /// A write did not make it to disk.
    #[error("metastore write failed: {0}")]
    Write(String),
    /// The zone has no node that could lead it.
    #[error("zone {0} has no Uyuni node to lead its common data")]
    NoLeader(String),
    /// A search query (or bulk request) that does not parse.
    #[error("{0}")]
    BadQuery(String),
    /// Not ready yet (the search index is being built).
    #[error("{0}")]
    Unavailable(String),
}

/// One object of a zone's published common data (channel, activation key, system group, CLM
/// project) as every node of the zone copies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommonView {
    /// `channel`, `activationkey`, `systemgroup`, `clmproject`, …
    pub kind: String,
    /// Its key (label, name).
    pub key: String,
    /// The publication that last wrote it.
    pub generation: u64,
    /// Deleted by that publication.
    pub deleted: bool,
    /// The Leader Node that published it.
    pub published_by: String,
    /// When (Unix ms).
    pub updated_at: u64,
}

/// One saved version of a zone's CLM project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClmVersionView {
    /// Version number (counts up per save).
    pub version: u64,
    /// The version's id (`<version:010>.<node>`), what an apply names.
    pub id: String,
    /// The node whose Uyuni server it was exported from.
    pub saved_by: String,
    /// Document size, bytes.
    pub size: u64,
    /// When (Unix ms).
    pub saved_at: u64,
}

/// The version of a CLM project every node of its zone imports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClmAppliedView {
    /// The version id ([`ClmVersionView::id`]).
    pub version_id: String,
    /// The node that applied it.
    pub applied_by: String,
    /// When (Unix ms).
    pub applied_at: u64,
}

/// A Content Lifecycle project of a zone: its saved versions, the applied one and which
/// version each node of the zone imported into its Uyuni server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClmProjectView {
    /// Zone.
    pub zone: String,
    /// Project label.
    pub project: String,
    /// Saved versions, oldest first.
    pub versions: Vec<ClmVersionView>,
    /// The applied version, if any.
    pub applied: Option<ClmAppliedView>,
    /// Node → the version id its Uyuni server imported.
    pub imported: std::collections::BTreeMap<String, String>,
}

/// A peer's own answer to a call the gateway made for a user: its HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeAnswer {
    /// HTTP status.
    pub status: u16,
    /// The body (`null` when empty or not JSON).
    pub body: serde_json::Value,
}

/// A content repository and where it is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RepoStatus {
    /// The zone it was imported into.
    pub zone: String,
    /// Repository name.
    pub name: String,
    /// Version (each import of it counts one up).
    pub version: u64,
    /// Files in this version (as `content list` counts them).
    pub files: u64,
    /// Bytes in this version.
    pub bytes: u64,
    /// Removed (the record stays so that every node drops it).
    pub removed: bool,
    /// Other zones subscribed to it.
    pub subscribers: Vec<String>,
    /// Nodes holding this version completely.
    pub complete_on: Vec<String>,
    /// Last change (Unix ms).
    pub updated_at: u64,
}

/// One page of a search.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchPage {
    /// Systems matching the query in all.
    pub total: u64,
    /// This page, ordered by name then fingerprint.
    #[schema(value_type = Vec<Object>)]
    pub systems: Vec<SystemRecord>,
    /// Cursor of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A bulk operation on every system a query matches.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkRequest {
    /// The search query.
    pub q: String,
    /// `tag`, `untag`, `accept`, `reject`, `ban` or `unregister`.
    pub action: String,
    /// Tags for `tag` and `untag`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// A page: act on at most this many of the matches (1–10 000), in fingerprint order,
    /// and say how many are left (`remaining`, `next`). Absent: every match in one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Only the matches whose fingerprint sorts after this one (the previous page's
    /// `next`); needed to page through an action that leaves its systems matching (`tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// What a bulk operation did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkReport {
    /// Systems the query matched (in this page, when `limit` was given).
    pub matched: u64,
    /// Systems actually changed.
    pub changed: u64,
    /// Matches the index held beyond this page (0 without `limit`, and on the last page).
    #[serde(default)]
    pub remaining: u64,
    /// The last fingerprint of this page when matches remain: the `after` of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One audit log entry (the peer's `cluster_core::audit::AuditEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// When (Unix ms).
    pub at_ms: u64,
    /// Who: `user:LOGIN` for the gateway's users (`cert:NAME` for the peers' admin API).
    pub who: String,
    /// What: the gateway's action (`bulk ban`, …) or `METHOD PATH`.
    pub action: String,
    /// Which systems or objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The answer's HTTP status (403: refused).
    pub status: u16,
}

/// See the module documentation.
pub trait Metastore: Send + Sync + 'static {
    /// The cluster's Uyuni nodes (peers with a Uyuni server), by name.
    fn nodes(&self) -> Vec<NodeView>;
    /// Record an action the gateway did (or refused) for a user in the audit log, durably
    /// before the answer leaves (an error: the action is not done, or answered 503).
    fn audit(&self, entry: AuditRecord) -> Result<(), MetastoreError>;
    /// Audit entries at or after `since_ms`, oldest first, at most `limit` (the newest).
    fn audit_log(&self, since_ms: u64, limit: usize) -> Result<Vec<AuditRecord>, MetastoreError>;
    /// The node leading the zone's common data: the current Leader Node lease holder, or a
    /// node that now claims the lease (publishing every change at once).
    fn zone_leader(
        &self,
        zone: &str,
    ) -> impl Future<Output = Result<String, MetastoreError>> + Send;
    /// Search the client systems (docs/SEARCH.md).
    fn search(
        &self,
        q: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> impl Future<Output = Result<SearchPage, MetastoreError>> + Send;
    /// One system by fingerprint.
    fn system(&self, fingerprint: &str) -> Option<SystemRecord>;
    /// Where the system that was `local` on the Uyuni server of the node in `slot` is now:
    /// the Node Controllers record each system's id on every node it was registered on
    /// (docs/GATEWAY.md, "Ids outlive moves"). Default: nothing known.
    fn relocate_system(&self, _slot: u32, _local: i64) -> impl Future<Output = Relocation> + Send {
        async { Relocation::Unknown }
    }
    /// A zone's published common data, by kind and key.
    fn common(&self, zone: &str) -> Vec<CommonView>;
    /// Give `zone`'s Leader Node lease to `node` (or renew it) for `ttl_ms`; `node` must hold
    /// the zone's published common data.
    fn claim_lease(
        &self,
        zone: &str,
        node: &str,
        ttl_ms: u64,
    ) -> impl Future<Output = Result<ZoneView, MetastoreError>> + Send;
    /// End `zone`'s lease (its unpublished changes are dropped).
    fn release_lease(
        &self,
        zone: &str,
    ) -> impl Future<Output = Result<ZoneView, MetastoreError>> + Send;
    /// "Apply cluster update": the Leader Node of `zone` publishes the changes captured on
    /// its Uyuni server to every node of the zone. Runs on the Leader Node's own peer (its Node
    /// Controller), which this gateway asks with its peer certificate. Answers the published
    /// objects (`<kind>/<key>`) and the zone's new generation. Default: unavailable.
    fn publish_zone(
        &self,
        _zone: &str,
    ) -> impl Future<Output = Result<PublishedView, MetastoreError>> + Send {
        async {
            Err(MetastoreError::Unavailable(
                "no Leader Node can be reached from here".into(),
            ))
        }
    }
    /// Content repositories and where they are complete.
    fn repos(&self) -> Vec<RepoStatus>;
    /// Every zone's CLM projects (versions, the applied one, what each node imported).
    /// Default: none.
    fn clm(&self) -> Vec<ClmProjectView> {
        Vec::new()
    }
    /// Call the peer API of node `node` (its admin door, with this gateway's peer certificate):
    /// `method` `path` with a JSON `body`, bounded by `timeout`. Its answer whatever the status;
    /// an error when there is none (unknown node, no answer). The gateway builds `path` from
    /// checked input only. Default: unavailable.
    fn node_call(
        &self,
        _node: &str,
        _method: &'static str,
        _path: &str,
        _body: Option<serde_json::Value>,
        _timeout: std::time::Duration,
    ) -> impl Future<Output = Result<NodeAnswer, MetastoreError>> + Send {
        async {
            Err(MetastoreError::Unavailable(
                "this gateway cannot call the nodes' peers".into(),
            ))
        }
    }
    /// The cluster's zones (mode, Leader Node lease), by name.
    fn zones(&self) -> Vec<ZoneView>;
    /// Switch a zone's distribution mode (`production` or `disaster-recovery`).
    fn set_zone_mode(
        &self,
        zone: &str,
        mode: &str,
    ) -> impl Future<Output = Result<ZoneView, MetastoreError>> + Send;
    /// Apply an action to every system a query matches.
    fn bulk(
        &self,
        req: BulkRequest,
    ) -> impl Future<Output = Result<BulkReport, MetastoreError>> + Send;
    /// The session `id` ([`crate::sessions::session_id`] of a key) as another gateway of the
    /// cluster holds it, for a key this gateway does not know: a client may send each call to
    /// any gateway. Only the sealed form travels; the node keys open with the client's key.
    /// Default: no other gateway.
    fn peer_session(
        &self,
        _id: &str,
    ) -> impl Future<Output = Option<crate::sessions::Session>> + Send {
        async { None }
    }
    /// The node actions of cluster action `id` as the gateway of the cluster that gave it
    /// holds them ([`crate::cluster_actions`]), for an id this gateway did not give: a client
    /// may follow an action up through any gateway. `None`: no other gateway answers for it.
    /// Default: no other gateway.
    fn peer_cluster_action(&self, _id: i64) -> impl Future<Output = Option<Vec<i64>>> + Send {
        async { None }
    }
    /// The cluster action tags ([`crate::cluster_actions::TAGS`]) the other gateways of the
    /// cluster use. Default: none.
    fn peer_action_tags(&self) -> impl Future<Output = Vec<u32>> + Send {
        async { Vec::new() }
    }
    /// Tell the other gateways that session `id` ended (a logout here), before the logout
    /// answers (each bounded; one that does not answer forgets the session at its expiry).
    /// Default: nothing.
    fn end_peer_session(&self, _id: &str) -> impl Future<Output = ()> + Send {
        async {}
    }
}
