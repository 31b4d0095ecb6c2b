//! Events out of Uyuni: the outbox reader (docs/NODE-CONTROLLER.md, "Events out of Uyuni:
//! triggers and the outbox").
//!
//! Triggers on Uyuni's tables (`packaging/sql/uyuni-cluster-install.sql`) write every change
//! into `uyuni_cluster.outbox` and send `NOTIFY uyuni_cluster` as a wake-up. [`spawn`] starts
//! the one task that reads that outbox: it takes a session advisory lock (one consumer per
//! outbox), `LISTEN`s, then drains the outbox in id order, hands each [`OutboxBatch`] to the
//! handler, and deletes the rows only once the handler acknowledged the batch. Rows not
//! acknowledged (handler dropped the ack, reader cancelled, connection lost) are delivered
//! again, so delivery is at-least-once and the handler is idempotent, keyed by
//! [`OutboxEvent::id`].
//!
//! [`install`], [`uninstall`] and [`status`] manage the triggers (`uyuni-cluster triggers`).

mod backoff;
mod event;
mod reader;
mod tls;

use std::time::Duration;

pub use backoff::Backoff;
pub use event::{OutboxEvent, OutboxOp};
pub use tls::{DbSslMode, DbTls, DbTlsError};

/// The install script (schema `uyuni_cluster`, the outbox, trigger functions and triggers).
pub const INSTALL_SQL: &str = include_str!("../../../packaging/sql/uyuni-cluster-install.sql");
/// The uninstall script (drops every trigger it installed and the `uyuni_cluster` schema).
pub const UNINSTALL_SQL: &str = include_str!("../../../packaging/sql/uyuni-cluster-uninstall.sql");
/// The `NOTIFY` channel the triggers signal on (payload: the table name, a wake-up only).
pub const CHANNEL: &str = "uyuni_cluster";
/// `application_name` of the reader's connection (unless the DSN sets one).
pub const APPLICATION_NAME: &str = "uyuni-cluster-outbox";
/// Key of the session advisory lock that makes the reader the only consumer of an outbox.
pub const LOCK_KEY: i64 = 0x7579_756e_6931_6f62;
/// Prefix of the names of the triggers the install script creates.
pub const TRIGGER_PREFIX: &str = "uyuni_cluster_capture";

/// A batch of events for the handler. Send `()` on [`ack`](Self::ack) once every event is
/// handled; the reader then deletes the rows. Dropping `ack` means "not handled": the
/// events are delivered again after a pause.
#[derive(Debug)]
pub struct OutboxBatch {
    /// Events in outbox id order.
    pub events: Vec<OutboxEvent>,
    /// Acknowledge the whole batch.
    pub ack: tokio::sync::oneshot::Sender<()>,
}

/// How the reader connects and paces itself.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// libpq-style connection string of Uyuni's database.
    pub dsn: String,
    /// At most this many events per batch. Default 500.
    pub batch: usize,
    /// First pause after an error or an unacknowledged batch. Default 100 ms.
    pub reconnect_min: Duration,
    /// Longest pause (the backoff doubles up to it). Default 5 s.
    pub reconnect_max: Duration,
    /// When idle this long, check the connection with `SELECT 1`; also the time limit of
    /// every query. Default 30 s.
    pub watchdog: Duration,
    /// Look at the outbox this often even without a notification. Default 5 s.
    pub poll: Duration,
    /// TLS to the database. Default `disable` ([`DbTls`]).
    pub tls: DbTls,
}

impl OutboxConfig {
    /// Defaults for `dsn`.
    pub fn new(dsn: impl Into<String>) -> Self {
        Self {
            dsn: dsn.into(),
            batch: 500,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            watchdog: Duration::from_secs(30),
            poll: Duration::from_secs(5),
            tls: DbTls::default(),
        }
    }
}

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The database or the connection failed. The message includes tokio-postgres' causes
    /// (server message, I/O error), so it is no `source` (a chain would repeat them).
    #[error("database: {}", error_chain(.0))]
    Db(tokio_postgres::Error),
    /// The TLS settings cannot work (or the CA file cannot be read).
    #[error(transparent)]
    Tls(#[from] DbTlsError),
    /// The database did not answer in time.
    #[error("database did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection ended.
    #[error("database connection closed")]
    ConnectionClosed,
    /// `triggers install` found Uyuni's schema lacking tables or columns the capture relies
    /// on (an unsupported Uyuni release); nothing was changed.
    #[error(
        "Uyuni's schema lacks {} table column(s) the change capture needs: {} (a supported Uyuni release? see docs/NODE-CONTROLLER.md); nothing was installed",
        .missing.len(),
        .missing.join(", ")
    )]
    SchemaDrift {
        /// `table.column` (lower case) of everything missing.
        missing: Vec<String>,
    },
    /// An outbox row that is not a valid event.
    #[error("outbox row {id}: {reason}")]
    BadRow {
        /// Outbox id of the row.
        id: i64,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<tokio_postgres::Error> for OutboxError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

/// `e: cause: cause of cause`, without repeats.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !out.ends_with(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = c.source();
    }
    out
}

