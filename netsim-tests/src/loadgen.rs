//! # Load generator: a fleet of simulated client agents
//!
//! Like Uyuni's evil-minions does for salt minions, a [`Fleet`] simulates many client agents
//! (tens of thousands) as lightweight tokio tasks against a real cluster, speaking the agent
//! protocol (docs/AGENT-PROTOCOL.md) the way `uyuni-cluster-agent` does:
//!
//! - knock with `GET /system/status?fp=` every heartbeat, jittered by ±20 %;
//! - `u`: `POST /system/register`; `n`: keep knocking (the fleet's admin accepts it through
//!   `POST /systems/{fp}/accept`, see [`FleetConfig::accept`]);
//! - `o`: take the node from `X-Uyuni-Node` and prefer the peer beside it
//!   (`X-Uyuni-Node-Peer`) as the entry point;
//! - `r`: drop the node and ask `GET /system/orphan` (honouring `Retry-After`) until one
//!   comes; `d`: stop;
//! - entry points: each agent starts with one peer and adds those of `X-Uyuni-Peers`; on a
//!   connection error or a 5xx it tries the next at once, and backs off exponentially (with
//!   jitter) once every entry point failed in a row.
//!
//! ```text
//!   agent tasks (one per system) ──► HttpPool (permits + keep-alive pool) ──► peers
//!        │ first `n`
//!        └──► admin channel ──► admin task: accepts, bounded ──► HttpPool
//! ```
//!
//! Every agent records what it believes ([`AgentView`]): its last status, its node and the
//! nodes it went through, so a scenario can compare the fleet with the cluster's records
//! ([`scenario`]). Randomness (fingerprints, jitter, start offsets) is seeded.

pub mod http;
pub mod scenario;
pub mod storm;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use self::http::{HttpPool, Latency, Reply, RequestError};

/// Entry points an agent remembers at most.
const MAX_ENTRIES: usize = 16;

/// How a fleet behaves.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Simulated agents. Default 1000.
    pub agents: usize,
    /// Seed of every random choice. Default 1.
    pub seed: u64,
    /// Heartbeat interval of every agent; replaces the cluster's `X-Uyuni-Heartbeat`, so that
    /// a fleet can be slowed down or sped up to what the machine can drive (evil-minions'
    /// slowdown factor). Default 1 s.
    pub heartbeat: Duration,
    /// Relative jitter of each wait (±). Default 0.2, as the real agent.
    pub jitter: f64,
    /// Requests in flight at once over the whole fleet (and so the most sockets per peer).
    /// Default 64.
    pub max_in_flight: usize,
    /// A request without an answer after this long counts as failed. Default 10 s.
    pub request_timeout: Duration,
    /// Longest back-off once every entry point failed. Default 10 s (the real agent: 300 s).
    pub backoff_max: Duration,
    /// The fleet's admin accepts every system that registers (through the admin API of the
    /// agent's entry points). Default true.
    pub accept: bool,
    /// Accept requests in flight at once. Default 8.
    pub accept_concurrency: usize,
    /// Accept by query instead of one system at a time: every interval, while registrations
    /// outnumber acceptances, the admin sends `POST /search/bulk` (`status:new`, accept) to
    /// the next entry point. Default `None` (one `POST /systems/{fp}/accept` per system).
    pub bulk_accept: Option<Duration>,
    /// With `bulk_accept`: accept in pages of this many systems (`limit` of the request; the
    /// admin asks for the next page at once while the answer says some remain). Default
    /// `None`: one request accepts every match.
    pub bulk_page: Option<u64>,
    /// The fleet's first knocks are spread over this long. Default `None`: one heartbeat.
    pub start_spread: Option<Duration>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            agents: 1000,
            seed: 1,
            heartbeat: Duration::from_secs(1),
            jitter: 0.2,
            max_in_flight: 64,
            request_timeout: Duration::from_secs(10),
            backoff_max: Duration::from_secs(10),
            accept: true,
            accept_concurrency: 8,
            bulk_accept: None,
            bulk_page: None,
            start_spread: None,
        }
    }
}

/// The last status an agent was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    /// `u`: the cluster does not know it (it registers).
    Unknown,
    /// `n`: registered, waiting for acceptance.
    New,
    /// `o`: onboarded on a node.
    Onboarded,
    /// `r`: orphan, waiting for a node.
    Orphan,
    /// `d`: deleted or banned; the agent stopped.
    Deleted,
}

