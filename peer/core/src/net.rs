//! The libp2p side of a peer: one task owns the `Swarm`; everyone else talks to it through a
//! [`NetClient`] (bounded command channel) and hears from it through a bounded event channel.
//!
//! ```text
//!   HTTP handlers ─┐                       ┌──▶ NetEvent (gossip, inbound requests,
//!   controller ────┼─ Command (bounded) ─▶ EventLoop (owns Swarm)    connections) ─▶ controller
//!   replicator ────┘      ▲ oneshot replies ┘
//! ```
//!
//! Transport: TCP, then the libp2p private-network handshake keyed by the cluster key, then
//! noise and yamux. A peer without the key fails the pnet handshake and gets nothing further.

mod policy;
mod swarm;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::identity::Keypair;
use libp2p::pnet::PreSharedKey;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, ping};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::config::NetworkConfig;
use policy::{ConnChanges, DropLog, LagMeter, PingPolicy, PingVerdict};
use wire::{Request, Response, SwimRequest, SwimResponse};

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Building the transport or swarm failed.
    #[error("building the libp2p swarm: {0}")]
    Build(String),
    /// The listen address is invalid or could not be bound.
    #[error("listening on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why it failed.
        reason: String,
    },
    /// The event loop has stopped.
    #[error("the network task has stopped")]
    Stopped,
    /// A request failed (timeout, connection closed, refused protocol, ...).
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The remote peer.
        peer: PeerId,
        /// What happened.
        reason: String,
    },
    /// Publishing on gossip failed.
    #[error("publish failed: {0}")]
    Publish(String),
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    rr: request_response::cbor::Behaviour<Request, Response>,
    /// SWIM probes (`/uyuni-cluster/swim/1`): small, separate from sync so a long sync never
    /// queues a probe behind it.
    swim: request_response::cbor::Behaviour<SwimRequest, SwimResponse>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// Things the rest of the peer hears from the network.
#[derive(Debug)]
pub enum NetEvent {
    /// A gossip message (already signature-checked; `source` is its authenticated author).
    Gossip {
        /// Author of the message.
        source: PeerId,
        /// Topic name.
        topic: String,
        /// Payload.
        data: Vec<u8>,
    },
    /// Another peer asks something; answer with [`NetClient::respond`].
    InboundRequest {
        /// The asking peer.
        peer: PeerId,
        /// The request.
        request: Request,
        /// Where the answer goes.
        channel: ResponseChannel<Response>,
    },
    /// Another peer asks this one to probe a third (SWIM indirect probe); answer with
    /// [`NetClient::respond_swim`]. (Direct pings are answered by the network task itself.)
    SwimRequest {
        /// The asking peer.
        peer: PeerId,
        /// The request.
        request: SwimRequest,
        /// Where the answer goes.
        channel: ResponseChannel<SwimResponse>,
    },
    /// First connection to a peer established.
    Connected(PeerId),
    /// Last connection to a peer closed.
    Disconnected(PeerId),
}

enum Command {
    Subscribe {
        topic: String,
    },
    Disconnect {
        peer: PeerId,
    },
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Dial {
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
    },
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, NetError>>,
    },
    Respond {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    Swim {
        peer: PeerId,
        request: SwimRequest,
        reply: oneshot::Sender<Result<SwimResponse, NetError>>,
    },
    RespondSwim {
        channel: ResponseChannel<SwimResponse>,
        response: SwimResponse,
    },
}

/// Shared, read-mostly view of the network state.
#[derive(Debug, Default)]
pub struct NetState {
    /// Peers with at least one open connection.
    pub connected: HashSet<PeerId>,
    /// When the network task's own timer last fired late (more than `LAG_THRESHOLD`): this
    /// process was behind ([`NetClient::late_since`]).
    pub late_at: Option<Instant>,
}

/// Handle to the network task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NetClient {
    tx: mpsc::Sender<Command>,
    state: Arc<Mutex<NetState>>,
    listen: watch::Receiver<Vec<Multiaddr>>,
    local: PeerId,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Subscribe { .. } => "Subscribe",
            Self::Disconnect { .. } => "Disconnect",
            Self::Publish { .. } => "Publish",
            Self::Dial { .. } => "Dial",
            Self::Request { .. } => "Request",
            Self::Respond { .. } => "Respond",
            Self::Swim { .. } => "Swim",
            Self::RespondSwim { .. } => "RespondSwim",
        })
    }
}

