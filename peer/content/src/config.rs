//! `[content]`: packages and CLM documents replicated as iroh blobs (docs/CONTENT.md).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use cluster_core::config::duration_ms;

/// When a node fetches the files its zone's repositories list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentMode {
    /// Fetch everything as soon as it is listed (the node can serve `reposync` offline).
    #[default]
    Eager,
    /// Fetch the index only; a file is fetched the first time it is asked for (large
    /// catalogues of which a node needs a part).
    Lazy,
}

/// `[content]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentConfig {
    /// Run content sync. Default true.
    pub enabled: bool,
    /// UDP address of the blob endpoint (iroh QUIC). Default: the IP of `p2p_listen`, port 0
    /// (any free port; the bound port is announced in the node's holdings record).
    pub listen: Option<String>,
    /// `eager` (default) or `lazy`.
    pub mode: ContentMode,
    /// Blobs fetched at once, spread over the providers. Default 4.
    pub parallel_fetches: usize,
    /// Fetches at once from one provider (the rest go to other holders). Default 2.
    pub fetches_per_provider: usize,
    /// Blob requests this node serves at once; more are refused as busy and the requester
    /// asks another holder (a thin link serves a few transfers fast rather than many slowly,
    /// so copies complete and are served onwards early). 0 = no limit. Default 2.
    pub upload_slots: usize,
    /// Super-seeding of the repositories this node holds completely: each file is handed out
    /// this many times, then left out of the holdings map this node answers (fetchers get it
    /// from one another, pointed to the nodes it went to) until `super_seed_hold_ms` passes.
    /// For an origin in front of many stores behind thin links. 0 = off. Default 0.
    pub super_seed_copies: u32,
    /// A file held back by super-seeding is offered again this long after its last copy
    /// completed. Default 30 000 ms.
    #[serde(with = "duration_ms", rename = "super_seed_hold_ms")]
    pub super_seed_hold: Duration,
    /// Files of at least this many MiB are fetched as byte ranges from several providers at
    /// once. Default 16.
    pub split_threshold_mib: u64,
    /// At most this many providers per large file. Default 4.
    pub max_split: usize,
    /// While fetching, how often each provider is asked which files it holds (its holdings
    /// map; at most 16 providers per interval). Default 500 ms.
    #[serde(with = "duration_ms", rename = "have_poll_interval_ms")]
    pub have_poll_interval: Duration,
    /// Download limit in KiB/s for all fetches of this node (repairs included); 0 = none.
    /// Default 0.
    pub max_download_kib_s: u64,
    /// Upload limit in KiB/s for everything this node serves; 0 = none. Default 0.
    pub max_upload_kib_s: u64,
    /// How often blobs no repository or CLM version references are deleted. Default
    /// 60 000 ms.
    #[serde(with = "duration_ms", rename = "gc_interval_ms")]
    pub gc_interval: Duration,
    /// Interval of the replication round (it also runs at once after an import or apply).
    /// Default 1 000 ms.
    #[serde(with = "duration_ms", rename = "scan_interval_ms")]
    pub scan_interval: Duration,
    /// Files up to this size are read whole and checked before the local repository sends
    /// them; larger ones are checked in a first pass, then streamed. Default 64 MiB.
    pub max_buffered_mib: u64,
    /// Directories `content import` may read (and their subdirectories), compared with every
    /// symbolic link resolved. Default: empty = every import is refused. The peer's own
    /// files are refused even under a root (see `protected`).
    pub import_roots: Vec<std::path::PathBuf>,
    /// Filled at start, not configurable: the peer's configuration file, data directory,
    /// cluster key, TLS and gateway keys, Uyuni password file and the files its database
    /// connection string names, which an import may never read (nor a directory holding them).
    #[serde(skip)]
    pub protected: Vec<crate::import_roots::ProtectedPath>,
}

impl Default for ContentConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            mode: ContentMode::Eager,
            parallel_fetches: 4,
            fetches_per_provider: 2,
            upload_slots: 2,
            super_seed_copies: 0,
            super_seed_hold: Duration::from_secs(30),
            split_threshold_mib: 16,
            max_split: 4,
            have_poll_interval: Duration::from_millis(500),
            max_download_kib_s: 0,
            max_upload_kib_s: 0,
            gc_interval: Duration::from_secs(60),
            scan_interval: Duration::from_secs(1),
            max_buffered_mib: 64,
            import_roots: Vec::new(),
            protected: Vec::new(),
        }
    }
}

impl ContentConfig {
    /// Reject values the service cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        if self.parallel_fetches == 0 || self.parallel_fetches > 256 {
            return Err(format!(
                "content.parallel_fetches {} not in 1..=256",
                self.parallel_fetches
            ));
        }
        if self.fetches_per_provider == 0 || self.max_split == 0 || self.max_split > 64 {
            return Err(format!(
                "content.fetches_per_provider ({}) must be > 0 and content.max_split ({}) in 1..=64",
                self.fetches_per_provider, self.max_split
            ));
        }
        if self.split_threshold_mib == 0 {
            return Err("content.split_threshold_mib must be > 0".into());
        }
        if self.have_poll_interval < Duration::from_millis(100) {
            return Err("content.have_poll_interval_ms must be at least 100".into());
        }
        if self.gc_interval.is_zero() || self.scan_interval.is_zero() {
            return Err("content.gc_interval_ms and content.scan_interval_ms must be > 0".into());
        }
        if self.max_buffered_mib == 0 || self.max_buffered_mib > 4096 {
            return Err(format!(
                "content.max_buffered_mib {} not in 1..=4096",
                self.max_buffered_mib
            ));
        }
        if let Some(l) = &self.listen {
            l.parse::<std::net::SocketAddr>()
                .map_err(|e| format!("content.listen {l:?}: {e}"))?;
        }
        Ok(())
    }
}
