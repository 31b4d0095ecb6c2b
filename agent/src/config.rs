//! Agent configuration: a TOML file (`--config`, default [`DEFAULT_CONFIG_PATH`]) overlaid by
//! command-line flags, then validated into an [`AgentConfig`]. Every default is stated on its
//! field and in `docs/AGENT.md`. Unknown keys are an error, so typos do not pass silently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::addr::PeerAddr;
use crate::salt_layout::SaltOverrides;

/// Where the configuration is read from when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/uyuni-cluster/agent.toml";

/// Problems with the configuration: the type the peer's configuration uses too (one for
/// the project; the `cluster-config` crate). A wrong value is [`ConfigError::Value`], naming
/// its key (`peers`, `max_backoff_ms`, `salt.stop_command`) or, for a bad entry point, the
/// entry itself.
pub use cluster_config::ConfigError;

fn value(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key: key.into(),
        reason: reason.into(),
    }
}

/// How the agent talks to peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS, trusting only the CA certificates in this PEM file.
    Tls {
        /// The cluster CA file.
        ca_file: PathBuf,
    },
    /// Plain HTTP: development only (`dev_plain_http = true` / `--dev-plain-http`).
    PlainHttp,
}

impl Transport {
    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Tls { .. } => "https",
            Self::PlainHttp => "http",
        }
    }
}

/// The `[salt]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SaltSection {
    /// The minion's configuration directory. Default: `/etc/venv-salt-minion` when the venv
    /// minion is installed, else `/etc/salt`.
    pub config_dir: Option<PathBuf>,
    /// The minion's systemd service. Default: `venv-salt-minion` or `salt-minion`, by flavour.
    pub service: Option<String>,
    /// argv that restarts the minion. Default `["systemctl", "restart", SERVICE]`.
    pub restart_command: Option<Vec<String>>,
    /// argv that stops the minion. Default `["systemctl", "stop", SERVICE]`.
    pub stop_command: Option<Vec<String>>,
}

/// The configuration file as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Entry points: peer HTTP addresses (`host`, `host:port`; a `https://` prefix is allowed,
    /// `http://` only with `dev_plain_http`). Port default 4581. Required (no default).
    pub peers: Vec<String>,
    /// PEM file with the cluster CA certificate(s), the only roots trusted for TLS. Default
    /// `/etc/uyuni-cluster/ca.pem`.
    pub ca_file: PathBuf,
    /// Talk plain HTTP instead of TLS (development only). Default `false`.
    pub dev_plain_http: bool,
    /// Heartbeat interval until the cluster sends `X-Uyuni-Heartbeat`. Default 60000.
    pub knock_interval_ms: u64,
    /// Interval of `GET /system/orphan` while no node is free, unless the peer sends
    /// `Retry-After`. Default 10000.
    pub orphan_interval_ms: u64,
    /// Cap of the exponential back-off when no peer answers. Default 300000.
    pub max_backoff_ms: u64,
    /// Time-out of one HTTP request (connect, TLS, answer). Default 10000.
    pub request_timeout_ms: u64,
    /// Where learned peers are kept across restarts. Default
    /// `/var/lib/uyuni-cluster-agent/state.json`.
    pub state_file: PathBuf,
    /// The salt minion layout (detected unless set).
    pub salt: SaltSection,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            peers: Vec::new(),
            ca_file: PathBuf::from("/etc/uyuni-cluster/ca.pem"),
            dev_plain_http: false,
            knock_interval_ms: 60_000,
            orphan_interval_ms: 10_000,
            max_backoff_ms: 300_000,
            request_timeout_ms: 10_000,
            state_file: PathBuf::from("/var/lib/uyuni-cluster-agent/state.json"),
            salt: SaltSection::default(),
        }
    }
}

