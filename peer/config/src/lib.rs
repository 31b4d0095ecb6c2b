//! # cluster-config — what every uyuni-cluster binary's configuration shares
//!
//! The configuration error of the peer (every component's section) and of the agent, reading
//! a TOML file into a schema, and the serde helper for durations written as milliseconds.
//! Small on purpose: the static agent depends on it.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::path::Path;

use serde::de::DeserializeOwned;

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
    /// One key's value is wrong.
    #[error("{key}: {reason}")]
    Value {
        /// The key (`peers`, `salt.restart`, …), or the entry at fault.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Parse TOML `text` read from `shown_path` (named in errors).
pub fn parse_toml<T: DeserializeOwned>(text: &str, shown_path: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|source| ConfigError::Parse {
        path: shown_path.to_owned(),
        source,
    })
}

/// Read and parse the TOML file at `path`.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: shown.clone(),
        source,
    })?;
    parse_toml(&text, &shown)
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
