//! The I/O shell around the [`Machine`]: start-up (layout, identity, current master, remembered
//! peers) and the loop that carries out the machine's actions with real HTTP, real files,
//! real commands and the real clock.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::Rng;
use tracing::{info, info_span, warn};

use crate::addr::{HostPort, PeerAddr};
use crate::config::AgentConfig;
use crate::fingerprint::{FingerprintError, MinionKey};
use crate::http::{ClientError, Identity, PeerClient};
use crate::machine::{Action, Exit, Machine, Settings};
use crate::master_conf::{MasterError, effective_master};
use crate::minion::Minion;
use crate::peers::PeerSet;
use crate::salt_layout::{SaltLayout, hostname};
use crate::state_file;
use crate::wire::Status;

/// Starting the agent failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The minion's key is missing or unreadable (with `--once`; otherwise the agent waits).
    #[error(transparent)]
    Key(#[from] FingerprintError),
    /// The minion's configuration could not be read.
    #[error(transparent)]
    Master(#[from] MasterError),
    /// The HTTP client could not be set up (CA file).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The minion's private key is missing, unreadable or not an RSA key.
    #[error("minion private key {path}: {reason}")]
    PrivateKey {
        /// The key file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Neither `minion_id` nor a host name is available.
    #[error("no minion id: {0} is missing and the host name is unknown")]
    NoMinionId(String),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// One cycle, then exit.
    pub once: bool,
    /// The file-system root the salt layout is detected under (`/`; tests use a temp dir).
    pub root: PathBuf,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            once: false,
            root: PathBuf::from("/"),
        }
    }
}

/// A started agent.
#[derive(Debug)]
pub struct Agent<R> {
    machine: Machine<R>,
    client: PeerClient,
    minion: Minion,
    state_file: PathBuf,
    fingerprint: String,
}

/// What a finished run reports (`--once` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Why the run ended.
    pub exit: Exit,
    /// The last status the cluster gave.
    pub status: Option<Status>,
    /// The minion's master as the agent left it.
    pub master: Option<HostPort>,
    /// The peer that answered last.
    pub peer: Option<PeerAddr>,
    /// The system's fingerprint.
    pub fingerprint: String,
}

impl<R: Rng> Agent<R> {
    /// Resolve the salt layout, read the identity (waiting for the minion to create its key
    /// unless `once`), read the current master and the remembered peers, and set up HTTP.
    pub fn start(config: &AgentConfig, opts: &RunOptions, rng: R) -> Result<Self, StartError> {
        let layout = SaltLayout::resolve(&opts.root, &config.salt);
        info!(
            flavour = ?layout.flavour,
            config_dir = %layout.config_dir.display(),
            service = %layout.service,
            "salt minion layout"
        );
        let key = read_key(&layout.minion_pub(), opts.once, config.knock_interval)?;
        let minion_id = layout.minion_id(&opts.root).ok_or_else(|| {
            StartError::NoMinionId(layout.config_dir.join("minion_id").display().to_string())
        })?;
        let master = effective_master(&layout.config_dir)?;
        info!(fingerprint = %key.fingerprint, %minion_id, master = ?master.as_ref().map(ToString::to_string), "identity");
        let signer = read_signer(&layout.minion_pem())?;
        let identity = Identity {
            public_key: key.pem,
            minion_id,
            hostname: hostname(&opts.root),
            signer,
        };
        let client = PeerClient::new(&config.transport, config.request_timeout, identity)?;
        let memory = state_file::load(&config.state_file);
        let token = memory.token.clone();
        let peers = PeerSet::new(config.peers.clone(), &memory, config.max_backoff);
        let settings = Settings {
            knock_interval: config.knock_interval,
            orphan_interval: config.orphan_interval,
            max_backoff: config.max_backoff,
            once: opts.once,
        };
        Ok(Self {
            machine: Machine::new(settings, peers, master, rng).with_token(token),
            client,
            minion: Minion::new(layout),
            state_file: config.state_file.clone(),
            fingerprint: key.fingerprint,
        })
    }

    /// Run until the machine exits (deleted, or the end of a `--once` cycle).
    pub fn run(&mut self) -> Summary {
        let span = info_span!("agent", fp = %short(&self.fingerprint));
        let _guard = span.enter();
        let exit = loop {
            let now = Instant::now();
            match self.machine.poll(now) {
                Action::Send { peer, request } => {
                    let outcome = self.client.send(&peer, request, self.machine.token());
                    self.machine.on_outcome(Instant::now(), outcome);
                }
                Action::Apply(effect) => {
                    let result = self.minion.apply(&effect);
                    self.machine.on_effect(Instant::now(), &effect, result);
                }
                Action::Persist(memory) => {
                    if let Err(e) = state_file::save(&self.state_file, &memory) {
                        warn!("{e:#}");
                    }
                }
                Action::Sleep(until) => std::thread::sleep(until.saturating_duration_since(now)),
                Action::Exit(exit) => break exit,
            }
        };
        Summary {
            exit,
            status: self.machine.last_status(),
            master: self.machine.master().cloned(),
            peer: self.machine.current_peer().cloned(),
            fingerprint: self.fingerprint.clone(),
        }
    }

    /// The salt layout in use.
    pub fn layout(&self) -> &SaltLayout {
        self.minion.layout()
    }
}

/// Read the minion key; without `once`, wait for the minion to create it.
fn read_key(path: &Path, once: bool, interval: Duration) -> Result<MinionKey, FingerprintError> {
    let mut warned = false;
    loop {
        match MinionKey::read(path) {
            Ok(key) => return Ok(key),
            Err(e) if once => return Err(e),
            Err(e) => {
                if !warned {
                    warn!("{e}; waiting for the minion to create its key");
                    warned = true;
                }
                std::thread::sleep(interval);
            }
        }
    }
}

/// The minion's private key (read after `minion.pub`, which the minion writes last).
fn read_signer(path: &Path) -> Result<agent_proto::Signer, StartError> {
    let err = |reason: String| StartError::PrivateKey {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    agent_proto::Signer::from_pem(&pem).map_err(|e| err(e.to_string()))
}

/// The first 8 hex digits of a fingerprint, for log spans.
fn short(fp: &str) -> String {
    fp.chars().filter(|c| *c != ':').take(8).collect()
}
