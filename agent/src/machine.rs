//! The agent's decisions as a sans-IO state machine: it takes peer answers, effect results and
//! the current time, and says what to do next. It performs no I/O and reads no clock, so every
//! path (each status, failover, back-off, the orphan flow, deletion, `--once`) is unit-tested
//! deterministically with a seeded RNG.
//!
//! The shell ([`crate::runner`]) drives it:
//!
//! ```text
//! loop {
//!     match machine.poll(now) {
//!         Send { peer, request } => machine.on_outcome(now, http(peer, request)),
//!         Apply(effect)          => machine.on_effect(now, &effect, minion.apply(effect)),
//!         Persist(memory)        => state_file.save(memory),
//!         Sleep(until)           => sleep(until - now),
//!         Exit(exit)             => return exit,
//!     }
//! }
//! ```
//!
//! Phases: `Knock` (heartbeat `GET /system/status`), `Register` (`POST /system/register` after a
//! `u`, or a `401` because the agent has no valid token), `Orphan` (the minion is stopped;
//! `GET /system/orphan` until a node comes) and `Deleted` (stop the minion, then exit).
//!
//! Protocol 2: the registration answer's token (`X-Uyuni-Agent-Token`) is kept
//! ([`Machine::token`], persisted with the peer memory) and shown with every status and orphan
//! query; a `429` is honoured by waiting its `Retry-After` before the next request.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;
use tracing::{debug, info, warn};

use crate::addr::{HostPort, PeerAddr, parse_peer_list};
use crate::peers::{PeerMemory, PeerSet};
use crate::timing::{backoff, jittered};
use crate::wire::{Outcome, PROTOCOL_VERSION, Reply, Request, Status, header};

/// A `Retry-After` of a `429` is accepted between these bounds (seconds).
const LIMITED_BOUNDS: (u64, u64) = (1, 3600);

/// The cluster's heartbeat interval is accepted between these bounds (seconds).
const HEARTBEAT_BOUNDS: (u64, u64) = (1, 24 * 3600);
/// A `Retry-After` of the orphan endpoint is accepted between these bounds (seconds).
const RETRY_AFTER_BOUNDS: (u64, u64) = (1, 3600);

/// Timing and mode of the machine.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Heartbeat interval until the cluster sends `X-Uyuni-Heartbeat`.
    pub knock_interval: Duration,
    /// Interval of `GET /system/orphan` while no node is free (unless `Retry-After` says).
    pub orphan_interval: Duration,
    /// Cap of the exponential back-off when no peer answers.
    pub max_backoff: Duration,
    /// Do one cycle and exit ([`Exit::Done`] and friends) instead of looping.
    pub once: bool,
}

/// Something to do to the salt minion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Point the minion at `node`: write the master setting, delete the cached
    /// `minion_master.pub`, restart the minion.
    Repoint(HostPort),
    /// The minion already points at `node` but is stopped: start it (restart command).
    Restart(HostPort),
    /// Stop the minion.
    Stop,
}

/// Why the machine finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `--once`: the cycle completed; the last status the cluster gave.
    Done(Status),
    /// `--once`: a minion effect failed or the registration was refused.
    Failed,
    /// `--once`: no entry point answered.
    Unreachable,
    /// The system is deleted or banned; the minion was stopped.
    Deleted,
    /// `--once`: the system is an orphan and no node is free yet (the minion stays stopped).
    OrphanWaiting,
}

impl Exit {
    /// The process exit code (documented in `docs/AGENT.md`).
    pub fn code(self) -> u8 {
        match self {
            Self::Done(_) => 0,
            Self::Failed => 1,
            Self::Unreachable => 3,
            Self::Deleted => 4,
            Self::OrphanWaiting => 5,
        }
    }
}

/// What the shell must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `request` to `peer`, then report with [`Machine::on_outcome`].
    Send {
        /// The peer to ask.
        peer: PeerAddr,
        /// What to ask.
        request: Request,
    },
    /// Apply `effect` to the minion, then report with [`Machine::on_effect`].
    Apply(Effect),
    /// Save what was learned about the peers (best effort).
    Persist(PeerMemory),
    /// Nothing to do before this instant.
    Sleep(Instant),
    /// Stop.
    Exit(Exit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Knock,
    Register,
    Orphan,
    Deleted,
}

