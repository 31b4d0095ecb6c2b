//! The reader task: one connection, one advisory lock, drain → deliver → acknowledge → delete.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, debug, error, info, info_span, warn};

use super::{
    APPLICATION_NAME, Backoff, CHANNEL, LOCK_KEY, OutboxBatch, OutboxConfig, OutboxError,
    OutboxEvent,
};

const SELECT_BATCH: &str = "SELECT id, tbl, op, row_data::text, \
     (extract(epoch FROM created_at) * 1000)::bigint \
     FROM uyuni_cluster.outbox ORDER BY id LIMIT $1";
const DELETE_ACKED: &str = "DELETE FROM uyuni_cluster.outbox WHERE id = ANY($1)";
/// Notifications waiting for the reader; more are dropped (they are only wake-ups).
const NOTIFY_QUEUE: usize = 64;

/// Why a session ended without an error.
#[derive(Debug, PartialEq, Eq)]
enum SessionEnd {
    /// Cancellation token fired.
    Cancelled,
    /// The handler dropped its receiver: nobody to deliver to.
    ReceiverGone,
    /// Another consumer holds the advisory lock.
    LockBusy,
}

pub(super) async fn run(
    cfg: OutboxConfig,
    tx: mpsc::Sender<OutboxBatch>,
    cancel: CancellationToken,
) {
    let span = info_span!("outbox", db = %redact(&cfg.dsn), sslmode = cfg.tls.mode.as_str());
    async move {
        if cfg.tls.mode == super::DbSslMode::Disable && plain_to_remote(&cfg.dsn) {
            warn!("outbox reader: the database is not on this host and [uyuni] db_sslmode is \"disable\": its traffic (password included) is not encrypted");
        }
        let mut backoff = Backoff::new(cfg.reconnect_min, cfg.reconnect_max);
        let mut lock_busy_logged = false;
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let pause = match session(&cfg, &tx, &cancel, &mut backoff).await {
                Ok(SessionEnd::Cancelled) => return,
                Ok(SessionEnd::ReceiverGone) => {
                    info!("outbox handler gone; reader stops");
                    return;
                }
                Ok(SessionEnd::LockBusy) => {
                    if !lock_busy_logged {
                        info!("another consumer holds the outbox lock; retrying");
                        lock_busy_logged = true;
                    }
                    backoff.next_delay()
                }
                Err(e) => {
                    lock_busy_logged = false;
                    let pause = backoff.next_delay();
                    warn!(error = %e, retry_in_ms = pause.as_millis() as u64, failures = backoff.failures(), "outbox reader: database error; reconnecting");
                    pause
                }
            };
            if !sleep_or_cancel(pause, &cancel).await {
                return;
            }
        }
    }
    .instrument(span)
    .await
}

/// One connection's life. `Err` for database errors (the caller reconnects).
async fn session(
    cfg: &OutboxConfig,
    tx: &mpsc::Sender<OutboxBatch>,
    cancel: &CancellationToken,
    backoff: &mut Backoff,
) -> Result<SessionEnd, OutboxError> {
    let limit = cfg.watchdog;
    let mut pg: tokio_postgres::Config = cfg.dsn.parse()?;
    if pg.get_application_name().is_none() {
        pg.application_name(APPLICATION_NAME);
    }
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(limit);
    }
    pg.keepalives(true);
    let connector = cfg.tls.apply(&mut pg)?;
    let (client, connection) = tokio::select! {
        r = timed(limit, async { Ok(pg.connect(connector).await?) }) => r?,
        () = cancel.cancelled() => return Ok(SessionEnd::Cancelled),
    };

    // The driver task owns the connection and forwards notifications.
    let (ntx, mut nrx) = mpsc::channel(NOTIFY_QUEUE);
    let _driver = Driver(tokio::spawn(drive(connection, ntx).in_current_span()));

    let locked: bool = timed(limit, async {
        Ok(client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .await?
            .try_get(0)?)
    })
    .await?;
    if !locked {
        return Ok(SessionEnd::LockBusy);
    }
    // LISTEN before the first drain: anything committed after this point wakes us up, and
    // everything committed before it is found by the drain.
    timed(limit, async {
        Ok(client.batch_execute(&format!("LISTEN {CHANNEL}")).await?)
    })
    .await?;
    backoff.reset();
    info!("outbox reader connected");

    let mut nack = Backoff::new(cfg.reconnect_min, cfg.reconnect_max);
    loop {
        if let Some(end) = drain(cfg, &client, tx, cancel, &mut nack).await? {
            return Ok(end);
        }
        let mut last_io = Instant::now();
        // Idle: wait for a wake-up, the poll interval, the watchdog or cancellation.
        let poll_at = Instant::now() + cfg.poll;
        loop {
            let watchdog_at = last_io + cfg.watchdog;
            tokio::select! {
                n = nrx.recv() => {
                    if n.is_none() {
                        return Err(OutboxError::ConnectionClosed);
                    }
                    while nrx.try_recv().is_ok() {}
                    break;
                }
                () = tokio::time::sleep_until(poll_at) => break,
                () = tokio::time::sleep_until(watchdog_at) => {
                    timed(limit, async { Ok(client.simple_query("SELECT 1").await?) }).await?;
                    last_io = Instant::now();
                }
                () = cancel.cancelled() => return Ok(SessionEnd::Cancelled),
            }
        }
    }
}

