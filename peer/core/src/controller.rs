//! The cluster controller: the loop that ties membership, replication and timers together.
//!
//! ```text
//!   swarm events ──► on_event: heartbeats into membership, change chunks and sync requests
//!                    into replication
//!   timers ────────► heartbeat, failure detection, anti-entropy, dialing, compaction
//! ```
//!
//! Short jobs (sync sessions, request answers) are spawned into a `JoinSet` that is drained
//! on shutdown. The decisions that need no I/O ([`anti_entropy_candidates`]) are plain
//! functions with unit tests.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crdt_store::Store;
use libp2p::{Multiaddr, PeerId};
use rand::seq::IndexedRandom;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::members::Members;
use crate::membership::{Heartbeat, MemberStatus, Membership, MembershipEvent};
use crate::net::wire::{Gossip, TOPIC_CHANGES, TOPIC_MEMBERS};
use crate::net::{NetClient, NetEvent};
use crate::replication::Replicator;
use crate::self_info::SelfInfo;

/// Whether this peer may gossip its changes batched ([`Gossip::Changes`]): it speaks wire
/// protocol 3 or newer (`me`), so does every member it knows (whatever its liveness: a
/// member coming back must read what it is sent), and every connected peer is a member or
/// refused (a peer not yet heard from may be older). Pure.
pub fn batching_allowed(
    me: u32,
    members: &Membership,
    connected: &std::collections::HashSet<PeerId>,
) -> bool {
    use crate::net::wire::BATCHED_CHANGES;
    if me < BATCHED_CHANGES {
        return false;
    }
    let mut known = std::collections::HashSet::new();
    for m in members.members() {
        if m.info.protocol < BATCHED_CHANGES {
            return false;
        }
        known.insert(m.peer_id.as_str());
    }
    connected.iter().all(|p| {
        let id = p.to_string();
        known.contains(id.as_str()) || members.is_refused(&id)
    })
}

/// The peers an anti-entropy round may pick from: alive, connected members whose announced
/// root digest differs from `root`; when none differs, every `5`th round all connected
/// peers (a digest can agree while a shard still differs in a way the root hides).
pub fn anti_entropy_candidates(
    members: &Membership,
    root: &str,
    connected: &HashSet<PeerId>,
    round: u64,
) -> Vec<PeerId> {
    let differing: Vec<PeerId> = members
        .members()
        .filter(|m| m.status == MemberStatus::Alive && m.info.root != root)
        .filter_map(|m| m.peer_id.parse().ok())
        .filter(|p| connected.contains(p))
        .collect();
    if differing.is_empty() && round.is_multiple_of(5) {
        let mut all: Vec<PeerId> = connected.iter().copied().collect();
        all.sort();
        all
    } else {
        differing
    }
}

/// The `/p2p/<id>` part of an address.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// What the controller works with: the network, replication, the membership table and the
/// store, who this peer is, and where this peer's online counts come from (the Load
/// Driver's, announced in every heartbeat).
#[derive(Clone)]
pub struct ControllerParts {
    /// The swarm's handle.
    pub net: NetClient,
    /// Replication.
    pub repl: Replicator,
    /// The membership table.
    pub members: Members,
    /// The metastore.
    pub store: Store,
    /// This peer.
    pub me: Arc<SelfInfo>,
    /// This peer's online counts per node, for the heartbeat.
    pub online: OnlineSource,
}

/// A function giving this peer's latest online counts per node.
pub type OnlineSource = Arc<dyn Fn() -> BTreeMap<String, u64> + Send + Sync>;

impl std::fmt::Debug for ControllerParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerParts")
            .field("me", &self.me.name)
            .finish_non_exhaustive()
    }
}

/// The controller's timings and join addresses.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Addresses to join through while no peer is connected.
    pub join: Vec<Multiaddr>,
    /// `[membership] heartbeat_interval`.
    pub heartbeat_interval: Duration,
    /// `[replication] anti_entropy_interval`.
    pub anti_entropy_interval: Duration,
    /// `[network] dial_interval`.
    pub dial_interval: Duration,
    /// `[store] compact_check_interval`.
    pub compact_check_interval: Duration,
}

/// The cluster controller: heartbeats, failure detection, dialing, anti-entropy and
/// compaction, and the answers to gossip and requests from the swarm.
#[derive(Debug)]
pub struct Controller {
    shared: ControllerParts,
    cfg: ControllerConfig,
    seq: u64,
    ae_round: u64,
}

impl Controller {
    /// A controller over `parts`.
    pub fn new(parts: ControllerParts, cfg: ControllerConfig) -> Self {
        Self {
            shared: parts,
            cfg,
            seq: 0,
            ae_round: 0,
        }
    }