/// The agent's state machine. `R` is the jitter RNG (seeded in tests).
#[derive(Debug)]
pub struct Machine<R> {
    settings: Settings,
    peers: PeerSet,
    rng: R,
    phase: Phase,
    /// When the next request is due; `None`: now.
    next_at: Option<Instant>,
    /// The heartbeat interval in force (the cluster's, else the configured one).
    heartbeat: Duration,
    /// Consecutive rounds in which no peer answered.
    failed_rounds: u32,
    in_flight: Option<(PeerAddr, Request)>,
    pending: VecDeque<Action>,
    exit: Option<Exit>,
    /// Where the minion points, as far as the agent knows (read at start, updated on repoint).
    master: Option<HostPort>,
    minion_stopped: bool,
    just_registered: bool,
    last_status: Option<Status>,
    warned_protocol: bool,
    /// The token of the last registration (shown with status and orphan queries).
    token: Option<String>,
}

impl<R: Rng> Machine<R> {
    /// A machine that starts knocking at once. `master` is the minion's current master setting.
    pub fn new(settings: Settings, peers: PeerSet, master: Option<HostPort>, rng: R) -> Self {
        Self {
            heartbeat: settings.knock_interval,
            settings,
            peers,
            rng,
            phase: Phase::Knock,
            next_at: None,
            failed_rounds: 0,
            in_flight: None,
            pending: VecDeque::new(),
            exit: None,
            master,
            minion_stopped: false,
            just_registered: false,
            last_status: None,
            warned_protocol: false,
            token: None,
        }
    }

    /// Start with the token a previous run kept.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// The token to show with status and orphan queries.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The next thing to do at `now`.
    pub fn poll(&mut self, now: Instant) -> Action {
        if let Some(action) = self.pending.pop_front() {
            return action;
        }
        if let Some(exit) = self.exit {
            return Action::Exit(exit);
        }
        if let Some((peer, request)) = &self.in_flight {
            // The shell asked again without reporting: repeat the request.
            return Action::Send {
                peer: peer.clone(),
                request: *request,
            };
        }
        if let Some(at) = self.next_at
            && now < at
        {
            return Action::Sleep(at);
        }
        let Some(peer) = self.peers.pick() else {
            // Cannot happen with at least one entry point (the configuration demands one).
            self.exhausted(now);
            return self.poll(now);
        };
        let request = match self.phase {
            Phase::Knock => Request::Status,
            Phase::Register => Request::Register,
            Phase::Orphan => Request::Orphan,
            // Waiting for the stop effect; nothing to ask.
            Phase::Deleted => return Action::Exit(Exit::Deleted),
        };
        self.next_at = None;
        self.in_flight = Some((peer.clone(), request));
        Action::Send { peer, request }
    }

    /// The answer (or failure) of the request [`poll`](Self::poll) handed out last.
    pub fn on_outcome(&mut self, now: Instant, outcome: Outcome) {
        let Some((peer, request)) = self.in_flight.take() else {
            warn!("an answer arrived with no request in flight; ignored");
            return;
        };
        let reply = match outcome {
            Outcome::Failed(reason) => return self.peer_failed(now, &peer, &reason),
            Outcome::Reply(reply) => reply,
        };
        if !expected(request, reply.code) {
            let reason = format!(
                "HTTP {} to {}: {}",
                reply.code,
                request.path(),
                short(&reply.body)
            );
            return self.peer_failed(now, &peer, &reason);
        }
        let status = if request == Request::Status && reply.code == 200 {
            match Status::from_body(&reply.body) {
                Some(s) => Some(s),
                None => {
                    let reason = format!("unreadable status {:?}", short(&reply.body));
                    return self.peer_failed(now, &peer, &reason);
                }
            }
        } else {
            None
        };
        self.peer_answered(now, &peer, &reply);
        if reply.code == 429 {
            return self.limited(now, request, &reply);
        }
        if reply.code == 401 && request != Request::Register {
            return self.unauthorized(now, &reply);
        }
        match (request, status) {
            (Request::Status, Some(status)) => self.on_status(now, status, &reply),
            (Request::Register, _) => self.on_registered(now, &reply),
            (Request::Orphan, _) => self.on_orphan_answer(now, &reply),
            (Request::Status, None) => {}
        }
    }

