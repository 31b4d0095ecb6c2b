//! A salt minion configuration directory in a temp dir, with service commands that log.

use std::fs;
use std::path::{Path, PathBuf};

/// A real salt 3007.16 key pair (`salt-key --gen-keys=minion`), the agent signs with.
pub const MINION_PUB: &str = include_str!("../../../agent-proto/tests/data/minion.pub");
/// Its private half.
pub const MINION_PEM: &str = include_str!("../../../agent-proto/tests/data/minion.pem");
/// What `salt-key --gen-keys` printed for [`MINION_PUB`].
pub const FINGERPRINT: &str = "72:6c:6d:a2:44:99:b2:b0:9d:4d:90:12:e0:a0:ed:a1:a0:7e:8c:6c:84:08:e2:6a:6f:60:e6:88:80:ed:b3:cb";

/// A fake minion: `<tmp>/venv-salt-minion/{minion_id, pki/minion/…, minion.d/}`.
pub struct FakeSalt {
    pub tmp: tempfile::TempDir,
    pub config_dir: PathBuf,
    pub events: PathBuf,
    pub state_file: PathBuf,
}

impl FakeSalt {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let config_dir = tmp.path().join("venv-salt-minion");
        let pki = config_dir.join("pki/minion");
        fs::create_dir_all(&pki).expect("pki dir");
        fs::create_dir_all(config_dir.join("minion.d")).expect("minion.d");
        fs::write(pki.join("minion.pub"), MINION_PUB).expect("minion.pub");
        fs::write(pki.join("minion.pem"), MINION_PEM).expect("minion.pem");
        fs::write(pki.join("minion_master.pub"), "old master key").expect("master key");
        fs::write(config_dir.join("minion_id"), "web1.example.org\n").expect("minion_id");
        let events = tmp.path().join("events");
        let state_file = tmp.path().join("state/agent-state.json");
        Self {
            tmp,
            config_dir,
            events,
            state_file,
        }
    }

    /// Uyuni's bootstrap drop-in pointing at `master`.
    pub fn with_susemanager_conf(self, master: &str) -> Self {
        let text = format!(
            "master: {master}\n\nserver_id_use_crc: adler32\nenable_legacy_startup_events: False\n\
             mine_enabled: False\ngrains:\n  susemanager:\n    activation_key: \"1-key\"\n"
        );
        fs::write(self.susemanager_conf(), text).expect("susemanager.conf");
        self
    }

    pub fn susemanager_conf(&self) -> PathBuf {
        self.config_dir.join("minion.d/susemanager.conf")
    }

    pub fn own_conf(&self) -> PathBuf {
        self.config_dir.join("minion.d/uyuni-cluster.conf")
    }

    pub fn master_key(&self) -> PathBuf {
        self.config_dir.join("pki/minion/minion_master.pub")
    }

    /// What the service commands recorded, one word per line (`restart`, `stop`).
    pub fn events(&self) -> Vec<String> {
        fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Write an agent config for `peers` and return its path.
    pub fn config(&self, peers: &[String], extra: &str) -> PathBuf {
        let quoted: Vec<String> = peers.iter().map(|p| format!("{p:?}")).collect();
        let log = |word: &str| {
            format!(
                r#"["sh", "-c", "echo {word} >> '{}'"]"#,
                self.events.display()
            )
        };
        let text = format!(
            "peers = [{}]\nstate_file = {:?}\nknock_interval_ms = 50\norphan_interval_ms = 50\n\
             max_backoff_ms = 200\nrequest_timeout_ms = 5000\n{extra}\n\n[salt]\nconfig_dir = {:?}\n\
             restart_command = {}\nstop_command = {}\n",
            quoted.join(", "),
            self.state_file.display().to_string(),
            self.config_dir.display().to_string(),
            log("restart"),
            log("stop"),
        );
        let path = self.tmp.path().join("agent.toml");
        fs::write(&path, text).expect("agent.toml");
        path
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
}
