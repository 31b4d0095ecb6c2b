//! The controller's rounds into Uyuni: publishing the Leader Node's change set, claiming
//! the node's id slot, and reconciling the zone's common data and the node's systems.

use std::collections::BTreeSet;
use std::time::Instant;

use cluster_core::now_ms;
use crdt_store::{CommonRecord, FaultReason, Record, RecordKind};

use super::{Controller, SystemsCache, integrity};
use crate::common_api::{self, Which};
use crate::kinds::CommonKind;
use crate::lease::{self, LeaseError};
use crate::systems::{self, LocalSystems, SystemOp};
use crate::{NcError, PublishReport, lock, reconcile, slot};

impl Controller {
    pub(super) async fn publish(&mut self, all: bool) -> Result<PublishReport, NcError> {
        let now = now_ms();
        let current = self.lease();
        let lease = match &current {
            Some(l) if l.holder_at(now) == Some(self.me()) => l.clone(),
            _ => {
                return Err(NcError::Lease(LeaseError::NotHolder {
                    zone: self.zone().to_string(),
                    node: self.me().to_string(),
                }));
            }
        };
        let kinds: Vec<CommonKind> = if all {
            CommonKind::ALL.to_vec()
        } else {
            CommonKind::ALL
                .into_iter()
                .filter(|k| {
                    let prefix = format!("{k}/");
                    lease.pending.iter().any(|p| p.starts_with(&prefix))
                })
                .collect()
        };
        let published_now = self.zone_records().await?;
        let mut changes = Vec::new();
        for kind in kinds {
            let prefix = format!("{kind}/");
            let named: BTreeSet<String> = lease
                .pending
                .iter()
                .filter_map(|p| p.strip_prefix(&prefix))
                .map(str::to_string)
                .collect();
            if all || named.contains("*") {
                // The whole kind: every object compared, vanished ones become tombstones.
                let local = common_api::fetch(&self.client, kind, Which::All).await?;
                let local = reconcile::Actual::from([(kind, local)]);
                changes.extend(reconcile::changes_to_publish(
                    &[kind],
                    &local,
                    &published_now,
                ));
            } else {
                // Only the objects the change set names.
                let local = common_api::fetch(&self.client, kind, Which::Only(&named)).await?;
                changes.extend(reconcile::changes_for_keys(
                    kind,
                    &named,
                    &local,
                    &published_now,
                ));
            }
        }
        let _w = self.shared.replica.write_lock().await;
        // The lease may have changed while the API was read.
        let latest = self.lease().unwrap_or(lease);
        if latest.holder_at(now_ms()) != Some(self.me()) {
            return Err(NcError::Lease(LeaseError::NotHolder {
                zone: self.zone().to_string(),
                node: self.me().to_string(),
            }));
        }
        let next = lease::published(&latest, now_ms(), changes.len() as u64);
        let mut published = Vec::new();
        let mut records = Vec::new();
        for (kind, key, data) in changes {
            published.push(match &data {
                Some(_) => format!("{kind}/{key}"),
                None => format!("-{kind}/{key}"),
            });
            records.push(Record::Common(CommonRecord {
                zone: self.zone().to_string(),
                kind: kind.as_str().to_string(),
                key,
                deleted: data.is_none(),
                data: data.unwrap_or(serde_json::Value::Null),
                generation: next.generation,
                published_by: self.me().to_string(),
                updated_at: next.updated_at,
            }));
        }
        let generation = next.generation;
        records.push(Record::Lease(next));
        self.write(records).await?;
        drop(_w);
        self.set_applied(generation).await;
        tracing::info!(
            generation,
            objects = published.len(),
            "published common data to the zone"
        );
        Ok(PublishReport {
            zone: self.zone().to_string(),
            generation,
            published,
        })
    }

    /// Claim (or re-claim after a conflict) this node's slot in the gateway's ids.
    async fn claim_slot(&mut self) {
        let nodes = self.shared.replica.store().nodes();
        let Some(slot) = slot::wanted(self.me(), &nodes) else {
            return;
        };
        let Some(mut n) = nodes.into_iter().find(|n| n.name == self.me()) else {
            return;
        };
        tracing::info!(slot, previous = ?n.slot, "claiming the node's gateway id slot");
        n.slot = Some(slot);
        if let Err(e) = self.write(vec![Record::Node(n)]).await {
            tracing::warn!(error = %e, "could not record the gateway id slot");
        }
    }

