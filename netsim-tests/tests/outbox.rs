//! The outbox against a real PostgreSQL holding Uyuni's own schema (netsim-tests/schema/uyuni):
//! the triggers as `uyuni-cluster triggers install` puts them there, writes shaped like Uyuni's
//! (netsim_tests::uyuni_writes), the reader's delivery, acknowledgement, restart, reconnect and
//! lock, the filters at the source, install, schema drift and uninstall.
//!
//! Needs the PostgreSQL server binaries (`apt-get install postgresql`) and the upstream schema
//! files (schema/uyuni/README.md); fails if missing.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use netsim_tests::pg::Postgres;
use netsim_tests::uyuni_schema;
use netsim_tests::uyuni_writes as w;
use node_controller::outbox::{self, OutboxBatch, OutboxConfig, OutboxEvent, OutboxOp};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const DB: &str = "susemanager";

/// The tables the install script puts triggers on.
const WATCHED: [&str; 18] = [
    "rhnactivationkey",
    "rhnchannel",
    "rhnchannelpackage",
    "rhnconfigchannel",
    "rhnconfigfile",
    "rhnregtoken",
    "rhnregtokenchannels",
    "rhnregtokenconfigchannels",
    "rhnregtokengroups",
    "rhnregtokenpackages",
    "rhnservergroup",
    "susecontentenvironment",
    "susecontentenvironmenttarget",
    "susecontentfilter",
    "susecontentfilterproject",
    "susecontentproject",
    "susecontentprojectsource",
    "suseminioninfo",
];

