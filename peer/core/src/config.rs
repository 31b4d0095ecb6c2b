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
    /// Detector for members of this peer's zone. Default phi 8, suspicion 10 000 ms.
    pub lan: DetectorConfig,
    /// Detector for members of other zones. Default phi 12, suspicion 60 000 ms.
    pub wan: DetectorConfig,
    /// Drop members that have been down or left this long. Default 86 400 000 ms (24 h).
    #[serde(with = "duration_ms", rename = "forget_after_ms")]
    pub forget_after: Duration,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(1),
            lan: DetectorConfig::lan(),
            wan: DetectorConfig::wan(),
            forget_after: Duration::from_secs(24 * 3600),
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
    /// Ping interval; a connection whose ping fails is closed. Default 5000 ms.
    #[serde(with = "duration_ms", rename = "ping_interval_ms")]
    pub ping_interval: Duration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            dial_interval: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_connection_timeout: Duration::from_secs(3600),
            max_message_mib: 64,
            ping_interval: Duration::from_secs(5),
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