/// Deliver everything in the outbox, oldest first. `Some` when the reader must stop.
async fn drain(
    cfg: &OutboxConfig,
    client: &Client,
    tx: &mpsc::Sender<OutboxBatch>,
    cancel: &CancellationToken,
    nack: &mut Backoff,
) -> Result<Option<SessionEnd>, OutboxError> {
    let limit = cfg.watchdog;
    let batch = i64::try_from(cfg.batch.max(1)).unwrap_or(i64::MAX);
    loop {
        if cancel.is_cancelled() {
            return Ok(Some(SessionEnd::Cancelled));
        }
        let rows = timed(limit, async {
            Ok(client.query(SELECT_BATCH, &[&batch]).await?)
        })
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        // A row that cannot be read (the table's CHECK and jsonb types make this a
        // tampered-with row) must not stall the outbox: it is logged in full and removed with
        // the batch; the rows around it are delivered.
        let mut events = Vec::with_capacity(rows.len());
        let mut ids: Vec<i64> = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            ids.push(id);
            let parsed = (|| {
                OutboxEvent::from_parts(
                    id,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                )
            })();
            match parsed {
                Ok(ev) => events.push(ev),
                Err(e) => error!(id, error = %e, row = ?r, "unreadable outbox row skipped"),
            }
        }
        let (ack, acked) = oneshot::channel();
        tokio::select! {
            r = tx.send(OutboxBatch { events, ack }) => {
                if r.is_err() {
                    return Ok(Some(SessionEnd::ReceiverGone));
                }
            }
            () = cancel.cancelled() => return Ok(Some(SessionEnd::Cancelled)),
        }
        // An acknowledgement that is already there wins over cancellation, so an
        // acknowledged batch is deleted and not delivered again.
        let acked = tokio::select! {
            biased;
            r = acked => r.is_ok(),
            () = cancel.cancelled() => return Ok(Some(SessionEnd::Cancelled)),
        };
        if !acked {
            let pause = nack.next_delay();
            warn!(
                first = ids.first().copied().unwrap_or_default(),
                count = ids.len(),
                retry_in_ms = pause.as_millis() as u64,
                "outbox batch not acknowledged; delivering it again"
            );
            if !sleep_or_cancel(pause, cancel).await {
                return Ok(Some(SessionEnd::Cancelled));
            }
            continue;
        }
        nack.reset();
        // Not cancellable: the handler has the batch, the rows must go.
        timed(limit, async {
            Ok(client.execute(DELETE_ACKED, &[&ids]).await?)
        })
        .await?;
        debug!(
            count = ids.len(),
            last = ids.last().copied().unwrap_or_default(),
            "outbox batch acknowledged"
        );
    }
}

