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
        }
    }
}