/// What [`status`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStatus {
    /// The `uyuni_cluster` schema and its outbox exist.
    pub installed: bool,
    /// Version recorded by the install script.
    pub version: Option<String>,
    /// Rows in the outbox not yet acknowledged by a reader.
    pub pending: u64,
    /// Age of the oldest pending row, in milliseconds.
    pub oldest_pending_age_ms: Option<u64>,
    /// Tables that carry a capture trigger (lower case, sorted).
    pub watched_tables: Vec<String>,
}

/// Start the reader. It runs until `cancel` fires or the receiver of `tx` is dropped;
/// database errors are retried forever (logged, with capped exponential backoff).
pub fn spawn(
    cfg: OutboxConfig,
    tx: tokio::sync::mpsc::Sender<OutboxBatch>,
    cancel: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    // Inside the caller's span (the peer's node span), so the reader's logs name the node.
    use tracing::Instrument as _;
    tokio::spawn(reader::run(cfg, tx, cancel).in_current_span())
}

/// Install (or re-install: idempotent) the outbox and the triggers.
pub async fn install(dsn: &str) -> Result<(), OutboxError> {
    install_with(dsn, &DbTls::default()).await
}

/// [`install`] over the connection `tls` describes.
pub async fn install_with(dsn: &str, tls: &DbTls) -> Result<(), OutboxError> {
    let (client, driver) = connect_once(dsn, tls).await?;
    let r = client.batch_execute(INSTALL_SQL).await;
    drop(client);
    driver.abort();
    r.map_err(drift_or_db)
}

/// The message prefix of the install script's schema check.
const DRIFT_PREFIX: &str = "uyuni-cluster: Uyuni's schema lacks";

/// The install script's schema check as [`OutboxError::SchemaDrift`], any other error as is.
fn drift_or_db(e: tokio_postgres::Error) -> OutboxError {
    match e.as_db_error() {
        Some(db) if db.message().starts_with(DRIFT_PREFIX) => OutboxError::SchemaDrift {
            missing: parse_drift_detail(db.detail().unwrap_or_default()),
        },
        _ => OutboxError::Db(e),
    }
}

