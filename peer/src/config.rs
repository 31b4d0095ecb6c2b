//! Peer configuration: a TOML file (`--config`) overlaid by command-line flags.
//! Every default is stated on its field and written out in `docs/CONFIGURATION.md`.

use std::path::{Path, PathBuf};

use cluster_core::config::{
    ConfigError, MembershipConfig, NetworkConfig, ReplicationConfig, StoreConfig, TlsConfig,
};
use load_driver::config::{AgentDoorConfig, LoadConfig};
use serde::{Deserialize, Serialize};

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
    /// The agents' door: signed registrations, tokens, budgets (docs/security/agentauth.md).
    pub agent_door: AgentDoorConfig,
    /// TLS of the HTTP API.
    pub tls: TlsConfig,
    /// Connection limits and timeouts of the HTTP API's listener.
    pub http: cluster_core::serve::ConnLimits,
    /// The Uyuni server beside this peer (Node Controller). Default: none.
    pub uyuni: node_controller::UyuniConfig,
    /// The API gateway this peer serves (docs/GATEWAY.md). Default: none.
    pub gateway: gateway::GatewayConfig,
    /// Content sync: packages and CLM documents as iroh blobs (docs/CONTENT.md).
    pub content: content_peer::ContentConfig,
    /// **Tests only** (docs/UPGRADE.md): speak this wire protocol instead of the current one.
    /// `1` behaves as a peer from before versions were sent (no version fields; records
    /// rewritten without the fields it does not know); a number above the current one stands
    /// for a future peer that no longer works beside this version. Default: none (current).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_wire_protocol: Option<u32>,
    /// The file this configuration was read from (`--config`), set by the CLI, not
    /// configurable: content imports never read it.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
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
            agent_door: AgentDoorConfig::default(),
            tls: TlsConfig::default(),
            http: cluster_core::serve::ConnLimits::default(),
            uyuni: node_controller::UyuniConfig::default(),
            gateway: gateway::GatewayConfig::default(),
            content: content_peer::ContentConfig::default(),
            test_wire_protocol: None,
            config_file: None,
        }
    }
}

/// Whether a `host:port` listen address is on the loopback interface.
fn is_loopback_listen(listen: &str) -> bool {
    if let Ok(sa) = listen.parse::<std::net::SocketAddr>() {
        return sa.ip().is_loopback();
    }
    listen
        .rsplit_once(':')
        .is_some_and(|(host, _)| host == "localhost")
}

