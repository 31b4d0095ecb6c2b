//! Configuration sections of the cluster core (`[membership]`, `[replication]`, `[store]`,
//! `[network]`, `[tls]`), the configuration error type every component shares, and the
//! serde helper for durations written as milliseconds. Every default is stated on its field
//! and written out in `docs/CONFIGURATION.md`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::membership::DetectorConfig;

pub use cluster_config::{ConfigError, duration_ms};

/// `[membership]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MembershipConfig {
    /// Interval between this peer's heartbeats. Default 1000 ms.
    #[serde(with = "duration_ms", rename = "heartbeat_interval_ms")]
    pub heartbeat_interval: Duration,
    /// Detector for members of this peer's zone: minimum suspicion 2 000 ms.
    pub lan: DetectorConfig,
    /// Detector for members of other zones: suspicion after their zone fell silent
    /// 60 000 ms.
    pub wan: DetectorConfig,
    /// Drop members that have been down or left this long. Default 86 400 000 ms (24 h).
    #[serde(with = "duration_ms", rename = "forget_after_ms")]
    pub forget_after: Duration,
    /// SWIM: period between probes this peer starts (one zone member each). Default 1000 ms.
    #[serde(with = "duration_ms", rename = "probe_interval_ms")]
    pub probe_interval: Duration,
    /// SWIM: wait this long for a direct ack before asking helpers. Default 500 ms.
    #[serde(with = "duration_ms", rename = "probe_timeout_ms")]
    pub probe_timeout: Duration,
    /// SWIM: helpers asked to probe a member that did not ack. Default 3.
    pub indirect_probes: usize,
    /// Lifeguard: a suspicion nobody confirms lasts this many `lan.suspicion_timeout_ms`.
    /// Default 2.
    pub suspicion_max_multiplier: u32,
    /// Lifeguard: the highest local health score (timeouts stretch up to this + 1 times).
    /// Default 8.
    pub local_health_max: u32,
    /// Period of the zone summaries on the global topic (one sender per zone per period).
    /// Default 2000 ms.
    #[serde(with = "duration_ms", rename = "summary_interval_ms")]
    pub summary_interval: Duration,
    /// A zone without a summary for this long has its members suspected. Default 6000 ms.
    /// Scaled like the period when there are more zones than `summaries_per_interval`.
    #[serde(with = "duration_ms", rename = "summary_timeout_ms")]
    pub summary_timeout: Duration,
    /// Zone summaries the whole cluster sends per `summary_interval_ms` at most: with more
    /// zones than this, every zone's period (and the summary timeout) stretches to
    /// `⌈zones / summaries_per_interval⌉` intervals, so a peer's share of the global topic
    /// does not grow with the number of zones. Default 20.
    pub summaries_per_interval: usize,
    /// Every this often, ask one connected peer for the zones' summaries newer than this
    /// peer holds (memberlist's push-pull: what gossip lost comes back without waiting for
    /// the zones' next turns). 0 turns it off. Default 10 000 ms.
    #[serde(with = "duration_ms", rename = "zones_pull_interval_ms")]
    pub zones_pull_interval: Duration,
}

impl MembershipConfig {
    /// The prober's tuning.
    pub fn probe(&self) -> crate::swim::ProbeConfig {
        crate::swim::ProbeConfig {
            interval: self.probe_interval,
            timeout: self.probe_timeout,
            indirect: self.indirect_probes,
            lhm_max: self.local_health_max,
        }
    }

    /// The table's SWIM timings.
    pub fn swim(&self) -> crate::membership::SwimTimings {
        crate::membership::SwimTimings {
            suspicion_max_multiplier: self.suspicion_max_multiplier,
            indirect_probes: self.indirect_probes,
            summary_timeout: self.summary_timeout,
            summary_interval: self.summary_interval,
            summaries_per_interval: self.summaries_per_interval,
        }
    }
}

impl Default for MembershipConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(1),
            lan: DetectorConfig::lan(),
            wan: DetectorConfig::wan(),
            forget_after: Duration::from_secs(24 * 3600),
            probe_interval: Duration::from_millis(1000),
            probe_timeout: Duration::from_millis(500),
            indirect_probes: 3,
            suspicion_max_multiplier: 2,
            local_health_max: 8,
            summary_interval: Duration::from_millis(2000),
            summary_timeout: Duration::from_millis(6000),
            summaries_per_interval: 20,
            zones_pull_interval: Duration::from_secs(10),
        }
    }
}