/// The comma-separated `table.column` list of the check's DETAIL.
fn parse_drift_detail(detail: &str) -> Vec<String> {
    detail
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Remove the triggers and the `uyuni_cluster` schema (pending outbox rows with it).
pub async fn uninstall(dsn: &str) -> Result<(), OutboxError> {
    uninstall_with(dsn, &DbTls::default()).await
}

/// [`uninstall`] over the connection `tls` describes.
pub async fn uninstall_with(dsn: &str, tls: &DbTls) -> Result<(), OutboxError> {
    let (client, driver) = connect_once(dsn, tls).await?;
    let r = client.batch_execute(UNINSTALL_SQL).await;
    drop(client);
    driver.abort();
    Ok(r?)
}

/// Whether the capture is installed, its version, pending rows and watched tables.
pub async fn status(dsn: &str) -> Result<OutboxStatus, OutboxError> {
    status_with(dsn, &DbTls::default()).await
}

/// [`status`] over the connection `tls` describes.
pub async fn status_with(dsn: &str, tls: &DbTls) -> Result<OutboxStatus, OutboxError> {
    let (client, driver) = connect_once(dsn, tls).await?;
    let r = status_on(&client).await;
    drop(client);
    driver.abort();
    r
}

async fn status_on(client: &tokio_postgres::Client) -> Result<OutboxStatus, OutboxError> {
    let watched_tables: Vec<String> = client
        .query(
            "SELECT DISTINCT lower(c.relname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             WHERE NOT t.tgisinternal AND t.tgname LIKE $1 ORDER BY 1",
            &[&format!("{TRIGGER_PREFIX}%")],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let installed: bool = client
        .query_one(
            "SELECT to_regclass('uyuni_cluster.outbox') IS NOT NULL",
            &[],
        )
        .await?
        .try_get(0)?;
    if !installed {
        return Ok(OutboxStatus {
            installed,
            version: None,
            pending: 0,
            oldest_pending_age_ms: None,
            watched_tables,
        });
    }
    let version: Option<String> = client
        .query_opt(
            "SELECT value FROM uyuni_cluster.meta WHERE key = 'version'",
            &[],
        )
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    let row = client
        .query_one(
            "SELECT count(*), (extract(epoch FROM now() - min(created_at)) * 1000)::bigint \
             FROM uyuni_cluster.outbox",
            &[],
        )
        .await?;
    let pending: i64 = row.try_get(0)?;
    let oldest: Option<i64> = row.try_get(1)?;
    Ok(OutboxStatus {
        installed,
        version,
        pending: u64::try_from(pending).unwrap_or(0),
        oldest_pending_age_ms: oldest.map(|ms| u64::try_from(ms).unwrap_or(0)),
        watched_tables,
    })
}

/// Connect for a one-off command; the returned task drives the connection.
async fn connect_once(
    dsn: &str,
    tls: &DbTls,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), OutboxError> {
    let mut pg: tokio_postgres::Config = dsn.parse()?;
    let connector = tls.apply(&mut pg)?;
    if pg.get_application_name().is_none() {
        pg.application_name("uyuni-cluster");
    }
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(Duration::from_secs(10));
    }
    let (client, connection) = pg.connect(connector).await?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection ended");
        }
    });
    Ok((client, driver))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn error_messages_carry_their_causes_once() {
        let e = E(
            "error connecting to server",
            Some(Box::new(E("No such file or directory", None))),
        );
        assert_eq!(
            error_chain(&e),
            "error connecting to server: No such file or directory"
        );
        let e = E(
            "db error: ERROR: boom",
            Some(Box::new(E("ERROR: boom", None))),
        );
        assert_eq!(error_chain(&e), "db error: ERROR: boom");
    }

    #[test]
    fn the_drift_detail_lists_table_columns() {
        assert_eq!(
            parse_drift_detail("rhnchannel.label,suseminioninfo.minion_id"),
            ["rhnchannel.label", "suseminioninfo.minion_id"]
        );
        assert!(parse_drift_detail("").is_empty());
        let e = OutboxError::SchemaDrift {
            missing: vec!["rhnconfigfile.id".into()],
        };
        assert!(e.to_string().contains("lacks 1 table column(s)"), "{e}");
        assert!(e.to_string().contains("rhnconfigfile.id"), "{e}");
    }

    /// Every table the install script puts a trigger on is checked by its drift check.
    #[test]
    fn every_watched_table_is_checked_for_drift() {
        let check = &INSTALL_SQL[..INSTALL_SQL
            .find("CREATE SCHEMA")
            .expect("the check comes first")];
        let watched = &INSTALL_SQL[INSTALL_SQL.find("FOREACH w SLICE 1").expect("the list")..];
        for line in watched.lines().filter(|l| l.trim_start().starts_with("['")) {
            let table = line.trim_start()[2..].split('\'').next().expect("a name");
            assert!(
                check.contains(&format!("'{table}.")),
                "{table} has a trigger but no drift check"
            );
        }
        assert!(check.contains("'rhnchannelpackage.channel_id'"));
    }

    #[test]
    fn config_defaults() {
        let c = OutboxConfig::new("host=/tmp");
        assert_eq!(c.batch, 500);
        assert_eq!(c.reconnect_min, Duration::from_millis(100));
        assert_eq!(c.reconnect_max, Duration::from_secs(5));
        assert_eq!(c.watchdog, Duration::from_secs(30));
        assert_eq!(c.poll, Duration::from_secs(5));
        assert!(INSTALL_SQL.contains("uyuni_cluster.outbox"));
        assert!(INSTALL_SQL.contains(DRIFT_PREFIX));
        assert!(UNINSTALL_SQL.contains("DROP SCHEMA IF EXISTS uyuni_cluster CASCADE"));
    }
}