    /// The result of an [`Action::Apply`].
    pub fn on_effect<E: std::fmt::Display>(
        &mut self,
        now: Instant,
        effect: &Effect,
        result: Result<(), E>,
    ) {
        match (effect, result) {
            (Effect::Repoint(node) | Effect::Restart(node), Ok(())) => {
                info!(%node, "minion points at its node and runs");
                self.master = Some(node.clone());
                self.minion_stopped = false;
                self.phase = Phase::Knock;
                self.schedule_heartbeat(now);
            }
            (Effect::Repoint(node) | Effect::Restart(node), Err(e)) => {
                warn!(%node, "could not point the minion at its node: {e:#}");
                if self.settings.once {
                    self.exit = Some(Exit::Failed);
                } else if self.phase == Phase::Orphan {
                    // The minion is stopped: ask again soon.
                    let wait = jittered(self.settings.orphan_interval, &mut self.rng);
                    self.next_at = Some(now + wait);
                } else {
                    // `master` is unchanged, so the next `o` tries again.
                    self.schedule_heartbeat(now);
                }
            }
            (Effect::Stop, result) => {
                match result {
                    Ok(()) => self.minion_stopped = true,
                    Err(e) => warn!("could not stop the minion: {e:#}"),
                }
                match self.phase {
                    Phase::Deleted => self.exit = Some(Exit::Deleted),
                    // Ask where to go right away.
                    _ => self.next_at = None,
                }
            }
        }
    }

    /// The last status the cluster gave.
    pub fn last_status(&self) -> Option<Status> {
        self.last_status
    }

    /// The minion's master as the agent knows it.
    pub fn master(&self) -> Option<&HostPort> {
        self.master.as_ref()
    }

    /// The peer that answered last.
    pub fn current_peer(&self) -> Option<&PeerAddr> {
        self.peers.current()
    }

    /// The heartbeat interval in force.
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    fn peer_failed(&mut self, now: Instant, peer: &PeerAddr, reason: &str) {
        warn!(%peer, "peer did not answer: {reason}");
        self.peers.failed(peer, now);
        if self.peers.pick().is_none() {
            self.exhausted(now);
        }
    }

    /// No peer answered in this round: back off (or give up with `--once`).
    fn exhausted(&mut self, now: Instant) {
        self.peers.new_round();
        if self.settings.once {
            self.exit = Some(Exit::Unreachable);
            return;
        }
        let base = match self.phase {
            Phase::Orphan => self.settings.orphan_interval,
            _ => self.heartbeat,
        };
        let wait = jittered(
            backoff(base, self.failed_rounds, self.settings.max_backoff),
            &mut self.rng,
        );
        warn!(
            rounds = self.failed_rounds + 1,
            "no entry point answered; retrying in {wait:?}"
        );
        self.failed_rounds = self.failed_rounds.saturating_add(1);
        self.next_at = Some(now + wait);
    }