/// What one agent believes.
#[derive(Debug, Clone, Default)]
pub struct AgentView {
    /// Last status (None before the first answer).
    pub status: Option<AgentStatus>,
    /// The node (`X-Uyuni-Node`, or the body of `/system/orphan`) its minion uses now.
    pub node: Option<Arc<str>>,
    /// Every node it was sent to, in order (consecutive duplicates merged).
    pub nodes: Vec<Arc<str>>,
    /// Status answers received.
    pub heartbeats: u64,
    /// Times it was told it is an orphan (`r`).
    pub orphaned: u64,
    /// The entry point of its last answer.
    pub entry: Option<Arc<str>>,
}

impl AgentView {
    fn set_node(&mut self, node: Arc<str>) {
        if self.nodes.last() != Some(&node) {
            self.nodes.push(node.clone());
        }
        self.node = Some(node);
        self.status = Some(AgentStatus::Onboarded);
    }
}

/// Fleet-wide counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// `GET /system/status` answered with 200.
    pub status: AtomicU64,
    /// `POST /system/register` answered with 200.
    pub registered: AtomicU64,
    /// `GET /system/orphan` asked.
    pub orphan_asks: AtomicU64,
    /// ... answered "not yet" (204).
    pub orphan_waits: AtomicU64,
    /// `POST /systems/{fp}/accept` answered with 200.
    pub accepted: AtomicU64,
    /// Switches to another entry point after an error.
    pub failovers: AtomicU64,
    /// Back-offs after every entry point failed.
    pub backoffs: AtomicU64,
    /// Answers with an unexpected status (4xx where none is expected, 5xx).
    pub bad_answers: AtomicU64,
    /// `POST /search/bulk` accepts answered with 200 ([`FleetConfig::bulk_accept`]).
    pub bulk_accepts: AtomicU64,
    /// `429 Too Many Requests` answers (the agents' door's budgets, the onboarding pool).
    pub throttled: AtomicU64,
}

/// A plain copy of [`Counters`] plus the pool's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CountersSnapshot {
    /// See [`Counters::status`].
    pub status: u64,
    /// See [`Counters::registered`].
    pub registered: u64,
    /// See [`Counters::orphan_asks`].
    pub orphan_asks: u64,
    /// See [`Counters::orphan_waits`].
    pub orphan_waits: u64,
    /// See [`Counters::accepted`].
    pub accepted: u64,
    /// See [`Counters::failovers`].
    pub failovers: u64,
    /// See [`Counters::backoffs`].
    pub backoffs: u64,
    /// See [`Counters::bad_answers`].
    pub bad_answers: u64,
    /// See [`Counters::bulk_accepts`].
    pub bulk_accepts: u64,
    /// See [`Counters::throttled`].
    pub throttled: u64,
    /// Requests answered (pool).
    pub answered: u64,
    /// Requests without an answer (pool).
    pub failed: u64,
}