    async fn set_applied(&mut self, generation: u64) {
        self.applied = Some(generation);
        lock(&self.status).common_generation = Some(generation);
        let key = format!("{}{}", RecordKind::Node.prefix(), self.me());
        let Ok(Some(Record::Node(mut n))) = self.shared.replica.store().get(&key) else {
            return;
        };
        if n.common_generation == Some(generation) {
            return;
        }
        n.common_generation = Some(generation);
        if let Err(e) = self.write(vec![Record::Node(n)]).await {
            tracing::warn!(error = %e, "could not record the common-data generation");
        }
    }

    // ---- cluster decisions into Uyuni ----

    pub(super) async fn on_tick(&mut self) {
        self.claim_slot().await;
        // A failed automatic publication is retried here, not only at the next change.
        if let Some(l) = self.lease()
            && l.auto_publish
            && !l.pending.is_empty()
            && l.holder_at(now_ms()) == Some(self.me())
        {
            let r = self.publish(false).await;
            self.note(&r);
        }
        let common = self.reconcile_common().await;
        self.note(&common);
        // Systems are handled whatever happened to common data.
        let systems = self.reconcile_systems().await;
        self.note(&systems);
        if common.is_ok() && systems.is_ok() {
            lock(&self.status).last_reconcile_ms = Some(now_ms());
        }
    }

    async fn reconcile_common(&mut self) -> Result<(), NcError> {
        // Right after a start this replica may be stale (an old tombstone): wait.
        if self.started.elapsed() < self.shared.startup_grace {
            return Ok(());
        }
        let lease = self.lease();
        let generation = lease.as_ref().map_or(0, |l| l.generation);
        // The holder, even of an expired lease that nobody claimed since, keeps its edits.
        let holder = lease
            .as_ref()
            .is_some_and(|l| l.holder.as_deref() == Some(self.me()));
        // An operator asked to re-provision this node: compare and apply everything now.
        let reprovision = self
            .reprovision_requested()
            .filter(|t| self.reprovisioned_for != Some(*t));
        let resync_due = reprovision.is_some()
            || self
                .last_full
                .is_none_or(|t| t.elapsed() >= self.cfg.resync_interval);
        if holder {
            // The Leader Node is the pattern: it is never made to copy anything.
            if self.applied.is_none() {
                self.set_applied(generation).await;
            }
            if let Some(t) = reprovision {
                self.finish_reprovision().await?;
                self.reprovisioned_for = Some(t);
            }
            return Ok(());
        }
        // Differences found while this node claims to hold `generation` are drift (not the
        // first copy of a new node, not a new publication on its way).
        let claimed = self.applied.or_else(|| self.recorded_generation()) == Some(generation);
        if self.applied == Some(generation) && !resync_due {
            return Ok(());
        }
        let mut desired = self.zone_records().await?;
        // The newest generation's records may still be on their way (they sit in other
        // shards than the lease): hold it as applied only once they are all here.
        let expected = lease.as_ref().map_or(0, |l| l.published);
        let arrived = desired
            .iter()
            .filter(|r| r.generation == generation)
            .count() as u64;
        let complete = generation == 0 || arrived >= expected;
        lock(&self.status).waiting_for_records = !complete;
        // Moving forward from a generation this node holds: only what was published since
        // needs reading. Otherwise (first round, a resync, a generation that went back after a
        // partition healed) everything is compared.
        let since = match self.applied {
            Some(old) if generation > old && !resync_due => Some(old),
            _ => None,
        };
        if let Some(old) = since {
            desired.retain(|r| r.generation > old);
        }
        let mut actual = reconcile::Actual::new();
        for kind in CommonKind::ALL {
            let keys: BTreeSet<String> = desired
                .iter()
                .filter(|r| r.kind == kind.as_str())
                .map(|r| r.key.clone())
                .collect();
            if keys.is_empty() {
                continue;
            }
            let which = if since.is_some() {
                Which::Only(&keys)
            } else {
                Which::All
            };
            actual.insert(kind, common_api::fetch(&self.client, kind, which).await?);
        }
        let ops = reconcile::plan(&desired, &actual);
        let full = since.is_none();
        let drift: Vec<String> = if full && claimed && reprovision.is_none() {
            ops.iter().map(integrity::describe).collect()
        } else {
            Vec::new()
        };
        if integrity::beyond(drift.len(), self.cfg.integrity_threshold) {
            // Left as found (the evidence for the operator): the node takes no new systems
            // until it is re-provisioned. Checked again at the next full comparison.
            self.last_full = Some(Instant::now());
            self.record_check(generation, drift, Vec::new(), true, false)
                .await;
            return Ok(());
        }
        let mut done = 0u64;
        let mut failures = Vec::new();
        for op in &ops {
            self.own_changes.insert(op.entry(), Instant::now());
            match common_api::apply(&self.client, op).await {
                Ok(()) => done += 1,
                // The server is away: try the whole generation again next round.
                Err(e) if e.is_transient() => return Err(e.into()),
                // Refused (a vendor channel, an arch this server lacks, ...): left out and
                // reported; the rest of the generation still applies.
                Err(e) => {
                    tracing::warn!(op = %op.entry(), error = %e, "this server refused published common data");
                    failures.push(format!("{}: {e}", op.entry()));
                }
            }
        }
        lock(&self.status).common_failures = failures.clone();
        lock(&self.status).common_ops += done;
        if done > 0 {
            tracing::info!(ops = done, generation, "applied the zone's common data");
        }
        if since.is_none() {
            self.last_full = Some(Instant::now());
        }
        if complete {
            self.set_applied(generation).await;
        }
        let reprovisioned = reprovision.is_some() && complete && failures.is_empty();
        if full && complete {
            self.record_check(generation, drift, failures, false, reprovisioned)
                .await;
        }
        if let Some(t) = reprovision.filter(|_| reprovisioned) {
            self.finish_reprovision().await?;
            self.reprovisioned_for = Some(t);
        }
        Ok(())
    }