/// Command-line values that override the file (`None`/empty/`false`: keep the file's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--peer` (repeatable): replaces the file's `peers` when given.
    pub peers: Vec<String>,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--dev-plain-http`.
    pub dev_plain_http: bool,
    /// `--knock-interval-ms`.
    pub knock_interval_ms: Option<u64>,
    /// `--orphan-interval-ms`.
    pub orphan_interval_ms: Option<u64>,
    /// `--max-backoff-ms`.
    pub max_backoff_ms: Option<u64>,
    /// `--request-timeout-ms`.
    pub request_timeout_ms: Option<u64>,
    /// `--state-file`.
    pub state_file: Option<PathBuf>,
    /// `--salt-config-dir`.
    pub salt_config_dir: Option<PathBuf>,
    /// `--salt-service`.
    pub salt_service: Option<String>,
}

impl FileConfig {
    /// Parse TOML text.
    pub fn from_toml(text: &str, shown_path: &str) -> Result<Self, ConfigError> {
        cluster_config::parse_toml(text, shown_path)
    }

    /// Read `path`. A missing file is an error only when `required` (it was named with
    /// `--config`); the default path may be absent when flags give everything.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml(&text, &shown),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Io {
                path: shown,
                source,
            }),
        }
    }

    /// Apply command-line overrides.
    pub fn apply(mut self, o: Overrides) -> Self {
        if !o.peers.is_empty() {
            self.peers = o.peers;
        }
        self.dev_plain_http |= o.dev_plain_http;
        let set = |field: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut self.knock_interval_ms, o.knock_interval_ms);
        set(&mut self.orphan_interval_ms, o.orphan_interval_ms);
        set(&mut self.max_backoff_ms, o.max_backoff_ms);
        set(&mut self.request_timeout_ms, o.request_timeout_ms);
        if let Some(v) = o.ca_file {
            self.ca_file = v;
        }
        if let Some(v) = o.state_file {
            self.state_file = v;
        }
        if let Some(v) = o.salt_config_dir {
            self.salt.config_dir = Some(v);
        }
        if let Some(v) = o.salt_service {
            self.salt.service = Some(v);
        }
        self
    }

    /// Check every value and build the [`AgentConfig`].
    pub fn validate(self) -> Result<AgentConfig, ConfigError> {
        if self.peers.is_empty() {
            return Err(value(
                "peers",
                "no peers configured: set `peers` in the config file or pass --peer",
            ));
        }
        let peers = self
            .peers
            .iter()
            .map(|entry| parse_entry(entry, self.dev_plain_http))
            .collect::<Result<Vec<_>, _>>()?;
        let ms = |key: &'static str, v: u64| {
            if v == 0 {
                Err(value(key, "must be greater than 0"))
            } else {
                Ok(Duration::from_millis(v))
            }
        };
        for (key, cmd) in [
            ("restart_command", &self.salt.restart_command),
            ("stop_command", &self.salt.stop_command),
        ] {
            if cmd
                .as_ref()
                .is_some_and(|c| c.first().is_none_or(String::is_empty))
            {
                return Err(value(format!("salt.{key}"), "must name a program"));
            }
        }
        Ok(AgentConfig {
            peers,
            transport: if self.dev_plain_http {
                Transport::PlainHttp
            } else {
                Transport::Tls {
                    ca_file: self.ca_file,
                }
            },
            knock_interval: ms("knock_interval_ms", self.knock_interval_ms)?,
            orphan_interval: ms("orphan_interval_ms", self.orphan_interval_ms)?,
            max_backoff: ms("max_backoff_ms", self.max_backoff_ms)?,
            request_timeout: ms("request_timeout_ms", self.request_timeout_ms)?,
            state_file: self.state_file,
            salt: SaltOverrides {
                config_dir: self.salt.config_dir,
                service: self.salt.service,
                restart_command: self.salt.restart_command,
                stop_command: self.salt.stop_command,
            },
        })
    }
}

/// One `peers` entry: optional scheme (which must match the transport), `host[:port]`,
/// optional trailing `/`.
fn parse_entry(entry: &str, plain: bool) -> Result<PeerAddr, ConfigError> {
    let bad = |reason: String| value(format!("peer {entry:?}"), reason);
    let trimmed = entry.trim().trim_end_matches('/');
    let rest = if let Some(r) = trimmed.strip_prefix("https://") {
        if plain {
            return Err(bad("https:// entry while dev_plain_http is set".into()));
        }
        r
    } else if let Some(r) = trimmed.strip_prefix("http://") {
        if !plain {
            return Err(bad(
                "plain http:// needs dev_plain_http = true (development only)".into(),
            ));
        }
        r
    } else if trimmed.contains("://") {
        return Err(bad("unsupported scheme".into()));
    } else {
        trimmed
    };
    rest.parse::<PeerAddr>()
        .map_err(|e| bad(e.reason.to_owned()))
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Configured entry points.
    pub peers: Vec<PeerAddr>,
    /// TLS with the cluster CA, or plain HTTP in development.
    pub transport: Transport,
    /// Heartbeat interval until the cluster sets one.
    pub knock_interval: Duration,
    /// Orphan polling interval.
    pub orphan_interval: Duration,
    /// Back-off cap.
    pub max_backoff: Duration,
    /// Per-request time-out.
    pub request_timeout: Duration,
    /// Learned-peers state file.
    pub state_file: PathBuf,
    /// Salt layout overrides.
    pub salt: SaltOverrides,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let c = FileConfig::from_toml("peers = [\"srv1\"]", "t")
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(c.peers, vec!["srv1:4581".parse::<PeerAddr>().unwrap()]);
        assert_eq!(
            c.transport,
            Transport::Tls {
                ca_file: "/etc/uyuni-cluster/ca.pem".into()
            }
        );
        assert_eq!(c.knock_interval, Duration::from_secs(60));
        assert_eq!(c.orphan_interval, Duration::from_secs(10));
        assert_eq!(c.max_backoff, Duration::from_secs(300));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(
            c.state_file,
            PathBuf::from("/var/lib/uyuni-cluster-agent/state.json")
        );
        assert_eq!(c.salt, SaltOverrides::default());
    }

    #[test]
    fn parses_a_full_file() {
        let text = r#"
            peers = ["https://srv1.example.org:4581/", "srv2.example.org"]
            ca_file = "/etc/pki/trust/anchors/RHN-ORG-TRUSTED-SSL-CERT"
            knock_interval_ms = 30000
            orphan_interval_ms = 5000
            max_backoff_ms = 120000
            request_timeout_ms = 3000
            state_file = "/tmp/agent-state.json"

            [salt]
            config_dir = "/etc/venv-salt-minion"
            service = "venv-salt-minion"
            restart_command = ["touch", "/tmp/restarted"]
            stop_command = ["touch", "/tmp/stopped"]
        "#;
        let c = FileConfig::from_toml(text, "t")
            .unwrap()
            .validate()
            .unwrap();
        let shown: Vec<String> = c.peers.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["srv1.example.org:4581", "srv2.example.org:4581"]);
        assert_eq!(c.knock_interval, Duration::from_secs(30));
        assert_eq!(c.orphan_interval, Duration::from_secs(5));
        assert_eq!(c.max_backoff, Duration::from_secs(120));
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        assert_eq!(
            c.salt.restart_command.as_deref(),
            Some(&["touch".into(), "/tmp/restarted".into()][..])
        );
        assert_eq!(c.salt.service.as_deref(), Some("venv-salt-minion"));
    }

    #[test]
    fn flags_override_the_file() {
        let file = FileConfig::from_toml("peers = [\"a\"]\nknock_interval_ms = 5", "t").unwrap();
        let c = file
            .apply(Overrides {
                peers: vec!["http://b:1".into()],
                dev_plain_http: true,
                knock_interval_ms: Some(7),
                salt_config_dir: Some("/x/salt".into()),
                salt_service: Some("svc".into()),
                state_file: Some("/s".into()),
                ..Overrides::default()
            })
            .validate()
            .unwrap();
        assert_eq!(c.peers, vec!["b:1".parse::<PeerAddr>().unwrap()]);
        assert_eq!(c.transport, Transport::PlainHttp);
        assert_eq!(c.knock_interval, Duration::from_millis(7));
        assert_eq!(c.salt.config_dir, Some(PathBuf::from("/x/salt")));
        assert_eq!(c.salt.service.as_deref(), Some("svc"));
        assert_eq!(c.state_file, PathBuf::from("/s"));
    }

    #[test]
    fn rejects_bad_values() {
        let err = |text: &str| FileConfig::from_toml(text, "t").and_then(FileConfig::validate);
        let key_of = |text: &str| match err(text) {
            Err(ConfigError::Value { key, .. }) => key,
            other => panic!("expected a bad value, got {other:?}"),
        };
        assert_eq!(key_of(""), "peers");
        assert!(matches!(err("peerz = []"), Err(ConfigError::Parse { .. })));
        assert!(key_of("peers = [\"http://a\"]").starts_with("peer "));
        assert!(key_of("peers = [\"https://a\"]\ndev_plain_http = true").starts_with("peer "));
        assert!(key_of("peers = [\"ftp://a\"]").starts_with("peer "));
        assert!(key_of("peers = [\"a b\"]").starts_with("peer "));
        assert_eq!(
            key_of("peers = [\"a\"]\nmax_backoff_ms = 0"),
            "max_backoff_ms"
        );
        assert_eq!(
            key_of("peers = [\"a\"]\n[salt]\nstop_command = []"),
            "salt.stop_command"
        );
    }

    #[test]
    fn a_missing_default_file_is_fine_a_named_one_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("agent.toml");
        assert_eq!(
            FileConfig::load(&path, false).unwrap(),
            FileConfig::default()
        );
        assert!(matches!(
            FileConfig::load(&path, true),
            Err(ConfigError::Io { .. })
        ));
        std::fs::write(&path, "peers = [\"x\"]").unwrap();
        assert_eq!(FileConfig::load(&path, true).unwrap().peers, ["x"]);
    }

    /// The packaged `agent.toml` (packaging/config/, scripts/gen-config.py) names only keys the
    /// agent knows: uncommented where it gives a literal value, it parses.
    #[test]
    fn the_packaged_configuration_names_known_keys() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config/agent.toml");
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
        let c = FileConfig::from_toml(&lines.join("\n"), "agent.toml").expect("parses");
        assert!(c.peers.is_empty());
    }
}
