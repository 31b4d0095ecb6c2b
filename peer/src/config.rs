//! Peer configuration: a TOML file (`--config`) overlaid by command-line flags.
//! Every default is stated on its field and written out in `docs/CONFIGURATION.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::membership::DetectorConfig;

/// Problems with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's complaint.
        #[source]
        source: toml::de::Error,
    },
    /// A value is out of range or missing.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Serde helper: a `Duration` written as integer milliseconds.
pub mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize as milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    /// Deserialize from milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// The whole peer configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeerConfig {
    /// Node name, unique in the cluster. Required (no default).
    pub name: String,
    /// Zone of this node. Default `default`.
    pub zone: String,
    /// Role announced to the cluster. Default `server`.
    pub role: String,
    /// Data directory (store, identity). Default `/var/lib/uyuni-cluster`.
    pub data_dir: PathBuf,
    /// Cluster key file. Default `/etc/uyuni-cluster/cluster.key`.
    pub cluster_key: PathBuf,
    /// libp2p listen address. Default `/ip4/0.0.0.0/tcp/4580`.
    pub p2p_listen: String,
    /// HTTP API listen address. Default `127.0.0.1:4581`.
    pub http_listen: String,
    /// Addresses of peers to join through (multiaddrs, `/p2p/<id>` optional). Default none.
    pub join: Vec<String>,
    /// Addresses announced to other members instead of the listen address, each either `ADDR`
    /// (for every zone) or `ZONE=ADDR` (for dialers of that zone). Default: the listen address.
    pub advertise: Vec<String>,
    /// Membership and failure detection.
    pub membership: MembershipConfig,
    /// Replication.
    pub replication: ReplicationConfig,
    /// Metastore.
    pub store: StoreConfig,
    /// Connections.
    pub network: NetworkConfig,
    /// Address of the Uyuni server beside this peer as its salt minions reach it (`host` or
    /// `host:port`, the port being the salt master's ret port). Default: the node name.
    pub fqdn: Option<String>,
    /// Relative capacity of this node for the Load Driver (1.0 = a standard Uyuni server,
    /// ~10k systems). Default 1.0.
    pub capacity: f64,
    /// Load Driver and agent protocol.
    pub load: LoadConfig,
    /// TLS of the HTTP API.
    pub tls: TlsConfig,
    /// The Uyuni server beside this peer (Node Controller). Default: none.
    pub uyuni: crate::node_controller::UyuniConfig,
    /// The API gateway this peer serves (docs/GATEWAY.md). Default: none.
    pub gateway: gateway::GatewayConfig,
    /// Content sync: packages and CLM documents as iroh blobs (docs/CONTENT.md).
    pub content: crate::content::ContentConfig,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            zone: "default".into(),
            role: "server".into(),
            data_dir: PathBuf::from("/var/lib/uyuni-cluster"),
            cluster_key: PathBuf::from("/etc/uyuni-cluster/cluster.key"),
            p2p_listen: "/ip4/0.0.0.0/tcp/4580".into(),
            http_listen: "127.0.0.1:4581".into(),
            join: Vec::new(),
            advertise: Vec::new(),
            membership: MembershipConfig::default(),
            replication: ReplicationConfig::default(),
            store: StoreConfig::default(),
            network: NetworkConfig::default(),
            fqdn: None,
            capacity: 1.0,
            load: LoadConfig::default(),
            tls: TlsConfig::default(),
            uyuni: crate::node_controller::UyuniConfig::default(),
            gateway: gateway::GatewayConfig::default(),
            content: crate::content::ContentConfig::default(),
        }
    }
}

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
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            anti_entropy_interval: Duration::from_secs(2),
            shards_per_request: 64,
            batches_in_flight: 4,
            max_concurrent_syncs: 4,
            gossip_chunk_max: 60_000,
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
    /// Serve plain HTTP instead of TLS: development and tests only. Default false.
    pub dev_plain_http: bool,
    /// Time a client has to complete the TLS handshake before it is disconnected.
    /// Default 10 000 ms.
    #[serde(with = "duration_ms", rename = "handshake_timeout_ms")]
    pub handshake_timeout: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            dev_plain_http: false,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl PeerConfig {
    /// Read a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: shown,
            source,
        })
    }

    /// Check values that would otherwise fail later and less clearly.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.name.is_empty() {
            return bad("a node name is required (--name or `name =`)".into());
        }
        if self.name.contains('/') || self.zone.contains('/') || self.zone.is_empty() {
            return bad("node and zone names must be non-empty and contain no '/'".into());
        }
        self.uyuni.validate()?;
        self.content.validate().map_err(ConfigError::Invalid)?;
        if self.store.shard_count == 0 || self.store.shard_count > 65_536 {
            return bad(format!(
                "store.shard_count {} not in 1..=65536",
                self.store.shard_count
            ));
        }
        if self.membership.heartbeat_interval.is_zero() {
            return bad("membership.heartbeat_interval_ms must be > 0".into());
        }
        let intervals = [
            (
                "replication.anti_entropy_interval_ms",
                self.replication.anti_entropy_interval,
            ),
            ("network.dial_interval_ms", self.network.dial_interval),
            ("network.ping_interval_ms", self.network.ping_interval),
            (
                "store.compact_check_interval_ms",
                self.store.compact_check_interval,
            ),
        ];
        for (name, d) in intervals {
            if d.is_zero() {
                return bad(format!("{name} must be > 0"));
            }
        }
        for (name, d) in [
            ("membership.lan", &self.membership.lan),
            ("membership.wan", &self.membership.wan),
        ] {
            if d.window == 0 || d.phi_threshold <= 0.0 || !d.phi_threshold.is_finite() {
                return bad(format!(
                    "{name}: window must be > 0 and phi_threshold a positive number"
                ));
            }
        }
        if !(self.capacity.is_finite() && self.capacity > 0.0) {
            return bad(format!(
                "capacity {} must be a positive number",
                self.capacity
            ));
        }
        if self.load.tick.is_zero() || !(self.load.slack.is_finite() && self.load.slack >= 0.0) {
            return bad("load.tick_ms must be > 0 and load.slack >= 0".into());
        }
        if self.replication.shards_per_request == 0
            || self.replication.max_concurrent_syncs == 0
            || self.replication.batches_in_flight == 0
        {
            return bad(
                "replication.shards_per_request, batches_in_flight and max_concurrent_syncs must be > 0".into(),
            );
        }
        let tls = &self.tls;
        match (&tls.cert_file, &tls.key_file, tls.dev_plain_http) {
            (Some(_), Some(_), false) | (None, None, true) => {}
            (None, None, false) => {
                return bad(
                    "the HTTP API needs TLS: give a certificate and key from the cluster CA \
                     (--tls-cert/--tls-key or tls.cert_file/tls.key_file; see `uyuni-cluster ca`), \
                     or --dev-plain-http (tls.dev_plain_http) for development only"
                        .into(),
                );
            }
            (Some(_), Some(_), true) => {
                return bad("both a TLS certificate and dev_plain_http are set: choose one".into());
            }
            _ => return bad("tls.cert_file and tls.key_file go together".into()),
        }
        if tls.handshake_timeout.is_zero() {
            return bad("tls.handshake_timeout_ms must be > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_documented_defaults_and_unknown_keys_are_refused() {
        let c: PeerConfig =
            toml::from_str("name = \"n1\"\n[tls]\ndev_plain_http = true").expect("parse");
        assert_eq!(c.zone, "default");
        assert_eq!(c.membership.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(c.membership.lan.phi_threshold, 8.0);
        assert_eq!(c.store.shard_count, 1024);
        assert!(!PeerConfig::default().tls.dev_plain_http);
        assert!(c.tls.cert_file.is_none());
        assert_eq!(c.tls.handshake_timeout, Duration::from_secs(10));
        c.validate().expect("valid");
        let c: PeerConfig =
            toml::from_str("name = \"n\"\n[membership]\nheartbeat_interval_ms = 200\n[membership.lan]\nphi_threshold = 5.0\nsuspicion_timeout_ms = 1000\nwindow = 10")
                .expect("parse");
        assert_eq!(c.membership.heartbeat_interval, Duration::from_millis(200));
        assert_eq!(c.membership.lan.suspicion_timeout, Duration::from_secs(1));
        assert!(toml::from_str::<PeerConfig>("nmae = \"typo\"").is_err());
        assert!(
            PeerConfig::default().validate().is_err(),
            "name is required"
        );
    }

    #[test]
    fn tls_or_the_explicit_dev_flag_is_required() {
        let parse = |tls: &str| -> PeerConfig {
            toml::from_str(&format!("name = \"n\"\n[tls]\n{tls}")).expect("parse")
        };
        let err = parse("").validate().expect_err("neither TLS nor the flag");
        assert!(err.to_string().contains("--dev-plain-http"), "{err}");
        parse("cert_file = \"c.pem\"\nkey_file = \"c.key\"")
            .validate()
            .expect("TLS");
        parse("dev_plain_http = true").validate().expect("plain");
        for bad in [
            "cert_file = \"c.pem\"",
            "key_file = \"c.key\"",
            "cert_file = \"c.pem\"\nkey_file = \"c.key\"\ndev_plain_http = true",
            "dev_plain_http = true\nhandshake_timeout_ms = 0",
        ] {
            assert!(parse(bad).validate().is_err(), "{bad}");
        }
    }
}
