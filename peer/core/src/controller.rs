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

use std::collections::{BTreeMap, HashMap, HashSet};
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
use crate::net::wire::{Gossip, TOPIC_CHANGES, TOPIC_MEMBERS, TOPIC_ZONES, zone_topic};
use crate::net::{NetClient, NetEvent};
use crate::replication::Replicator;
use crate::self_info::SelfInfo;
use crate::swim::{ProbeConfig, Prober};

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
    if me < BATCHED_CHANGES || members.members().any(|m| m.info.protocol < BATCHED_CHANGES) {
        return false;
    }
    // Looked up per connected peer (a few), not a set of every member's id built four times
    // a second (4 % of the 500-peer WAN bed's CPU).
    connected.iter().all(|p| {
        let id = p.to_string();
        members.get(&id).is_some() || members.is_refused(&id)
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
    // Only connected peers can be asked: look those few up (every member's id was parsed
    // from base58 each round while the roots differed, as at a large cluster's start).
    let mut differing: Vec<(String, PeerId)> = connected
        .iter()
        .map(|p| (p.to_string(), *p))
        .filter(|(id, _)| {
            members
                .get(id)
                .is_some_and(|m| m.status == MemberStatus::Alive && m.info.root != root)
        })
        .collect();
    if differing.is_empty() && round.is_multiple_of(5) {
        let mut all: Vec<PeerId> = connected.iter().copied().collect();
        all.sort();
        all
    } else {
        differing.sort();
        differing.into_iter().map(|(_, p)| p).collect()
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
    /// `[membership] probe_*`.
    pub probe: ProbeConfig,
    /// `[membership] summary_interval`.
    pub summary_interval: Duration,
    /// `[membership] zones_pull_interval` (zero: no periodic pull).
    pub zones_pull_interval: Duration,
    /// `[network] dial_backoff_max`.
    pub dial_backoff_max: Duration,
    /// `[network] cross_zone_links`.
    pub cross_zone_links: usize,
}

/// An answer to one of this peer's probes.
#[derive(Debug)]
enum ProbeReply {
    Ack {
        target: String,
        seq: u64,
    },
    Nack {
        seq: u64,
    },
    /// The answer to this peer's pull of the zones' summaries ([`zones`]).
    Zones {
        peer: PeerId,
        answer: Result<Vec<crate::membership::ZoneSummary>, String>,
        /// The start's pull (else the periodic one).
        start: bool,
    },
}

/// How often the prober is driven.
const PROBE_TICK: Duration = Duration::from_millis(100);

/// Failed probes of one member excused in a row while this process lags, before one counts.
const PROBE_MAX_EXCUSED: u32 = 2;

/// The cluster controller: heartbeats, failure detection, dialing, anti-entropy and
/// compaction, and the answers to gossip and requests from the swarm.
#[derive(Debug)]
pub struct Controller {
    shared: ControllerParts,
    cfg: ControllerConfig,
    seq: u64,
    ae_round: u64,
    prober: Prober,
    probe_tx: mpsc::Sender<ProbeReply>,
    probe_rx: Option<mpsc::Receiver<ProbeReply>>,
    /// Per unreachable peer: when it may be dialed again, and the current back-off.
    backoff: HashMap<PeerId, (Instant, Duration)>,
    /// Members' peer ids parsed (the dial round looks every member up).
    peer_ids: HashMap<String, PeerId>,
    /// Failed probes excused in a row per member because this process was behind meanwhile
    /// ([`PROBE_MAX_EXCUSED`]).
    probe_excused: HashMap<String, u32>,
    zone_topic: String,
    /// When a summary last went out for a newly heard member (rate limit).
    last_newcomer_summary: Option<Instant>,
    /// The last summary round this peer published in (one summary per round at its turn).
    last_summary_round: Option<u64>,
    /// This peer's pulls of the zones' summaries as it starts.
    zones_pull: zones::ZonesPull,
}

impl Controller {
    /// A controller over `parts`.
    pub fn new(parts: ControllerParts, cfg: ControllerConfig) -> Self {
        let seed = u64::from_le_bytes(
            blake3::hash(parts.me.peer_id.to_bytes().as_slice()).as_bytes()[..8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        let (probe_tx, probe_rx) = mpsc::channel(256);
        let zone_topic = zone_topic(&parts.me.zone);
        Self {
            prober: Prober::new(cfg.probe, PROBE_TICK, seed),
            shared: parts,
            cfg,
            seq: 0,
            ae_round: 0,
            probe_tx,
            probe_rx: Some(probe_rx),
            backoff: HashMap::new(),
            peer_ids: HashMap::new(),
            probe_excused: HashMap::new(),
            zone_topic,
            last_newcomer_summary: None,
            last_summary_round: None,
            zones_pull: zones::ZonesPull::default(),
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
        let mut probe_tick = tokio::time::interval(PROBE_TICK);
        // Checked four times per interval: the round (a multiple of the interval, shifted per
        // zone) is caught early, and published in once.
        let mut summary_tick =
            tokio::time::interval((self.cfg.summary_interval / 4).max(Duration::from_millis(10)));
        // The periodic pull of the zones' summaries (off at zero; the first tick is skipped:
        // the start's pull is asked on the first connections).
        let pull_every =
            (!self.cfg.zones_pull_interval.is_zero()).then_some(self.cfg.zones_pull_interval);
        let mut zones_pull_tick = tokio::time::interval_at(
            tokio::time::Instant::now() + pull_every.unwrap_or(Duration::from_secs(3600)),
            pull_every.unwrap_or(Duration::from_secs(3600)),
        );
        let Some(mut probe_rx) = self.probe_rx.take() else {
            return;
        };
        if let Err(e) = self.shared.net.subscribe(self.zone_topic.clone()).await {
            tracing::error!("subscribing to the zone topic: {e}");
        }
        // Peers of the previous release flood their heartbeats here (docs/UPGRADE.md).
        if let Err(e) = self.shared.net.subscribe(TOPIC_MEMBERS.to_string()).await {
            tracing::error!("subscribing to the old heartbeat topic: {e}");
        }
        for t in [
            &mut probe_tick,
            &mut summary_tick,
            &mut zones_pull_tick,
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
                Some(reply) = probe_rx.recv() => match reply {
                    ProbeReply::Ack { target, seq } => {
                        self.probe_excused.remove(&target);
                        self.shared.members.lock().on_contact(&target);
                        self.prober.on_ack(&target, seq);
                    }
                    ProbeReply::Nack { seq } => self.prober.on_nack(seq),
                    ProbeReply::Zones { peer, answer, start } => {
                        self.on_zones(peer, answer, start, &mut jobs)
                    }
                },
                _ = probe_tick.tick() => self.probe(&mut jobs),
                _ = summary_tick.tick() => self.summary(&mut jobs),
                _ = zones_pull_tick.tick(), if pull_every.is_some() => {
                    self.pull_zones_since(&mut jobs)
                }
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
                    self.after_events(&evs, &mut jobs);
                    if batch != self.shared.repl.batching() {
                        self.shared.repl.set_batching(batch);
                        if batch == self.shared.repl.batching() {
                            tracing::info!("gossiped changes batched: {batch}");
                        }
                    }
                    // A death this peer's own suspicion timer confirmed goes to the other
                    // zones at once, as an urgent summary, not at the zone's next turn.
                    let confirmed = {
                        let members = self.shared.members.lock();
                        evs.iter().any(|ev| match ev {
                            MembershipEvent::Status { peer_id, to: MemberStatus::Down, .. } => {
                                members
                                    .get(peer_id)
                                    .is_some_and(|m| m.info.zone == self.shared.me.zone)
                            }
                            _ => false,
                        })
                    };
                    if confirmed {
                        self.publish_summary(&mut jobs);
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
        // Planned leave: tell the others, so they mark us `left` instead of suspecting us:
        // the zone by a heartbeat, the other zones by a summary (this peer may be the zone's
        // only member).
        let leave = self.make_heartbeat(true);
        let summary = match &leave {
            Gossip::Heartbeat(hb) => Some(Gossip::Summary(
                self.shared
                    .members
                    .lock()
                    .summary(hb.clone(), crate::now_ms()),
            )),
            _ => None,
        };
        if self.shared.members.lock().has_legacy() {
            let copy = legacy_copy(leave.clone());
            let _ = self.shared.net.publish(TOPIC_MEMBERS, copy).await;
        }
        let _ = self
            .shared
            .net
            .publish(self.zone_topic.clone(), leave.encode())
            .await;
        if let Some(s) = summary {
            let _ = self.shared.net.publish(TOPIC_ZONES, s.encode()).await;
        }
        // Give the swarm a moment to put the goodbye on the wire before it is cancelled.
        tokio::time::sleep(Duration::from_millis(200)).await;
        jobs.shutdown().await;
    }

    fn make_heartbeat(&mut self, leaving: bool) -> Gossip {
        self.seq += 1;
        let (refutes, suspects) = {
            let m = self.shared.members.lock();
            (m.my_refutes(), m.rumours())
        };
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
            refutes,
            suspects,
            swim: true,
            legacy_copy: false,
        })
    }

    fn heartbeat(&mut self, leaving: bool, jobs: &mut JoinSet<()>) {
        let hb = self.make_heartbeat(leaving);
        let msg = hb.encode();
        let net = self.shared.net.clone();
        let topic = self.zone_topic.clone();
        // A peer of the previous release listens on the old topic only: while one is known,
        // the heartbeat goes there too (a mixed cluster during a rolling upgrade).
        let legacy = self
            .shared
            .members
            .lock()
            .has_legacy()
            .then(|| legacy_copy(hb));
        crate::metrics::metrics().membership_messages.inc();
        spawn_job(jobs, async move {
            if let Some(copy) = legacy
                && let Err(e) = net.publish(TOPIC_MEMBERS, copy).await
            {
                tracing::debug!("heartbeat on the old topic: {e}");
            }
            if let Err(e) = net.publish(topic, msg).await {
                tracing::debug!("heartbeat: {e}");
            }
        });
    }

    /// Log membership changes; a change in this zone (a suspicion, a member down) or a
    /// refutation goes out at once in a heartbeat rather than at the next interval.
    fn after_events(&mut self, evs: &[MembershipEvent], jobs: &mut JoinSet<()>) {
        log_events(evs);
        let mut urgent = false;
        let mut refuted = false;
        for ev in evs {
            match ev {
                MembershipEvent::Refuted { .. } => {
                    self.prober.on_accused();
                    urgent = true;
                    refuted = true;
                }
                MembershipEvent::Status { peer_id, to, .. } => {
                    urgent |= matches!(to, MemberStatus::Suspect | MemberStatus::Down);
                    if *to == MemberStatus::Suspect {
                        self.prober.probe_soon(peer_id);
                    }
                    // A member of this zone held down keeps no half-dead connection: close
                    // it, so that the redial (with back-off) finds the path as soon as it is
                    // back. Not a member of another zone: that word is second-hand (its
                    // zone's summary) while our link to it has its own ping check, and
                    // closing the cross-zone links on every such word cut the global topic's
                    // mesh into pieces at 50 zones (issue 17's WAN bed), so that summaries
                    // stopped arriving and the other zones were suspected in turn.
                    if *to == MemberStatus::Down
                        && self.in_my_zone(peer_id)
                        && let Ok(peer) = peer_id.parse::<PeerId>()
                        && self.shared.net.connected().contains(&peer)
                    {
                        let net = self.shared.net.clone();
                        spawn_job(jobs, async move {
                            let _ = net.disconnect(peer).await;
                        });
                    }
                }
                _ => {}
            }
        }
        if urgent {
            self.heartbeat(false, jobs);
        }
        // The other zones may have been told this peer is suspect or down: the refutation
        // reaches them at once too.
        if refuted {
            self.publish_summary(jobs);
        }
        // A mate heard of for the first time (a peer of this zone that just started): the
        // other zones hear of it from this zone's summary, now. A member of another zone heard
        // of for the first time needs nothing: it pulls the zones' summaries as it starts.
        if !refuted && self.new_zone_mate(evs) {
            self.announce(jobs);
        }
    }

    /// Whether the member `peer_id` is of this peer's zone.
    fn in_my_zone(&self, peer_id: &str) -> bool {
        self.shared
            .members
            .lock()
            .get(peer_id)
            .is_some_and(|m| m.info.zone == self.shared.me.zone)
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
                    (t, Gossip::Heartbeat(hb)) if t == self.zone_topic => {
                        crate::metrics::metrics().peer_heartbeats.inc();
                        crate::metrics::metrics().membership_messages.inc();
                        let evs = self.shared.members.lock().on_heartbeat(
                            &source.to_string(),
                            hb,
                            Instant::now(),
                        );
                        self.after_events(&evs, jobs);
                    }
                    (TOPIC_MEMBERS, Gossip::Heartbeat(hb)) => {
                        crate::metrics::metrics().peer_heartbeats.inc();
                        let evs = self.shared.members.lock().on_legacy_heartbeat(
                            &source.to_string(),
                            hb,
                            Instant::now(),
                        );
                        self.after_events(&evs, jobs);
                    }
                    (TOPIC_ZONES, Gossip::Summary(s)) => {
                        crate::metrics::metrics().membership_messages.inc();
                        self.take_summaries([s], jobs);
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
            NetEvent::SwimRequest {
                peer,
                request,
                channel,
            } => {
                self.answer_swim(peer, request, channel, jobs);
            }
            NetEvent::Connected(peer) => {
                tracing::debug!(%peer, "connected");
                self.backoff.remove(&peer);
                self.shared.members.lock().on_contact(&peer.to_string());
                self.pull_zones(peer, jobs);
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
                // A zone member whose last connection closed (a crashed process's kernel
                // resets them) is probed at once, beside the round-robin: every member of the
                // zone notices together, so the failed probes confirm each other within one
                // period instead of waiting for the round-robin to reach it (up to 2(n-1)-1
                // periods per observer). A silent cut closes nothing: the round-robin finds it.
                // (The prober only probes members that are alive or suspect.)
                self.prober.probe_soon(&peer.to_string());
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
}

/// The copy of a heartbeat for peers of the previous release, on the old topic (its bytes
/// differ from the zone topic's: gossip ids hash the bytes).
fn legacy_copy(hb: Gossip) -> Vec<u8> {
    match hb {
        Gossip::Heartbeat(mut hb) => {
            hb.legacy_copy = true;
            hb.suspects.clear();
            Gossip::Heartbeat(hb).encode()
        }
        other => other.encode(),
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
            MembershipEvent::Refuted { by } => {
                tracing::info!(by = %by, "membership: refuted a suspicion of this peer")
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

mod dial;
mod probe;
#[cfg(test)]
mod tests;
mod zones;

pub use dial::cross_zone_choice;