/// `[replication]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationConfig {
    /// Interval of the anti-entropy round with one random member. Default 2000 ms.
    #[serde(with = "duration_ms", rename = "anti_entropy_interval_ms")]
    pub anti_entropy_interval: Duration,
    /// Shards reconciled per sync request. Default 64.
    pub shards_per_request: usize,
    /// Sync requests of one session in flight at once. Default 4.
    pub batches_in_flight: usize,
    /// Sync sessions this peer initiates at once. Default 4.
    pub max_concurrent_syncs: usize,
    /// Change chunks up to this size ride on gossip; larger ones are only announced and
    /// pulled. Default 60 000 bytes (gossipsub messages are capped at 64 KiB).
    pub gossip_chunk_max: usize,
    /// Gossip a write batch's changes as one message (wire protocol 3), while every member
    /// speaks version 3 or newer; off: one message per shard, as version 2 did (for
    /// measurements). Default true.
    pub batch_changes: bool,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            anti_entropy_interval: Duration::from_secs(2),
            shards_per_request: 64,
            batches_in_flight: 4,
            max_concurrent_syncs: 4,
            gossip_chunk_max: 60_000,
            batch_changes: true,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Shards of a new store; must be equal on all peers. Default 1024.
    pub shard_count: u32,
    /// Compact when the WAL exceeds this many MiB. Default 64.
    pub compact_wal_mib: u64,
    /// How often to check whether compaction is due. Default 10 000 ms.
    #[serde(with = "duration_ms", rename = "compact_check_interval_ms")]
    pub compact_check_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            shard_count: 1024,
            compact_wal_mib: 64,
            compact_check_interval: Duration::from_secs(10),
        }
    }
}

/// `[network]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// How often unconnected members and join addresses are (re)dialed. Default 2000 ms.
    #[serde(with = "duration_ms", rename = "dial_interval_ms")]
    pub dial_interval: Duration,
    /// Timeout of a connection handshake (TCP + pnet + noise + yamux). Default 10 000 ms.
    #[serde(with = "duration_ms", rename = "handshake_timeout_ms")]
    pub handshake_timeout: Duration,
    /// Timeout of one request (sync, digest). Default 30 000 ms.
    #[serde(with = "duration_ms", rename = "request_timeout_ms")]
    pub request_timeout: Duration,
    /// Idle connections are kept this long (libp2p's own default of 10 s would drop quiet
    /// links and make gossip publishing fail). Default 3 600 000 ms.
    #[serde(with = "duration_ms", rename = "idle_connection_timeout_ms")]
    pub idle_connection_timeout: Duration,
    /// Largest request or response accepted, MiB. Default 64.
    pub max_message_mib: u64,
    /// Ping interval on every connection. Default 2000 ms.
    #[serde(with = "duration_ms", rename = "ping_interval_ms")]
    pub ping_interval: Duration,
    /// A ping without an answer this long has failed. Default 2000 ms.
    #[serde(with = "duration_ms", rename = "ping_timeout_ms")]
    pub ping_timeout: Duration,
    /// A connection is closed at the this-many-th ping failure libp2p reports (it reports
    /// them from the second failed ping in a row), so a cut that drops packets without a
    /// reset is redialed. Default 1.
    pub ping_max_failures: u32,
    /// Redials of an unreachable member back off from `dial_interval_ms`, doubling, up to
    /// this. Default 4000 ms.
    #[serde(with = "duration_ms", rename = "dial_backoff_max_ms")]
    pub dial_backoff_max: Duration,
    /// Connections kept to members of other zones (members of this peer's zone are all
    /// connected). Default 3.
    pub cross_zone_links: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            dial_interval: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_connection_timeout: Duration::from_secs(3600),
            max_message_mib: 64,
            ping_interval: Duration::from_secs(2),
            ping_timeout: Duration::from_secs(2),
            ping_max_failures: 1,
            dial_backoff_max: Duration::from_secs(4),
            cross_zone_links: 3,
        }
    }
}

/// `[tls]`: the HTTP API is served over TLS with a certificate from the cluster CA
/// (`uyuni-cluster ca issue`); plain HTTP only when `dev_plain_http` says so explicitly. A
/// peer with neither a certificate and key nor `dev_plain_http` refuses to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate (chain, leaf first) of this peer's HTTP API. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (keep it mode 0600). Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The cluster CA certificate that client certificates of the admin API must come from.
    /// Default: `ca.pem` in the directory of `cert_file` (where `uyuni-cluster ca issue`
    /// writes node certificates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Serve plain HTTP instead of TLS: development and tests only. Default false.
    pub dev_plain_http: bool,
    /// Time a client has to complete the TLS handshake before it is disconnected.
    /// Default 10 000 ms.
    #[serde(with = "duration_ms", rename = "handshake_timeout_ms")]
    pub handshake_timeout: Duration,
}

impl TlsConfig {
    /// The CA client certificates are checked against: `ca_file`, or `ca.pem` beside
    /// `cert_file`; `None` without TLS.
    pub fn client_ca(&self) -> Option<PathBuf> {
        if let Some(ca) = &self.ca_file {
            return Some(ca.clone());
        }
        let cert = self.cert_file.as_ref()?;
        Some(
            cert.parent()
                .unwrap_or_else(|| std::path::Path::new("."))
                .join(crate::tls::CA_CERT_FILE),
        )
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            ca_file: None,
            dev_plain_http: false,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}