struct Agent {
    /// Its identity in [`crate::sim_keys`].
    identity: u64,
    fingerprint: String,
    /// The token of its last registration.
    token: Mutex<Option<String>>,
    /// Registrations signed so far (part of each nonce).
    signed: AtomicU64,
    view: Mutex<AgentView>,
    /// Handed to the admin for acceptance (reset when the accept failed).
    accept_sent: AtomicBool,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct FleetShared {
    cfg: FleetConfig,
    pool: HttpPool,
    agents: Vec<Agent>,
    entry_points: Vec<Arc<str>>,
    counters: Counters,
    /// The last unexpected answer, described.
    last_unexpected: Mutex<Option<String>>,
}

impl FleetShared {
    fn unexpected(&self, r: &Reply, what: &str) {
        self.counters.bad_answers.fetch_add(1, Ordering::Relaxed);
        let body = String::from_utf8_lossy(&r.body[..r.body.len().min(200)]).into_owned();
        *lock(&self.last_unexpected) = Some(format!("{what}: {} {body}", r.status));
    }
}

/// A running fleet of simulated agents; see the module documentation. Dropping it aborts
/// every task; [`Fleet::shutdown`] stops them and waits.
#[derive(Debug)]
pub struct Fleet {
    shared: Arc<FleetShared>,
    tasks: JoinSet<()>,
    cancel: CancellationToken,
}

/// A random string in `salt-key -F` form (32 random bytes, hex pairs joined by `:`); the
/// fleet's agents have signed identities instead ([`crate::sim_keys`]).
pub fn fingerprint(rng: &mut impl Rng) -> String {
    let bytes: [u8; 32] = rng.random();
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(":")
}

impl Fleet {
    /// Start `cfg.agents` agents on `rt`, spread round-robin over `entry_points`
    /// (`host:port` of peers' HTTP APIs).
    pub fn start(
        rt: &tokio::runtime::Handle,
        cfg: FleetConfig,
        entry_points: &[String],
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!entry_points.is_empty(), "a fleet needs an entry point");
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        anyhow::ensure!(
            cfg.agents as u64 <= crate::sim_keys::IDENTITIES,
            "at most {} simulated agents",
            crate::sim_keys::IDENTITIES
        );
        let keys = crate::sim_keys::keys();
        let first = rng.random_range(0..crate::sim_keys::IDENTITIES);
        let agents = (0..cfg.agents as u64)
            .map(|i| {
                let identity = (first + i) % crate::sim_keys::IDENTITIES;
                Agent {
                    identity,
                    fingerprint: keys.fingerprint(identity),
                    token: Mutex::new(None),
                    signed: AtomicU64::new(0),
                    view: Mutex::new(AgentView::default()),
                    accept_sent: AtomicBool::new(false),
                }
            })
            .collect();
        let pool = {
            let _guard = rt.enter();
            HttpPool::new(cfg.max_in_flight, cfg.request_timeout)
        };
        let shared = Arc::new(FleetShared {
            pool,
            agents,
            entry_points: entry_points.iter().map(|e| Arc::from(e.as_str())).collect(),
            counters: Counters::default(),
            last_unexpected: Mutex::new(None),
            cfg,
        });
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let per_system = shared.cfg.accept && shared.cfg.bulk_accept.is_none();
        let (admin_tx, admin_rx) = mpsc::channel(if per_system {
            shared.agents.len().max(1)
        } else {
            1
        });
        let admin_tx = per_system.then_some(admin_tx);
        if admin_tx.is_some() {
            tasks.spawn_on(admin(shared.clone(), admin_rx, cancel.child_token()), rt);
        }
        if let (true, Some(every)) = (shared.cfg.accept, shared.cfg.bulk_accept) {
            tasks.spawn_on(bulk_admin(shared.clone(), every, cancel.child_token()), rt);
        }
        for i in 0..shared.agents.len() {
            let agent = AgentTask {
                shared: shared.clone(),
                index: i,
                rng: ChaCha8Rng::seed_from_u64(rng.random()),
                entries: Entries::new(shared.entry_points[i % shared.entry_points.len()].clone()),
                admin: admin_tx.clone(),
            };
            tasks.spawn_on(agent.run(cancel.child_token()), rt);
        }
        Ok(Self {
            shared,
            tasks,
            cancel,
        })
    }

    /// Number of agents.
    pub fn len(&self) -> usize {
        self.shared.agents.len()
    }

    /// True for a fleet of no agent.
    pub fn is_empty(&self) -> bool {
        self.shared.agents.is_empty()
    }

    /// The fingerprint of agent `i`.
    pub fn fingerprint(&self, i: usize) -> &str {
        &self.shared.agents[i].fingerprint
    }

    /// What agent `i` believes now.
    pub fn view(&self, i: usize) -> AgentView {
        lock(&self.shared.agents[i].view).clone()
    }

    /// What every agent believes now, by agent index.
    pub fn views(&self) -> Vec<AgentView> {
        self.shared
            .agents
            .iter()
            .map(|a| lock(&a.view).clone())
            .collect()
    }

    /// Count the agents whose view satisfies `pred` (cheaper than [`Self::views`]).
    pub fn count(&self, mut pred: impl FnMut(&AgentView) -> bool) -> usize {
        self.shared
            .agents
            .iter()
            .filter(|a| pred(&lock(&a.view)))
            .count()
    }

