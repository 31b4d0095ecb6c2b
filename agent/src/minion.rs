//! Applying [`Effect`]s to the local salt minion: the master setting, the cached master key
//! and the service commands (argv arrays from the configuration, `systemctl` by default).

use std::process::{Command, Stdio};

use tracing::info;

use crate::addr::HostPort;
use crate::fsutil::remove_if_exists;
use crate::machine::Effect;
use crate::master_conf::{MasterError, write_master};
use crate::salt_layout::SaltLayout;

/// Changing the minion failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MinionError {
    /// The master setting could not be written.
    #[error(transparent)]
    Master(#[from] MasterError),
    /// The cached master key could not be deleted.
    #[error("deleting {path}: {source}")]
    RemoveKey {
        /// The key file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A service command is empty.
    #[error("the {what} command is empty")]
    EmptyCommand {
        /// `restart` or `stop`.
        what: &'static str,
    },
    /// A service command could not be started.
    #[error("running {command:?}: {source}")]
    Spawn {
        /// The argv.
        command: Vec<String>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A service command failed.
    #[error("{command:?} failed: {status}")]
    Failed {
        /// The argv.
        command: Vec<String>,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
}

/// The local minion, as the [`SaltLayout`] describes it.
#[derive(Debug, Clone)]
pub struct Minion {
    layout: SaltLayout,
}

impl Minion {
    /// Control the minion of `layout`.
    pub fn new(layout: SaltLayout) -> Self {
        Self { layout }
    }

    /// The layout in use.
    pub fn layout(&self) -> &SaltLayout {
        &self.layout
    }

    /// Carry out `effect`.
    pub fn apply(&self, effect: &Effect) -> Result<(), MinionError> {
        match effect {
            Effect::Repoint(node) => self.repoint(node),
            Effect::Restart(_) => self.restart(),
            Effect::Stop => self.stop(),
        }
    }

    /// Write the master setting, delete the cached master key, restart.
    pub fn repoint(&self, node: &HostPort) -> Result<(), MinionError> {
        let file = write_master(&self.layout.config_dir, node)?;
        info!(%node, file = %file.display(), "master setting written");
        let key = self.layout.minion_master_pub();
        if remove_if_exists(&key).map_err(|source| MinionError::RemoveKey {
            path: key.display().to_string(),
            source,
        })? {
            info!(file = %key.display(), "cached master key deleted");
        }
        self.restart()
    }

    /// Restart (or start) the minion.
    pub fn restart(&self) -> Result<(), MinionError> {
        run("restart", &self.layout.restart_command)
    }

    /// Stop the minion.
    pub fn stop(&self) -> Result<(), MinionError> {
        run("stop", &self.layout.stop_command)
    }
}

fn run(what: &'static str, argv: &[String]) -> Result<(), MinionError> {
    let (program, args) = argv
        .split_first()
        .ok_or(MinionError::EmptyCommand { what })?;
    info!(command = ?argv, "{what} the minion");
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .status()
        .map_err(|source| MinionError::Spawn {
            command: argv.to_vec(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(MinionError::Failed {
            command: argv.to_vec(),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::salt_layout::SaltOverrides;

    fn minion(dir: &std::path::Path) -> Minion {
        let touch = |name: &str| vec!["touch".to_owned(), dir.join(name).display().to_string()];
        let o = SaltOverrides {
            config_dir: Some(dir.join("salt")),
            service: None,
            restart_command: Some(touch("restarted")),
            stop_command: Some(touch("stopped")),
        };
        Minion::new(SaltLayout::resolve(dir, &o))
    }

    #[test]
    fn repoint_writes_deletes_the_master_key_and_restarts() {
        let tmp = tempfile::tempdir().unwrap();
        let m = minion(tmp.path());
        let pki = tmp.path().join("salt/pki/minion");
        fs::create_dir_all(&pki).unwrap();
        fs::write(pki.join("minion_master.pub"), "old master key").unwrap();
        fs::write(pki.join("minion.pub"), "mine").unwrap();
        m.apply(&Effect::Repoint("srv2:4507".parse().unwrap()))
            .unwrap();
        assert!(!pki.join("minion_master.pub").exists());
        assert!(pki.join("minion.pub").exists());
        assert!(tmp.path().join("restarted").exists());
        assert!(!tmp.path().join("stopped").exists());
        m.apply(&Effect::Stop).unwrap();
        assert!(tmp.path().join("stopped").exists());
    }

    #[test]
    fn failing_commands_are_errors() {
        assert!(matches!(
            run("stop", &[]),
            Err(MinionError::EmptyCommand { .. })
        ));
        assert!(matches!(
            run("stop", &["false".into()]),
            Err(MinionError::Failed { .. })
        ));
        let missing = vec!["/nonexistent/systemctl".to_owned()];
        assert!(matches!(
            run("stop", &missing),
            Err(MinionError::Spawn { .. })
        ));
    }
}
