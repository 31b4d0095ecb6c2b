//! A stand-in for one Uyuni server: the XML-RPC API at `/rpc/api` and the JSON API at
//! `/rhn/manager/api/...`, for the subset of methods the cluster and spacecmd use, with real
//! method names, parameter order, struct fields, `dateTime.iso8601` dates, session key format
//! and fault codes. State lives in the real Uyuni tables (`schema/uyuni`, loaded by `uyuni_schema`) in
//! PostgreSQL, written in one transaction per call, or in memory only. Test infrastructure,
//! never production. See docs/STANDIN.md.
//!
//! Tests start it as a process with [`StandIn::spawn`] and call it with [`xmlrpc_call`].

pub mod dispatch;
pub mod engine;
pub mod handlers;
pub mod json_api;
pub mod server;
pub mod session;
pub mod state;
pub mod store_pg;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use uyuni_api::{Fault, Value};

pub use handlers::system::{SeedSpec, Seeded};

/// How to start a stand-in process.
#[derive(Debug, Clone)]
pub struct StandInOptions {
    /// `auto`, `none` or a DSN.
    pub postgres: String,
    /// Data directory (a temporary one when `None`). Reuse it to restart with the same state.
    pub data_dir: Option<PathBuf>,
    /// A salt-master pki directory for `saltkey.*`.
    pub salt_pki_dir: Option<PathBuf>,
    /// Admin user.
    pub user: String,
    /// Admin password.
    pub password: String,
    /// FQDN to report.
    pub fqdn: String,
}

impl Default for StandInOptions {
    fn default() -> Self {
        Self {
            postgres: "auto".into(),
            data_dir: None,
            salt_pki_dir: None,
            user: "admin".into(),
            password: "admin".into(),
            fqdn: "standin.example.com".into(),
        }
    }
}

/// What the ready file says.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Ready {
    /// `http://127.0.0.1:PORT/rpc/api`.
    pub url: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The PostgreSQL DSN, if any.
    pub dsn: Option<String>,
    /// Process id.
    pub pid: u32,
}

/// A running `uyuni-standin` process; killed on drop.
#[derive(Debug)]
pub struct StandIn {
    child: Option<Child>,
    ready: Ready,
    data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// The `uyuni-standin` binary: `$UYUNI_STANDIN_BIN`, or built once with cargo (like
/// `harness::binary`).
pub fn binary() -> anyhow::Result<PathBuf> {
    crate::harness::built_bin("UYUNI_STANDIN_BIN", "netsim-tests", "uyuni-standin")
}

impl StandIn {
    /// Start a stand-in and wait (polling its ready file) until it listens.
    pub fn spawn(opts: StandInOptions) -> anyhow::Result<Self> {
        let bin = binary()?;
        let (data_dir, tmp) = match &opts.data_dir {
            Some(d) => (d.clone(), None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("uyuni-standin-")
                    .tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        std::fs::create_dir_all(&data_dir)?;
        let ready_file = data_dir.join("ready.json");
        let _ = std::fs::remove_file(&ready_file);
        let log = std::fs::File::create(data_dir.join("standin.log"))?;
        let mut cmd = Command::new(&bin);
        cmd.args(["--listen", "127.0.0.1:0", "--postgres", &opts.postgres])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--ready-file")
            .arg(&ready_file)
            .args([
                "--user",
                &opts.user,
                "--password",
                &opts.password,
                "--fqdn",
                &opts.fqdn,
            ])
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(p) = &opts.salt_pki_dir {
            cmd.arg("--salt-pki-dir").arg(p);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let start = Instant::now();
        let ready = loop {
            if let Ok(text) = std::fs::read_to_string(&ready_file)
                && let Ok(r) = serde_json::from_str::<Ready>(&text)
            {
                break r;
            }
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(data_dir.join("standin.log")).unwrap_or_default();
                bail!("uyuni-standin exited ({status}) before it was ready:\n{log}");
            }
            if start.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("uyuni-standin not ready after 120 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Self {
            child: Some(child),
            ready,
            data_dir,
            _tmp: tmp,
        })
    }

    /// The XML-RPC endpoint (`…/rpc/api`).
    pub fn url(&self) -> &str {
        &self.ready.url
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.ready.base
    }

    /// The PostgreSQL DSN (`None` in memory mode).
    pub fn dsn(&self) -> Option<&str> {
        self.ready.dsn.as_deref()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.ready.pid
    }

    /// Stop with SIGTERM (the stand-in stops its PostgreSQL too) and wait.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            let status = Command::new("kill").arg(c.id().to_string()).status()?;
            if !status.success() {
                let _ = c.kill();
            }
            c.wait()?;
        }
        Ok(())
    }

    /// Add a Uyuni user (`POST /standin/user`; memory only): `roles` such as `org_admin`,
    /// `groups` the system groups assigned to them (a plain user sees those groups' systems).
    pub fn add_user(
        &self,
        login: &str,
        password: &str,
        roles: &[&str],
        groups: &[&str],
    ) -> anyhow::Result<()> {
        ureq::post(format!("{}/standin/user", self.base())).send_json(serde_json::json!({
            "login": login, "password": password, "roles": roles, "groups": groups,
        }))?;
        Ok(())
    }

    /// Create `spec.count` onboarded systems at once (`POST /standin/seed`, for benchmarks).
    pub fn seed(&self, spec: &SeedSpec) -> anyhow::Result<Seeded> {
        let mut resp = ureq::post(format!("{}/standin/seed", self.base()))
            .config()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .send_json(spec)?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            bail!("POST /standin/seed: {status}: {text}");
        }
        Ok(resp.body_mut().read_json()?)
    }

    /// The process log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("standin.log")).unwrap_or_default()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        // SIGTERM first so an `auto` PostgreSQL is stopped too; SIGKILL if that fails.
        if self.stop().is_err()
            && let Some(c) = self.child.as_mut()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The largest response [`xmlrpc_call`] reads.
pub const XMLRPC_RESPONSE_LIMIT: u64 = 512 << 20;

/// A blocking XML-RPC call: `Ok(Ok(value))`, `Ok(Err(fault))`, or a transport error.
pub fn xmlrpc_call(
    url: &str,
    method: &str,
    params: &[Value],
) -> anyhow::Result<Result<Value, Fault>> {
    let body = uyuni_api::codec::render_call(method, params)?;
    let mut resp = ureq::post(url)
        .header("Content-Type", "text/xml")
        .send(body.as_bytes())?;
    // Listings of tens of thousands of systems are tens of MiB (ureq's default cap is 10 MiB).
    let text = resp
        .body_mut()
        .with_config()
        .limit(XMLRPC_RESPONSE_LIMIT)
        .read_to_string()?;
    Ok(uyuni_api::codec::parse_response(&text)?)
}
