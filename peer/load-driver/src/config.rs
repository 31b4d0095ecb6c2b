//! `[load]`: the Load Driver's configuration section.

use std::time::Duration;

use cluster_core::config::duration_ms;
use serde::{Deserialize, Serialize};

/// `[load]`: the Load Driver (placement of client systems) and the agent protocol.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadConfig {
    /// A node down this long is declared faulty and its systems are remapped across its
    /// zone. Default 300 000 ms (5 min).
    #[serde(with = "duration_ms", rename = "failure_timeout_ms")]
    pub failure_timeout: Duration,
    /// A node that announced a planned shutdown keeps its systems this long before they are
    /// remapped. Default 3 600 000 ms (1 h).
    #[serde(with = "duration_ms", rename = "maintenance_window_ms")]
    pub maintenance_window: Duration,
    /// Interval of the Load Driver's planning round (placements also run as soon as a system
    /// needs a node). Default 500 ms.
    #[serde(with = "duration_ms", rename = "tick_ms")]
    pub tick: Duration,
    /// Rebalancing moves (after a node joins or returns) per second, per zone. Default 50.
    pub rebalance_moves_per_s: u32,
    /// Load slack: a node is over its share when it holds more than
    /// `ceil(share × (1 + slack))` systems; placement never fills a node beyond that, and
    /// rebalancing only moves systems off nodes above it. Default 0.05.
    pub slack: f64,
    /// Heartbeat interval asked of agents (`X-Uyuni-Heartbeat`), seconds. Default 60.
    pub agent_heartbeat_s: u32,
    /// A system counts as online while its last heartbeat is younger than this.
    /// Default 180 000 ms (three heartbeats).
    #[serde(with = "duration_ms", rename = "online_window_ms")]
    pub online_window: Duration,
    /// `[load.auto_accept]`: accept systems registering for the first time through this peer
    /// without an operator (a store cut off from the rest keeps onboarding). Default off.
    pub auto_accept: crate::auto_accept::AutoAcceptConfig,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            failure_timeout: Duration::from_secs(300),
            maintenance_window: Duration::from_secs(3600),
            tick: Duration::from_millis(500),
            rebalance_moves_per_s: 50,
            slack: 0.05,
            agent_heartbeat_s: 60,
            online_window: Duration::from_secs(180),
            auto_accept: Default::default(),
        }
    }
}

/// `[agent_door]`: who may use the agent protocol, and how much (docs/AGENT-PROTOCOL.md,
/// docs/security/agentauth.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentDoorConfig {
    /// A signed registration's timestamp may be this far from the peer's clock, either way,
    /// seconds; nonces are remembered for as long. Default 300.
    pub clock_skew_s: u64,
    /// Nonces of registrations remembered at most (replay refusal). When that many are live,
    /// further registrations are answered `429` until some expire. Default 100 000.
    pub replay_cache_entries: usize,
    /// Lifetime of the token a registration answer carries, seconds; the agent registers
    /// again when it expires. Default 86 400 (a day).
    pub token_ttl_s: u64,
    /// Requests per second one client address may make on the agents' door, on average.
    /// Agents behind one NAT address share it: raise it for large NATed fleets
    /// (a heartbeat of 60 s makes ~1.7 requests/s per 100 agents). Default 100.
    pub client_rate_per_s: f64,
    /// Burst of a client address above its rate. Default 200.
    pub client_burst: u32,
    /// Client addresses whose budget is tracked at once; beyond, the least recently seen
    /// budgets that are full again are forgotten, and new addresses share one budget.
    /// Default 65 536.
    pub clients_tracked: usize,
    /// Registrations of fingerprints this peer does not know yet, per second, all clients
    /// together (the onboarding budget; known systems never wait for it). Default 50.
    pub new_registrations_per_s: f64,
    /// Burst of the onboarding budget. Default 500.
    pub new_registration_burst: u32,
    /// Systems in status new (the onboarding pool) at most: registrations of unknown
    /// fingerprints are answered `429` while the pool is that full. Default 50 000.
    pub max_new_systems: u64,
    /// Largest request body on the agents' door, bytes. Default 8 192.
    pub body_limit_bytes: usize,
}

impl Default for AgentDoorConfig {
    fn default() -> Self {
        Self {
            clock_skew_s: 300,
            replay_cache_entries: 100_000,
            token_ttl_s: 86_400,
            client_rate_per_s: 100.0,
            client_burst: 200,
            clients_tracked: 65_536,
            new_registrations_per_s: 50.0,
            new_registration_burst: 500,
            max_new_systems: 50_000,
            body_limit_bytes: 8192,
        }
    }
}
