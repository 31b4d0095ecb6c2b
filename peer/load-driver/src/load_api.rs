//! `GET /cluster/load` (per-node statistics) and `POST /zones/{zone}/mode`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use crdt_store::{LoadMode, Record, ZonePolicy};
use serde::{Deserialize, Serialize};

use cluster_core::api_error::{ApiError, bad};
use cluster_core::membership::MemberStatus;
use cluster_core::now_ms;

use crate::LoadCtx;

/// One node in `GET /cluster/load`.
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeLoad {
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// Salt master address of the node.
    pub fqdn: String,
    /// Relative capacity.
    pub capacity: f64,
    /// `alive`, `suspect`, `down`, `left` (this peer's view) or `unknown`.
    pub liveness: String,
    /// Declared faulty (its systems were remapped; it must re-onboard).
    pub faulty: bool,
    /// Systems onboarded on it (from the Metastore).
    pub assigned: u64,
    /// Systems with a recent heartbeat (from every peer's in-memory statistics).
    pub online: u64,
}

/// One zone in `GET /cluster/load`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ZoneLoad {
    /// Zone name.
    pub zone: String,
    /// Load Driver mode.
    pub mode: String,
    /// Orphans waiting for a node.
    pub orphans: usize,
}

/// `GET /cluster/load`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoadView {
    /// Nodes, by zone and name.
    pub nodes: Vec<NodeLoad>,
    /// Zones.
    pub zones: Vec<ZoneLoad>,
    /// Systems known.
    pub systems: usize,
    /// Systems waiting for acceptance.
    pub new: u64,
}

/// `GET /cluster/load`
pub async fn load(State(s): State<LoadCtx>) -> Json<LoadView> {
    let mut online: BTreeMap<String, u64> = s.load.own_online();
    let mut liveness: BTreeMap<String, MemberStatus> = BTreeMap::new();
    for m in s.members.lock().members() {
        if m.status == MemberStatus::Alive {
            for (node, n) in &m.info.online {
                *online.entry(node.clone()).or_default() += n;
            }
        }
        let e = liveness.entry(m.info.name.clone()).or_insert(m.status);
        if m.status == MemberStatus::Alive {
            *e = MemberStatus::Alive;
        }
    }
    let ix = s.load.index();
    let nodes = ix
        .nodes()
        .values()
        .map(|n| NodeLoad {
            name: n.name.clone(),
            zone: n.zone.clone(),
            fqdn: n.master_address().to_string(),
            capacity: n.capacity,
            liveness: if n.name == s.me.name {
                "alive".into()
            } else {
                liveness
                    .get(&n.name)
                    .map_or("unknown", |l| l.as_str())
                    .into()
            },
            faulty: ix.faults().contains_key(&n.name),
            assigned: ix.assigned(&n.name),
            online: online.get(&n.name).copied().unwrap_or(0),
        })
        .collect();
    let zones: std::collections::BTreeSet<String> =
        ix.nodes().values().map(|n| n.zone.clone()).collect();
    let zones = zones
        .into_iter()
        .map(|z| ZoneLoad {
            mode: ix.mode(&z).as_str().into(),
            orphans: ix.orphan_count_in(&z),
            zone: z,
        })
        .collect();
    Json(LoadView {
        nodes,
        zones,
        systems: ix.system_count(),
        new: ix.new_count(),
    })
}

/// Body of `POST /zones/{zone}/mode`.
#[derive(Debug, Deserialize)]
pub struct ModeBody {
    /// `production` or `disaster-recovery`.
    pub mode: String,
}

/// `POST /zones/{zone}/mode`
pub async fn set_mode(
    State(s): State<LoadCtx>,
    Path(zone): Path<String>,
    body: Result<Json<ModeBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ZonePolicy>, ApiError> {
    let Json(body) = body.map_err(|e| bad(e.body_text()))?;
    let mode: LoadMode = body.mode.parse().map_err(bad)?;
    if zone.is_empty() || zone.contains('/') {
        return Err(bad("zone names are non-empty and contain no '/'"));
    }
    let policy = ZonePolicy {
        zone,
        mode,
        updated_at: now_ms(),
    };
    let _w = s.replica.write_lock().await;
    let (store, rec) = (s.replica.store().clone(), Record::Policy(policy.clone()));
    let frames = tokio::task::spawn_blocking(move || store.put(&rec))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    s.replica.broadcast(frames).await;
    s.load.wake.notify_one();
    Ok(Json(policy))
}
