//! The outbox against a real PostgreSQL: triggers on (minimal copies of) Uyuni's tables, the
//! reader's delivery, acknowledgement, restart, reconnect and lock, install and uninstall.
//!
//! Needs the PostgreSQL server binaries (`apt-get install postgresql`); fails if missing.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use netsim_tests::pg::Postgres;
use node_controller::outbox::{self, OutboxBatch, OutboxConfig, OutboxEvent, OutboxOp};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const DB: &str = "susemanager";

/// Minimal versions of the watched tables: real names, key columns and types.
const UYUNI_SCHEMA: &str = "
CREATE TABLE rhnChannel (
    id NUMERIC NOT NULL CONSTRAINT rhn_channel_id_pk PRIMARY KEY,
    parent_channel NUMERIC REFERENCES rhnChannel (id),
    org_id NUMERIC,
    label VARCHAR(128) NOT NULL,
    name VARCHAR(256) NOT NULL,
    summary VARCHAR(500),
    last_modified TIMESTAMPTZ DEFAULT (current_timestamp) NOT NULL);
CREATE UNIQUE INDEX rhn_channel_label_uq ON rhnChannel (label);
CREATE TABLE rhnChannelPackage (
    channel_id NUMERIC NOT NULL REFERENCES rhnChannel (id) ON DELETE CASCADE,
    package_id NUMERIC NOT NULL,
    created TIMESTAMPTZ DEFAULT (current_timestamp) NOT NULL,
    modified TIMESTAMPTZ DEFAULT (current_timestamp) NOT NULL);
CREATE UNIQUE INDEX rhn_cp_cp_uq ON rhnChannelPackage (channel_id, package_id);
CREATE TABLE rhnServer (
    id NUMERIC NOT NULL CONSTRAINT rhn_server_id_pk PRIMARY KEY,
    org_id NUMERIC NOT NULL,
    digital_server_id VARCHAR(64) NOT NULL,
    name VARCHAR(128));
CREATE TABLE suseMinionInfo (
    server_id NUMERIC NOT NULL REFERENCES rhnServer (id) ON DELETE CASCADE,
    minion_id VARCHAR(256) NOT NULL CONSTRAINT rhn_minion_info_miid_uq UNIQUE,
    machine_id VARCHAR(256) NOT NULL);
CREATE TABLE rhnServerGroup (
    id NUMERIC NOT NULL CONSTRAINT rhn_servergroup_id_pk PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    description VARCHAR(1024) NOT NULL,
    group_type NUMERIC,
    org_id NUMERIC NOT NULL);
CREATE TABLE rhnRegToken (
    id NUMERIC NOT NULL CONSTRAINT rhn_reg_token_pk PRIMARY KEY,
    org_id NUMERIC NOT NULL,
    note VARCHAR(2048) NOT NULL,
    disabled NUMERIC DEFAULT (0) NOT NULL);
CREATE TABLE rhnActivationKey (
    token VARCHAR(48) NOT NULL CONSTRAINT rhn_act_key_token_uq UNIQUE,
    reg_token_id NUMERIC NOT NULL REFERENCES rhnRegToken (id) ON DELETE CASCADE);
CREATE TABLE suseContentProject (
    id NUMERIC NOT NULL CONSTRAINT suse_ct_project_id_pk PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    org_id NUMERIC NOT NULL,
    label VARCHAR(24) NOT NULL);
CREATE TABLE suseContentEnvironment (
    id NUMERIC NOT NULL CONSTRAINT suse_ct_env_id_pk PRIMARY KEY,
    project_id NUMERIC REFERENCES suseContentProject (id) ON DELETE CASCADE,
    label VARCHAR(16) NOT NULL,
    name VARCHAR(128) NOT NULL);
";

const WATCHED: [&str; 9] = [
    "rhnactivationkey",
    "rhnchannel",
    "rhnchannelpackage",
    "rhnregtoken",
    "rhnserver",
    "rhnservergroup",
    "susecontentenvironment",
    "susecontentproject",
    "suseminioninfo",
];

/// A cluster with the Uyuni tables and the triggers installed.
async fn uyuni_db() -> (Postgres, String) {
    let pg = Postgres::start().unwrap_or_else(|e| {
        panic!("PostgreSQL is required for these tests (apt-get install postgresql): {e:#}")
    });
    let dsn = pg.create_database(DB).expect("create database");
    pg.psql(DB, UYUNI_SCHEMA).expect("create the Uyuni tables");
    outbox::install(&dsn).await.expect("install the triggers");
    (pg, dsn)
}

