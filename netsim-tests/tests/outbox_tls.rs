//! The outbox reader over TLS to a PostgreSQL server on `127.0.0.1` (`ssl=on`) whose
//! certificate the cluster CA issued: `verify-full` with that CA connects and delivers events;
//! `verify-full` with another CA, or with a name the certificate does not carry, is refused
//! with an error that says why; `require` encrypts without checking the certificate.

use std::path::Path;
use std::time::Duration;

use cluster_core::tls::{init_ca, issue};
use netsim_tests::pg::Postgres;
use netsim_tests::{uyuni_schema, uyuni_writes};
use node_controller::outbox::{self, DbSslMode, DbTls, OutboxBatch, OutboxConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const DB: &str = "susemanager";

/// A server whose certificate (`localhost`, `127.0.0.1`) the CA in `ca_dir` issued, with the
/// triggers installed on a one-table Uyuni schema.
async fn tls_db(ca_dir: &Path) -> Postgres {
    init_ca(ca_dir, false).expect("cluster CA");
    let cert = issue(
        ca_dir,
        "db",
        &["localhost".to_string(), "127.0.0.1".to_string()],
    )
    .expect("server certificate");
    let pg = Postgres::start_tls(&cert.cert, &cert.key).unwrap_or_else(|e| {
        panic!("PostgreSQL is required for these tests (apt-get install postgresql): {e:#}")
    });
    let socket_dsn = uyuni_schema::create_uyuni_database(&pg, DB).expect("load Uyuni's schema");
    outbox::install(&socket_dsn)
        .await
        .expect("install the triggers");
    pg
}

fn verify_full(ca: &Path) -> DbTls {
    DbTls {
        mode: DbSslMode::VerifyFull,
        ca_file: Some(ca.to_path_buf()),
    }
}

#[tokio::test]
async fn verify_full_with_the_cluster_ca_connects_and_reads_the_outbox() {
    let ca = tempfile::tempdir().expect("tempdir");
    let pg = tls_db(ca.path()).await;
    let dsn = pg.tcp_dsn("localhost", DB);
    let tls = verify_full(&ca.path().join("ca.pem"));

    let st = outbox::status_with(&dsn, &tls)
        .await
        .expect("status over TLS");
    assert!(st.installed);
    let (tx, mut rx) = mpsc::channel::<OutboxBatch>(4);
    let cancel = CancellationToken::new();
    let cfg = OutboxConfig {
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
        poll: Duration::from_millis(500),
        tls,
        ..OutboxConfig::new(dsn)
    };
    let task = outbox::spawn(cfg, tx, cancel.clone());
    pg.psql(DB, &uyuni_writes::register_minion(1_000_010_000, "web1"))
        .expect("insert");
    let batch = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let b = rx.recv().await.expect("reader alive");
            if b.events.iter().any(|e| e.table == "suseminioninfo") {
                return b;
            }
            let _ = b.ack.send(());
        }
    })
    .await
    .expect("the insert arrives over TLS");
    let _ = batch.ack.send(());
    let ssl_sessions = pg
        .psql(
            DB,
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE s.ssl AND a.application_name = 'uyuni-cluster-outbox'",
        )
        .expect("query");
    assert_eq!(ssl_sessions.trim(), "1", "the reader's session is TLS");
    cancel.cancel();
    task.await.expect("reader ends");
}

#[tokio::test]
async fn another_ca_or_another_name_is_refused_with_a_clear_error() {
    let ca = tempfile::tempdir().expect("tempdir");
    let pg = tls_db(ca.path()).await;
    let other = tempfile::tempdir().expect("tempdir");
    init_ca(other.path(), false).expect("another CA");

    let err = outbox::status_with(
        &pg.tcp_dsn("localhost", DB),
        &verify_full(&other.path().join("ca.pem")),
    )
    .await
    .expect_err("a certificate of another CA");
    let msg = err.to_string();
    assert!(
        msg.contains("invalid peer certificate") && msg.contains("UnknownIssuer"),
        "{msg}"
    );
    println!("another CA: {msg}");

    let err = outbox::status_with(
        &pg.tcp_dsn("db.example.org", DB),
        &verify_full(&ca.path().join("ca.pem")),
    )
    .await
    .expect_err("a name the certificate does not carry");
    let msg = err.to_string();
    assert!(
        msg.contains("invalid peer certificate") && msg.contains("not valid for name"),
        "{msg}"
    );

    // `require` does not check the certificate (libpq's meaning): it connects anyway.
    let require = DbTls {
        mode: DbSslMode::Require,
        ca_file: None,
    };
    let st = outbox::status_with(&pg.tcp_dsn("db.example.org", DB), &require)
        .await
        .expect("require connects");
    assert!(st.installed);
}