/// A cluster with the Uyuni tables and the triggers installed.
async fn uyuni_db() -> (Postgres, String) {
    let pg = Postgres::start().unwrap_or_else(|e| {
        panic!("PostgreSQL is required for these tests (apt-get install postgresql): {e:#}")
    });
    let dsn = uyuni_schema::create_uyuni_database(&pg, DB).expect("load Uyuni's schema");
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
    psql(&pg, &w::channel(101, "sles15-pool", "SLES 15 Pool", None));
    psql(
        &pg,
        "UPDATE rhnChannel SET name = 'SLES 15 SP6 Pool' WHERE id = 101",
    );
    // Changes nothing (Uyuni's own trigger still sets last_modified): no event.
    psql(&pg, "UPDATE rhnChannel SET name = name");
    // A reposync's bookkeeping alone (last_synced; last_modified by Uyuni's trigger): no event.
    psql(
        &pg,
        "UPDATE rhnChannel SET last_synced = current_timestamp WHERE id = 101",
    );
    psql(
        &pg,
        &format!(
            "BEGIN; {} ROLLBACK",
            w::channel(102, "rolled-back", "x", None)
        ),
    );
    psql(&pg, &w::register_minion(1_000_010_000, "web1.example.org"));
    psql(&pg, &w::checkin(1_000_010_000));
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
    assert_eq!(events[2].row["server_id"], json!(1_000_010_000_i64));
    assert_eq!(events[2].row["minion_id"], "web1.example.org");
    assert_eq!(
        events[3].row["label"], "sles15-pool",
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
    psql(&pg, &w::channel(101, "a", "A", None));
    psql(&pg, &w::channel(102, "b", "B", None));
    psql(&pg, &w::packages(1, 1500));
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
    psql(&pg, &w::sync_channel(101, 1, 1500)); // nothing new: no event
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
    let ours =
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'uyuni_cluster%'";
    assert_eq!(
        psql(&pg, ours),
        "20",
        "17 row triggers + 3 statement triggers"
    );
    let uyunis_own = psql(&pg, triggers);
    let st = outbox::status(&dsn).await.expect("status");
    assert!(st.installed);
    assert_eq!(st.version.as_deref(), Some("2"));
    assert_eq!(st.watched_tables, WATCHED);
    assert_eq!(st.pending, 0);

    psql(&pg, &w::packages(1, 2));
    psql(
        &pg,
        &format!(
            "{} INSERT INTO rhnChannelPackage (channel_id, package_id) VALUES (101, 1), (101, 2)",
            w::channel(101, "a", "A", None)
        ),
    );
    let st = outbox::status(&dsn).await.expect("status");
    assert_eq!(st.pending, 2, "rows accumulate while no reader runs");
    assert!(st.oldest_pending_age_ms.is_some());

    outbox::uninstall(&dsn).await.expect("uninstall");
    outbox::uninstall(&dsn).await.expect("uninstall again");
    assert_eq!(psql(&pg, ours), "0");
    assert_eq!(
        psql(&pg, triggers),
        uyunis_own
            .parse::<i64>()
            .expect("a count")
            .saturating_sub(20)
            .to_string(),
        "Uyuni's own triggers stay"
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
        &format!(
            "{} INSERT INTO rhnChannelPackage (channel_id, package_id) VALUES (102, 1); \
             UPDATE rhnChannel SET name = 'AA' WHERE id = 101; DELETE FROM rhnChannel WHERE id = 102",
            w::channel(102, "b", "B", None)
        ),
    );
    assert_eq!(psql(&pg, "SELECT count(*) FROM rhnChannel"), "1");
    let st = outbox::status(&dsn).await.expect("status");
    assert!(!st.installed);
    assert!(st.watched_tables.is_empty());
}

/// Schema drift: a database that lacks a table or column the capture relies on is refused,
/// naming everything missing, and nothing is installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_refuses_a_schema_that_drifted_and_names_what_is_missing() {
    let (pg, dsn) = uyuni_db().await;
    outbox::uninstall(&dsn).await.expect("uninstall");
    // A column renamed, a table gone.
    psql(
        &pg,
        "ALTER TABLE suseMinionInfo RENAME COLUMN minion_id TO salt_id; \
         DROP TABLE rhnRegTokenConfigChannels",
    );
    let err = outbox::install(&dsn).await.expect_err("install must fail");
    match &err {
        outbox::OutboxError::SchemaDrift { missing } => assert_eq!(
            missing,
            &[
                "rhnregtokenconfigchannels.config_channel_id",
                "rhnregtokenconfigchannels.token_id",
                "suseminioninfo.minion_id",
            ]
        ),
        other => panic!("expected SchemaDrift, got {other:?}"),
    }
    assert!(
        err.to_string().contains("suseminioninfo.minion_id"),
        "{err}"
    );
    let st = outbox::status(&dsn).await.expect("status");
    assert!(!st.installed, "nothing installed");
    assert!(st.watched_tables.is_empty(), "no trigger left behind");
    // The same check through psql with the packaged file.
    let sql = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/sql/uyuni-cluster-install.sql");
    let e = pg.psql_file(DB, &sql).expect_err("psql must fail");
    assert!(
        format!("{e:#}").contains("suseminioninfo.minion_id"),
        "{e:#}"
    );
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

/// Writes shaped like Uyuni's own — a minion's registration, a channel with packages and a
/// child, a system group, an activation key with channels, groups and packages, a CLM project
/// with a source, a filter, two environments and a build, check-ins, a package refresh and an
/// action — become exactly the events the Node Controller acts on; Uyuni's bookkeeping (its
/// own triggers' timestamps, member counts, a build's status steps, check-ins, package
/// profiles, actions) is filtered at the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uyuni_shaped_writes_become_the_node_controllers_events() {
    use node_controller::kinds::{Change, CommonKind, classify};
    let (pg, dsn) = uyuni_db().await;
    let mut reader = Reader::start(config(&dsn));
    let sid = 1_000_010_001;
    psql(&pg, &w::packages(1, 50));
    psql(&pg, &w::register_minion(sid, "web1.example.org"));
    psql(&pg, &w::channel(101, "sles15-base", "SLES 15", None));
    psql(&pg, &w::sync_channel(101, 1, 50));
    psql(
        &pg,
        &w::channel(102, "sles15-updates", "SLES 15 Updates", Some(101)),
    );
    psql(&pg, &w::system_group(1001, "web", "Web servers"));
    psql(&pg, &w::join_group(sid, "1001"));
    psql(
        &pg,
        &w::activation_key(
            2001,
            "1-web",
            "Web servers",
            &w::KeyParts {
                channels: vec![101, 102],
                groups: vec![1001],
                packages: vec![1, 2],
                config_channels: vec![],
            },
        ),
    );
    psql(&pg, &w::clm_project(3001, "proj", 101, &["dev", "prod"]));
    psql(&pg, &w::clm_build(30010, 4001, 102));
    for _ in 0..3 {
        psql(&pg, &w::checkin(sid));
    }
    psql(&pg, &w::package_refresh(sid, 1, 50));
    psql(
        &pg,
        &w::schedule_action(5001, "packages.refresh_list", &[sid]),
    );
    psql(&pg, &w::complete_action(5001, sid));
    psql(&pg, &w::sync_channel(101, 1, 50)); // nothing new
    psql(
        &pg,
        "INSERT INTO rhnRegToken (id, org_id, note) VALUES (1, 1, 'end marker')",
    );
    let events = reader
        .collect_until("the end marker", Duration::from_secs(30), |ev| {
            ev.iter().any(|e| is_marker(e, 1))
        })
        .await;
    let got: Vec<(String, Change)> = events
        .iter()
        .map(|e| (e.table.clone(), classify(e)))
        .collect();
    let common = |kind, key: Option<&str>| Change::Common {
        kind,
        key: key.map(str::to_owned),
    };
    use CommonKind::{ActivationKey as Ak, Channel, ContentProject as Clm, SystemGroup};
    let expected: Vec<(&str, Change)> = vec![
        (
            "suseminioninfo",
            Change::SystemAdded {
                minion_id: "web1.example.org".into(),
                server_id: sid,
            },
        ),
        ("rhnchannel", common(Channel, Some("sles15-base"))),
        ("rhnchannelpackage", Change::Content { channel_id: 101 }),
        ("rhnchannel", common(Channel, Some("sles15-updates"))),
        ("rhnservergroup", common(SystemGroup, Some("web"))),
        ("rhnregtoken", common(Ak, None)),
        ("rhnactivationkey", common(Ak, Some("1-web"))),
        ("rhnregtokenchannels", common(Ak, None)),
        ("rhnregtokenchannels", common(Ak, None)),
        ("rhnregtokengroups", common(Ak, None)),
        ("rhnregtokenpackages", common(Ak, None)),
        ("rhnregtokenpackages", common(Ak, None)),
        ("susecontentproject", common(Clm, Some("proj"))),
        ("susecontentprojectsource", common(Clm, None)),
        ("susecontentfilter", common(Clm, None)),
        ("susecontentfilterproject", common(Clm, None)),
        ("susecontentenvironment", common(Clm, None)),
        ("susecontentenvironment", common(Clm, None)),
        ("susecontentenvironment", common(Clm, None)), // dev's next_env_id
        ("susecontentenvironmenttarget", common(Clm, None)),
        ("susecontentenvironment", common(Clm, None)), // the build's new version
        ("rhnregtoken", common(Ak, None)),             // the end marker
    ];
    let expected: Vec<(String, Change)> = expected
        .into_iter()
        .map(|(t, c)| (t.to_owned(), c))
        .collect();
    assert_eq!(got, expected, "events: {:?}", summary(&events));
    reader.stop().await;
}