impl NetClient {
    /// This peer's id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    /// Publish on a gossip topic. "No peers yet" is not an error worth reporting: the
    /// message is simply not delivered (anti-entropy covers it).
    pub async fn publish(&self, topic: impl Into<String>, data: Vec<u8>) -> Result<(), NetError> {
        let (reply, rx) = oneshot::channel();
        let topic = topic.into();
        self.tx
            .send(Command::Publish { topic, data, reply })
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Dial a peer (or an address of an unknown peer). Fire and forget: success shows up as a
    /// [`NetEvent::Connected`].
    pub async fn dial(&self, peer: Option<PeerId>, addrs: Vec<Multiaddr>) -> Result<(), NetError> {
        self.tx
            .send(Command::Dial { peer, addrs })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Send a request to a connected peer and wait for its answer.
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Request {
                peer,
                request,
                reply,
            })
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Close every connection to `peer` (membership holds it down: whatever is left of the
    /// connection is dead, and a fresh dial finds the path once it is back).
    pub async fn disconnect(&self, peer: PeerId) -> Result<(), NetError> {
        self.tx
            .send(Command::Disconnect { peer })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Subscribe to one more gossip topic (this peer's zone topic).
    pub async fn subscribe(&self, topic: impl Into<String>) -> Result<(), NetError> {
        self.tx
            .send(Command::Subscribe {
                topic: topic.into(),
            })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Send a SWIM probe request and wait for its answer (bounded by the caller's timeout;
    /// the protocol's own timeout only cleans up).
    pub async fn swim(&self, peer: PeerId, request: SwimRequest) -> Result<SwimResponse, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Swim {
                peer,
                request,
                reply,
            })
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Answer an inbound SWIM request.
    pub async fn respond_swim(
        &self,
        channel: ResponseChannel<SwimResponse>,
        response: SwimResponse,
    ) -> Result<(), NetError> {
        self.tx
            .send(Command::RespondSwim { channel, response })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Answer an inbound request.
    pub async fn respond(
        &self,
        channel: ResponseChannel<Response>,
        response: Response,
    ) -> Result<(), NetError> {
        self.tx
            .send(Command::Respond { channel, response })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Peers currently connected.
    pub fn connected(&self) -> HashSet<PeerId> {
        self.lock().connected.clone()
    }

    /// Whether this process was behind (the network task's timer fired late) after `since`:
    /// a probe that failed meanwhile may have failed here, not at the member probed.
    pub fn late_since(&self, since: Instant) -> bool {
        self.lock().late_at.is_some_and(|t| t > since)
    }

    /// Current listen addresses.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen.borrow().clone()
    }

    /// Wait until the swarm listens on at least one address (or `timeout` passes).
    pub async fn wait_listening(&self, timeout: Duration) -> Option<Vec<Multiaddr>> {
        let mut rx = self.listen.clone();
        let addrs = tokio::time::timeout(timeout, rx.wait_for(|a| !a.is_empty()))
            .await
            .ok()?
            .ok()?;
        Some(addrs.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NetState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The task that owns the swarm.
pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    state: Arc<Mutex<NetState>>,
    listen: watch::Sender<Vec<Multiaddr>>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, NetError>>>,
    pending_swim: HashMap<OutboundRequestId, oneshot::Sender<Result<SwimResponse, NetError>>>,
    /// Consecutive failed pings per connection; at `ping_max_failures` it is closed (unless
    /// this process was behind: [`PingPolicy`]).
    ping: PingPolicy<ConnectionId>,
    /// How late this task's own timer fires.
    lag: LagMeter,
    /// Connection changes waiting for room in the controller's channel.
    conn_changes: ConnChanges<PeerId>,
    /// Rate limit of the warning about dropped events.
    drops: DropLog,
}

/// The network task's own timer: how late it fires says how far behind the process is.
const LAG_TICK: Duration = Duration::from_millis(500);
/// A tick this late marks the process as behind.
const LAG_THRESHOLD: Duration = Duration::from_millis(250);
/// Ping failures in a row excused per connection while the process is behind; the next one
/// closes it anyway (a dead connection is closed also under load).
const PING_MAX_EXCUSED: u32 = 3;
/// libp2p's timeout for opening and negotiating a substream (the ping's included), which
/// [`ping::Config`] does not change.
const SUBSTREAM_NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(10);

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Build the swarm, start listening, and return the client, the event stream and the loop.
pub fn new(
    key: Keypair,
    psk: PreSharedKey,
    listen: &Multiaddr,
    cfg: &NetworkConfig,
) -> Result<(NetClient, mpsc::Receiver<NetEvent>, EventLoop), NetError> {
    let local = key.public().to_peer_id();
    let mut swarm = swarm::build(key, psk, cfg)?;
    swarm
        .listen_on(listen.clone())
        .map_err(|e| NetError::Listen {
            addr: listen.to_string(),
            reason: e.to_string(),
        })?;
    let (tx, commands) = mpsc::channel(256);
    let (events_tx, events) = mpsc::channel(1024);
    let state = Arc::new(Mutex::new(NetState::default()));
    let (listen_tx, listen_rx) = watch::channel(Vec::new());
    Ok((
        NetClient {
            tx,
            state: state.clone(),
            listen: listen_rx,
            local,
        },
        events,
        EventLoop {
            swarm,
            commands,
            events: events_tx,
            state,
            listen: listen_tx,
            pending: HashMap::new(),
            pending_swim: HashMap::new(),
            ping: PingPolicy::new(cfg.ping_max_failures, PING_MAX_EXCUSED),
            // A failure is reported up to a ping interval, a negotiation and a ping timeout
            // after the moment that caused it.
            lag: LagMeter::new(
                LAG_TICK,
                LAG_THRESHOLD,
                cfg.ping_interval + cfg.ping_timeout + SUBSTREAM_NEGOTIATION_TIMEOUT,
            ),
            conn_changes: ConnChanges::default(),
            drops: DropLog::default(),
        },
    ))
}

impl EventLoop {
    fn state(&self) -> std::sync::MutexGuard<'_, NetState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Run until `cancel` fires.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut lag_tick = tokio::time::interval(LAG_TICK);
        lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let events = self.events.clone();
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                // Connection changes that found the controller's channel full go first once
                // there is room (the swarm goes on meanwhile: this waits on nothing else).
                permit = events.reserve(), if !self.conn_changes.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some((peer, connected)) = self.conn_changes.pop() {
                            permit.send(conn_event(peer, connected));
                        }
                    }
                    Err(_) => break,
                },
                _ = lag_tick.tick() => {
                    let now = Instant::now();
                    let late = self.lag.tick(now);
                    if late > LAG_THRESHOLD {
                        self.state().late_at = Some(now);
                    }
                    if late > Duration::from_secs(2) {
                        tracing::debug!(late_ms = late.as_millis() as u64, "the network task is behind");
                    }
                }
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
            }
        }
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(NetError::Stopped));
        }
        for (_, reply) in self.pending_swim.drain() {
            let _ = reply.send(Err(NetError::Stopped));
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe { topic } => {
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .subscribe(&IdentTopic::new(topic))
                {
                    tracing::warn!("subscribe: {e}");
                }
            }
            Command::Disconnect { peer } => {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Swim {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().swim.send_request(&peer, request);
                self.pending_swim.insert(id, reply);
            }
            Command::RespondSwim { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .swim
                    .send_response(channel, response);
            }
            Command::Publish { topic, data, reply } => {
                let res = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(topic), data);
                let res = match res {
                    Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Ok(()),
                    Err(gossipsub::PublishError::Duplicate) => Ok(()),
                    Err(e) => Err(NetError::Publish(e.to_string())),
                };
                let _ = reply.send(res);
            }
            Command::Dial { peer, addrs } => {
                let opts = match peer {
                    Some(p) => DialOpts::peer_id(p)
                        .addresses(addrs)
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build(),
                    None => match addrs.into_iter().next() {
                        Some(a) => DialOpts::unknown_peer_id().address(a).build(),
                        None => return,
                    },
                };
                if let Err(e) = self.swarm.dial(opts) {
                    tracing::debug!("dial: {e}");
                }
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().rr.send_request(&peer, request);
                self.pending.insert(id, reply);
            }
            Command::Respond { channel, response } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, response)
                    .is_err()
                {
                    tracing::debug!("response dropped: the requester went away");
                }
            }
        }
    }

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen.send_modify(|a| a.push(address));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen.send_modify(|a| a.retain(|x| x != &address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 => {
                self.state().connected.insert(peer_id);
                self.emit_conn(peer_id, true);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.ping.on_closed(connection_id);
                if num_established == 0 {
                    self.state().connected.remove(&peer_id);
                    self.emit_conn(peer_id, false);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result,
            })) => match result {
                Ok(_) => self.ping.on_success(connection),
                Err(e) => {
                    let lagging = self.lag.lagging(Instant::now());
                    match self.ping.on_failure(connection, lagging) {
                        PingVerdict::Keep => {}
                        PingVerdict::Excused => {
                            crate::metrics::metrics().ping_failures_excused.inc();
                            tracing::debug!(%peer, "a ping failed while this process was behind; connection kept: {e}");
                        }
                        PingVerdict::Close => {
                            // A link that drops packets without a reset (the common WAN cut)
                            // would otherwise stay "connected" through TCP's retransmission
                            // back-off; closing it lets the dialer redial once the path is back.
                            crate::metrics::metrics().ping_closes.inc();
                            tracing::info!(%peer, lagging, "closing a connection whose pings fail: {e}");
                            self.swarm.close_connection(connection);
                        }
                    }
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Swim(ev)) => self.on_swim(ev),
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!("incoming connection refused: {error}");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, "dial failed: {error}");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                message,
                ..
            })) => {
                let Some(source) = message.source else {
                    return;
                };
                self.emit(NetEvent::Gossip {
                    source,
                    topic: message.topic.into_string(),
                    data: message.data,
                });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => self.on_rr(ev),
            _ => {}
        }
    }

    fn on_rr(&mut self, ev: request_response::Event<Request, Response>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    self.emit(NetEvent::InboundRequest {
                        peer,
                        request,
                        channel,
                    });
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => answer(&mut self.pending, request_id, Ok(response)),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => answer(
                &mut self.pending,
                request_id,
                Err(NetError::Request {
                    peer,
                    reason: error.to_string(),
                }),
            ),
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "inbound request failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

/// Hand an outbound request's outcome to whoever waits for it (gone: nobody waits any more).
fn answer<R>(
    pending: &mut HashMap<OutboundRequestId, oneshot::Sender<Result<R, NetError>>>,
    id: OutboundRequestId,
    outcome: Result<R, NetError>,
) {
    if let Some(reply) = pending.remove(&id) {
        let _ = reply.send(outcome);
    }
}

impl EventLoop {
    fn on_swim(&mut self, ev: request_response::Event<SwimRequest, SwimResponse>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => match request {
                    // Answered here, not by the controller: a probe measures whether this
                    // process's network side is alive, and it must not queue behind other work.
                    SwimRequest::Ping => {
                        crate::metrics::metrics().membership_messages.inc();
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .swim
                            .send_response(channel, SwimResponse::Ack);
                    }
                    request @ (SwimRequest::PingReq { .. }
                    | SwimRequest::Zones
                    | SwimRequest::ZonesSince { .. }) => {
                        self.emit(NetEvent::SwimRequest {
                            peer,
                            request,
                            channel,
                        });
                    }
                },
                request_response::Message::Response {
                    request_id,
                    response,
                } => answer(&mut self.pending_swim, request_id, Ok(response)),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => answer(
                &mut self.pending_swim,
                request_id,
                Err(NetError::Request {
                    peer,
                    reason: error.to_string(),
                }),
            ),
            request_response::Event::InboundFailure { .. }
            | request_response::Event::ResponseSent { .. } => {}
        }
    }
}

