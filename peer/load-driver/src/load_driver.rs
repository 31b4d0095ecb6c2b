//! The Load Driver's I/O shell: keeps the [`LoadIndex`] fed from the store's change stream,
//! and every round (or as soon as a system needs a node) asks [`load_plan::plan`] what to do
//! for this peer's zone and carries it out as batched store writes.
//!
//! ```text
//!   store changes ──► index task ──► LoadIndex ──┐
//!   membership ───────────────────────────────────┴─► driver task: plan ─► writes (+ gossip)
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crdt_store::{
    FaultReason, FaultRecord, Record, RecordKind, SystemFilter, SystemRecord, SystemStatus,
    replacement_key,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::LoadConfig;
use crate::hints::{HintCache, Hints};
use crate::load_index::LoadIndex;
use crate::load_plan::{self, Limits, Liveness, NodeState, Step, Takeover, ZoneState};
use cluster_core::change_feed::blocking;
use cluster_core::members::Members;
use cluster_core::membership::MemberStatus;
use cluster_core::now_ms;
use cluster_core::self_info::SelfInfo;

use crate::LoadCtx;
use crate::online::OnlineTracker;
use crate::placement::{Placer, pick_movers};

/// Systems rewritten per store batch (and per hold of the write lock). Large: each batch is
/// one automerge change per shard touched and one gossip message per shard, so a remap of
/// 100k systems is 4 × 1024 changes instead of 100 × 630 with batches of 1000 (measured:
/// 3.4k → 16.4k systems/s, docs/PERFORMANCE.md).
const CHUNK: usize = 25_000;
/// A reserved rebalancing target is dropped after this long.
const RESERVATION_TTL: Duration = Duration::from_secs(30);
/// How often this peer's online counts are recomputed for gossip.
const ONLINE_EVERY: Duration = Duration::from_secs(2);

/// The Load Driver's state shared with the HTTP handlers.
#[derive(Debug)]
pub struct LoadState {
    /// Configuration.
    pub cfg: LoadConfig,
    /// The index.
    pub index: Mutex<LoadIndex>,
    /// Heartbeats seen by this peer.
    pub online: OnlineTracker,
    /// Wakes the driver (a system needs a node).
    pub wake: Arc<Notify>,
    /// The agents' hints ([`LoadState::hints`]).
    hints: HintCache,
    own_online: Mutex<BTreeMap<String, u64>>,
    /// No decisions this long after start (see [`LoadState::new`]).
    startup_grace: Duration,
    /// The zone's eligible nodes as the driver saw them in its latest round while it led
    /// the zone (`None` otherwise): an accept by query places in the same write with it.
    place_view: Mutex<Option<PlaceView>>,
}

/// What an accept needs to place at once: the leader's zone and its eligible nodes.
#[derive(Debug, Clone)]
struct PlaceView {
    zone: String,
    /// Eligible nodes; their loads are re-read from the index when used.
    slots: Vec<crate::placement::Slot>,
    at: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LoadState {
    /// How long after a start no decision is made (the replica may still be stale).
    pub fn startup_grace(&self) -> Duration {
        self.startup_grace
    }

    /// Empty state. The driver makes no decision for `startup_grace` after it starts, so
    /// that a restarted or new peer first hears its zone's members and syncs their records.
    pub fn new(cfg: LoadConfig, startup_grace: Duration) -> Self {
        Self {
            startup_grace,
            cfg,
            index: Mutex::new(LoadIndex::new()),
            online: OnlineTracker::new(),
            wake: Arc::new(Notify::new()),
            hints: HintCache::default(),
            own_online: Mutex::new(BTreeMap::new()),
            place_view: Mutex::new(None),
        }
    }

    /// A placer for `incoming` systems being accepted right now, with the zone it places in,
    /// when this peer's driver leads its zone (issue 17: an accept by query places in the
    /// same write instead of leaving orphans for the next round — one write instead of two).
    /// It places as the driver's next round would: on the nodes eligible in its latest round
    /// (at most two ticks old, else `None`), by their current loads. `None` when this peer
    /// does not lead its zone, is still in its start-up grace, or no node can take systems.
    pub fn placer_for_accept(&self, incoming: usize, now: Instant) -> Option<(String, Placer)> {
        let view = lock(&self.place_view).clone()?;
        if now.saturating_duration_since(view.at) > 2 * self.cfg.tick.max(Duration::from_secs(1)) {
            return None;
        }
        let slots: Vec<crate::placement::Slot> = {
            let ix = self.index();
            view.slots
                .into_iter()
                .map(|mut s| {
                    s.load = ix.assigned(&s.name);
                    s
                })
                .collect()
        };
        let placer = Placer::new(slots, incoming as u64, self.cfg.slack);
        (!placer.is_empty()).then_some((view.zone, placer))
    }

    fn set_place_view(&self, view: Option<PlaceView>) {
        *lock(&self.place_view) = view;
    }

    /// Lock the index (short critical sections only).
    pub fn index(&self) -> std::sync::MutexGuard<'_, LoadIndex> {
        lock(&self.index)
    }

    /// The agents' hints: the nodes (salt master and peer addresses) and the alive peers of
    /// every zone, `me` excluded. Built when an agent asks and what they are made of changed
    /// since (the membership table's and the index's generations), at most once per
    /// [`HINTS_EVERY`] while it keeps changing. Until issue 17 the driver rebuilt them every
    /// round from every member and node; then it hashed the same inputs every round; in the
    /// 500-peer WAN bed either was a tenth of every idle peer's CPU, for answers no agent
    /// had asked for.
    pub fn hints(&self, members: &Members, me: &SelfInfo) -> Arc<Hints> {
        // Members before the index: the order every holder of both takes them in.
        let members = members.lock();
        self.hints.get(&members, &self.index(), &me.http)
    }

    /// This peer's latest online counts per node (for the membership heartbeat).
    pub fn own_online(&self) -> BTreeMap<String, u64> {
        lock(&self.own_online).clone()
    }
}

/// Run the index task and the driver until `cancel`.
pub async fn run(shared: LoadCtx, cancel: CancellationToken) {
    let changes = shared.replica.store().subscribe();
    let index = tokio::spawn(cluster_core::change_feed::follow(
        shared.replica.store().clone(),
        changes,
        shared.load.clone(),
        cancel.clone(),
    ));
    Driver::new(shared).run(cancel).await;
    let _ = index.await;
}

/// The index follows the store's change feed; a new orphan wakes the driver.
impl cluster_core::change_feed::Follower for LoadState {
    fn rebuild(&self, store: &crdt_store::Store) {
        let mut ix = LoadIndex::new();
        for kind in [
            RecordKind::Node,
            RecordKind::Fault,
            RecordKind::Policy,
            RecordKind::Lease,
        ] {
            for r in store.records(kind) {
                ix.apply(&r.key(), Some(&r));
            }
        }
        store.systems_where(|s| {
            let r = Record::System(s.clone());
            ix.apply(&r.key(), Some(&r));
            false
        });
        let mut current = self.index();
        ix.continue_generations(&current);
        *current = ix;
        drop(current);
        self.wake.notify_one();
    }

    fn apply(&self, changes: Vec<(String, Option<Record>)>) {
        let mut ix = self.index();
        let orphans_before = ix.orphan_count();
        for (k, r) in &changes {
            ix.apply(k, r.as_ref());
        }
        if ix.orphan_count() > orphans_before {
            self.wake.notify_one();
        }
    }
}

async fn rebuild(shared: &LoadCtx) {
    cluster_core::change_feed::rebuild(shared.replica.store(), &shared.load).await;
}

struct Driver {
    shared: LoadCtx,
    /// Faults declared by this peer, with the membership `since` of the absence they were
    /// declared for.
    declared: HashMap<String, Option<Instant>>,
    /// Node records seen without any membership entry, since when.
    unheard: HashMap<String, Instant>,
    /// Rebalancing targets of systems orphaned on purpose.
    reserved: HashMap<String, (String, Instant)>,
    /// Fingerprints on overloaded nodes (for picking movers), with when they were read.
    candidates: HashMap<String, (Vec<String>, Instant)>,
    last_online: Option<Instant>,
}

impl Driver {
    fn new(shared: LoadCtx) -> Self {
        Self {
            shared,
            declared: HashMap::new(),
            unheard: HashMap::new(),
            reserved: HashMap::new(),
            candidates: HashMap::new(),
            last_online: None,
        }
    }

    async fn run(mut self, cancel: CancellationToken) {
        let cfg = self.shared.load.cfg.clone();
        let mut tick = tokio::time::interval(cfg.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = Instant::now();
        let rate = f64::from(cfg.rebalance_moves_per_s);
        // Rebalancing budget: a token bucket (rate per second, at most one second's worth),
        // so that wake-ups do not multiply the rate.
        let mut tokens = 0.0_f64;
        let mut last_refill = Instant::now();
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = tick.tick() => {}
                () = self.shared.load.wake.notified() => {}
            }
            let now = Instant::now();
            if self
                .last_online
                .is_none_or(|t| now.duration_since(t) >= ONLINE_EVERY)
            {
                self.last_online = Some(now);
                let counts = self
                    .shared
                    .load
                    .online
                    .counts(now_ms(), cfg.online_window.as_millis() as u64);
                *lock(&self.shared.load.own_online) = counts;
            }
            self.reserved
                .retain(|_, (_, at)| now.duration_since(*at) < RESERVATION_TTL);
            // A peer that just started may not know its zone yet (node records still
            // syncing, members still suspect): it decides nothing before the grace period.
            if now.duration_since(started) < self.shared.load.startup_grace {
                continue;
            }
            tokens = (tokens + rate * now.duration_since(last_refill).as_secs_f64()).min(rate);
            last_refill = now;
            let limits = Limits {
                failure_timeout: cfg.failure_timeout,
                maintenance_window: cfg.maintenance_window,
                slack: cfg.slack,
                move_budget: tokens.floor() as u64,
            };
            let takeover = self.takeover().await;
            let zone = self.zone_state(now, takeover);
            let leads = load_plan::leader(&zone) == Some(zone.me.as_str());
            self.shared.load.set_place_view(leads.then(|| PlaceView {
                zone: self.shared.me.zone.clone(),
                slots: zone.slots(),
                at: now,
            }));
            for step in load_plan::plan(&zone, &limits) {
                if cancel.is_cancelled() {
                    return;
                }
                // Steps that change many loads end the round: the next one plans with
                // the index caught up.
                let structural = matches!(
                    step,
                    Step::DeclareFault { .. }
                        | Step::RemapFaulty { .. }
                        | Step::ReturnSystems { .. }
                        | Step::TakeOver { .. }
                );
                if let Step::Rebalance(t) = &step {
                    tokens -= t.iter().map(|t| t.count as f64).sum::<f64>();
                }
                match self.execute(step, &zone).await {
                    Ok(()) => {}
                    Err(DriveError::Store(e)) => {
                        // A failed batch may have changed documents without a change event
                        // (the WAL write failed after the in-memory commit): resync the index.
                        tracing::warn!("load driver: {e}; rebuilding the index");
                        rebuild(&self.shared).await;
                        break;
                    }
                    Err(e) => tracing::warn!("load driver: {e}"),
                }
                if structural {
                    self.shared.load.wake.notify_one();
                    break;
                }
            }
        }
    }

    /// The pending replacement this peer's node is the fresh node of, with whether its
    /// content is complete (read from the store only while one is pending).
    async fn takeover(&self) -> Option<Takeover> {
        let me = self.shared.me.clone();
        let old = self.shared.load.index().replacing(&me.name)?.old.clone();
        let store = self.shared.replica.store().clone();
        let missing = blocking(move || content_missing_on(&store, &me.zone, &me.name))
            .await
            .unwrap_or_else(|| vec!["(not read)".into()]);
        Some(Takeover {
            old,
            content_ready: missing.is_empty(),
        })
    }

    /// This peer's view of its zone.
    fn zone_state(&mut self, now: Instant, takeover: Option<Takeover>) -> ZoneState {
        let me = self.shared.me.clone();
        // Liveness by node name: the best status among members using that name (a restored
        // node may still have its old peer id listed as down).
        // Only this zone's nodes and members are looked up (hundreds of zones: every round
        // copied, then hashed, every member's name).
        let mine: std::collections::HashSet<String> = self
            .shared
            .load
            .index()
            .nodes()
            .iter()
            .filter(|(_, n)| n.zone == me.zone)
            .map(|(name, _)| name.clone())
            .collect();
        let mut live: HashMap<String, (MemberStatus, Instant)> = HashMap::new();
        for m in self.shared.members.lock().local_members() {
            if !mine.contains(&m.info.name) {
                continue;
            }
            let rank = |s: MemberStatus| match s {
                MemberStatus::Alive => 0,
                MemberStatus::Suspect => 1,
                MemberStatus::Left => 2,
                MemberStatus::Down => 3,
            };
            let e = live
                .entry(m.info.name.clone())
                .or_insert((m.status, m.since()));
            if rank(m.status) < rank(e.0) {
                *e = (m.status, m.since());
            }
        }
        let ix = self.shared.load.index();
        let mut nodes = Vec::new();
        for (name, n) in ix.nodes() {
            if n.zone != me.zone {
                continue;
            }
            let (liveness, since) = if *name == me.name {
                (Liveness::Alive, None)
            } else {
                match live.get(name) {
                    Some((MemberStatus::Alive, _)) => (Liveness::Alive, None),
                    Some((MemberStatus::Suspect, s)) => (Liveness::Suspect, Some(*s)),
                    Some((MemberStatus::Down, s)) => {
                        (Liveness::Down(now.duration_since(*s)), Some(*s))
                    }
                    Some((MemberStatus::Left, s)) => {
                        (Liveness::Left(now.duration_since(*s)), Some(*s))
                    }
                    None => {
                        let s = *self.unheard.entry(name.clone()).or_insert(now);
                        (Liveness::Down(now.duration_since(s)), Some(s))
                    }
                }
            };
            if liveness == Liveness::Alive {
                self.unheard.remove(name);
                self.declared.remove(name);
            }
            nodes.push(NodeState {
                name: name.clone(),
                capacity: n.capacity,
                liveness,
                faulty: ix.faults().contains_key(name),
                declared: self.declared.get(name).is_some_and(|d| *d == since),
                assigned: ix.assigned(name),
                ready: ix.common_ready(n),
                retired: ix.retired(name),
                reserved: ix.replacing(name).is_some() || ix.integrity_faulty(name),
                reprovisioning: ix.reprovisioning(name),
            });
        }
        // This peer's own record may not be indexed yet on a first start.
        if !nodes.iter().any(|n| n.name == me.name) {
            nodes.push(NodeState {
                name: me.name.clone(),
                capacity: 1.0,
                liveness: Liveness::Alive,
                faulty: ix.faults().contains_key(&me.name),
                declared: false,
                assigned: ix.assigned(&me.name),
                ready: !me.node_controller,
                retired: ix.retired(&me.name),
                reserved: ix.replacing(&me.name).is_some() || ix.integrity_faulty(&me.name),
                reprovisioning: ix.reprovisioning(&me.name),
            });
        }
        ZoneState {
            me: me.name.clone(),
            mode: ix.mode(&me.zone),
            nodes,
            orphans: ix.orphan_count_in(&me.zone),
            takeover,
        }
    }

    async fn execute(&mut self, step: Step, zone: &ZoneState) -> Result<(), DriveError> {
        match step {
            Step::DeclareFault { node, reason } => self.declare_fault(&node, reason, zone).await,
            Step::RemapFaulty { node } => self.remap_node(&node, zone).await.map(|_| ()),
            Step::ReturnSystems { node } => self.return_systems(&node).await,
            Step::ReOnboardSelf => self.reonboard_self().await,
            Step::PlaceOrphans => self.place_orphans(zone).await,
            Step::TakeOver { old } => self.take_over(&old).await,
            Step::Rebalance(transfers) => {
                for t in transfers {
                    self.transfer(&t.from, &t.to, t.count as usize, zone)
                        .await?;
                }
                Ok(())
            }
        }
    }

    fn placer(zone: &ZoneState, incoming: usize, slack: f64) -> Placer {
        Placer::new(zone.slots(), incoming as u64, slack)
    }

    async fn declare_fault(
        &mut self,
        node: &str,
        reason: FaultReason,
        zone: &ZoneState,
    ) -> Result<(), DriveError> {
        let me = self.shared.me.clone();
        let since = zone
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| n.liveness);
        tracing::warn!(
            node,
            ?reason,
            ?since,
            "declaring node faulty; remapping its systems"
        );
        let started = Instant::now();
        let fault = Record::Fault(FaultRecord {
            node: node.to_string(),
            zone: me.zone.clone(),
            reason,
            since: now_ms(),
            declared_by: me.name.clone(),
        });
        self.put(vec![fault]).await?;
        // Remember which absence this was, so it is declared once.
        let member_since = {
            let members = self.shared.members.lock();
            members
                .members()
                .filter(|m| m.info.name == node && m.status != MemberStatus::Alive)
                .map(|m| m.since())
                .min()
        };
        let member_since = member_since.or_else(|| self.unheard.get(node).copied());
        self.declared.insert(node.to_string(), member_since);
        let n = self.remap_node(node, zone).await?;
        cluster_core::metrics::metrics().faults_declared.inc();
        tracing::warn!(
            node,
            remapped = n,
            ms = started.elapsed().as_millis() as u64,
            "remap done"
        );
        Ok(())
    }

    /// Move every system still onboarded on `node` (faulty) to the zone's eligible nodes,
    /// each in one write with `previous_node` = `node` (unless it already names another
    /// faulty node: its original home, which disaster recovery must still find).
    async fn remap_node(&mut self, node: &str, zone: &ZoneState) -> Result<usize, DriveError> {
        let mut fps = self.onboarded_on(node).await;
        fps.sort();
        let faulty: std::collections::HashSet<String> =
            self.shared.load.index().faults().keys().cloned().collect();
        let mut placer = Self::placer(zone, fps.len(), self.shared.load.cfg.slack);
        let failed = node.to_string();
        self.rewrite(fps, move |r| {
            if r.node.as_deref() != Some(failed.as_str())
                || r.status != SystemStatus::Onboarded
                || r.banned
            {
                return false;
            }
            let keep_home = r
                .previous_node
                .as_ref()
                .is_some_and(|p| *p != failed && faulty.contains(p));
            if !keep_home {
                r.previous_node = Some(failed.clone());
            }
            match placer.place(&r.fingerprint) {
                Some(n) => r.node = Some(n.to_string()),
                None => {
                    r.node = None;
                    r.status = SystemStatus::Orphan;
                }
            }
            true
        })
        .await
        .inspect(|&n| {
            cluster_core::metrics::metrics()
                .remapped_systems
                .inc_by(n as u64);
        })
    }

    async fn return_systems(&mut self, node: &str) -> Result<(), DriveError> {
        let (store, name) = (self.shared.replica.store().clone(), node.to_string());
        let mut fps: Vec<String> = blocking(move || {
            store
                .systems_where(|s| {
                    s.previous_node.as_deref() == Some(name.as_str())
                        && s.node.as_deref() != Some(name.as_str())
                        && !s.banned
                        && s.status != SystemStatus::Deleted
                })
                .into_iter()
                .map(|s| s.fingerprint)
                .collect()
        })
        .await
        .unwrap_or_default();
        fps.sort();
        let home = node.to_string();
        let n = self
            .rewrite(fps, move |r| {
                if r.previous_node.as_deref() != Some(home.as_str())
                    || r.banned
                    || r.status == SystemStatus::Deleted
                    || r.status == SystemStatus::New
                {
                    return false;
                }
                r.node = Some(home.clone());
                r.previous_node = None;
                r.status = SystemStatus::Onboarded;
                true
            })
            .await?;
        self.delete_fault(node).await?;
        self.declared.remove(node);
        tracing::info!(node, returned = n, "disaster recovery: systems returned");
        Ok(())
    }

    /// Node replacement: every system of `old` (onboarded on it, or remapped away from it
    /// and waiting for a disaster recovery) comes to this node; nobody else's systems move.
    /// Then `old` is retired and the replacement marked done.
    async fn take_over(&mut self, old: &str) -> Result<(), DriveError> {
        let me = self.shared.me.clone();
        let Some(mut x) = self.shared.load.index().replacements().get(old).cloned() else {
            return Ok(());
        };
        let (store, name) = (self.shared.replica.store().clone(), old.to_string());
        let mut fps: Vec<String> = blocking(move || {
            store
                .systems_where(|s| {
                    (s.node.as_deref() == Some(name.as_str())
                        || s.previous_node.as_deref() == Some(name.as_str()))
                        && !s.banned
                        && matches!(s.status, SystemStatus::Onboarded | SystemStatus::Orphan)
                })
                .into_iter()
                .map(|s| s.fingerprint)
                .collect()
        })
        .await
        .unwrap_or_default();
        fps.sort();
        let (from, to) = (old.to_string(), me.name.clone());
        let moved = self
            .rewrite(fps, move |r| {
                let ours = r.node.as_deref() == Some(from.as_str())
                    || r.previous_node.as_deref() == Some(from.as_str());
                if !ours
                    || r.banned
                    || !matches!(r.status, SystemStatus::Onboarded | SystemStatus::Orphan)
                {
                    return false;
                }
                r.node = Some(to.clone());
                r.previous_node = None;
                r.status = SystemStatus::Onboarded;
                true
            })
            .await?;
        let now = now_ms();
        x.done_at = Some(now);
        x.moved = moved as u64;
        x.updated_at = now;
        let fault = Record::Fault(FaultRecord {
            node: old.to_string(),
            zone: me.zone.clone(),
            reason: FaultReason::Retired,
            since: now,
            declared_by: me.name.clone(),
        });
        self.put(vec![fault, Record::Replacement(x)]).await?;
        tracing::warn!(
            old,
            new = %me.name,
            moved,
            key = %replacement_key(old),
            "node replacement: took over the replaced node's systems; it is retired"
        );
        Ok(())
    }

    async fn reonboard_self(&mut self) -> Result<(), DriveError> {
        let me = self.shared.me.name.clone();
        // Flush: the systems still registered on this node's Uyuni server that the cluster
        // gave to others are dropped by the Node Controller when it sees their records; the
        // Metastore side has nothing left on this node (its systems were remapped).
        tracing::warn!(
            node = %me,
            "this node was declared faulty while away: re-onboarding (flush and re-join)"
        );
        // Production re-onboarding starts empty: the systems remapped away are no longer
        // "this node's" for a later disaster recovery.
        let (store, name) = (self.shared.replica.store().clone(), me.clone());
        let fps: Vec<String> = blocking(move || {
            store
                .systems_where(|s| s.previous_node.as_deref() == Some(name.as_str()))
                .into_iter()
                .map(|s| s.fingerprint)
                .collect()
        })
        .await
        .unwrap_or_default();
        let home = me.clone();
        self.rewrite(fps, move |r| {
            if r.previous_node.as_deref() != Some(home.as_str()) {
                return false;
            }
            r.previous_node = None;
            true
        })
        .await?;
        self.delete_fault(&me).await
    }

    async fn place_orphans(&mut self, zone: &ZoneState) -> Result<(), DriveError> {
        let fps = self.shared.load.index().orphans_in(&self.shared.me.zone);
        if fps.is_empty() {
            return Ok(());
        }
        let mut placer = Self::placer(zone, fps.len(), self.shared.load.cfg.slack);
        if placer.is_empty() {
            return Ok(());
        }
        let mut reserved: HashMap<String, String> = fps
            .iter()
            .filter_map(|fp| self.reserved.remove(fp).map(|(t, _)| (fp.clone(), t)))
            .collect();
        self.rewrite(fps, move |r| {
            if r.status != SystemStatus::Orphan || r.node.is_some() || r.banned {
                return false;
            }
            let target = match reserved.remove(&r.fingerprint) {
                Some(t) if placer.place_on(&t) => Some(t),
                _ => placer.place(&r.fingerprint).map(String::from),
            };
            match target {
                Some(t) => {
                    r.node = Some(t);
                    r.status = SystemStatus::Onboarded;
                    true
                }
                None => false,
            }
        })
        .await?;
        Ok(())
    }

    async fn transfer(
        &mut self,
        from: &str,
        to: &str,
        count: usize,
        zone: &ZoneState,
    ) -> Result<(), DriveError> {
        let now = Instant::now();
        let stale = self
            .candidates
            .get(from)
            .is_none_or(|(list, at)| list.is_empty() || now.duration_since(*at) > RESERVATION_TTL);
        if stale {
            let list = self.onboarded_on(from).await;
            self.candidates.insert(from.to_string(), (list, now));
        }
        let weight = zone
            .nodes
            .iter()
            .find(|n| n.name == to)
            .map_or(1.0, |n| n.capacity);
        let movers = match self.candidates.get_mut(from) {
            Some((list, _)) => {
                let m = pick_movers(list, to, weight, count);
                list.retain(|fp| !m.contains(fp));
                m
            }
            None => Vec::new(),
        };
        for fp in &movers {
            self.reserved.insert(fp.clone(), (to.to_string(), now));
        }
        let src = from.to_string();
        let n = self
            .rewrite(movers, move |r| {
                if r.node.as_deref() != Some(src.as_str())
                    || r.status != SystemStatus::Onboarded
                    || r.banned
                {
                    return false;
                }
                r.node = None;
                r.status = SystemStatus::Orphan;
                // Moved on purpose: no longer waiting for a disaster recovery elsewhere.
                r.previous_node = None;
                true
            })
            .await?;
        tracing::info!(from, to, moved = n, "rebalancing");
        Ok(())
    }

    /// Fingerprints of the systems onboarded on `node` (a scan of the store).
    async fn onboarded_on(&self, node: &str) -> Vec<String> {
        let (store, name) = (self.shared.replica.store().clone(), node.to_string());
        blocking(move || {
            store
                .systems(&SystemFilter {
                    node: Some(name),
                    status: Some(SystemStatus::Onboarded),
                    ..SystemFilter::default()
                })
                .into_iter()
                .map(|s| s.fingerprint)
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    async fn delete_fault(&self, node: &str) -> Result<(), DriveError> {
        let _w = self.shared.replica.write_lock().await;
        let (store, key) = (
            self.shared.replica.store().clone(),
            format!("{}{node}", RecordKind::Fault.prefix()),
        );
        let frames = blocking(move || store.delete(&key))
            .await
            .ok_or(DriveError::Task)??;
        self.shared.replica.broadcast(frames).await;
        Ok(())
    }

    async fn put(&self, records: Vec<Record>) -> Result<(), DriveError> {
        let _w = self.shared.replica.write_lock().await;
        let store = self.shared.replica.store().clone();
        let frames = blocking(move || store.put_batch(&records))
            .await
            .ok_or(DriveError::Task)??;
        self.shared.replica.broadcast(frames).await;
        Ok(())
    }

    /// Re-read each system under the write lock, let `f` change it (returning whether it
    /// did), and write the changed ones in batches. Returns how many were written.
    async fn rewrite<F>(&self, fps: Vec<String>, f: F) -> Result<usize, DriveError>
    where
        F: FnMut(&mut SystemRecord) -> bool + Send + 'static,
    {
        let mut f = f;
        let mut written = 0;
        for chunk in fps.chunks(CHUNK) {
            let w = self.shared.replica.write_lock().await;
            let (store, chunk) = (self.shared.replica.store().clone(), chunk.to_vec());
            let (res, back) = blocking(move || {
                let now = now_ms();
                let res = store.update_systems(&chunk, |r| {
                    let changed = f(r);
                    if changed {
                        r.updated_at = now.max(r.updated_at.saturating_add(1));
                    }
                    changed
                });
                (res, f)
            })
            .await
            .ok_or(DriveError::Task)?;
            drop(w);
            f = back;
            let (frames, n) = res?;
            written += n;
            self.shared.replica.broadcast(frames).await;
        }
        Ok(written)
    }
}

/// Why a Load Driver step failed (it is retried next round).
#[derive(Debug, thiserror::Error)]
enum DriveError {
    #[error(transparent)]
    Store(#[from] crdt_store::StoreError),
    #[error("a blocking task failed")]
    Task,
}

/// The repositories a node of `zone` should hold and `node` does not hold completely.
pub fn content_missing_on(store: &crdt_store::Store, zone: &str, node: &str) -> Vec<String> {
    crdt_store::content_missing_in(store, zone, node)
}