    /// Bookkeeping common to every answer: peer health, learned peers, heartbeat interval.
    fn peer_answered(&mut self, now: Instant, peer: &PeerAddr, reply: &Reply) {
        self.failed_rounds = 0;
        if let Some(v) = reply.header(header::PROTOCOL)
            && v.split('.').next().and_then(|m| m.parse::<u32>().ok()) > Some(PROTOCOL_VERSION)
            && !self.warned_protocol
        {
            info!(%peer, version = v, "peer speaks a newer agent protocol; using version {PROTOCOL_VERSION}");
            self.warned_protocol = true;
        }
        let others = match reply.header(header::PEERS) {
            Some(list) => {
                let (good, bad) = parse_peer_list(list);
                for e in bad {
                    debug!(%peer, "ignoring announced peer: {e}");
                }
                good
            }
            None => Vec::new(),
        };
        let node_peer = reply
            .header(header::NODE_PEER)
            .and_then(|v| match v.parse() {
                Ok(p) => Some(p),
                Err(e) => {
                    debug!(%peer, "ignoring node peer: {e}");
                    None
                }
            });
        if self.peers.answered(peer, now, &others, node_peer) {
            self.persist();
        }
        if let Some(secs) = bounded_secs(reply.header(header::HEARTBEAT), HEARTBEAT_BOUNDS) {
            if secs != self.heartbeat {
                debug!("cluster heartbeat interval {secs:?}");
            }
            self.heartbeat = secs;
        }
    }

    fn on_status(&mut self, now: Instant, status: Status, reply: &Reply) {
        debug!(%status, "status");
        self.last_status = Some(status);
        let just_registered = std::mem::take(&mut self.just_registered);
        match status {
            Status::Unknown if just_registered => {
                // Registered a moment ago and still unknown (replication lag): do not loop.
                self.schedule_heartbeat(now);
            }
            Status::Unknown => {
                info!("the cluster does not know this system; registering");
                self.phase = Phase::Register;
                self.next_at = None;
            }
            Status::New => self.schedule_heartbeat(now),
            Status::Onboarded => match reply.header(header::NODE).map(str::parse::<HostPort>) {
                Some(Ok(node)) => {
                    if self.minion_stopped {
                        self.apply_node(node);
                    } else if !self.points_at(&node) {
                        info!(%node, current = ?self.master.as_ref().map(ToString::to_string), "repointing the minion");
                        self.pending.push_back(Action::Apply(Effect::Repoint(node)));
                    } else {
                        self.schedule_heartbeat(now);
                    }
                }
                Some(Err(e)) => {
                    warn!("onboarded, but the node is unusable: {e}");
                    self.schedule_heartbeat(now);
                }
                None => {
                    warn!("onboarded, but no {} header", header::NODE);
                    self.schedule_heartbeat(now);
                }
            },
            Status::Orphan => {
                info!("the system has no node; stopping the minion until one is assigned");
                self.phase = Phase::Orphan;
                self.next_at = None;
                if !self.minion_stopped {
                    self.pending.push_back(Action::Apply(Effect::Stop));
                }
            }
            Status::Deleted => self.deleted(),
        }
    }

    /// Save the peer memory and the token.
    fn persist(&mut self) {
        let mut memory = self.peers.memory();
        memory.token = self.token.clone();
        self.pending.push_back(Action::Persist(memory));
    }

    /// `429`: wait what the peer asks (bounded, jittered), then ask again; `--once` gives up.
    fn limited(&mut self, now: Instant, request: Request, reply: &Reply) {
        if self.settings.once {
            warn!(
                "{} limited by the peer: {}",
                request.path(),
                short(&reply.body)
            );
            self.exit = Some(Exit::Failed);
            return;
        }
        let wait = bounded_secs(reply.header(header::RETRY_AFTER), LIMITED_BOUNDS)
            .unwrap_or(self.heartbeat);
        let wait = jittered(wait, &mut self.rng);
        warn!(
            "{} limited by the peer; asking again in {wait:?}",
            request.path()
        );
        self.next_at = Some(now + wait);
    }

    /// `401` to a status or orphan query: the token is missing, expired or not this system's.
    /// Register (again) to get one, unless that was just done (then wait a heartbeat).
    fn unauthorized(&mut self, now: Instant, reply: &Reply) {
        if self.token.take().is_some() {
            self.persist();
        }
        if std::mem::take(&mut self.just_registered) {
            warn!("the peer refused the fresh token: {}", short(&reply.body));
            self.schedule_heartbeat(now);
            return;
        }
        debug!("no valid token; registering");
        self.phase = Phase::Register;
        self.next_at = None;
    }