    /// The fleet's counters so far.
    pub fn counters(&self) -> CountersSnapshot {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CountersSnapshot {
            status: get(&c.status),
            registered: get(&c.registered),
            orphan_asks: get(&c.orphan_asks),
            orphan_waits: get(&c.orphan_waits),
            accepted: get(&c.accepted),
            failovers: get(&c.failovers),
            backoffs: get(&c.backoffs),
            bad_answers: get(&c.bad_answers),
            bulk_accepts: get(&c.bulk_accepts),
            throttled: get(&c.throttled),
            answered: get(&self.shared.pool.stats().answered),
            failed: get(&self.shared.pool.stats().failed),
        }
    }

    /// The last request without an answer, described.
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .pool
            .stats()
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The last answer with an unexpected status or body, described.
    pub fn last_unexpected(&self) -> Option<String> {
        lock(&self.shared.last_unexpected).clone()
    }

    /// Latency of the fleet's answered requests.
    pub fn latency(&self) -> &Latency {
        &self.shared.pool.stats().latency
    }

    /// Stop every agent and wait for the tasks (reports panicked ones).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.cancel.cancel();
        let mut panicked = 0;
        while let Some(r) = self.tasks.join_next().await {
            if r.is_err_and(|e| e.is_panic()) {
                panicked += 1;
            }
        }
        anyhow::ensure!(panicked == 0, "{panicked} fleet tasks panicked");
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// An agent's entry points, the current one first to be tried.
#[derive(Debug)]
struct Entries {
    list: Vec<Arc<str>>,
    cur: usize,
}

impl Entries {
    fn new(first: Arc<str>) -> Self {
        Self {
            list: vec![first],
            cur: 0,
        }
    }

    fn current(&self) -> Arc<str> {
        self.list[self.cur].clone()
    }

    fn next(&mut self) {
        self.cur = (self.cur + 1) % self.list.len();
    }

    /// Add the peers of an `X-Uyuni-Peers` header.
    fn learn(&mut self, peers: Option<&str>) {
        for p in peers.into_iter().flat_map(|h| h.split(',')) {
            let p = p.trim();
            if !p.is_empty()
                && self.list.len() < MAX_ENTRIES
                && !self.list.iter().any(|e| &**e == p)
            {
                self.list.push(Arc::from(p));
            }
        }
    }

    /// Make `addr` the current entry point (adding it if new).
    fn prefer(&mut self, addr: &str) {
        match self.list.iter().position(|e| &**e == addr) {
            Some(i) => self.cur = i,
            None => {
                if self.list.len() >= MAX_ENTRIES {
                    self.list.pop();
                }
                self.list.push(Arc::from(addr));
                self.cur = self.list.len() - 1;
            }
        }
    }
}

/// What an agent does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Knock on `/system/status`.
    Status,
    /// Ask `/system/orphan`.
    Orphan,
    /// Stopped (deleted).
    Done,
}

struct AgentTask {
    shared: Arc<FleetShared>,
    index: usize,
    rng: ChaCha8Rng,
    entries: Entries,
    admin: Option<mpsc::Sender<(usize, Arc<str>)>>,
}

impl AgentTask {
    fn agent(&self) -> &Agent {
        &self.shared.agents[self.index]
    }

    fn jittered(&mut self, d: Duration) -> Duration {
        let j = self.shared.cfg.jitter.clamp(0.0, 1.0);
        d.mul_f64(1.0 + self.rng.random_range(-j..=j))
    }

    async fn run(mut self, cancel: CancellationToken) {
        // Spread the fleet's first knocks over one heartbeat (or the configured spread).
        let spread = self
            .shared
            .cfg
            .start_spread
            .unwrap_or(self.shared.cfg.heartbeat);
        let mut wait = spread.mul_f64(self.rng.random::<f64>());
        let mut mode = Mode::Status;
        // Consecutive failed requests.
        let mut failures: u32 = 0;
        while mode != Mode::Done {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let addr = self.entries.current();
            let answer = match mode {
                Mode::Status => self.status(&addr).await,
                Mode::Orphan => self.orphan(&addr).await,
                Mode::Done => break,
            };
            match answer {
                Some((next, w)) => {
                    failures = 0;
                    mode = next;
                    wait = w;
                }
                None => {
                    // Next entry point at once; back off once all of them failed in a row.
                    failures += 1;
                    self.entries.next();
                    let c = &self.shared.counters;
                    c.failovers.fetch_add(1, Ordering::Relaxed);
                    let n = self.entries.list.len() as u32;
                    wait = if failures.is_multiple_of(n) {
                        c.backoffs.fetch_add(1, Ordering::Relaxed);
                        // heartbeat × 2^(full rounds − 1), capped.
                        let rounds = (failures / n).saturating_sub(1).min(16);
                        let d = self
                            .shared
                            .cfg
                            .heartbeat
                            .saturating_mul(1u32 << rounds)
                            .min(self.shared.cfg.backoff_max);
                        self.jittered(d)
                    } else {
                        Duration::ZERO
                    };
                }
            }
        }
    }

