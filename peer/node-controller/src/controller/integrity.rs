//! Integrity handling (RFC "Integrity Handling"): what the scheduled full comparison of the
//! node's common data found, written as the node's [`IntegrityRecord`], and the end of a
//! re-provisioning (the fault with reason `reprovision` cleared once the node holds its zone's
//! common data again).

use cluster_core::now_ms;
use crdt_store::{FaultReason, IntegrityRecord, Record, RecordKind, integrity_key};

use super::Controller;
use crate::NcError;
use crate::reconcile::CommonOp;

/// How a difference found by a full comparison reads in the integrity record.
pub(super) fn describe(op: &CommonOp) -> String {
    match op {
        CommonOp::Create { .. } => format!("{}: missing", op.entry()),
        CommonOp::Update { .. } => format!("{}: differs", op.entry()),
        CommonOp::Delete { .. } => format!("{}: not deleted", op.entry()),
    }
}

/// Whether `found` differences make the node faulty (more than `threshold`).
pub(super) fn beyond(found: usize, threshold: usize) -> bool {
    found > threshold
}

impl Controller {
    /// When an operator asked to re-provision this node (the `since` of its fault with
    /// reason `reprovision`), if they did.
    pub(super) fn reprovision_requested(&self) -> Option<u64> {
        let key = format!("{}{}", RecordKind::Fault.prefix(), self.me());
        match self.shared.replica.store().get(&key) {
            Ok(Some(Record::Fault(f))) if f.reason == FaultReason::Reprovision => Some(f.since),
            _ => None,
        }
    }

    /// The common-data generation this node's record says it holds (after a restart, before
    /// the first comparison).
    pub(super) fn recorded_generation(&self) -> Option<u64> {
        let key = format!("{}{}", RecordKind::Node.prefix(), self.me());
        match self.shared.replica.store().get(&key) {
            Ok(Some(Record::Node(n))) => n.common_generation,
            _ => None,
        }
    }

    /// Write this node's integrity record for a check against `generation`.
    pub(super) async fn record_check(
        &mut self,
        generation: u64,
        common: Vec<String>,
        refused: Vec<String>,
        faulty: bool,
        reprovisioned: bool,
    ) {
        let store = self.shared.replica.store().clone();
        let (zone, me) = (self.zone().to_string(), self.me().to_string());
        let previous = match store.get(&integrity_key(&me)) {
            Ok(Some(Record::Integrity(i))) => Some(i),
            _ => None,
        };
        let content_missing =
            tokio::task::spawn_blocking(move || crdt_store::content_missing_in(&store, &zone, &me))
                .await
                .unwrap_or_default();
        let now = now_ms();
        let rec = IntegrityRecord {
            node: self.me().to_string(),
            zone: self.zone().to_string(),
            checked_at: now,
            generation,
            common,
            content_missing,
            refused,
            faulty,
            reprovisioned_at: if reprovisioned {
                Some(now)
            } else {
                previous.as_ref().and_then(|p| p.reprovisioned_at)
            },
        };
        if faulty && previous.as_ref().is_none_or(|p| !p.faulty) {
            tracing::error!(
                differences = rec.common.len(),
                threshold = self.cfg.integrity_threshold,
                "integrity check: this node's common data differs from its zone's beyond the \
                 threshold; it takes no new systems until re-provisioned \
                 (uyuni-cluster node reprovision)"
            );
        } else if !rec.common.is_empty() {
            tracing::warn!(
                differences = rec.common.len(),
                "integrity check: drift repaired"
            );
        }
        lock_status_checked(self, now);
        if let Err(e) = self.write(vec![Record::Integrity(rec)]).await {
            tracing::warn!(error = %e, "could not record the integrity check");
        }
    }

    /// The node holds its zone's common data again: clear the `reprovision` fault (it
    /// re-onboards; rebalancing refills it).
    pub(super) async fn finish_reprovision(&mut self) -> Result<(), NcError> {
        let key = format!("{}{}", RecordKind::Fault.prefix(), self.me());
        let store = self.shared.replica.store().clone();
        let frames = tokio::task::spawn_blocking(move || store.delete(&key))
            .await
            .map_err(|e| NcError::Store(e.to_string()))?
            .map_err(|e| NcError::Store(e.to_string()))?;
        self.shared.replica.broadcast(frames).await;
        tracing::warn!("re-provisioned: the zone's common data is re-applied; re-onboarding");
        Ok(())
    }
}

fn lock_status_checked(c: &Controller, at: u64) {
    crate::lock(&c.status).last_integrity_check_ms = Some(at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::CommonKind;

    #[test]
    fn differences_read_as_what_is_wrong_and_the_threshold_is_exclusive() {
        let key = "base".to_string();
        let ops = [
            CommonOp::Create {
                kind: CommonKind::Channel,
                key: key.clone(),
                data: serde_json::json!({}),
            },
            CommonOp::Update {
                kind: CommonKind::Channel,
                key: key.clone(),
                data: serde_json::json!({"a": 1}),
                current: serde_json::json!({"a": 2}),
            },
            CommonOp::Delete {
                kind: CommonKind::Channel,
                key,
            },
        ];
        let got: Vec<String> = ops.iter().map(describe).collect();
        assert_eq!(
            got,
            [
                "channel/base: missing",
                "channel/base: differs",
                "channel/base: not deleted"
            ]
        );
        assert!(!beyond(10, 10));
        assert!(beyond(11, 10));
    }
}