    fn on_registered(&mut self, now: Instant, reply: &Reply) {
        self.phase = Phase::Knock;
        if matches!(reply.code, 400 | 401 | 409) {
            warn!("registration refused: {}", short(&reply.body));
            if self.settings.once {
                self.exit = Some(Exit::Failed);
            } else {
                self.schedule_heartbeat(now);
            }
            return;
        }
        info!("registered; waiting for acceptance");
        match reply.header(header::TOKEN) {
            Some(t) if !t.is_empty() => {
                self.token = Some(t.to_owned());
                self.persist();
            }
            _ => warn!(
                "the registration answer carries no {} header",
                header::TOKEN
            ),
        }
        self.just_registered = true;
        // Knock right away to learn the status the registration gave.
        self.next_at = None;
    }

    fn on_orphan_answer(&mut self, now: Instant, reply: &Reply) {
        match reply.code {
            204 => {
                if self.settings.once {
                    self.exit = Some(Exit::OrphanWaiting);
                    return;
                }
                let wait = bounded_secs(reply.header(header::RETRY_AFTER), RETRY_AFTER_BOUNDS)
                    .unwrap_or(self.settings.orphan_interval);
                let wait = jittered(wait, &mut self.rng);
                debug!("no node free yet; asking again in {wait:?}");
                self.next_at = Some(now + wait);
            }
            404 => {
                info!("the cluster forgot this system; registering again");
                self.phase = Phase::Register;
                self.next_at = None;
            }
            410 => self.deleted(),
            _ => match reply.body.trim().parse::<HostPort>() {
                Ok(node) => {
                    info!(%node, "the cluster assigned a node");
                    self.last_status = Some(Status::Onboarded);
                    self.apply_node(node);
                }
                Err(e) => {
                    warn!("orphan answer is not a node: {e}");
                    let wait = jittered(self.settings.orphan_interval, &mut self.rng);
                    self.next_at = Some(now + wait);
                }
            },
        }
    }

    /// Point a stopped minion at `node` (or just start it when it already points there).
    fn apply_node(&mut self, node: HostPort) {
        let effect = if self.points_at(&node) {
            Effect::Restart(node)
        } else {
            Effect::Repoint(node)
        };
        self.pending.push_back(Action::Apply(effect));
    }

    /// Whether the minion's master setting already names `node`.
    fn points_at(&self, node: &HostPort) -> bool {
        self.master.as_ref().is_some_and(|m| m.same_master(node))
    }

    fn deleted(&mut self) {
        warn!("the system is deleted or banned; stopping the minion and exiting");
        self.last_status = Some(Status::Deleted);
        self.phase = Phase::Deleted;
        self.pending.push_back(Action::Apply(Effect::Stop));
    }

    /// Next heartbeat after a jittered interval; with `--once`, the cycle is complete.
    fn schedule_heartbeat(&mut self, now: Instant) {
        if self.settings.once {
            self.exit = Some(Exit::Done(self.last_status.unwrap_or(Status::Unknown)));
            return;
        }
        let wait = jittered(self.heartbeat, &mut self.rng);
        self.next_at = Some(now + wait);
    }
}

/// Whether `code` is an answer the protocol defines for `request`; anything else (5xx above
/// all, but also a 404 from something that is not a peer) counts as that peer failing.
fn expected(request: Request, code: u16) -> bool {
    match request {
        Request::Status => matches!(code, 200 | 401 | 429),
        Request::Register => matches!(code, 200 | 201 | 400 | 401 | 409 | 429),
        Request::Orphan => matches!(code, 200 | 204 | 401 | 404 | 410 | 429),
    }
}

/// A header holding whole seconds, clamped to `bounds`; `None` when absent or not a number.
fn bounded_secs(value: Option<&str>, (lo, hi): (u64, u64)) -> Option<Duration> {
    let secs = value?.parse::<u64>().ok()?;
    Some(Duration::from_secs(secs.clamp(lo, hi)))
}

/// At most 200 characters of a body, for logs.
fn short(body: &str) -> &str {
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((i, _)) => &body[..i],
        None => body,
    }
}

#[cfg(test)]
mod tests;
