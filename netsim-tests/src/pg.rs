//! Throwaway PostgreSQL clusters for tests, the Uyuni stand-in and the sandbox.
//!
//! [`Postgres::start`] runs `initdb` into a directory of its own and starts the server with
//! `pg_ctl`, listening on a Unix socket in that directory only (`listen_addresses=''`), so
//! clusters never collide on ports and nothing is reachable from outside. PostgreSQL refuses
//! to run as root; as root the cluster is created and run as the `postgres` user
//! (`runuser`). The server is stopped (`pg_ctl stop -m immediate`) when the value is dropped.
//!
//! [`Postgres::start_tls`] also listens on `127.0.0.1` (a free port) with `ssl=on` and a given
//! server certificate, for the outbox reader's TLS tests.
//!
//! The binaries are looked up in `$PG_BIN`, then the newest `/usr/lib/postgresql/*/bin`,
//! then `PATH`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context as _, bail};

/// Port number in the socket's file name (`.s.PGSQL.<port>`); no TCP port is opened.
pub const SOCKET_PORT: u16 = 5432;

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Postgres {
    data: PathBuf,
    socket_dir: PathBuf,
    /// The server's port: of its socket file and, with TCP, of `127.0.0.1`.
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    _tmp: Option<tempfile::TempDir>,
    /// A short socket directory of its own under /tmp, when `dir/sock` is too long a path.
    _sock_tmp: Option<tempfile::TempDir>,
    stopped: bool,
}

/// A Unix socket path must fit in `sun_path` (108 bytes with its NUL); PostgreSQL refuses to
/// start otherwise. Leave room for `/.s.PGSQL.5432` and its `.lock`.
const MAX_SOCKET_DIR: usize = 80;

/// The socket directory for a cluster in `dir`: `dir/sock`, or a fresh short directory under
/// `/tmp` when that path is too long (a deep `TMPDIR` or sandbox directory).
fn socket_dir_for(dir: &Path) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    let inside = dir.join("sock");
    if inside.as_os_str().len() <= MAX_SOCKET_DIR {
        std::fs::create_dir_all(&inside)?;
        return Ok((inside, None));
    }
    let tmp = tempfile::Builder::new()
        .prefix("pgsock-")
        .tempdir_in("/tmp")
        .context("creating a short socket directory under /tmp")?;
    Ok((tmp.path().to_path_buf(), Some(tmp)))
}

