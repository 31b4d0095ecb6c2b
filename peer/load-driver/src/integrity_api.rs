//! `GET /cluster/integrity` (each node's last integrity check) and
//! `POST /nodes/{node}/reprovision` (RFC "Integrity Handling"): the node's systems become
//! orphans (placed on the zone's other nodes), a fault with reason `reprovision` keeps it out
//! of placement, and its own Node Controller re-applies the zone's common data, then clears
//! the fault; the node re-onboards empty and rebalancing refills it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_store::{FaultReason, FaultRecord, IntegrityRecord, Record, SystemStatus};
use serde::{Deserialize, Serialize};

use cluster_core::api_error::ApiError;
use cluster_core::change_feed::blocking;
use cluster_core::now_ms;

use crate::LoadCtx;

/// One node in `GET /cluster/integrity`.
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeIntegrity {
    /// Node name.
    pub node: String,
    /// Zone.
    pub zone: String,
    /// `identical`, `drift` (differences repaired in place), `faulty` (beyond the threshold),
    /// `reprovisioning`, `unchecked` (no check yet: no Node Controller, or the zone's Leader
    /// Node, which is the pattern).
    pub verdict: String,
    /// The last check, if any.
    pub check: Option<IntegrityRecord>,
}

/// `GET /cluster/integrity`
pub async fn integrity(State(s): State<LoadCtx>) -> Json<Vec<NodeIntegrity>> {
    let ix = s.load.index();
    let out = ix
        .nodes()
        .values()
        .map(|n| {
            let check = ix.integrity().get(&n.name).cloned();
            let verdict = if ix.reprovisioning(&n.name) {
                "reprovisioning"
            } else {
                match &check {
                    None => "unchecked",
                    Some(c) if c.faulty => "faulty",
                    Some(c) if c.identical() => "identical",
                    Some(_) => "drift",
                }
            };
            NodeIntegrity {
                node: n.name.clone(),
                zone: n.zone.clone(),
                verdict: verdict.into(),
                check,
            }
        })
        .collect();
    Json(out)
}

/// Answer of `POST /nodes/{node}/reprovision`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReprovisionView {
    /// The node.
    pub node: String,
    /// Systems orphaned (to be placed on the zone's other nodes).
    pub orphaned: usize,
}

/// `POST /nodes/{node}/reprovision`
pub async fn reprovision(
    State(s): State<LoadCtx>,
    Path(node): Path<String>,
) -> Result<Json<ReprovisionView>, ApiError> {
    let zone = {
        let ix = s.load.index();
        let Some(n) = ix.nodes().get(&node) else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no node {node:?}"),
            ));
        };
        if n.common_generation.is_none() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("{node} runs without a Node Controller: nothing to re-provision"),
            ));
        }
        if ix.retired(&node) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("{node} is retired"),
            ));
        }
        n.zone.clone()
    };
    let fault = Record::Fault(FaultRecord {
        node: node.clone(),
        zone,
        reason: FaultReason::Reprovision,
        since: now_ms(),
        declared_by: s.me.name.clone(),
    });
    let err = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e);
    let _w = s.replica.write_lock().await;
    let store = s.replica.store().clone();
    let name = node.clone();
    let (frames, orphaned) = blocking(move || -> Result<_, crdt_store::StoreError> {
        // The fault first: from here the node is no placement target.
        let mut frames = store.put(&fault)?;
        let fps: Vec<String> = store
            .systems_where(|r| {
                r.node.as_deref() == Some(name.as_str()) && r.status == SystemStatus::Onboarded
            })
            .into_iter()
            .map(|r| r.fingerprint)
            .collect();
        let now = now_ms();
        let (more, n) = store.update_systems(&fps, |r| {
            if r.node.as_deref() != Some(name.as_str()) || r.status != SystemStatus::Onboarded {
                return false;
            }
            r.node = None;
            r.previous_node = None;
            r.status = SystemStatus::Orphan;
            r.updated_at = now.max(r.updated_at.saturating_add(1));
            true
        })?;
        frames.extend(more);
        Ok((frames, n))
    })
    .await
    .ok_or_else(|| err("a blocking task failed".into()))??;
    s.replica.broadcast(frames).await;
    drop(_w);
    s.load.wake.notify_one();
    tracing::warn!(
        node,
        orphaned,
        "re-provisioning: its systems are orphans now"
    );
    Ok(Json(ReprovisionView { node, orphaned }))
}