    /// `None`: no usable answer (fail over). Else the next mode and wait.
    async fn status(&mut self, addr: &Arc<str>) -> Option<(Mode, Duration)> {
        let shared = self.shared.clone();
        let agent = &shared.agents[self.index];
        let path = format!("/system/status?fp={}", agent.fingerprint);
        let token = lock(&agent.token).clone();
        let r = shared
            .pool
            .get_with_token(addr, &path, token.as_deref())
            .await
            .ok()?;
        let c = &shared.counters;
        if r.status == 401 {
            // No valid token yet: register (which issues one).
            return self.register(addr).await;
        }
        if r.status == 429 {
            return Some((Mode::Status, self.retry_after(&r)));
        }
        if r.status != 200 {
            shared.unexpected(&r, "status");
            return if r.status >= 500 {
                None
            } else {
                Some((Mode::Status, self.jittered(self.shared.cfg.heartbeat)))
            };
        }
        c.status.fetch_add(1, Ordering::Relaxed);
        self.entries.learn(r.header("x-uyuni-peers"));
        let beat = self.jittered(self.shared.cfg.heartbeat);
        let byte = r.body.first().copied();
        let node = r.header("x-uyuni-node");
        // What follows the answer, once the view is updated (its lock is not held across an
        // await).
        enum Then {
            Wait(Mode, Duration),
            Prefer(Option<String>),
            Admin,
            Register,
        }
        let then = {
            let mut view = lock(&agent.view);
            view.heartbeats += 1;
            view.entry = Some(addr.clone());
            match (byte, node) {
                (Some(b'o'), Some(node)) => {
                    view.set_node(Arc::from(node));
                    Then::Prefer(r.header("x-uyuni-node-peer").map(String::from))
                }
                (Some(b'n'), _) => {
                    view.status = Some(AgentStatus::New);
                    Then::Admin
                }
                (Some(b'r'), _) => {
                    // Stop the minion; ask where to go.
                    view.status = Some(AgentStatus::Orphan);
                    view.node = None;
                    view.orphaned += 1;
                    Then::Wait(Mode::Orphan, Duration::ZERO)
                }
                (Some(b'd'), _) => {
                    view.status = Some(AgentStatus::Deleted);
                    view.node = None;
                    Then::Wait(Mode::Done, Duration::ZERO)
                }
                (Some(b'u'), _) => {
                    view.status = Some(AgentStatus::Unknown);
                    Then::Register
                }
                // `o` without a node, or an unknown byte.
                _ => {
                    shared.unexpected(&r, "status");
                    Then::Wait(Mode::Status, beat)
                }
            }
        };
        match then {
            Then::Wait(mode, wait) => Some((mode, wait)),
            Then::Prefer(node_peer) => {
                if let Some(np) = node_peer {
                    self.entries.prefer(&np);
                }
                Some((Mode::Status, beat))
            }
            Then::Admin => {
                self.hand_to_admin(addr);
                Some((Mode::Status, beat))
            }
            Then::Register => self.register(addr).await,
        }
    }

    /// `Retry-After` of a `429` (at least a second, at most a minute), jittered.
    fn retry_after(&mut self, r: &Reply) -> Duration {
        self.shared
            .counters
            .throttled
            .fetch_add(1, Ordering::Relaxed);
        let secs = r
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .clamp(1, 60);
        self.jittered(Duration::from_secs(secs))
    }

