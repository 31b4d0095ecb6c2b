//! The swarm's construction: the transport (TCP, the cluster key's pnet, noise, yamux) and
//! the behaviours (gossipsub, the sync and SWIM request-responses, identify, ping) with their
//! limits and timeouts.

use std::time::Duration;

use libp2p::core::upgrade;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::{StreamProtocol, Swarm, Transport, identify, noise, ping, tcp, yamux};

use super::{Behaviour, NetError, wire};
use crate::config::NetworkConfig;

/// Events a connection's handlers may queue towards the swarm before the connection's task
/// waits (libp2p: 7). While it waits it polls nothing of its connection — no stream is
/// negotiated, no ping answered, nothing read — so a swarm a moment behind (a burst of gossip,
/// a busy host) froze its busiest connections until their pings and probes timed out in
/// negotiation and were closed (issue 17's 500-peer bed: 3 026 such closes in one run, all
/// while the process lagged). A deeper buffer lets a connection keep working through a burst.
const CONNECTION_EVENT_BUFFER: usize = 64;
/// The swarm of this peer, with `key` as its identity and `psk` as the cluster key.
pub(super) fn build(
    key: Keypair,
    psk: PreSharedKey,
    cfg: &NetworkConfig,
) -> Result<Swarm<Behaviour>, NetError> {
    let handshake_timeout = cfg.handshake_timeout;
    let max_msg = cfg.max_message_mib * 1024 * 1024;
    let request_timeout = cfg.request_timeout;
    let ping_interval = cfg.ping_interval;
    let ping_timeout = cfg.ping_timeout;
    // Probes are bounded by the prober's own (health-stretched) timeouts; this only reclaims
    // a stream whose answer never came.
    let swim_timeout = Duration::from_secs(10);
    let idle = cfg.idle_connection_timeout;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(
            |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                let noise = noise::Config::new(key)?;
                Ok(
                    tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                        .and_then(move |socket, _| PnetConfig::new(psk).handshake(socket))
                        .upgrade(upgrade::Version::V1Lazy)
                        .authenticate(noise)
                        .multiplex(yamux::Config::default())
                        .timeout(handshake_timeout),
                )
            },
        )
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_behaviour(
            |key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                let gs_cfg = gossipsub::ConfigBuilder::default()
                    .validation_mode(ValidationMode::Strict)
                    .heartbeat_interval(Duration::from_millis(500))
                    .max_transmit_size(256 * 1024)
                    // Dedupe by content, not by (source, seqno): re-publishing the same bytes is
                    // one message.
                    .message_id_fn(|m: &gossipsub::Message| {
                        gossipsub::MessageId::from(&blake3::hash(&m.data).as_bytes()[..20])
                    })
                    .build()?;
                let mut gossipsub =
                    gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gs_cfg)?;
                // Heartbeats go on the zone's own topic (subscribed by the controller); only
                // the zones' summaries and change chunks are global.
                gossipsub.subscribe(&IdentTopic::new(wire::TOPIC_ZONES))?;
                gossipsub.subscribe(&IdentTopic::new(wire::TOPIC_CHANGES))?;
                let codec = request_response::cbor::codec::Codec::default()
                    .set_request_size_maximum(max_msg)
                    .set_response_size_maximum(max_msg);
                let rr = request_response::Behaviour::with_codec(
                    codec,
                    [(
                        StreamProtocol::new(wire::SYNC_PROTOCOL),
                        ProtocolSupport::Full,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(256),
                );
                // No address cache: peers are dialed only at the addresses membership announces
                // (zone-specific ones included), never at whatever identify happened to observe.
                let identify = identify::Behaviour::new(
                    identify::Config::new("/uyuni-cluster/id/1".into(), key.public())
                        .with_cache_size(0),
                );
                let swim = request_response::cbor::Behaviour::new(
                    [(
                        StreamProtocol::new(wire::SWIM_PROTOCOL),
                        ProtocolSupport::Full,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(swim_timeout)
                        .with_max_concurrent_streams(64),
                );
                let ping = ping::Behaviour::new(
                    ping::Config::new()
                        .with_interval(ping_interval)
                        .with_timeout(ping_timeout),
                );
                Ok(Behaviour {
                    gossipsub,
                    rr,
                    swim,
                    identify,
                    ping,
                })
            },
        )
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(idle)
                .with_per_connection_event_buffer_size(CONNECTION_EVENT_BUFFER)
        })
        .build();
    Ok(swarm)
}
