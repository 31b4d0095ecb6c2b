//! # agent — `uyuni-cluster-agent`
//!
//! A small static binary beside the salt minion of every client system. It heartbeats to the
//! cluster's peers (`docs/AGENT-PROTOCOL.md`) and points the minion at whatever Uyuni server
//! (node) the cluster assigns.
//!
//! ```text
//!            ┌──────────────── runner (I/O shell) ─────────────────┐
//!  peers ◀──▶│ http::PeerClient      machine::Machine (sans-IO)     │
//!            │  (ureq, rustls+ring)   poll(now) → Action            │──▶ minion::Minion
//!            │ state_file (learned    on_outcome / on_effect        │    (master_conf,
//!            │  peers)                peers::PeerSet, timing        │     systemctl)
//!            └──────────────────────────────────────────────────────┘
//! ```
//!
//! - [`machine`]: every decision (statuses, registration, orphan flow, failover, back-off,
//!   `--once`) as a state machine that takes answers and the time and returns actions.
//! - [`peers`]: the entry-point list and failover order; [`timing`]: jitter and back-off.
//! - [`wire`] and [`addr`]: the protocol's vocabulary and addresses.
//! - [`fingerprint`]: the `salt-key -F` fingerprint of the minion key, the system's identity.
//! - [`salt_layout`], [`master_conf`], [`minion`]: the local minion (classic or venv), its
//!   `master:` setting and its service.
//! - [`config`]: TOML plus flags; [`http`], [`state_file`], [`runner`]: the I/O shell.
//!
//! ```no_run
//! use agent::config::{FileConfig, Overrides};
//! use agent::runner::{Agent, RunOptions};
//! use rand::SeedableRng;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = FileConfig::load("/etc/uyuni-cluster/agent.toml".as_ref(), true)?
//!     .apply(Overrides::default())
//!     .validate()?;
//! let opts = RunOptions { once: true, ..RunOptions::default() };
//! let summary = Agent::start(&config, &opts, rand::rngs::StdRng::from_os_rng())?.run();
//! println!("{:?} (exit code {})", summary.status, summary.exit.code());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// Tests may unwrap: a panic is the failure report there.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod addr;
pub mod config;
pub mod fingerprint;
pub mod fsutil;
pub mod http;
pub mod machine;
pub mod master_conf;
pub mod minion;
pub mod peers;
pub mod runner;
pub mod salt_layout;
pub mod state_file;
pub mod timing;
pub mod wire;