/// Where the PostgreSQL server binaries are, if installed.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// Start a cluster in a new temporary directory.
    pub fn start() -> anyhow::Result<Self> {
        let tmp = tempfile::Builder::new().prefix("uyuni-pg-").tempdir()?;
        let mut pg = Self::start_in(tmp.path())?;
        pg._tmp = Some(tmp);
        Ok(pg)
    }

    /// Start a cluster in `dir` (created if needed; an existing cluster there is reused, so a
    /// restarted stand-in keeps its data).
    pub fn start_in(dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(dir, None)
    }

    /// Start a cluster in a new temporary directory that also listens on `127.0.0.1`
    /// ([`Postgres::port`]) with TLS on, presenting the certificate chain `cert` (PEM) and its
    /// key `key`. Clients may still connect without TLS (`pg_hba` trusts `127.0.0.1`).
    pub fn start_tls(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let tmp = tempfile::Builder::new().prefix("uyuni-pg-").tempdir()?;
        let mut pg = Self::start_with(tmp.path(), Some((cert, key)))?;
        pg._tmp = Some(tmp);
        Ok(pg)
    }

    fn start_with(dir: &Path, tls: Option<(&Path, &Path)>) -> anyhow::Result<Self> {
        let bin = bin_dir().context(
            "PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BIN)",
        )?;
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let data = dir.join("data");
        let as_postgres = is_root();
        let (socket_dir, sock_tmp) = socket_dir_for(&dir)?;
        let (port, tls_opts) = match tls {
            None => (SOCKET_PORT, String::new()),
            Some((cert, key)) => {
                use std::os::unix::fs::PermissionsExt as _;
                let tls_dir = dir.join("tls");
                std::fs::create_dir_all(&tls_dir)?;
                let (c, k) = (tls_dir.join("server.crt"), tls_dir.join("server.key"));
                std::fs::copy(cert, &c).context("copying the server certificate")?;
                std::fs::copy(key, &k).context("copying the server key")?;
                // PostgreSQL refuses a key others can read.
                std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600))?;
                let opts = format!(
                    " -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                    c.display(),
                    k.display()
                );
                (free_port()?, opts)
            }
        };
        if as_postgres {
            // The postgres user must be able to reach and own its directories.
            let mut p = dir.as_path();
            while let Some(parent) = p.parent() {
                let _ = Command::new("chmod").arg("o+x").arg(parent).status();
                p = parent;
            }
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir))?;
            if sock_tmp.is_some() {
                run(Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&socket_dir))?;
            }
        }
        let pg = Self {
            data,
            socket_dir,
            port,
            bin,
            as_postgres,
            _tmp: None,
            _sock_tmp: sock_tmp,
            stopped: false,
        };
        if !pg.data.join("PG_VERSION").exists() {
            pg.tool(
                "initdb",
                &[
                    "-D",
                    &pg.data.to_string_lossy(),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
            )?;
        }
        // A later `-c listen_addresses` (TLS) overrides the first.
        let opts = format!(
            "-k {} -c listen_addresses='' -p {port} -c fsync=off -c full_page_writes=off{tls_opts}",
            pg.socket_dir.display()
        );
        pg.tool(
            "pg_ctl",
            &[
                "-D",
                &pg.data.to_string_lossy(),
                "-o",
                &opts,
                "-l",
                &dir.join("server.log").to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        Ok(pg)
    }

    fn tool(&self, name: &str, args: &[&str]) -> anyhow::Result<Output> {
        let exe = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir("/");
        run(&mut cmd).with_context(|| format!("{name} {}", args.join(" ")))
    }

    /// The socket directory (libpq's `host`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server's port (its socket file's number; with [`Postgres::start_tls`] also the
    /// TCP port on `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq / tokio-postgres connection string for `db`.
    pub fn dsn(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={db}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// A connection string for `db` over TCP to `127.0.0.1`, naming the server `host` (the
    /// name a `verify-full` client checks the certificate against). [`Postgres::start_tls`]
    /// only.
    pub fn tcp_dsn(&self, host: &str, db: &str) -> String {
        format!(
            "host={host} hostaddr=127.0.0.1 port={} user=postgres dbname={db}",
            self.port
        )
    }

    /// Create database `db` (no error if it exists).
    pub fn create_database(&self, db: &str) -> anyhow::Result<String> {
        let exists = self.psql(
            "postgres",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{db}'"),
        )?;
        if exists.trim().is_empty() {
            self.psql("postgres", &format!("CREATE DATABASE \"{db}\""))?;
        }
        Ok(self.dsn(db))
    }

    /// Run SQL with `psql` (stops at the first error) and return what it printed (unaligned,
    /// tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        self.run_psql(db, &["-c".as_ref(), sql.as_ref()])
    }

    /// Run a SQL file with `psql`.
    pub fn psql_file(&self, db: &str, file: &Path) -> anyhow::Result<String> {
        self.run_psql(db, &["-f".as_ref(), file.as_os_str()])
    }

    fn run_psql(&self, db: &str, what: &[&std::ffi::OsStr]) -> anyhow::Result<String> {
        let out = run(Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(what))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stop the server now (`immediate`: like a crash, the next start recovers from WAL).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )?;
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A TCP port free on `127.0.0.1` right now (PostgreSQL cannot be told to pick one).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_answers_and_stops() {
        let Some(_) = bin_dir() else {
            panic!("PostgreSQL is required for these tests (.ci/run installs it)");
        };
        let mut pg = Postgres::start().expect("start");
        pg.create_database("t1").expect("create");
        pg.create_database("t1").expect("create again is fine");
        assert_eq!(pg.psql("t1", "SELECT 40 + 2").expect("query").trim(), "42");
        pg.stop().expect("stop");
    }
}
