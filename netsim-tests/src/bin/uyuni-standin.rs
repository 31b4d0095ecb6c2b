//! `uyuni-standin`: a stand-in for one Uyuni server (XML-RPC and JSON API) for tests and the
//! sandbox. See docs/STANDIN.md.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use netsim_tests::pg::{Postgres, bin_dir};
use netsim_tests::standin::dispatch::Config;
use netsim_tests::standin::engine::Engine;
use netsim_tests::standin::store_pg::PgStore;
use netsim_tests::standin::{Ready, server};

#[derive(Debug, Parser)]
#[command(
    name = "uyuni-standin",
    about = "A stand-in for one Uyuni server (test infrastructure)"
)]
struct Cli {
    /// Address to listen on (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Data directory (PostgreSQL cluster for `--postgres auto`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `auto` (own throwaway cluster; default when PostgreSQL is installed), `none` (memory
    /// only) or a DSN of an existing database.
    #[arg(long)]
    postgres: Option<String>,
    /// Admin user.
    #[arg(long, default_value = "admin")]
    user: String,
    /// Admin password.
    #[arg(long, default_value = "admin")]
    password: String,
    /// FQDN to report.
    #[arg(long, default_value = "standin.example.com")]
    fqdn: String,
    /// A salt-master pki directory (minions_pre/, minions/, …) for `saltkey.*`.
    #[arg(long)]
    salt_pki_dir: Option<PathBuf>,
    /// Write `{"url","base","dsn","pid"}` here (atomically) once listening.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mode = cli.postgres.clone().unwrap_or_else(|| {
        if bin_dir().is_some() {
            "auto".into()
        } else {
            "none".into()
        }
    });
    let tmp;
    let data_dir = match &cli.data_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("uyuni-standin-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&data_dir)?;
    // `auto`: our own cluster, kept in the data dir across restarts; stopped when `pg` drops.
    let (pg, dsn) = match mode.as_str() {
        "none" => (None, None),
        "auto" => {
            let pg = Postgres::start_in(&data_dir.join("pg")).context("starting PostgreSQL")?;
            let dsn = pg.create_database("uyuni")?;
            (Some(pg), Some(dsn))
        }
        dsn => (None, Some(dsn.to_string())),
    };
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(serve(&cli, dsn));
    drop(rt);
    drop(pg);
    result
}

async fn serve(cli: &Cli, dsn: Option<String>) -> anyhow::Result<()> {
    let store = match &dsn {
        Some(d) => Some(PgStore::connect(d).await?),
        None => None,
    };
    let cfg = Config {
        user: cli.user.clone(),
        password: cli.password.clone(),
        fqdn: cli.fqdn.clone(),
        salt_pki_dir: cli.salt_pki_dir.clone(),
    };
    if let Some(dir) = &cfg.salt_pki_dir {
        for sub in [
            "minions_pre",
            "minions",
            "minions_rejected",
            "minions_denied",
        ] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
    }
    let engine = Arc::new(Engine::new(cfg, store).await?);
    let listener = tokio::net::TcpListener::bind(&cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let addr = listener.local_addr()?;
    let ready = Ready {
        url: format!("http://{addr}/rpc/api"),
        base: format!("http://{addr}"),
        dsn,
        pid: std::process::id(),
    };
    let line = serde_json::to_string(&ready)?;
    if let Some(path) = &cli.ready_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &line)?;
        std::fs::rename(&tmp, path)?;
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    tracing::info!("uyuni-standin listening on {addr}");
    axum::serve(listener, server::router(engine))
        .with_graceful_shutdown(shutdown())
        .await?;
    tracing::info!("uyuni-standin stopped");
    Ok(())
}

async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
