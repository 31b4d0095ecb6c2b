//! The zone's Leader Node lease in the metastore: claim, renew and release (the rules are in
//! [`crate::lease`]), and the one-record write they share.

use std::time::Duration;

use cluster_core::now_ms;
use crdt_store::{LeaseRecord, Record, RecordKind};

use crate::lease::{self, LeaseError};
use crate::{NcCtx, NcError};

/// Claim (or renew) the lease of this peer's zone for this node.
pub async fn claim_lease(
    shared: &NcCtx,
    ttl: Duration,
    auto_publish: bool,
    force: bool,
) -> Result<LeaseRecord, NcError> {
    let me = &shared.me;
    claim_lease_for(shared, &me.zone, &me.name, ttl, auto_publish, force).await
}

/// Claim (or renew) the lease of `zone` for node `node` (the API gateway names the node that
/// is to lead a common-data write).
pub async fn claim_lease_for(
    shared: &NcCtx,
    zone: &str,
    node: &str,
    ttl: Duration,
    auto_publish: bool,
    force: bool,
) -> Result<LeaseRecord, NcError> {
    let _w = shared.replica.write_lock().await;
    let key = format!("{}{zone}", RecordKind::Lease.prefix());
    let current = match shared.replica.store().get(&key) {
        Ok(Some(Record::Lease(l))) => Some(l),
        _ => None,
    };
    let zone_generation = current.as_ref().map_or(0, |l| l.generation);
    let holds = match shared
        .replica
        .store()
        .get(&format!("{}{node}", RecordKind::Node.prefix()))
    {
        Ok(Some(Record::Node(n))) => n.common_generation.unwrap_or(0),
        _ => 0,
    };
    let renewal = current
        .as_ref()
        .is_some_and(|l| l.holder.as_deref() == Some(node));
    if !force && !renewal && holds < zone_generation {
        return Err(NcError::Lease(LeaseError::Behind {
            zone: zone.to_string(),
            node: node.to_string(),
            holds,
            zone_generation,
        }));
    }
    let next = lease::claim(
        current.as_ref(),
        zone,
        node,
        now_ms(),
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        auto_publish,
        force,
    )?;
    put(shared, Record::Lease(next.clone())).await?;
    Ok(next)
}

/// Release the lease of this peer's zone.
pub async fn release_lease(shared: &NcCtx, force: bool) -> Result<Option<LeaseRecord>, NcError> {
    let _w = shared.replica.write_lock().await;
    let key = format!("{}{}", RecordKind::Lease.prefix(), shared.me.zone);
    let current = match shared.replica.store().get(&key) {
        Ok(Some(Record::Lease(l))) => Some(l),
        _ => None,
    };
    let next = lease::release(
        current.as_ref(),
        &shared.me.zone,
        &shared.me.name,
        now_ms(),
        force,
    )?;
    if let Some(n) = &next {
        put(shared, Record::Lease(n.clone())).await?;
    }
    Ok(next)
}

/// Write one record durably and send it to the other peers.
pub async fn put(shared: &NcCtx, rec: Record) -> Result<(), NcError> {
    shared
        .replica
        .put_batch(vec![rec])
        .await
        .map_err(|e| NcError::Store(e.to_string()))
}
