//! The API gateway's view of the metastore, served from this peer's own replica: nodes with
//! their membership status and id slots, the zones' Leader Node leases, search and bulk
//! operations, the audit log. (Gateway sessions are the gateway's own, outside the metastore.) See the `gateway` crate.

use std::time::Duration;

use cluster_core::audit::AuditEntry;
use crdt_store::{LoadMode, ZonePolicy};
use crdt_store::{Record, RecordKind, SystemRecord};
use gateway::{
    AuditRecord, BulkReport, BulkRequest, CommonView, Metastore, MetastoreError, NodeView,
    RepoStatus, SearchPage, ZoneView,
};

use cluster_core::{Members, Replica, SelfInfo, now_ms};
use cluster_search::SearchCtx;
use load_driver::LoadState;
use node_controller::{NcCtx, NcError, claim_lease_for};
use std::sync::Arc;

/// How long a lease the gateway claims for a common-data write lasts (renewed by the next
/// write). Its holder publishes every captured change at once.
const GATEWAY_LEASE: Duration = Duration::from_secs(300);

/// How long the Leader Node's peer may take to publish a zone's captured changes.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the holder of a fresh lease has to confirm it (its peer reports the lease) before
/// a common-data write is refused. Gossip reaches every peer in milliseconds (p99 3.8 ms with
/// 5 peers); this bounds a slow link.
const LEASE_CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the holder's peer is asked while the confirmation is awaited.
const LEASE_CONFIRM_POLL: Duration = Duration::from_millis(20);
/// How long a common-data write waits for this peer to hear of a zone's nodes it knows from
/// the metastore but not yet from membership (`unknown`): a peer that just started learns the
/// other zones from their summaries (issue 17), within a summary interval or two. Without the
/// wait it would call the zone leaderless, or move a lease away from a holder not heard yet.
const UNKNOWN_NODES_WAIT: Duration = Duration::from_secs(10);
/// Poll of [`UNKNOWN_NODES_WAIT`].
const UNKNOWN_NODES_POLL: Duration = Duration::from_millis(100);