    /// Run until `cancel`, then announce the leave.
    pub async fn run(mut self, mut events: mpsc::Receiver<NetEvent>, cancel: CancellationToken) {
        let hb_every = self.cfg.heartbeat_interval;
        let mut hb_tick = tokio::time::interval(hb_every);
        let mut detect_tick = tokio::time::interval((hb_every / 4).max(Duration::from_millis(20)));
        let mut ae_tick = tokio::time::interval(self.cfg.anti_entropy_interval);
        let mut dial_tick = tokio::time::interval(self.cfg.dial_interval);
        let mut compact_tick = tokio::time::interval(self.cfg.compact_check_interval);
        for t in [
            &mut hb_tick,
            &mut detect_tick,
            &mut ae_tick,
            &mut dial_tick,
            &mut compact_tick,
        ] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut jobs: JoinSet<()> = JoinSet::new();
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(res) = jobs.join_next() => {
                    if let Err(e) = res && e.is_panic() {
                        tracing::error!("job panicked: {e}");
                    }
                }
                ev = events.recv() => match ev {
                    Some(ev) => self.on_event(ev, &mut jobs),
                    None => break,
                },
                _ = hb_tick.tick() => self.heartbeat(false, &mut jobs),
                _ = detect_tick.tick() => {
                    let connected = self.shared.net.connected();
                    let (evs, batch) = {
                        let mut members = self.shared.members.lock();
                        let evs = members.tick(Instant::now());
                        let batch = batching_allowed(
                            crate::net::wire::spoken().0,
                            &members,
                            &connected,
                        );
                        (evs, batch)
                    };
                    log_events(&evs);
                    if batch != self.shared.repl.batching() {
                        self.shared.repl.set_batching(batch);
                        if batch == self.shared.repl.batching() {
                            tracing::info!("gossiped changes batched: {batch}");
                        }
                    }
                }
                _ = ae_tick.tick() => self.anti_entropy(&mut jobs),
                _ = dial_tick.tick() => self.dial(&mut jobs),
                _ = compact_tick.tick() => {
                    let store = self.shared.store.clone();
                    if store.needs_compaction() {
                        spawn_job(&mut jobs, async move {
                            match tokio::task::spawn_blocking(move || store.compact()).await {
                                Ok(Ok(n)) => {
                                    crate::metrics::metrics().compactions.inc();
                                    tracing::info!(shards = n, "compacted");
                                }
                                Ok(Err(e)) => tracing::error!("compaction: {e}"),
                                Err(e) => tracing::error!("compaction task: {e}"),
                            }
                        });
                    }
                }
            }
        }
        // Planned leave: tell the others, so they mark us `left` instead of suspecting us.
        let leave = self.make_heartbeat(true);
        let _ = self.shared.net.publish(TOPIC_MEMBERS, leave.encode()).await;
        // Give the swarm a moment to put the goodbye on the wire before it is cancelled.
        tokio::time::sleep(Duration::from_millis(200)).await;
        jobs.shutdown().await;
    }

    fn make_heartbeat(&mut self, leaving: bool) -> Gossip {
        self.seq += 1;
        let me = &self.shared.me;
        Gossip::Heartbeat(Heartbeat {
            name: me.name.clone(),
            zone: me.zone.clone(),
            role: me.role.clone(),
            incarnation: me.incarnation,
            seq: self.seq,
            interval_ms: self.cfg.heartbeat_interval.as_millis() as u64,
            addrs: me.addrs.clone(),
            http: Some(me.http.clone()),
            root: self.shared.store.digest().root(),
            leaving,
            protocol: crate::net::wire::spoken().0,
            min_protocol: crate::net::wire::spoken().1,
            online: (self.shared.online)(),
        })
    }

    fn heartbeat(&mut self, leaving: bool, jobs: &mut JoinSet<()>) {
        let msg = self.make_heartbeat(leaving).encode();
        let net = self.shared.net.clone();
        spawn_job(jobs, async move {
            if let Err(e) = net.publish(TOPIC_MEMBERS, msg).await {
                tracing::debug!("heartbeat: {e}");
            }
        });
    }

    fn on_event(&mut self, ev: NetEvent, jobs: &mut JoinSet<()>) {
        match ev {
            NetEvent::Gossip {
                source,
                topic,
                data,
            } => {
                let msg = match Gossip::decode(&data) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(%source, "{e}");
                        return;
                    }
                };
                match (topic.as_str(), msg) {
                    (TOPIC_MEMBERS, Gossip::Heartbeat(hb)) => {
                        crate::metrics::metrics().peer_heartbeats.inc();
                        let evs = self.shared.members.lock().on_heartbeat(
                            &source.to_string(),
                            hb,
                            Instant::now(),
                        );
                        log_events(&evs);
                    }
                    (
                        TOPIC_CHANGES,
                        Gossip::Change {
                            shard,
                            heads,
                            chunk,
                            protocol,
                            min_protocol,
                        },
                    ) => {
                        if let Err(e) = crate::net::wire::compatible(
                            crate::net::wire::spoken(),
                            (protocol, min_protocol),
                        ) {
                            tracing::debug!(%source, "change from an incompatible peer dropped: {e}");
                            return;
                        }
                        let repl = self.shared.repl.clone();
                        spawn_job(jobs, async move {
                            if repl.on_change(source, shard, heads, chunk).await
                                && let Err(e) = repl.sync_with(source, Some(vec![shard])).await
                            {
                                tracing::debug!(%source, shard, "pull after gossip: {e}");
                            }
                        });
                    }
                    (
                        TOPIC_CHANGES,
                        Gossip::Changes {
                            items,
                            protocol,
                            min_protocol,
                        },
                    ) => {
                        if let Err(e) = crate::net::wire::compatible(
                            crate::net::wire::spoken(),
                            (protocol, min_protocol),
                        ) {
                            tracing::debug!(%source, "changes from an incompatible peer dropped: {e}");
                            return;
                        }
                        let repl = self.shared.repl.clone();
                        spawn_job(jobs, async move {
                            let missing = repl.on_changes(source, items).await;
                            if !missing.is_empty()
                                && let Err(e) = repl.sync_with(source, Some(missing)).await
                            {
                                tracing::debug!(%source, "pull after gossip: {e}");
                            }
                        });
                    }
                    (t, _) => tracing::warn!(%source, topic = t, "message of the wrong kind"),
                }
            }
            NetEvent::InboundRequest {
                peer,
                request,
                channel,
            } => {
                let (repl, net) = (self.shared.repl.clone(), self.shared.net.clone());
                spawn_job(jobs, async move {
                    let response = repl.serve(peer, request).await;
                    let _ = net.respond(channel, response).await;
                });
            }
            NetEvent::Connected(peer) => {
                tracing::debug!(%peer, "connected");
                // Catch up at once: this is how a restarted or partitioned peer converges.
                let repl = self.shared.repl.clone();
                spawn_job(jobs, async move {
                    if let Err(e) = repl.sync_with(peer, None).await {
                        tracing::debug!(%peer, "sync on connect: {e}");
                    }
                });
            }
            NetEvent::Disconnected(peer) => {
                tracing::debug!(%peer, "disconnected");
                self.shared.repl.forget(&peer);
            }
        }
    }

    fn anti_entropy(&mut self, jobs: &mut JoinSet<()>) {
        self.ae_round += 1;
        let connected = self.shared.net.connected();
        if connected.is_empty() {
            return;
        }
        let root = self.shared.store.digest().root();
        let candidates = {
            let members = self.shared.members.lock();
            anti_entropy_candidates(&members, &root, &connected, self.ae_round)
        };
        if let Some(&peer) = candidates.choose(&mut rand::rng()) {
            let repl = self.shared.repl.clone();
            spawn_job(jobs, async move {
                match repl.sync_with(peer, None).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(%peer, shards = n, "anti-entropy pulled changes"),
                    Err(e) => tracing::debug!(%peer, "anti-entropy: {e}"),
                }
            });
        }
    }

    fn dial(&mut self, jobs: &mut JoinSet<()>) {
        let connected = self.shared.net.connected();
        let my_zone = self.shared.me.zone.clone();
        let mut dials: Vec<(Option<PeerId>, Vec<Multiaddr>)> = Vec::new();
        {
            let members = self.shared.members.lock();
            for m in members.members() {
                if m.status == MemberStatus::Left {
                    continue;
                }
                let Ok(pid) = m.peer_id.parse::<PeerId>() else {
                    continue;
                };
                if connected.contains(&pid) {
                    continue;
                }
                let addrs: Vec<Multiaddr> = m
                    .info
                    .addrs
                    .for_zone(&my_zone)
                    .iter()
                    .filter_map(|a| a.parse().ok())
                    .collect();
                if !addrs.is_empty() {
                    dials.push((Some(pid), addrs));
                }
            }
        }
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

fn log_events(evs: &[MembershipEvent]) {
    for ev in evs {
        match ev {
            MembershipEvent::Status {
                peer_id,
                name,
                from,
                to,
            } => tracing::info!(
                member = %name,
                peer = %peer_id,
                from = from.map_or("unknown", |f| f.as_str()),
                to = to.as_str(),
                "membership"
            ),
            MembershipEvent::Forgotten { peer_id, name } => {
                tracing::info!(member = %name, peer = %peer_id, "membership: forgotten")
            }
            MembershipEvent::Refused {
                peer_id,
                name,
                reason,
            } => tracing::error!(
                member = %name,
                peer = %peer_id,
                "membership: peer refused, incompatible version: {reason}"
            ),
        }
    }
}

/// Spawn a controller job inside the current span (the node's), so its logs carry the node id.
fn spawn_job(jobs: &mut JoinSet<()>, job: impl std::future::Future<Output = ()> + Send + 'static) {
    jobs.spawn(job.in_current_span());
}

#[cfg(test)]
mod tests;