impl PeerConfig {
    /// Read a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        cluster_config::read_toml(path)
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
        self.load
            .auto_accept
            .validate()
            .map_err(ConfigError::Invalid)?;
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
            (
                "membership.summary_interval_ms",
                self.membership.summary_interval,
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
            // `window` and `phi_threshold` are unused since SWIM (accepted, defaulted, not
            // checked): a section with only `suspicion_timeout_ms` is valid.
            if d.suspicion_timeout.is_zero() {
                return bad(format!("{name}.suspicion_timeout_ms must be > 0"));
            }
        }
        if self.membership.summaries_per_interval == 0 {
            return bad("membership.summaries_per_interval must be > 0".into());
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
        // Plain HTTP has no client certificates, so its admin API is open: loopback only.
        if tls.dev_plain_http && !is_loopback_listen(&self.http_listen) {
            return bad(format!(
                "dev_plain_http serves the admin API without authentication: http_listen {} \
                 must be a loopback address (127.0.0.0/8, [::1] or localhost)",
                self.http_listen
            ));
        }
        let h = &self.http;
        if h.max_connections == 0
            || h.max_connections_per_client == 0
            || h.header_timeout.is_zero()
            || h.body_timeout.is_zero()
            || h.idle_timeout.is_zero()
        {
            return bad("[http] limits and timeouts must be > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        assert_eq!(c.membership.summaries_per_interval, 20);
        assert!(
            PeerConfig::default().validate().is_err(),
            "name is required"
        );
    }

    #[test]
    fn a_detector_section_with_only_the_suspicion_timeout_is_valid() {
        // `window` and `phi_threshold` are unused since SWIM: leaving them out is fine.
        let c: PeerConfig = toml::from_str(
            "name = \"n\"\n[tls]\ndev_plain_http = true\n[membership.wan]\nsuspicion_timeout_ms = 20000\n[membership.lan]\nsuspicion_timeout_ms = 1500",
        )
        .expect("parse");
        assert_eq!(c.membership.wan.suspicion_timeout, Duration::from_secs(20));
        assert_eq!(
            c.membership.lan.suspicion_timeout,
            Duration::from_millis(1500)
        );
        c.validate().expect("a partial [membership.wan] is valid");
        let zero: PeerConfig = toml::from_str(
            "name = \"n\"\n[tls]\ndev_plain_http = true\n[membership.wan]\nsuspicion_timeout_ms = 0",
        )
        .expect("parse");
        let err = zero.validate().expect_err("a zero timeout is refused");
        assert!(
            err.to_string()
                .contains("membership.wan.suspicion_timeout_ms"),
            "{err}"
        );
        let none: PeerConfig = toml::from_str(
            "name = \"n\"\n[tls]\ndev_plain_http = true\n[membership]\nsummaries_per_interval = 0",
        )
        .expect("parse");
        assert!(
            none.validate().is_err(),
            "summaries_per_interval 0 is refused"
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

    #[test]
    fn plain_http_listens_on_loopback_only_and_client_certificates_default_to_the_ca_beside() {
        let parse = |toml_text: &str| -> PeerConfig {
            toml::from_str(&format!("name = \"n\"\n{toml_text}")).expect("parse")
        };
        for ok in [
            "127.0.0.1:0",
            "127.9.9.9:4581",
            "[::1]:4581",
            "localhost:4581",
        ] {
            parse(&format!(
                "http_listen = \"{ok}\"\n[tls]\ndev_plain_http = true"
            ))
            .validate()
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for open in [
            "0.0.0.0:4581",
            "10.1.2.3:4581",
            "[::]:4581",
            "peer.example:4581",
        ] {
            let err = parse(&format!(
                "http_listen = \"{open}\"\n[tls]\ndev_plain_http = true"
            ))
            .validate()
            .expect_err(open);
            assert!(err.to_string().contains("loopback"), "{err}");
        }
        // Over TLS any address is fine; client certificates come from the CA beside the
        // peer's own certificate unless told otherwise.
        let c = parse(
            "http_listen = \"0.0.0.0:4581\"\n[tls]\ncert_file = \"/etc/uc/n1.pem\"\nkey_file = \"/etc/uc/n1.key\"",
        );
        c.validate().expect("TLS on any address");
        assert_eq!(c.tls.client_ca(), Some(PathBuf::from("/etc/uc/ca.pem")));
        let c =
            parse("[tls]\ncert_file = \"n1.pem\"\nkey_file = \"n1.key\"\nca_file = \"/x/ca.pem\"");
        assert_eq!(c.tls.client_ca(), Some(PathBuf::from("/x/ca.pem")));
        assert_eq!(c.http.max_connections, 1024);
        assert!(
            parse("[tls]\ndev_plain_http = true\n[http]\nidle_timeout_ms = 0")
                .validate()
                .is_err()
        );
    }

    /// `packaging/config/*.toml` uncommented where they give a literal value: every `#key =
    /// value` line of the packaged files (scripts/gen-config.py, from docs/CONFIGURATION.md).
    fn packaged_with_defaults(file: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../packaging/config")
            .join(file);
        let text = std::fs::read_to_string(&path).expect("the packaged configuration");
        let lines: Vec<&str> = text
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(kv) if kv.contains(" = ") && !kv.starts_with(' ') && !kv.ends_with("...") => {
                    kv
                }
                _ => l,
            })
            .collect();
        format!("name = \"n\"\n{}", lines.join("\n"))
    }

    #[test]
    fn the_packaged_configurations_name_known_keys_with_the_peers_own_defaults() {
        let packaged: PeerConfig =
            toml::from_str(&packaged_with_defaults("peer.toml")).expect("peer.toml parses");
        let defaults: PeerConfig = toml::from_str("name = \"n\"").expect("parse");
        assert_eq!(format!("{packaged:?}"), format!("{defaults:?}"));
        let gateway: PeerConfig =
            toml::from_str(&packaged_with_defaults("gateway.toml")).expect("gateway.toml parses");
        assert_eq!(gateway.role, "gateway");
        assert!(!gateway.content.enabled);
    }
}
