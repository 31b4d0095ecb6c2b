//! Real Salt on loopback for end-to-end tests: salt-masters standing for Uyuni nodes and a
//! salt-minion driven by the agent. Salt comes from a virtualenv: `$SALT_VENV`, else
//! `/opt/salt-venv` (`.ci/run` creates it with `pip install "salt==3007.*"`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// The virtualenv holding salt.
pub fn venv() -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("SALT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/salt-venv"));
    if !dir.join("bin/salt-master").exists() {
        bail!(
            "salt is not installed in {} (set SALT_VENV, or: python3 -m venv {0} && {0}/bin/pip install 'salt==3007.*')",
            dir.display()
        );
    }
    Ok(dir)
}

/// A port that was free a moment ago (salt cannot bind port 0 and report it).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One salt-master on 127.0.0.1 with its own root directory and ports.
#[derive(Debug)]
pub struct SaltMaster {
    /// Root directory (config in `conf/master`).
    pub root: PathBuf,
    /// Ret port (what minions' `master_port` names).
    pub ret_port: u16,
    venv: PathBuf,
    child: Option<Child>,
}

impl SaltMaster {
    /// Configure (once) and start a master under `root`.
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        let venv = venv()?;
        let conf = root.join("conf");
        std::fs::create_dir_all(&conf)?;
        let cfg = conf.join("master");
        let ret_port = if cfg.exists() {
            let text = std::fs::read_to_string(&cfg)?;
            text.lines()
                .find_map(|l| l.strip_prefix("ret_port: "))
                .context("ret_port in master config")?
                .trim()
                .parse()?
        } else {
            let (publish, ret) = (free_port()?, free_port()?);
            std::fs::write(
                &cfg,
                format!(
                    "root_dir: {root}\ninterface: 127.0.0.1\npublish_port: {publish}\nret_port: {ret}\nuser: root\nauto_accept: False\nlog_file: {root}/master.log\nlog_level_logfile: info\nworker_threads: 2\n",
                    root = root.display()
                ),
            )?;
            ret
        };
        let mut m = Self {
            root: root.to_path_buf(),
            ret_port,
            venv,
            child: None,
        };
        m.launch()?;
        Ok(m)
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let child = Command::new(self.venv.join("bin/salt-master"))
            .arg("-c")
            .arg(self.root.join("conf"))
            .arg("-l")
            .arg("quiet")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting salt-master")?;
        self.child = Some(child);
        Ok(())
    }

    /// The address minions are given: `127.0.0.1:<ret port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.ret_port)
    }

    fn pki(&self) -> PathBuf {
        self.root.join("etc/salt/pki/master")
    }

    /// Kill the master (SIGKILL: a crash) and its worker processes.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Workers are separate processes carrying the config dir on their command line.
        let _ = Command::new("pkill")
            .arg("-9")
            .arg("-f")
            .arg(format!(
                "salt-master -c {}",
                self.root.join("conf").display()
            ))
            .status();
        let _ = std::fs::remove_file(self.root.join("var/run/salt-master.pid"));
    }

    /// Start it again after [`Self::kill`] (same keys, same accepted minions).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.launch()
    }

    /// Minion ids waiting for acceptance, with their public keys (PEM).
    pub fn pending(&self) -> anyhow::Result<Vec<(String, String)>> {
        let dir = self.pki().join("minions_pre");
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd {
                let e = e?;
                out.push((
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path())?,
                ));
            }
        }
        Ok(out)
    }

    /// Accept a pending minion (what `salt-key -a` does: move its key to `minions/`).
    pub fn accept(&self, id: &str) -> anyhow::Result<()> {
        let pki = self.pki();
        std::fs::create_dir_all(pki.join("minions"))?;
        std::fs::rename(
            pki.join("minions_pre").join(id),
            pki.join("minions").join(id),
        )?;
        Ok(())
    }

    /// `salt <id> test.ping`: true when the minion answers this master.
    pub fn ping(&self, id: &str) -> anyhow::Result<bool> {
        let out = Command::new(self.venv.join("bin/salt"))
            .arg("-c")
            .arg(self.root.join("conf"))
            .args(["--out", "json", "--static", "-t", "5", id, "test.ping"])
            .output()
            .context("running salt")?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get(id).and_then(serde_json::Value::as_bool))
            .unwrap_or(false))
    }
}

impl Drop for SaltMaster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A salt-minion laid out like a classic client (`<root>/etc/salt` holds `minion`,
/// `minion.d/`, `minion_id` and `pki/minion/`), controlled by a script the agent calls as
/// its restart and stop command.
#[derive(Debug)]
pub struct SaltMinion {
    /// Root directory.
    pub root: PathBuf,
    /// Minion id.
    pub id: String,
}

impl SaltMinion {
    /// Lay out the minion and generate its key pair (not started: the agent starts it once
    /// the cluster gives it a node).
    pub fn create(root: &Path, id: &str) -> anyhow::Result<Self> {
        let venv = venv()?;
        let conf = root.join("etc/salt");
        let pki = conf.join("pki/minion");
        std::fs::create_dir_all(conf.join("minion.d"))?;
        std::fs::create_dir_all(&pki)?;
        std::fs::write(conf.join("minion_id"), id)?;
        std::fs::write(
            conf.join("minion"),
            format!(
                "root_dir: {root}\nid: {id}\npki_dir: {pki}\nuser: root\nacceptance_wait_time: 1\nacceptance_wait_time_max: 2\nrandom_reauth_delay: 0\nauth_timeout: 5\nlog_file: {root}/minion.log\nlog_level_logfile: info\n",
                root = root.display(),
                pki = pki.display()
            ),
        )?;
        let ok = Command::new(venv.join("bin/salt-key"))
            .arg(format!("--gen-keys={}", "minion"))
            .arg(format!("--gen-keys-dir={}", pki.display()))
            .stdout(Stdio::null())
            .status()?
            .success();
        if !ok {
            bail!("salt-key --gen-keys failed");
        }
        let ctl = root.join("minionctl.sh");
        std::fs::write(
            &ctl,
            format!(
                r#"#!/bin/sh
# restart | stop the test minion (SIGKILL: salt-minion takes >8 s to stop on SIGTERM)
pkill -9 -f "salt-minion -c {conf}" 2>/dev/null
find {root} -name '*.pid' -path '*run*' -delete 2>/dev/null
find {root} -name 'process_responsibility*' -delete 2>/dev/null
i=0; while pgrep -f "salt-minion -c {conf}" >/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if [ "$1" = restart ]; then
  {venv}/bin/salt-minion -c {conf} -d -l quiet
fi
"#,
                conf = conf.display(),
                root = root.display(),
                venv = venv.display()
            ),
        )?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self {
            root: root.to_path_buf(),
            id: id.to_string(),
        })
    }

    /// The salt config dir (`/etc/salt` of a real client).
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("etc/salt")
    }

    /// The control script: `minionctl.sh restart|stop`.
    pub fn ctl(&self) -> PathBuf {
        self.root.join("minionctl.sh")
    }

    /// The public key (PEM).
    pub fn public_key(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(
            self.config_dir().join("pki/minion/minion.pub"),
        )?)
    }

    /// Stop the minion.
    pub fn stop(&self) {
        let _ = Command::new(self.ctl()).arg("stop").status();
    }
}

impl Drop for SaltMinion {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Poll interval for Salt conditions.
pub const POLL: Duration = Duration::from_millis(250);
