//! `[uyuni]`: the Uyuni server beside this peer, for the Node Controller.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use cluster_core::config::{ConfigError, duration_ms};

use crate::outbox::{DbSslMode, DbTls};

/// `[uyuni]`. Without `url` the peer runs without a Node Controller (a pure cluster member).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UyuniConfig {
    /// XML-RPC endpoint of the local Uyuni server, e.g. `http://localhost/rpc/api`.
    /// Default none: no Node Controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The same endpoint as the API gateway reaches it (when `url` is a local address such as
    /// `localhost`), published in the metastore. Default: `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// API user (an organisation administrator). Default `admin`.
    pub user: String,
    /// Its password. Default none; prefer `password_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// File holding the password (first line). Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// PEM CA trusted for an `https` URL (Uyuni's `RHN-ORG-TRUSTED-SSL-CERT`). Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PostgreSQL connection string of the Uyuni database with the cluster's triggers
    /// installed (`uyuni-cluster triggers install`), e.g.
    /// `host=localhost user=spacewalk password=... dbname=susemanager`. Default none: no
    /// events out of Uyuni (decisions still flow in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    /// TLS to that database: `disable` (plain; a database on this host), `require` (encrypted,
    /// the server not checked) or `verify-full` (its certificate must chain to `db_ca_file`
    /// and name the DSN's `host`). Default `disable`.
    pub db_sslmode: DbSslMode,
    /// PEM CA certificate(s) trusted for `db_sslmode = "verify-full"` (no other roots).
    /// Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_ca_file: Option<PathBuf>,
    /// Timeout of one API call. Default 30 000 ms.
    #[serde(with = "duration_ms", rename = "request_timeout_ms")]
    pub request_timeout: Duration,
    /// Retries of a call after a transport failure (backoff 200 ms doubling to 5 s). Default 5.
    pub retries: u32,
    /// Interval of the systems reconcile (accept keys, remove systems moved away) and of the
    /// check for newly published common data. Default 5 000 ms.
    #[serde(with = "duration_ms", rename = "reconcile_interval_ms")]
    pub reconcile_interval: Duration,
    /// Full common-data comparison even without a new publication (repairs drift).
    /// Default 600 000 ms (10 min).
    #[serde(with = "duration_ms", rename = "resync_interval_ms")]
    pub resync_interval: Duration,
    /// Integrity check (every full comparison, i.e. every `resync_interval_ms`): a node whose
    /// server differs from its zone's published common data in more than this many objects
    /// is marked faulty (no new systems; left as found until `uyuni-cluster node
    /// reprovision`); up to this many are repaired in place. Default 10.
    pub integrity_threshold: usize,
    /// Default length of a Leader Node lease. Default 3 600 000 ms (1 h).
    #[serde(with = "duration_ms", rename = "lease_ttl_ms")]
    pub lease_ttl: Duration,
    /// Outbox rows read per batch. Default 500.
    pub outbox_batch: usize,
    /// Outbox catch-up interval when no NOTIFY arrives. Default 5 000 ms.
    #[serde(with = "duration_ms", rename = "outbox_poll_ms")]
    pub outbox_poll: Duration,
}

impl Default for UyuniConfig {
    fn default() -> Self {
        Self {
            url: None,
            public_url: None,
            user: "admin".into(),
            password: None,
            password_file: None,
            ca_file: None,
            db: None,
            db_sslmode: DbSslMode::Disable,
            db_ca_file: None,
            request_timeout: Duration::from_secs(30),
            retries: 5,
            reconcile_interval: Duration::from_secs(5),
            resync_interval: Duration::from_secs(600),
            integrity_threshold: 10,
            lease_ttl: Duration::from_secs(3600),
            outbox_batch: 500,
            outbox_poll: Duration::from_secs(5),
        }
    }
}

impl UyuniConfig {
    /// The password, from `password` or `password_file`.
    pub fn password(&self) -> Result<String, ConfigError> {
        if let Some(p) = &self.password {
            return Ok(p.clone());
        }
        match &self.password_file {
            Some(f) => std::fs::read_to_string(f)
                .map(|s| s.lines().next().unwrap_or_default().to_string())
                .map_err(|source| ConfigError::Io {
                    path: f.display().to_string(),
                    source,
                }),
            None => Err(ConfigError::Invalid(
                "[uyuni] url is set but neither password nor password_file".into(),
            )),
        }
    }

    /// The outbox reader's TLS settings.
    pub fn db_tls(&self) -> DbTls {
        DbTls {
            mode: self.db_sslmode,
            ca_file: self.db_ca_file.clone(),
        }
    }

    /// Check the section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.url.is_none() {
            return Ok(());
        }
        if let Some(dsn) = &self.db {
            // tokio-postgres's parse errors name the option, never its value (at most one
            // stray character of a malformed string).
            let pg: tokio_postgres::Config = dsn
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("[uyuni] db: {e}")))?;
            self.db_tls()
                .check(&pg)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        self.password()?;
        if self.reconcile_interval.is_zero() || self.outbox_poll.is_zero() || self.outbox_batch == 0
        {
            return Err(ConfigError::Invalid(
                "[uyuni] reconcile_interval_ms, outbox_poll_ms and outbox_batch must be > 0".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_db(db: &str, mode: DbSslMode, ca: Option<&str>) -> UyuniConfig {
        UyuniConfig {
            url: Some("http://localhost/rpc/api".into()),
            password: Some("x".into()),
            db: Some(db.into()),
            db_sslmode: mode,
            db_ca_file: ca.map(PathBuf::from),
            ..UyuniConfig::default()
        }
    }

    #[test]
    fn database_tls_settings_are_checked_at_load() {
        let remote = "host=db.example.org user=spacewalk password=s3cret dbname=susemanager";
        assert!(with_db(remote, DbSslMode::Disable, None).validate().is_ok());
        assert!(
            with_db(remote, DbSslMode::VerifyFull, Some("/etc/ca.pem"))
                .validate()
                .is_ok()
        );
        let err = with_db(remote, DbSslMode::VerifyFull, None)
            .validate()
            .expect_err("refused")
            .to_string();
        assert!(err.contains("db_ca_file"), "{err}");
        let err = with_db("host=/run/pg", DbSslMode::Require, None)
            .validate()
            .expect_err("refused")
            .to_string();
        assert!(err.contains("TCP host"), "{err}");
        let err = with_db("host=db password='s3cret port=x", DbSslMode::Disable, None)
            .validate()
            .expect_err("refused")
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn the_keys_read_from_toml_with_their_defaults() {
        let c: UyuniConfig = toml::from_str("").expect("ok");
        assert_eq!(c.db_sslmode, DbSslMode::Disable);
        assert!(c.db_ca_file.is_none());
        let c: UyuniConfig =
            toml::from_str("db_sslmode = \"verify-full\"\ndb_ca_file = \"/etc/ca.pem\"")
                .expect("ok");
        assert_eq!(
            c.db_tls(),
            DbTls {
                mode: DbSslMode::VerifyFull,
                ca_file: Some("/etc/ca.pem".into())
            }
        );
    }
}