/// Drive the connection; forward notifications of our channel. Ends when the connection does.
async fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>, notify: mpsc::Sender<()>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(m) = messages.next().await {
        match m {
            Ok(AsyncMessage::Notification(n)) => {
                if n.channel() == CHANNEL {
                    // Full queue: a wake-up is already pending, this one adds nothing.
                    let _ = notify.try_send(());
                }
            }
            Ok(AsyncMessage::Notice(n)) => debug!(notice = %n, "database notice"),
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "outbox connection lost");
                return;
            }
        }
    }
}

/// Aborts the driver task when the session ends (the connection goes with it).
#[derive(Debug)]
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn timed<T>(
    limit: Duration,
    f: impl Future<Output = Result<T, OutboxError>>,
) -> Result<T, OutboxError> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or(Err(OutboxError::Timeout(limit)))
}

/// Sleep unless cancelled first; `false` when cancelled.
async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = cancel.cancelled() => false,
    }
}

/// The DSN without its password, for logs.
/// Whether the DSN names a TCP host other than this one (`localhost`, a loopback address).
fn plain_to_remote(dsn: &str) -> bool {
    let Ok(pg) = dsn.parse::<tokio_postgres::Config>() else {
        return false;
    };
    pg.get_hosts().iter().any(|h| match h {
        tokio_postgres::config::Host::Tcp(name) => {
            name != "localhost"
                && !name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        tokio_postgres::config::Host::Unix(_) => false,
    })
}

/// What the logs say about the connection string: rebuilt from the parsed DSN (hosts, ports,
/// user, database), so no spelling of the password (`password = 'a b'`, a URL's
/// `user:secret@`) can reach a log line.
pub(super) fn redact(dsn: &str) -> String {
    use tokio_postgres::config::Host;
    let Ok(pg) = dsn.parse::<tokio_postgres::Config>() else {
        return "(unparsable connection string)".into();
    };
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let mut out = format!("host={}", hosts.join(","));
    if !pg.get_ports().is_empty() {
        let ports: Vec<String> = pg.get_ports().iter().map(u16::to_string).collect();
        out.push_str(&format!(" port={}", ports.join(",")));
    }
    if let Some(user) = pg.get_user() {
        out.push_str(&format!(" user={user}"));
    }
    if let Some(db) = pg.get_dbname() {
        out.push_str(&format!(" dbname={db}"));
    }
    if pg.get_password().is_some() {
        out.push_str(" password=***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redact("host=db user=spacewalk password=s3cret dbname=susemanager"),
            "host=db user=spacewalk dbname=susemanager password=***"
        );
        assert_eq!(redact("host=/run/pg"), "host=/run/pg");
        for dsn in [
            "host=db password = 's3 cret' user=u",
            "host=db password='s3 cret' user=u",
            "postgresql://u:s3cret@db:5433/susemanager",
            "host=db password=s3cret\\ x",
        ] {
            let shown = redact(dsn);
            assert!(
                !shown.contains("s3") && !shown.contains("cret"),
                "{dsn} -> {shown}"
            );
        }
        assert_eq!(
            redact("postgresql://u:s3cret@db:5433/susemanager"),
            "host=db port=5433 user=u dbname=susemanager password=***"
        );
        assert_eq!(
            redact("host='unterminated"),
            "(unparsable connection string)"
        );
    }

    #[test]
    fn plain_traffic_to_another_host_is_noticed() {
        assert!(plain_to_remote("host=db.example.org user=u"));
        assert!(plain_to_remote("host=localhost,db2 user=u"));
        assert!(!plain_to_remote("host=localhost user=u"));
        assert!(!plain_to_remote("host=127.0.0.1 user=u"));
        assert!(!plain_to_remote("host=::1 user=u"));
        assert!(!plain_to_remote("host=/var/run/postgresql user=u"));
    }

    #[tokio::test]
    async fn cancelled_sleep_says_so() {
        let c = CancellationToken::new();
        assert!(sleep_or_cancel(Duration::from_millis(1), &c).await);
        c.cancel();
        assert!(!sleep_or_cancel(Duration::from_secs(60), &c).await);
    }

    #[tokio::test]
    async fn slow_queries_time_out() {
        let r: Result<(), _> = timed(Duration::from_millis(10), async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .await;
        assert!(matches!(r, Err(OutboxError::Timeout(_))), "{r:?}");
    }
}