    async fn local_systems(&self) -> Result<LocalSystems, NcError> {
        let names = |v: uyuni_api::Value| -> BTreeSet<String> {
            match uyuni_api::json::to_json(&v) {
                serde_json::Value::Array(a) => a
                    .into_iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => BTreeSet::new(),
            }
        };
        let pending = names(self.client.call("saltkey.pendingList", vec![]).await?);
        let accepted = names(self.client.call("saltkey.acceptedList", vec![]).await?);
        let map =
            uyuni_api::json::to_json(&self.client.call("system.getMinionIdMap", vec![]).await?);
        let registered = map
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_i64().map(|sid| (k.clone(), sid)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(LocalSystems {
            pending,
            accepted,
            registered,
        })
    }

    async fn reconcile_systems(&mut self) -> Result<(), NcError> {
        let local = self.local_systems().await?;
        let me = self.me().to_string();
        self.cache.here = local
            .pending
            .iter()
            .chain(local.accepted.iter())
            .chain(local.registered.keys())
            .cloned()
            .collect();
        // Forget systems that no longer matter here (left this node and gone from its server).
        {
            let SystemsCache { by_key, here, .. } = &mut self.cache;
            by_key.retain(|_, r| {
                r.node.as_deref() == Some(me.as_str())
                    || r.previous_node.as_deref() == Some(me.as_str())
                    || here.contains(&r.minion_id)
            });
        }
        // A minion the cache has no record for appeared: it may be a system the cluster
        // assigned elsewhere (found only by a scan).
        let unknown = self.cache.unknown_here();
        let old = self
            .cache
            .built_at
            .is_none_or(|t| t.elapsed() >= self.cfg.resync_interval);
        if self.cache.stale || old || unknown != self.cache.unknown {
            self.rebuild_cache().await?;
        }
        let records: Vec<crdt_store::SystemRecord> = self.cache.by_key.values().cloned().collect();
        let records = systems::by_minion(records);
        // Declared faulty, its systems may come back: keep them. Not so once it is retired
        // (replaced by a fresh node) or re-provisioned: those systems left for good.
        let faulty = matches!(
            self.shared
                .replica
                .store()
                .get(&format!("{}{}", RecordKind::Fault.prefix(), me)),
            Ok(Some(Record::Fault(f)))
                if !matches!(f.reason, FaultReason::Retired | FaultReason::Reprovision)
        );
        // Right after a start this replica may be stale: accept keys, remove nothing yet.
        let settling = self.started.elapsed() < self.shared.startup_grace;
        // The zone's mode from the store itself (the Load Driver's index may not be built yet).
        let mode = match self.shared.replica.store().get(&format!(
            "{}{}",
            RecordKind::Policy.prefix(),
            self.zone()
        )) {
            Ok(Some(Record::Policy(p))) => p.mode,
            _ => crdt_store::LoadMode::default(),
        };
        let plan = systems::plan(
            systems::View {
                me: &me,
                mode,
                faulty: faulty || settling,
            },
            &records,
            &local,
        );
        {
            let mut s = lock(&self.status);
            s.unmanaged_systems = plan.unmanaged;
            s.awaiting_minion = plan.awaiting_minion;
        }
        for op in plan.ops {
            let r = match &op {
                SystemOp::AcceptKey(m) => self
                    .client
                    .call("saltkey.accept", vec![uyuni_api::value::string(m)])
                    .await
                    .map(|_| lock(&self.status).keys_accepted += 1),
                SystemOp::DeleteSystem { minion, sid } => {
                    self.own_removals.insert(minion.clone(), Instant::now());
                    self.client
                        .call("system.deleteSystem", vec![uyuni_api::value::int(*sid)])
                        .await
                        .map(|_| lock(&self.status).systems_removed += 1)
                }
                SystemOp::DeleteKey(m) => {
                    self.own_removals.insert(m.clone(), Instant::now());
                    self.client
                        .call("saltkey.delete", vec![uyuni_api::value::string(m)])
                        .await
                        .map(|_| lock(&self.status).systems_removed += 1)
                }
            };
            match r {
                Ok(()) => tracing::info!(?op, "applied to the Uyuni server"),
                Err(e) if e.is_transient() => return Err(e.into()),
                // A key that vanished meanwhile, a system already gone: the next round sees
                // the new state.
                Err(e) => tracing::warn!(?op, error = %e, "Uyuni refused"),
            }
        }
        let ids = systems::ids_to_record(&me, &records, &local);
        if !ids.is_empty() {
            self.record_uyuni_ids(&me, ids).await?;
        }
        Ok(())
    }

    /// Record the Uyuni ids of systems registered here in their metastore records
    /// (`uyuni_ids`), so that the API gateway can follow an id a system had here after it
    /// moves (docs/GATEWAY.md, "Ids outlive moves"). `updated_at` is left alone: a
    /// concurrent placement by the Load Driver wins, and the id is written again next round.
    async fn record_uyuni_ids(
        &self,
        me: &str,
        ids: std::collections::BTreeMap<String, i64>,
    ) -> Result<(), NcError> {
        let fps: Vec<String> = ids.keys().cloned().collect();
        let store = self.shared.replica.store().clone();
        let me = me.to_string();
        let _w = self.shared.replica.write_lock().await;
        let (frames, n) = tokio::task::spawn_blocking(move || {
            store.update_systems(&fps, |r| {
                let Some(sid) = ids.get(&r.fingerprint) else {
                    return false;
                };
                if r.node.as_deref() != Some(me.as_str()) || r.uyuni_ids.get(&me) == Some(sid) {
                    return false;
                }
                r.uyuni_ids.insert(me.clone(), *sid);
                true
            })
        })
        .await
        .map_err(|e| NcError::Store(e.to_string()))?
        .map_err(|e| NcError::Store(e.to_string()))?;
        self.shared.replica.broadcast(frames).await;
        tracing::debug!(systems = n, "Uyuni ids recorded for the gateway");
        Ok(())
    }
}