fn conn_event(peer: PeerId, connected: bool) -> NetEvent {
    if connected {
        NetEvent::Connected(peer)
    } else {
        NetEvent::Disconnected(peer)
    }
}

impl EventLoop {
    /// Hand an event to the controller without waiting for it: a swarm task that waits stops
    /// polling its connections (libp2p's connection tasks block on a full buffer towards it),
    /// pings and probes time out, and connections are closed for the controller's backlog.
    /// When the channel is full the event is dropped and counted: a gossip message (the next
    /// heartbeat or summary says it again; anti-entropy repairs a change), or a request whose
    /// asker sees it fail and retries.
    fn emit(&mut self, ev: NetEvent) {
        match self.events.try_send(ev) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(ev)) => {
                crate::metrics::metrics().net_events_dropped.inc();
                if let Some(n) = self.drops.on_drop(Instant::now()) {
                    let kind = match ev {
                        NetEvent::Gossip { .. } => "gossip",
                        NetEvent::InboundRequest { .. } => "request",
                        NetEvent::SwimRequest { .. } => "indirect probe",
                        NetEvent::Connected(_) | NetEvent::Disconnected(_) => "connection",
                    };
                    tracing::warn!(
                        dropped = n,
                        last = kind,
                        connection_changes_waiting = self.conn_changes.len(),
                        lag_ms = self.lag.take_worst().as_millis() as u64,
                        "the controller is behind: network events dropped (gossip is repaired by anti-entropy, requests are retried)"
                    );
                }
            }
        }
    }

    /// A connection change is never dropped: it waits, coalesced per peer, until the channel
    /// has room (the loop's `reserve` branch), behind any change already waiting.
    fn emit_conn(&mut self, peer: PeerId, connected: bool) {
        if self.conn_changes.is_empty() {
            match self.events.try_send(conn_event(peer, connected)) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {}
            }
        }
        self.conn_changes.record(peer, connected);
    }
}
