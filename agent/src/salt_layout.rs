//! Where the salt minion lives on this machine: the classic `salt-minion` (`/etc/salt`) or
//! Uyuni's bundled `venv-salt-minion` (`/etc/venv-salt-minion`), which Uyuni prefers and which
//! is therefore detected first. Every part can be overridden in the configuration.

use std::path::{Path, PathBuf};

/// The two minion packagings Uyuni deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `venv-salt-minion`: config in `/etc/venv-salt-minion`, service `venv-salt-minion`.
    Venv,
    /// `salt-minion`: config in `/etc/salt`, service `salt-minion`.
    Classic,
}

impl Flavour {
    /// The configuration directory below `root` (`/` on a real system).
    pub fn config_dir(self, root: &Path) -> PathBuf {
        match self {
            Self::Venv => root.join("etc/venv-salt-minion"),
            Self::Classic => root.join("etc/salt"),
        }
    }

    /// The systemd service.
    pub fn service(self) -> &'static str {
        match self {
            Self::Venv => "venv-salt-minion",
            Self::Classic => "salt-minion",
        }
    }

    /// The venv bundle when its configuration directory (or its systemd unit, which is what
    /// Uyuni's bootstrap script checks) exists below `root`, else the classic minion.
    pub fn detect(root: &Path) -> Self {
        let venv_unit = ["usr/lib/systemd/system", "lib/systemd/system"]
            .iter()
            .any(|d| root.join(d).join("venv-salt-minion.service").exists());
        if venv_unit || Self::Venv.config_dir(root).is_dir() {
            Self::Venv
        } else {
            Self::Classic
        }
    }
}

/// Overrides from the configuration's `[salt]` table; `None` means "detect".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaltOverrides {
    /// The minion's configuration directory.
    pub config_dir: Option<PathBuf>,
    /// The minion's systemd service.
    pub service: Option<String>,
    /// argv that restarts the minion.
    pub restart_command: Option<Vec<String>>,
    /// argv that stops the minion.
    pub stop_command: Option<Vec<String>>,
}

/// The resolved minion layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaltLayout {
    /// The flavour (detected, or implied by an overridden `config_dir`).
    pub flavour: Flavour,
    /// The minion's configuration directory.
    pub config_dir: PathBuf,
    /// The minion's systemd service.
    pub service: String,
    /// argv that restarts the minion (default `systemctl restart <service>`).
    pub restart_command: Vec<String>,
    /// argv that stops the minion (default `systemctl stop <service>`).
    pub stop_command: Vec<String>,
}

impl SaltLayout {
    /// Detect the layout below `root` and apply `overrides`. An overridden `config_dir` named
    /// `venv-salt-minion` implies the venv flavour (and its service), any other the classic one.
    pub fn resolve(root: &Path, overrides: &SaltOverrides) -> Self {
        let (flavour, config_dir) = match &overrides.config_dir {
            Some(dir) => {
                let venv = dir.file_name().is_some_and(|n| n == "venv-salt-minion");
                (
                    if venv {
                        Flavour::Venv
                    } else {
                        Flavour::Classic
                    },
                    dir.clone(),
                )
            }
            None => {
                let f = Flavour::detect(root);
                (f, f.config_dir(root))
            }
        };
        let service = overrides
            .service
            .clone()
            .unwrap_or_else(|| flavour.service().to_owned());
        let systemctl = |verb: &str| vec!["systemctl".to_owned(), verb.to_owned(), service.clone()];
        Self {
            flavour,
            restart_command: overrides
                .restart_command
                .clone()
                .unwrap_or_else(|| systemctl("restart")),
            stop_command: overrides
                .stop_command
                .clone()
                .unwrap_or_else(|| systemctl("stop")),
            config_dir,
            service,
        }
    }

    /// `<config_dir>/pki/minion`.
    pub fn pki_dir(&self) -> PathBuf {
        self.config_dir.join("pki/minion")
    }

