//! `uyuni-cluster-agent`: see `uyuni-cluster-agent --help` and `docs/AGENT.md`.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use agent::config::{DEFAULT_CONFIG_PATH, FileConfig, Overrides};
use agent::runner::{Agent, RunOptions, Summary};
use anyhow::Context as _;
use clap::Parser;
use rand::SeedableRng as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Heartbeats this client system to the Uyuni cluster and points its salt minion at the node
/// the cluster assigns. Flags override the configuration file.
#[derive(Debug, Parser)]
#[command(name = "uyuni-cluster-agent", version)]
struct Cli {
    /// Configuration file (TOML) [default: /etc/uyuni-cluster/agent.toml; a missing file is an
    /// error only when named explicitly].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Entry point `host[:port]` (repeatable; replaces `peers` of the file).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// PEM file with the cluster CA, the only trusted root [default: /etc/uyuni-cluster/ca.pem].
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Talk plain HTTP to the peers (development only).
    #[arg(long)]
    dev_plain_http: bool,
    /// Heartbeat interval until the cluster sets one [default: 60000].
    #[arg(long, value_name = "MS")]
    knock_interval_ms: Option<u64>,
    /// Interval of orphan polling unless the peer sends Retry-After [default: 10000].
    #[arg(long, value_name = "MS")]
    orphan_interval_ms: Option<u64>,
    /// Cap of the back-off when no peer answers [default: 300000].
    #[arg(long, value_name = "MS")]
    max_backoff_ms: Option<u64>,
    /// Time-out of one HTTP request [default: 10000].
    #[arg(long, value_name = "MS")]
    request_timeout_ms: Option<u64>,
    /// File that keeps learned peers across restarts
    /// [default: /var/lib/uyuni-cluster-agent/state.json].
    #[arg(long, value_name = "FILE")]
    state_file: Option<PathBuf>,
    /// The salt minion's configuration directory (default: detected, venv first).
    #[arg(long, value_name = "DIR")]
    salt_config_dir: Option<PathBuf>,
    /// The salt minion's service (default: by detected flavour).
    #[arg(long, value_name = "NAME")]
    salt_service: Option<String>,
    /// One cycle: knock (register if unknown), apply the answer, print the status, exit
    /// (exit codes: 0 done, 1 error, 3 no peer answered, 4 deleted, 5 orphan without a node).
    #[arg(long)]
    once: bool,
}

fn main() -> ExitCode {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(filter),
        )
        .init();
    match run(Cli::parse()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let (path, required) = match &cli.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    };
    let config = FileConfig::load(&path, required)?
        .apply(Overrides {
            peers: cli.peers,
            ca_file: cli.ca_file,
            dev_plain_http: cli.dev_plain_http,
            knock_interval_ms: cli.knock_interval_ms,
            orphan_interval_ms: cli.orphan_interval_ms,
            max_backoff_ms: cli.max_backoff_ms,
            request_timeout_ms: cli.request_timeout_ms,
            state_file: cli.state_file,
            salt_config_dir: cli.salt_config_dir,
            salt_service: cli.salt_service,
        })
        .validate()?;
    let opts = RunOptions {
        once: cli.once,
        ..RunOptions::default()
    };
    let rng = rand::rngs::StdRng::from_os_rng();
    let mut agent = Agent::start(&config, &opts, rng).context("starting the agent")?;
    let summary = agent.run();
    if cli.once {
        println!("{}", describe(&summary));
    }
    Ok(summary.exit.code())
}

/// The `--once` line: `status=o (onboarded) master=srv1:4506 peer=srv1:4581 exit=0 fp=…`.
fn describe(s: &Summary) -> String {
    let status = s.status.map_or_else(|| "-".to_owned(), |st| st.to_string());
    let master = s
        .master
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string);
    let peer = s
        .peer
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string);
    format!(
        "status={status} master={master} peer={peer} result={:?} exit={} fp={}",
        s.exit,
        s.exit.code(),
        s.fingerprint
    )
}
