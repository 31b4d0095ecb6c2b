//! Dialing: every member of this peer's zone, and a bounded number of members of other
//! zones chosen by rendezvous hashing, with back-off per unreachable peer.

use std::collections::HashSet;
use std::time::Instant;

use libp2p::{Multiaddr, PeerId};
use tokio::task::JoinSet;

use super::{Controller, peer_of, spawn_job};
use crate::membership::MemberStatus;

/// The members of other zones to dial: not connected, alive ones first, then in a
/// pseudo-random order fixed per (this peer, member) pair (rendezvous hashing: every peer
/// picks different ones, so the zones' links form a random graph), as many as the budget
/// `links` leaves beside the `connected` ones.
pub fn cross_zone_choice(
    me: &str,
    candidates: &[(PeerId, bool)],
    connected: &HashSet<PeerId>,
    links: usize,
) -> Vec<PeerId> {
    let have = candidates
        .iter()
        .filter(|(p, _)| connected.contains(p))
        .count();
    let mut rest: Vec<(bool, [u8; 8], PeerId)> = candidates
        .iter()
        .filter(|(p, _)| !connected.contains(p))
        .map(|(p, alive)| {
            // The peer id's bytes, not its base58 text: every dial round ranks every member
            // of the other zones, and encoding each id was a visible share of an idle peer's
            // CPU in the 500-peer WAN bed.
            let mut h = blake3::Hasher::new();
            h.update(me.as_bytes());
            h.update(b"/");
            h.update(&p.to_bytes());
            let mut rank = [0u8; 8];
            rank.copy_from_slice(&h.finalize().as_bytes()[..8]);
            (!alive, rank, *p)
        })
        .collect();
    rest.sort();
    rest.into_iter()
        .take(links.saturating_sub(have))
        .map(|(_, _, p)| p)
        .collect()
}

impl Controller {
    /// Dial what is missing: every member of this zone, up to `cross_zone_links` members of
    /// other zones, and the join addresses while nothing is connected. A member that stays
    /// unreachable is redialed with a doubling back-off up to `dial_backoff_max` (reset when
    /// it connects), so a healed link is redialed within that bound.
    pub(super) fn dial(&mut self, jobs: &mut JoinSet<()>) {
        let now = Instant::now();
        let connected = self.shared.net.connected();
        let my_zone = self.shared.me.zone.clone();
        let mut dials: Vec<(Option<PeerId>, Vec<Multiaddr>)> = Vec::new();
        let mut remote: Vec<(PeerId, bool)> = Vec::new();
        let parse_addrs = |m: &crate::membership::Member| -> Vec<Multiaddr> {
            m.info
                .addrs
                .for_zone(&my_zone)
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect()
        };
        // Peer ids are parsed once per member, and other zones' addresses only for the few
        // chosen: every round parsed every member's id (base58) and addresses, the largest
        // cost of an idle peer after the load driver's hints in the 500-peer WAN bed.
        let ids = &mut self.peer_ids;
        let members = self.shared.members.lock();
        if ids.len() > 2 * members.members().count() + 64 {
            ids.clear();
        }
        for m in members.members() {
            if m.status == MemberStatus::Left {
                continue;
            }
            let pid = match ids.get(&m.peer_id) {
                Some(p) => *p,
                None => {
                    let Ok(p) = m.peer_id.parse::<PeerId>() else {
                        continue;
                    };
                    ids.insert(m.peer_id.clone(), p);
                    p
                }
            };
            if m.info.zone == my_zone {
                if !connected.contains(&pid) {
                    let addrs = parse_addrs(m);
                    if !addrs.is_empty() {
                        dials.push((Some(pid), addrs));
                    }
                }
            } else if !m.info.addrs.for_zone(&my_zone).is_empty() {
                remote.push((pid, m.status == MemberStatus::Alive));
            }
        }
        let me = self.shared.me.peer_id.to_string();
        for p in cross_zone_choice(&me, &remote, &connected, self.cfg.cross_zone_links) {
            let addrs = members.get(&p.to_string()).map(parse_addrs);
            if let Some(a) = addrs.filter(|a| !a.is_empty()) {
                dials.push((Some(p), a));
            }
        }
        drop(members);
        // Back-off per peer.
        let (first, max) = (self.cfg.dial_interval, self.cfg.dial_backoff_max);
        self.backoff.retain(|p, _| !connected.contains(p));
        dials.retain(|(p, _)| {
            let Some(p) = p else { return true };
            match self.backoff.get_mut(p) {
                Some((at, _)) if *at > now => false,
                Some((at, delay)) => {
                    *delay = (*delay * 2).min(max.max(first));
                    *at = now + *delay;
                    true
                }
                None => {
                    self.backoff.insert(*p, (now + first, first));
                    true
                }
            }
        });
        if connected.is_empty() {
            for a in &self.cfg.join {
                // A known member's stored addresses may be stale (it restarted on another
                // port): try the join address in the same dial, first. A separate dial to the
                // same peer would be refused while the stale one is in flight, every round.
                let peer = peer_of(a);
                match dials.iter_mut().find(|(p, _)| peer.is_some() && *p == peer) {
                    Some((_, addrs)) => addrs.insert(0, a.clone()),
                    None => dials.push((peer, vec![a.clone()])),
                }
            }
        }
        if dials.is_empty() {
            return;
        }
        let net = self.shared.net.clone();
        spawn_job(jobs, async move {
            for (peer, addrs) in dials {
                if net.dial(peer, addrs).await.is_err() {
                    return;
                }
            }
        });
    }
}