    async fn register(&mut self, addr: &Arc<str>) -> Option<(Mode, Duration)> {
        let agent = self.agent();
        let nonce = format!(
            "sim{:08x}{:016x}{:08x}",
            agent.identity,
            self.shared.cfg.seed,
            agent.signed.fetch_add(1, Ordering::Relaxed)
        );
        let reg = crate::sim_keys::keys()
            .registration(
                agent.identity,
                &format!("minion-{}", self.index),
                &format!("host{:08}.sim.example", self.index),
                crate::sim_keys::unix_now(),
                &nonce,
            )
            .ok()?;
        let body = serde_json::to_vec(&reg).ok()?;
        let r = self
            .shared
            .pool
            .post_json(addr, "/system/register", Bytes::from(body))
            .await
            .ok()?;
        let beat = self.jittered(self.shared.cfg.heartbeat);
        if r.status == 429 {
            return Some((Mode::Status, self.retry_after(&r)));
        }
        if let Some(t) = r.header(agent_proto::TOKEN_HEADER) {
            *lock(&self.agent().token) = Some(t.to_string());
        }
        if r.status != 200 {
            self.shared.unexpected(&r, "register");
            return (r.status < 500).then_some((Mode::Status, beat));
        }
        self.shared
            .counters
            .registered
            .fetch_add(1, Ordering::Relaxed);
        let status = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v["status"].as_str().map(String::from));
        if status.as_deref() == Some("new") {
            lock(&self.agent().view).status = Some(AgentStatus::New);
            self.hand_to_admin(addr);
        }
        Some((Mode::Status, beat))
    }

    async fn orphan(&mut self, addr: &Arc<str>) -> Option<(Mode, Duration)> {
        let shared = self.shared.clone();
        let agent = &shared.agents[self.index];
        let path = format!("/system/orphan?fp={}", agent.fingerprint);
        let c = &shared.counters;
        c.orphan_asks.fetch_add(1, Ordering::Relaxed);
        let token = lock(&agent.token).clone();
        let r = shared
            .pool
            .get_with_token(addr, &path, token.as_deref())
            .await
            .ok()?;
        if r.status == 401 {
            return self.register(addr).await;
        }
        if r.status == 429 {
            return Some((Mode::Orphan, self.retry_after(&r)));
        }
        self.entries.learn(r.header("x-uyuni-peers"));
        let beat = self.jittered(self.shared.cfg.heartbeat);
        Some(match r.status {
            200 => {
                let node = String::from_utf8_lossy(&r.body).trim().to_string();
                lock(&agent.view).set_node(Arc::from(node));
                if let Some(np) = r.header("x-uyuni-node-peer") {
                    self.entries.prefer(np);
                }
                (Mode::Status, beat)
            }
            204 => {
                c.orphan_waits.fetch_add(1, Ordering::Relaxed);
                let retry = r
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or(self.shared.cfg.heartbeat, Duration::from_secs);
                (
                    Mode::Orphan,
                    self.jittered(retry.min(self.shared.cfg.heartbeat)),
                )
            }
            // Unknown: register (through the status path).
            404 => (Mode::Status, Duration::ZERO),
            410 => {
                let mut view = lock(&agent.view);
                view.status = Some(AgentStatus::Deleted);
                view.node = None;
                (Mode::Done, Duration::ZERO)
            }
            s => {
                shared.unexpected(&r, "orphan");
                if s >= 500 {
                    return None;
                }
                (Mode::Orphan, beat)
            }
        })
    }

    /// Hand this agent to the admin, who accepts it first at `addr`, the peer it registered
    /// with (another peer's replica may not have the registration yet).
    fn hand_to_admin(&self, addr: &Arc<str>) {
        let Some(tx) = &self.admin else { return };
        if !self.agent().accept_sent.swap(true, Ordering::AcqRel)
            && tx.try_send((self.index, addr.clone())).is_err()
        {
            self.agent().accept_sent.store(false, Ordering::Release);
        }
    }
}