/// Every `every`: give the gateway a snapshot of the cluster for the UI's recent changes and
/// charts ([`gateway::watch`]). Runs until `cancel`.
pub async fn watch_cluster<M: Metastore>(
    gw: Arc<gateway::Gateway<M>>,
    every: Duration,
    cancel: tokio_util::sync::CancellationToken,
) {
    loop {
        let g = gw.clone();
        // Reading the replica and the membership table is quick but blocking.
        if let Err(e) = tokio::task::spawn_blocking(move || g.observe(now_ms())).await {
            tracing::warn!(error = %e, "cluster watch failed");
        }
        if cancel
            .run_until_cancelled(tokio::time::sleep(every))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// Now and then: drop the gateway's expired sessions (from memory and its session file),
/// and delete on sight any session record an older version left in the metastore (they held
/// sealed passwords; gateway sessions are no longer replicated). Runs until `cancel`.
pub async fn sweep_sessions<M: Metastore>(
    gw: Arc<gateway::Gateway<M>>,
    replica: Replica,
    every: Duration,
    cancel: tokio_util::sync::CancellationToken,
) {
    loop {
        delete_legacy_sessions(&replica).await;
        match gw.expire_sessions(now_ms()) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "expired gateway sessions dropped"),
            Err(e) => tracing::warn!(error = %e, "could not rewrite the gateway session file"),
        }
        if cancel
            .run_until_cancelled(tokio::time::sleep(every))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// Delete every `g/` (session) record of the metastore and broadcast the deletions.
pub async fn delete_legacy_sessions(replica: &Replica) {
    let store = replica.store().clone();
    let swept = tokio::task::spawn_blocking(move || {
        let mut frames = Vec::new();
        for r in store.records(RecordKind::Session) {
            if let Ok(f) = store.delete(&r.key()) {
                frames.extend(f);
            }
        }
        frames
    })
    .await;
    match swept {
        Ok(frames) if !frames.is_empty() => {
            tracing::info!(
                changes = frames.len(),
                "session records of an older gateway deleted from the metastore"
            );
            replica.broadcast(frames).await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "legacy session sweep failed"),
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct PeerMetastore {
    members: Members,
    me: Arc<SelfInfo>,
    load: Arc<LoadState>,
    nc: NcCtx,
    search: SearchCtx,
    audit: cluster_core::audit::AuditLog,
    calls: Option<crate::gateway_sessions::PeerCalls>,
    ids: crate::gateway_ids::IndexCache,
}

impl PeerMetastore {
    /// The metastore of this peer, as the membership table, the Load Driver's counts, the
    /// Node Controller (leases, sessions) and search see it.
    pub fn new(
        members: Members,
        load: Arc<LoadState>,
        nc: NcCtx,
        search: SearchCtx,
        audit: cluster_core::audit::AuditLog,
        calls: Option<crate::gateway_sessions::PeerCalls>,
    ) -> Self {
        Self {
            members,
            me: nc.me.clone(),
            load,
            nc,
            search,
            audit,
            calls,
            ids: crate::gateway_ids::IndexCache::default(),
        }
    }

    /// The peer's audit log (the gateway records its users' actions in it).
    pub fn audit(&self) -> &cluster_core::audit::AuditLog {
        &self.audit
    }

    /// The replica it reads and writes.
    pub fn replica(&self) -> &Replica {
        &self.nc.replica
    }
}

impl PeerMetastore {
    fn zone_view(&self, zone: &str) -> Result<ZoneView, MetastoreError> {
        self.zones()
            .into_iter()
            .find(|z| z.name == zone)
            .ok_or_else(|| MetastoreError::BadQuery(format!("no zone {zone}")))
    }
}

/// The peer API's error as the gateway's: a bad request stays one.
fn api_error(e: cluster_core::ApiError) -> MetastoreError {
    match e.status().as_u16() {
        400..=499 => MetastoreError::BadQuery(e.message().to_string()),
        _ => MetastoreError::Unavailable(e.message().to_string()),
    }
}

fn write_error(e: impl std::fmt::Display) -> MetastoreError {
    MetastoreError::Write(e.to_string())
}

impl PeerMetastore {
    /// Wait until the peer of `holder` reports that it holds `zone`'s lease (its
    /// `GET /zones/{zone}/lease`), at most [`LEASE_CONFIRM_TIMEOUT`]; on time-out the write is
    /// not sent and the caller gets a fault naming the holder.
    /// The nodes, once this peer has heard of the ones a Leader Node choice in `zone` depends
    /// on: the lease holder, or (no healthy node of the zone known) every node of the zone.
    /// A node known from the metastore but not yet from membership shows `unknown`; wait for
    /// it at most [`UNKNOWN_NODES_WAIT`] (in a settled cluster nothing waits).
    async fn nodes_heard_of(&self, zone: &str, lease_key: &str) -> Vec<NodeView> {
        let deadline = tokio::time::Instant::now() + UNKNOWN_NODES_WAIT;
        loop {
            let nodes = self.nodes();
            let holder = match self.replica().store().get(lease_key) {
                Ok(Some(Record::Lease(l))) => l.holder_at(now_ms()).map(str::to_string),
                _ => None,
            };
            let unknown = |n: &NodeView| n.status == "unknown";
            let waiting = match holder {
                Some(h) => nodes.iter().any(|n| n.name == h && unknown(n)),
                None => {
                    let of_zone = || nodes.iter().filter(|n| n.zone == zone);
                    !of_zone().any(NodeView::healthy) && of_zone().any(unknown)
                }
            };
            if !waiting || tokio::time::Instant::now() >= deadline {
                return nodes;
            }
            tracing::debug!(zone, "waiting to hear of the zone's nodes");
            tokio::time::sleep(UNKNOWN_NODES_POLL).await;
        }
    }

    async fn lease_confirmed(&self, zone: &str, holder: &str) -> Result<(), MetastoreError> {
        if holder == self.me.name {
            return Ok(());
        }
        let Some(calls) = &self.calls else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + LEASE_CONFIRM_TIMEOUT;
        let path = format!("/zones/{zone}/lease");
        loop {
            let last = match calls
                .call_member("GET", holder, &path, None, LEASE_CONFIRM_TIMEOUT)
                .await
            {
                Ok(r) if r.status == 200 => {
                    let seen = serde_json::from_str::<serde_json::Value>(&r.body)
                        .ok()
                        .and_then(|v| v["holder"].as_str().map(str::to_string));
                    if seen.as_deref() == Some(holder) {
                        return Ok(());
                    }
                    format!("it reports holder {seen:?}")
                }
                Ok(r) => format!("status {}: {}", r.status, r.body),
                Err(e) => e,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(MetastoreError::Unavailable(format!(
                    "the Leader Node {holder} did not confirm its lease of {zone} within {:?} \
                     ({last}); the write was not sent",
                    LEASE_CONFIRM_TIMEOUT
                )));
            }
            tokio::time::sleep(LEASE_CONFIRM_POLL).await;
        }
    }
}

impl Metastore for PeerMetastore {
    fn nodes(&self) -> Vec<NodeView> {
        let records: Vec<_> = self
            .replica()
            .store()
            .nodes()
            .into_iter()
            .filter(node_controller::slot::holds_slots)
            .collect();
        let members = self.members.lock();
        // Online systems per node: this peer's own agents' heartbeats and those the alive
        // peers report (as `GET /cluster/load` counts them).
        let mut online = self.load.own_online();
        for m in members.members() {
            if m.status == cluster_core::membership::MemberStatus::Alive {
                for (node, n) in &m.info.online {
                    *online.entry(node.clone()).or_default() += n;
                }
            }
        }
        let index = self.load.index();
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
                let status = if n.name == self.me.name {
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
                    fqdn: n
                        .master_address()
                        .split(':')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    capacity: n.capacity,
                    online: online.get(&n.name).copied().unwrap_or(0),
                    faulty: index
                        .faults()
                        .get(&n.name)
                        .map(|f| format!("{:?}", f.reason).to_lowercase()),
                    common_ready: index.common_ready(n),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn audit(&self, e: AuditRecord) -> Result<(), MetastoreError> {
        self.audit
            .record(AuditEntry {
                at_ms: e.at_ms,
                who: e.who,
                action: e.action,
                detail: e.detail,
                status: e.status,
            })
            .map_err(write_error)
    }

    fn audit_log(&self, since_ms: u64, limit: usize) -> Result<Vec<AuditRecord>, MetastoreError> {
        self.audit
            .read(since_ms, limit)
            .map(|es| {
                es.into_iter()
                    .map(|e| AuditRecord {
                        at_ms: e.at_ms,
                        who: e.who,
                        action: e.action,
                        detail: e.detail,
                        status: e.status,
                    })
                    .collect()
            })
            .map_err(|e| MetastoreError::Unavailable(e.to_string()))
    }

    async fn zone_leader(&self, zone: &str) -> Result<String, MetastoreError> {
        let key = format!("{}{zone}", RecordKind::Lease.prefix());
        let nodes = self.nodes_heard_of(zone, &key).await;
        let mut force = false;
        if let Ok(Some(Record::Lease(l))) = self.replica().store().get(&key)
            && let Some(holder) = l.holder_at(now_ms())
        {
            if nodes.iter().any(|n| n.name == holder && n.healthy()) {
                return Ok(holder.to_string());
            }
            // A holder that is down would block every write for the rest of its lease.
            tracing::warn!(
                zone,
                holder,
                "the Leader Node is down; the gateway moves its lease"
            );
            force = true;
        }
        let candidates = nodes.into_iter().filter(|n| n.zone == zone && n.healthy());
        for c in candidates {
            match claim_lease_for(&self.nc, zone, &c.name, GATEWAY_LEASE, true, force).await {
                Ok(l) => {
                    // The new holder's peer must know it leads before its Node Controller
                    // reads the write from its outbox (a change read while not leading counts
                    // as drift): wait until that peer confirms it.
                    let holder = l.holder.unwrap_or(c.name);
                    self.lease_confirmed(zone, &holder).await?;
                    return Ok(holder);
                }
                // A node that does not hold the zone's common data yet cannot lead it.
                Err(NcError::Lease(e)) => {
                    tracing::debug!(node = %c.name, error = %e, "not a Leader Node candidate");
                }
                Err(e) => return Err(write_error(e)),
            }
        }
        Err(MetastoreError::NoLeader(zone.to_string()))
    }

    fn common(&self, zone: &str) -> Vec<CommonView> {
        let mut out: Vec<CommonView> = self
            .replica()
            .store()
            .records(RecordKind::Common)
            .into_iter()
            .filter_map(|r| match r {
                Record::Common(c) if c.zone == zone => Some(CommonView {
                    kind: c.kind,
                    key: c.key,
                    generation: c.generation,
                    deleted: c.deleted,
                    published_by: c.published_by,
                    updated_at: c.updated_at,
                }),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
        out
    }

    async fn claim_lease(
        &self,
        zone: &str,
        node: &str,
        ttl_ms: u64,
    ) -> Result<ZoneView, MetastoreError> {
        if !self
            .nodes()
            .iter()
            .any(|n| n.name == node && n.zone == zone)
        {
            return Err(MetastoreError::BadQuery(format!(
                "{node} is not a Uyuni node of zone {zone}"
            )));
        }
        let ttl = Duration::from_millis(ttl_ms);
        match claim_lease_for(&self.nc, zone, node, ttl, false, false).await {
            Ok(_) => self.zone_view(zone),
            Err(NcError::Lease(e)) => Err(MetastoreError::BadQuery(e.to_string())),
            Err(e) => Err(write_error(e)),
        }
    }

    async fn release_lease(&self, zone: &str) -> Result<ZoneView, MetastoreError> {
        {
            let _w = self.replica().write_lock().await;
            let key = format!("{}{zone}", RecordKind::Lease.prefix());
            let current = match self.replica().store().get(&key) {
                Ok(Some(Record::Lease(l))) => Some(l),
                _ => None,
            };
            let now = now_ms();
            let holder = current
                .as_ref()
                .and_then(|l| l.holder_at(now))
                .unwrap_or_default()
                .to_string();
            let next = node_controller::lease::release(current.as_ref(), zone, &holder, now, false)
                .map_err(|e| MetastoreError::BadQuery(e.to_string()))?;
            if let Some(n) = next {
                node_controller::put(&self.nc, Record::Lease(n))
                    .await
                    .map_err(write_error)?;
            }
        }
        self.zone_view(zone)
    }

    fn repos(&self) -> Vec<RepoStatus> {
        content_peer::api::repo_views(self.replica().store())
            .into_iter()
            .map(|r| RepoStatus {
                zone: r.record.zone,
                name: r.record.name,
                version: r.record.version,
                files: r.record.files,
                bytes: r.record.bytes,
                removed: r.record.deleted,
                subscribers: r.subscribers,
                complete_on: r.complete_on,
                updated_at: r.record.updated_at,
            })
            .collect()
    }

    fn clm(&self) -> Vec<gateway::ClmProjectView> {
        content_peer::clm::projects(self.replica().store(), None)
            .into_iter()
            .map(|p| gateway::ClmProjectView {
                versions: p
                    .versions
                    .iter()
                    .map(|v| gateway::ClmVersionView {
                        version: v.version,
                        id: v.id(),
                        saved_by: v.saved_by.clone(),
                        size: v.size,
                        saved_at: v.saved_at,
                    })
                    .collect(),
                applied: p.applied.map(|a| gateway::ClmAppliedView {
                    version_id: a.version_id,
                    applied_by: a.applied_by,
                    applied_at: a.applied_at,
                }),
                imported: p.imported,
                zone: p.zone,
                project: p.project,
            })
            .collect()
    }

    async fn node_call(
        &self,
        node: &str,
        method: &'static str,
        path: &str,
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<gateway::NodeAnswer, MetastoreError> {
        let calls = self.calls.as_ref().ok_or_else(|| {
            MetastoreError::Unavailable("this gateway cannot call other peers".into())
        })?;
        let r = calls
            .call_member(method, node, path, body, timeout)
            .await
            .map_err(MetastoreError::Unavailable)?;
        Ok(gateway::NodeAnswer {
            status: r.status,
            body: serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
        })
    }

    fn zones(&self) -> Vec<ZoneView> {
        let store = self.replica().store();
        let now = now_ms();
        let index = self.load.index();
        store
            .zones()
            .into_iter()
            .map(|z| {
                let key = format!("{}{}", RecordKind::Lease.prefix(), z.name);
                let lease = match store.get(&key) {
                    Ok(Some(Record::Lease(l))) => Some(l),
                    _ => None,
                };
                ZoneView {
                    mode: index.mode(&z.name).as_str().to_string(),
                    leader: lease
                        .as_ref()
                        .and_then(|l| l.holder_at(now))
                        .map(str::to_string),
                    lease_expires_ms: lease.as_ref().map_or(0, |l| l.expires_at),
                    generation: lease.as_ref().map_or(0, |l| l.generation),
                    pending: lease
                        .map(|l| l.pending.into_iter().collect())
                        .unwrap_or_default(),
                    orphans: index.orphan_count_in(&z.name) as u64,
                    name: z.name,
                }
            })
            .collect()
    }

    async fn set_zone_mode(&self, zone: &str, mode: &str) -> Result<ZoneView, MetastoreError> {
        let mode: LoadMode = mode.parse().map_err(MetastoreError::BadQuery)?;
        if !self
            .replica()
            .store()
            .zones()
            .iter()
            .any(|z| z.name == zone)
        {
            return Err(MetastoreError::BadQuery(format!("no zone {zone}")));
        }
        let policy = Record::Policy(ZonePolicy {
            zone: zone.to_string(),
            mode,
            updated_at: now_ms(),
        });
        {
            let _w = self.replica().write_lock().await;
            let store = self.replica().store().clone();
            let frames = tokio::task::spawn_blocking(move || store.put(&policy))
                .await
                .map_err(write_error)?
                .map_err(write_error)?;
            self.replica().broadcast(frames).await;
        }
        self.load.wake.notify_one();
        // The load index learns the policy from the store's change feed: report what was set.
        let mut view = self
            .zones()
            .into_iter()
            .find(|z| z.name == zone)
            .ok_or_else(|| MetastoreError::BadQuery(format!("no zone {zone}")))?;
        view.mode = mode.as_str().to_string();
        Ok(view)
    }

    async fn search(
        &self,
        q: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<SearchPage, MetastoreError> {
        cluster_search::api::find(&self.search, q, Some(limit), cursor)
            .await
            .map_err(api_error)
    }

    fn system(&self, fingerprint: &str) -> Option<SystemRecord> {
        self.replica()
            .store()
            .get_system(fingerprint)
            .ok()
            .flatten()
    }

    async fn relocate_system(&self, slot: u32, local: i64) -> gateway::Relocation {
        let Some(old) = self.nodes().into_iter().find(|n| n.slot == Some(slot)) else {
            return gateway::Relocation::Unknown;
        };
        let key = (old.name.clone(), local);
        let now = std::time::Instant::now();
        let cached = self.ids.fresh(now).or_else(|| self.ids.any());
        let fp = match cached.as_ref().and_then(|ix| ix.get(&key).cloned()) {
            Some(fp) => Some(fp),
            // A miss: scan the replica's systems again (at most every INDEX_TTL).
            None if self.ids.fresh(now).is_none() => {
                let store = self.replica().store().clone();
                let built = tokio::task::spawn_blocking(move || {
                    let systems: Vec<SystemRecord> = store
                        .records(RecordKind::System)
                        .into_iter()
                        .filter_map(|r| match r {
                            Record::System(s) => Some(s),
                            _ => None,
                        })
                        .collect();
                    crate::gateway_ids::index(&systems)
                })
                .await;
                match built {
                    Ok(ix) => self.ids.store(now, ix).get(&key).cloned(),
                    Err(e) => {
                        tracing::warn!(error = %e, "system id index not built");
                        None
                    }
                }
            }
            None => None,
        };
        let record = fp.and_then(|fp| self.system(&fp));
        let emptied = old.systems == 0 && !old.healthy();
        crate::gateway_ids::relocation(&old.name, local, record.as_ref(), emptied)
    }

    async fn bulk(&self, req: BulkRequest) -> Result<BulkReport, MetastoreError> {
        cluster_search::api::apply_bulk(&self.search, req)
            .await
            .map_err(api_error)
    }

    async fn publish_zone(&self, zone: &str) -> Result<gateway::PublishedView, MetastoreError> {
        let key = format!("{}{zone}", RecordKind::Lease.prefix());
        let leader = match self.replica().store().get(&key) {
            Ok(Some(Record::Lease(l))) => l.holder_at(now_ms()).map(str::to_string),
            _ => None,
        }
        .ok_or_else(|| {
            MetastoreError::BadQuery(format!(
                "zone {zone} has no Leader Node: claim its lease first"
            ))
        })?;
        let report: node_controller::PublishReport = if leader == self.me.name {
            let h = self.nc.nc.as_ref().ok_or_else(|| {
                MetastoreError::Unavailable("this peer has no Node Controller".into())
            })?;
            h.publish(false).await.map_err(write_error)?
        } else {
            let calls = self.calls.as_ref().ok_or_else(|| {
                MetastoreError::Unavailable("this gateway cannot call other peers".into())
            })?;
            let r = calls
                .call_member(
                    "POST",
                    &leader,
                    &format!("/zones/{zone}/publish"),
                    Some(serde_json::json!({})),
                    PUBLISH_TIMEOUT,
                )
                .await
                .map_err(MetastoreError::Unavailable)?;
            if r.status != 200 {
                let why = serde_json::from_str::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_string))
                    .unwrap_or(r.body);
                return Err(match r.status {
                    400..=499 => MetastoreError::BadQuery(format!("{leader}: {why}")),
                    _ => MetastoreError::Unavailable(format!("{leader}: {why}")),
                });
            }
            serde_json::from_str(&r.body)
                .map_err(|e| MetastoreError::Unavailable(format!("{leader}'s answer: {e}")))?
        };
        Ok(gateway::PublishedView {
            zone: report.zone,
            leader,
            generation: report.generation,
            published: report.published,
        })
    }

    async fn peer_session(&self, id: &str) -> Option<gateway::sessions::Session> {
        match &self.calls {
            Some(c) => c.find(id).await,
            None => None,
        }
    }

    async fn peer_cluster_action(&self, id: i64) -> Option<Vec<i64>> {
        let c = self.calls.as_ref()?;
        let answers = c.get_from_members(&format!("/gateway/actions/{id}")).await;
        crate::gateway_actions::one_answer(id, &answers)
    }

    async fn peer_action_tags(&self) -> Vec<u32> {
        match &self.calls {
            Some(c) => crate::gateway_actions::tags(&c.get_from_members("/gateway/actions").await),
            None => Vec::new(),
        }
    }

    async fn end_peer_session(&self, id: &str) {
        if let Some(c) = &self.calls {
            c.end(id).await;
        }
    }
}