    /// The minion's public key, whose fingerprint identifies the system.
    pub fn minion_pub(&self) -> PathBuf {
        self.pki_dir().join("minion.pub")
    }

    /// The minion's private key, which signs the registration (protocol 2).
    pub fn minion_pem(&self) -> PathBuf {
        self.pki_dir().join("minion.pem")
    }

    /// The cached master key, which must go when the master changes (salt refuses a new
    /// master's key otherwise).
    pub fn minion_master_pub(&self) -> PathBuf {
        self.pki_dir().join("minion_master.pub")
    }

    /// The minion id: `<config_dir>/minion_id`, else the host name.
    pub fn minion_id(&self, root: &Path) -> Option<String> {
        read_first_line(&self.config_dir.join("minion_id")).or_else(|| hostname(root))
    }
}

/// The host name: `/proc/sys/kernel/hostname`, else `/etc/hostname` (below `root`).
pub fn hostname(root: &Path) -> Option<String> {
    read_first_line(&root.join("proc/sys/kernel/hostname"))
        .or_else(|| read_first_line(&root.join("etc/hostname")))
}

fn read_first_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn detects_venv_first() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc/salt")).unwrap();
        let l = SaltLayout::resolve(root.path(), &SaltOverrides::default());
        assert_eq!(l.flavour, Flavour::Classic);
        assert_eq!(l.config_dir, root.path().join("etc/salt"));
        assert_eq!(l.restart_command, ["systemctl", "restart", "salt-minion"]);
        assert_eq!(l.stop_command, ["systemctl", "stop", "salt-minion"]);

        fs::create_dir_all(root.path().join("etc/venv-salt-minion")).unwrap();
        let l = SaltLayout::resolve(root.path(), &SaltOverrides::default());
        assert_eq!(l.flavour, Flavour::Venv);
        assert_eq!(l.service, "venv-salt-minion");
        assert_eq!(
            l.minion_pub(),
            root.path()
                .join("etc/venv-salt-minion/pki/minion/minion.pub")
        );
    }

    #[test]
    fn a_venv_unit_alone_means_venv() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("usr/lib/systemd/system")).unwrap();
        fs::write(
            root.path()
                .join("usr/lib/systemd/system/venv-salt-minion.service"),
            "",
        )
        .unwrap();
        assert_eq!(Flavour::detect(root.path()), Flavour::Venv);
    }

    #[test]
    fn overrides_win() {
        let root = tempfile::tempdir().unwrap();
        let o = SaltOverrides {
            config_dir: Some("/srv/x/venv-salt-minion".into()),
            service: None,
            restart_command: Some(vec!["touch".into(), "/tmp/r".into()]),
            stop_command: None,
        };
        let l = SaltLayout::resolve(root.path(), &o);
        assert_eq!(l.flavour, Flavour::Venv);
        assert_eq!(l.service, "venv-salt-minion");
        assert_eq!(l.restart_command, ["touch", "/tmp/r"]);
        assert_eq!(l.stop_command, ["systemctl", "stop", "venv-salt-minion"]);
        let o = SaltOverrides {
            config_dir: Some("/opt/salt".into()),
            service: Some("m".into()),
            ..o
        };
        let l = SaltLayout::resolve(root.path(), &o);
        assert_eq!((l.flavour, l.service.as_str()), (Flavour::Classic, "m"));
    }

    #[test]
    fn minion_id_falls_back_to_the_host_name() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc/salt")).unwrap();
        fs::write(root.path().join("etc/hostname"), "box1.example.org\n").unwrap();
        let l = SaltLayout::resolve(root.path(), &SaltOverrides::default());
        assert_eq!(
            l.minion_id(root.path()).as_deref(),
            Some("box1.example.org")
        );
        fs::write(root.path().join("etc/salt/minion_id"), "web1\n").unwrap();
        assert_eq!(l.minion_id(root.path()).as_deref(), Some("web1"));
    }
}