/// The fleet's administrator: accepts every agent handed over, through the admin API of the
/// peer the agent registered with (another entry point of the fleet's when that one does not
/// answer), `accept_concurrency` at a time.
async fn admin(
    shared: Arc<FleetShared>,
    mut rx: mpsc::Receiver<(usize, Arc<str>)>,
    cancel: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(shared.cfg.accept_concurrency.max(1)));
    let mut running = JoinSet::new();
    let mut turn = 0usize;
    loop {
        let (i, first) = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(_) = running.join_next(), if !running.is_empty() => continue,
            i = rx.recv() => match i {
                Some(i) => i,
                None => break,
            },
        };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        turn += 1;
        let (shared, start) = (shared.clone(), turn);
        running.spawn(async move {
            let _permit = permit;
            let agent = &shared.agents[i];
            let path = format!("/systems/{}/accept", agent.fingerprint);
            let n = shared.entry_points.len();
            let others = (0..n).map(|k| shared.entry_points[(start + k) % n].clone());
            for addr in std::iter::once(first).chain(others) {
                match shared
                    .pool
                    .post_json(&addr, &path, Bytes::from_static(b"{}"))
                    .await
                {
                    Ok(r) if r.status == 200 => {
                        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Ok(r) => {
                        shared.unexpected(&r, "accept");
                        break;
                    }
                    Err(_) => {}
                }
            }
            // Let the agent hand itself over again at its next `n`.
            agent.accept_sent.store(false, Ordering::Release);
        });
    }
    running.abort_all();
}

/// The fleet's administrator accepting by query: every `every`, while the fleet has
/// registered more systems than were accepted, one `POST /search/bulk` accepting every system
/// in status new that the entry point's index holds (systems registered on other peers
/// included, once replicated), or with [`FleetConfig::bulk_page`] pages of that many, one
/// after the other while the answer says more remain. Always the same entry point while it
/// answers, so two bulk requests never accept the same system on two replicas.
async fn bulk_admin(shared: Arc<FleetShared>, every: Duration, cancel: CancellationToken) {
    // A page starts after the previous one's last fingerprint: the peer's index may not have
    // seen the previous page's acceptances yet when the next request comes.
    let body = |after: Option<&str>| -> Bytes {
        let mut b = serde_json::json!({"q": "status:new", "action": "accept"});
        if let Some(limit) = shared.cfg.bulk_page {
            b["limit"] = limit.into();
        }
        if let Some(a) = after {
            b["after"] = a.into();
        }
        Bytes::from(b.to_string())
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut at = 0usize;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let c = &shared.counters;
        let mut after: Option<String> = None;
        loop {
            if c.registered.load(Ordering::Relaxed) <= c.accepted.load(Ordering::Relaxed)
                || cancel.is_cancelled()
            {
                break;
            }
            let addr = &shared.entry_points[at % shared.entry_points.len()];
            match shared
                .pool
                .post_json(addr, "/search/bulk", body(after.as_deref()))
                .await
            {
                Ok(r) if r.status == 200 => {
                    let v = serde_json::from_slice::<serde_json::Value>(&r.body).ok();
                    let field = |k: &str| v.as_ref().and_then(|v| v[k].as_u64()).unwrap_or(0);
                    c.accepted.fetch_add(field("changed"), Ordering::Relaxed);
                    c.bulk_accepts.fetch_add(1, Ordering::Relaxed);
                    // The next page at once while more wait.
                    match v.as_ref().and_then(|v| v["next"].as_str()) {
                        Some(next) if field("remaining") > 0 => after = Some(next.to_string()),
                        _ => break,
                    }
                }
                Ok(r) => {
                    shared.unexpected(&r, "bulk accept");
                    break;
                }
                Err(_) => {
                    at += 1;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_learn_prefer_and_rotate() {
        let mut e = Entries::new(Arc::from("a:1"));
        e.learn(Some("b:2, c:3,a:1,"));
        assert_eq!(e.list.len(), 3);
        e.prefer("c:3");
        assert_eq!(&*e.current(), "c:3");
        e.next();
        assert_eq!(&*e.current(), "a:1");
        e.prefer("d:4");
        assert_eq!((&*e.current(), e.list.len()), ("d:4", 4));
    }

    #[test]
    fn fingerprints_are_seeded_and_in_salt_form() {
        let a = fingerprint(&mut ChaCha8Rng::seed_from_u64(7));
        let b = fingerprint(&mut ChaCha8Rng::seed_from_u64(7));
        assert_eq!(a, b);
        assert_eq!(a.len(), 32 * 3 - 1);
        assert!(a.split(':').all(|h| h.len() == 2));
    }
}