fn config(dsn: &str) -> OutboxConfig {
    OutboxConfig {
        batch: 100,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
        watchdog: Duration::from_secs(10),
        poll: Duration::from_secs(2),
        ..OutboxConfig::new(dsn)
    }
}

#[derive(Debug)]
struct Reader {
    rx: mpsc::Receiver<OutboxBatch>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Reader {
    fn start(cfg: OutboxConfig) -> Self {
        let (tx, rx) = mpsc::channel(4);
        let cancel = CancellationToken::new();
        let task = outbox::spawn(cfg, tx, cancel.clone());
        Self { rx, cancel, task }
    }

    /// The next batch, or `None` if none comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<OutboxBatch> {
        tokio::time::timeout(wait, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Acknowledge batches until `done` says the events so far are enough.
    async fn collect_until(
        &mut self,
        what: &str,
        wait: Duration,
        mut done: impl FnMut(&[OutboxEvent]) -> bool,
    ) -> Vec<OutboxEvent> {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(batch) = self.next(left).await else {
                panic!(
                    "timed out after {wait:?} waiting for {what}; got {} events: {:?}",
                    got.len(),
                    summary(&got)
                );
            };
            got.extend(batch.events);
            batch.ack.send(()).expect("reader waits for the ack");
        }
        got
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("reader stops when cancelled")
            .expect("reader task did not panic");
    }
}

fn summary(events: &[OutboxEvent]) -> Vec<(String, OutboxOp, serde_json::Value)> {
    events
        .iter()
        .map(|e| (e.table.clone(), e.op, e.row.clone()))
        .collect()
}

fn psql(pg: &Postgres, sql: &str) -> String {
    pg.psql(DB, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e:#}"))
        .trim()
        .to_owned()
}

/// Poll `cond` every 50 ms until it holds or `wait` passes.
async fn eventually(what: &str, wait: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + wait;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {wait:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_marker(e: &OutboxEvent, id: i64) -> bool {
    e.table == "rhnregtoken" && e.row["id"] == json!(id)
}

/// Insert `n` server groups (ids `first..first + n`) in statements of 10 rows, from another
/// connection, as fast as the database takes them.
fn spawn_writer(dsn: String, first: i64, n: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (client, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
            .await
            .expect("writer connects");
        tokio::spawn(conn);
        let mut id = first;
        while id < first + n {
            let last = (id + 9).min(first + n - 1);
            client
                .batch_execute(&format!(
                    "INSERT INTO rhnServerGroup (id, name, description, org_id) \
                     SELECT g, 'group-' || g, 'd', 1 FROM generate_series({id}, {last}) g"
                ))
                .await
                .expect("writer inserts");
            id = last + 1;
        }
    })
}

fn group_ids(events: &[OutboxEvent]) -> BTreeSet<i64> {
    events
        .iter()
        .filter(|e| e.table == "rhnservergroup")
        .filter_map(|e| e.row["id"].as_i64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_become_events_in_order() {
    let (pg, dsn) = uyuni_db().await;
    let mut reader = Reader::start(config(&dsn));
    psql(
        &pg,
        "INSERT INTO rhnChannel (id, label, name) VALUES (101, 'sles15-pool', 'SLES 15 Pool')",
    );
    psql(
        &pg,
        "UPDATE rhnChannel SET name = 'SLES 15 SP6 Pool' WHERE id = 101",
    );
    psql(&pg, "UPDATE rhnChannel SET name = name"); // changes nothing: no event
    psql(
        &pg,
        "BEGIN; INSERT INTO rhnChannel (id, label, name) VALUES (102, 'rolled-back', 'x'); ROLLBACK",
    );
    psql(
        &pg,
        "INSERT INTO rhnServer (id, org_id, digital_server_id, name) VALUES (1000010000, 1, 'ID-1', 'web1'); \
         INSERT INTO suseMinionInfo (server_id, minion_id, machine_id) VALUES (1000010000, 'web1.example.org', 'm1')",
    );
    psql(&pg, "DELETE FROM rhnChannel WHERE id = 101");
    psql(
        &pg,
        "INSERT INTO rhnRegToken (id, org_id, note) VALUES (1, 1, 'end marker')",
    );
    let events = reader
        .collect_until("the end marker", Duration::from_secs(20), |ev| {
            ev.iter().any(|e| is_marker(e, 1))
        })
        .await;
    let got: Vec<(&str, OutboxOp)> = events.iter().map(|e| (e.table.as_str(), e.op)).collect();
    assert_eq!(
        got,
        [
            ("rhnchannel", OutboxOp::Insert),
            ("rhnchannel", OutboxOp::Update),
            ("rhnserver", OutboxOp::Insert),
            ("suseminioninfo", OutboxOp::Insert),
            ("rhnchannel", OutboxOp::Delete),
            ("rhnregtoken", OutboxOp::Insert),
        ],
        "events: {:?}",
        summary(&events)
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    assert_eq!(events[0].row["id"], json!(101));
    assert_eq!(events[0].row["label"], "sles15-pool");
    assert_eq!(events[1].row["name"], "SLES 15 SP6 Pool");
    assert_eq!(events[2].row["digital_server_id"], "ID-1");
    assert_eq!(events[3].row["server_id"], json!(1_000_010_000_i64));
    assert_eq!(events[3].row["minion_id"], "web1.example.org");
    assert_eq!(
        events[4].row["label"], "sles15-pool",
        "a delete carries the old row"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    assert!(
        events
            .iter()
            .all(|e| e.at_ms <= now_ms + 1000 && e.at_ms + 60_000 > now_ms),
        "at_ms is the change time"
    );
    // Acknowledged rows are deleted.
    eventually("the outbox empties", Duration::from_secs(10), || {
        psql(&pg, "SELECT count(*) FROM uyuni_cluster.outbox") == "0"
    })
    .await;
    reader.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_channel_packages_are_one_event_per_channel_and_statement() {
    let (pg, dsn) = uyuni_db().await;
    psql(
        &pg,
        "INSERT INTO rhnChannel (id, label, name) VALUES (101, 'a', 'A'), (102, 'b', 'B')",
    );
    let mut reader = Reader::start(config(&dsn));
    reader
        .collect_until("the two channels", Duration::from_secs(20), |ev| {
            ev.len() >= 2
        })
        .await;
    // reposync: thousands of rows in one statement, two channels.
    psql(
        &pg,
        "INSERT INTO rhnChannelPackage (channel_id, package_id) \
         SELECT c, p FROM (VALUES (101), (102)) AS ch(c), generate_series(1, 1500) AS p",
    );
    psql(&pg, "UPDATE rhnChannelPackage SET modified = modified"); // nothing changes
    psql(
        &pg,
        "DELETE FROM rhnChannelPackage WHERE channel_id = 102 AND package_id <= 10",
    );
    psql(
        &pg,
        "INSERT INTO rhnRegToken (id, org_id, note) VALUES (1, 1, 'end marker')",
    );
    let events = reader
        .collect_until("the end marker", Duration::from_secs(20), |ev| {
            ev.iter().any(|e| is_marker(e, 1))
        })
        .await;
    let got: Vec<(&str, OutboxOp, &serde_json::Value)> = events
        .iter()
        .map(|e| (e.table.as_str(), e.op, &e.row))
        .collect();
    assert_eq!(
        got,
        [
            (
                "rhnchannelpackage",
                OutboxOp::Insert,
                &json!({"channel_id": 101, "packages": 1500})
            ),
            (
                "rhnchannelpackage",
                OutboxOp::Insert,
                &json!({"channel_id": 102, "packages": 1500})
            ),
            (
                "rhnchannelpackage",
                OutboxOp::Delete,
                &json!({"channel_id": 102, "packages": 10})
            ),
            ("rhnregtoken", OutboxOp::Insert, &events[3].row),
        ]
    );
    reader.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_reader_loses_nothing_and_redelivers_the_unacknowledged() {
    const N: i64 = 2000;
    let (pg, dsn) = uyuni_db().await;
    let writer = spawn_writer(dsn.clone(), 1, N);

    // First reader: acknowledge about a quarter, then take one batch and never answer it.
    let mut first = Reader::start(config(&dsn));
    let mut acked: Vec<OutboxEvent> = first
        .collect_until("the first quarter", Duration::from_secs(60), |ev| {
            ev.len() >= (N / 4) as usize
        })
        .await;
    let held = first
        .next(Duration::from_secs(20))
        .await
        .expect("a batch after the first quarter");
    let held_ids: Vec<i64> = held.events.iter().map(|e| e.id).collect();
    assert!(!held_ids.is_empty());
    first.stop().await; // cancelled while the batch is unacknowledged
    drop(held);

    // Second reader: everything else, the held batch again first.
    let mut second = Reader::start(config(&dsn));
    let rest = second
        .collect_until("all rows", Duration::from_secs(120), |ev| {
            group_ids(&acked).len() + group_ids(ev).len() >= N as usize
        })
        .await;
    writer.await.expect("writer finished");
    let rest_ids: Vec<i64> = rest.iter().map(|e| e.id).collect();
    assert_eq!(
        rest_ids[..held_ids.len()],
        held_ids[..],
        "the unacknowledged batch comes again, first"
    );
    acked.extend(rest);
    let ids: Vec<i64> = acked.iter().map(|e| e.id).collect();
    let unique: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no outbox id acknowledged twice");
    assert_eq!(
        group_ids(&acked),
        (1..=N).collect::<BTreeSet<_>>(),
        "every inserted row was delivered and acknowledged"
    );
    assert_eq!(acked.len(), N as usize);
    eventually("the outbox empties", Duration::from_secs(10), || {
        psql(&pg, "SELECT count(*) FROM uyuni_cluster.outbox") == "0"
    })
    .await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_is_replaced_and_nothing_is_lost() {
    const N: i64 = 1000;
    let (pg, dsn) = uyuni_db().await;
    let mut reader = Reader::start(config(&dsn));
    let backend = |pg: &Postgres| {
        psql(
            pg,
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'uyuni-cluster-outbox'",
        )
    };
    eventually("the reader connects", Duration::from_secs(20), || {
        !backend(&pg).is_empty()
    })
    .await;
    let writer = spawn_writer(dsn.clone(), 1, N);
    let mut events = reader
        .collect_until("some rows", Duration::from_secs(60), |ev| ev.len() >= 100)
        .await;
    let mut killed = Vec::new();
    for round in 0..2 {
        let pid = backend(&pg);
        assert_eq!(
            psql(
                &pg,
                "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = 'uyuni-cluster-outbox' OR query LIKE 'LISTEN%'",
            ),
            "t",
            "round {round}: terminated the reader's backend {pid}"
        );
        killed.push(pid);
        // Keep handling batches meanwhile: a reader waiting for an acknowledgement notices the
        // lost connection only when it deletes the rows.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = backend(&pg);
            if !now.is_empty() && !killed.contains(&now) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the reader reconnects"
            );
            if let Some(b) = reader.next(Duration::from_millis(50)).await {
                events.extend(b.events);
                b.ack.send(()).expect("reader waits for the ack");
            }
        }
        let have = events.len();
        events.extend(
            reader
                .collect_until(
                    "more rows after the reconnect",
                    Duration::from_secs(60),
                    |ev| {
                        ev.len() >= 50.min(N as usize - have)
                            || group_ids(ev).len() + have >= N as usize
                    },
                )
                .await,
        );
    }
    let rest = reader
        .collect_until("all rows", Duration::from_secs(120), |ev| {
            group_ids(&events).len() + group_ids(ev).len() >= N as usize
        })
        .await;
    events.extend(rest);
    writer.await.expect("writer finished");
    // A batch whose DELETE was cut off may come twice (handlers are idempotent); none is lost.
    assert_eq!(group_ids(&events), (1..=N).collect::<BTreeSet<_>>());
    eventually("the outbox empties", Duration::from_secs(10), || {
        psql(&pg, "SELECT count(*) FROM uyuni_cluster.outbox") == "0"
    })
    .await;
    reader.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_reader_gets_nothing_while_the_first_holds_the_lock() {
    let (pg, dsn) = uyuni_db().await;
    psql(
        &pg,
        "INSERT INTO rhnRegToken (id, org_id, note) SELECT g, 1, 'k' FROM generate_series(1, 5) g",
    );
    let mut first = Reader::start(config(&dsn));
    let held = first
        .next(Duration::from_secs(20))
        .await
        .expect("the first reader gets the rows");
    assert_eq!(held.events.len(), 5);
    // The rows stay in the outbox (unacknowledged), yet the second reader gets none of them.
    let mut second = Reader::start(config(&dsn));
    psql(
        &pg,
        "INSERT INTO rhnRegToken (id, org_id, note) VALUES (6, 1, 'k')",
    );
    assert!(
        second.next(Duration::from_secs(2)).await.is_none(),
        "the second reader must not read while the first holds the lock"
    );
    // The first one goes away: the second takes over, from the oldest unacknowledged row.
    first.stop().await;
    drop(held);
    let events = second
        .collect_until("all six rows", Duration::from_secs(20), |ev| ev.len() >= 6)
        .await;
    let ids: Vec<i64> = events.iter().filter_map(|e| e.row["id"].as_i64()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_is_idempotent_and_uninstall_leaves_uyuni_intact() {
    let (pg, dsn) = uyuni_db().await;
    // Again, through psql with the packaged file, and again through the API.
    let sql = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/sql/uyuni-cluster-install.sql");
    pg.psql_file(DB, &sql).expect("install with psql");
    outbox::install(&dsn).await.expect("install again");
    let triggers = "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal";
    assert_eq!(
        psql(&pg, triggers),
        "11",
        "8 row triggers + 3 statement triggers"
    );
    let st = outbox::status(&dsn).await.expect("status");
    assert!(st.installed);
    assert_eq!(st.version.as_deref(), Some("1"));
    assert_eq!(st.watched_tables, WATCHED);
    assert_eq!(st.pending, 0);

    psql(
        &pg,
        "INSERT INTO rhnChannel (id, label, name) VALUES (101, 'a', 'A'); \
         INSERT INTO rhnChannelPackage (channel_id, package_id) VALUES (101, 1), (101, 2)",
    );
    let st = outbox::status(&dsn).await.expect("status");
    assert_eq!(st.pending, 2, "rows accumulate while no reader runs");
    assert!(st.oldest_pending_age_ms.is_some());

    outbox::uninstall(&dsn).await.expect("uninstall");
    outbox::uninstall(&dsn).await.expect("uninstall again");
    assert_eq!(psql(&pg, triggers), "0");
    assert_eq!(
        psql(&pg, "SELECT count(*) FROM information_schema.triggers"),
        "0"
    );
    assert_eq!(
        psql(
            &pg,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'uyuni_cluster'"
        ),
        "0"
    );
    assert_eq!(
        psql(
            &pg,
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'capture%'"
        ),
        "0"
    );
    assert_eq!(psql(&pg, "SELECT label FROM rhnChannel"), "a");
    assert_eq!(psql(&pg, "SELECT count(*) FROM rhnChannelPackage"), "2");
    psql(
        &pg,
        "INSERT INTO rhnChannel (id, label, name) VALUES (102, 'b', 'B'); \
         INSERT INTO rhnChannelPackage (channel_id, package_id) VALUES (102, 1); \
         UPDATE rhnChannel SET name = 'AA' WHERE id = 101; DELETE FROM rhnChannel WHERE id = 102",
    );
    assert_eq!(psql(&pg, "SELECT count(*) FROM rhnChannel"), "1");
    let st = outbox::status(&dsn).await.expect("status");
    assert!(!st.installed);
    assert!(st.watched_tables.is_empty());

    // A partial schema: only the tables that exist get triggers.
    pg.create_database("partial").expect("create database");
    pg.psql(
        "partial",
        "CREATE TABLE rhnChannel (id NUMERIC PRIMARY KEY, label VARCHAR(128) NOT NULL)",
    )
    .expect("create table");
    let partial = pg.dsn("partial");
    outbox::install(&partial)
        .await
        .expect("install on a partial schema");
    let st = outbox::status(&partial).await.expect("status");
    assert_eq!(st.watched_tables, ["rhnchannel"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_row_is_skipped_and_does_not_stall_the_outbox() {
    let (pg, dsn) = uyuni_db().await;
    // Only a tampered-with table can hold such a row: the CHECK on `op` is dropped for it.
    psql(
        &pg,
        "ALTER TABLE uyuni_cluster.outbox DROP CONSTRAINT IF EXISTS outbox_op_check; \
         INSERT INTO uyuni_cluster.outbox (tbl, op, row_data) VALUES ('rhnchannel', 'TRUNCATE', '{}')",
    );
    psql(
        &pg,
        "INSERT INTO rhnRegToken (id, org_id, note) VALUES (1, 1, 'end marker')",
    );
    let mut reader = Reader::start(config(&dsn));
    let events = reader
        .collect_until("the row after the bad one", Duration::from_secs(20), |ev| {
            ev.iter().any(|e| is_marker(e, 1))
        })
        .await;
    assert_eq!(events.len(), 1, "events: {:?}", summary(&events));
    eventually(
        "the bad row to go with its batch",
        Duration::from_secs(20),
        || psql(&pg, "SELECT count(*) FROM uyuni_cluster.outbox").trim() == "0",
    )
    .await;
}
