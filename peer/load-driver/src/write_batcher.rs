//! Group commit for the API's read-modify-write operations on systems (register, accept,
//! reject, unregister, ban): requests queue on a bounded channel; one task takes whatever
//! is queued (up to [`MAX_BATCH`]), applies each in arrival order to the current record
//! (or to the one an earlier request of the same batch produced), and writes them all with
//! one store batch — one fsync instead of one per request. Each request is answered only
//! once its batch is durable.

use std::collections::HashMap;

use crdt_store::{Record, SystemRecord};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use cluster_core::Replica;

use crate::load_driver::LoadState;

/// Requests written together at most.
pub const MAX_BATCH: usize = 1024;
/// Requests waiting at most (senders wait beyond that: back-pressure).
pub const QUEUE: usize = 8192;

/// What an operation decides, given the current record (`None`: unknown system).
#[derive(Debug)]
pub enum Decision<E> {
    /// Write this record and answer with it.
    Write(SystemRecord),
    /// Answer with this record (or nothing), writing nothing.
    Keep(Option<SystemRecord>),
    /// Answer with this error, writing nothing.
    Fail(E),
}

type Op<E> = Box<dyn FnOnce(Option<SystemRecord>) -> Decision<E> + Send>;
/// What a request is answered with.
type Answer<E> = Result<Option<SystemRecord>, Failure<E>>;

struct Request<E> {
    fingerprint: String,
    op: Op<E>,
    reply: oneshot::Sender<Answer<E>>,
}

/// Why a batched write failed.
#[derive(Debug)]
pub enum Failure<E> {
    /// The operation refused.
    Refused(E),
    /// The store could not read or write the batch (`io`: an I/O error such as a full
    /// disk, or a store that stopped taking writes after one: 503).
    Store {
        /// The store's message.
        message: String,
        /// Whether it was a disk error ([`crdt_store::StoreError::is_unavailable`]).
        io: bool,
    },
    /// The batcher is gone (shutting down) or its task failed.
    Unavailable,
}

/// Handle to submit operations.
pub struct WriteBatcher<E> {
    tx: mpsc::Sender<Request<E>>,
}

impl<E> Clone for WriteBatcher<E> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<E> std::fmt::Debug for WriteBatcher<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatcher").finish_non_exhaustive()
    }
}

impl<E: Send + 'static> WriteBatcher<E> {
    /// A batcher and the receiving end for [`run`].
    pub fn new() -> (Self, BatchQueue<E>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self { tx }, BatchQueue { rx })
    }

    /// Apply `op` to the system `fingerprint` and return the record it left (once durable).
    pub async fn submit(
        &self,
        fingerprint: &str,
        op: impl FnOnce(Option<SystemRecord>) -> Decision<E> + Send + 'static,
    ) -> Result<Option<SystemRecord>, Failure<E>> {
        let (reply, rx) = oneshot::channel();
        let req = Request {
            fingerprint: fingerprint.to_string(),
            op: Box::new(op),
            reply,
        };
        self.tx.send(req).await.map_err(|_| Failure::Unavailable)?;
        rx.await.map_err(|_| Failure::Unavailable)?
    }
}

/// The receiving end of a [`WriteBatcher`].
pub struct BatchQueue<E> {
    rx: mpsc::Receiver<Request<E>>,
}

impl<E> std::fmt::Debug for BatchQueue<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchQueue").finish_non_exhaustive()
    }
}

/// The batching task: runs until `cancel` or until every sender is gone.
pub async fn run<E: Send + 'static>(
    replica: Replica,
    load: Arc<LoadState>,
    mut queue: BatchQueue<E>,
    cancel: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => return,
            r = queue.rx.recv() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let _w = replica.write_lock().await;
        let store = replica.store().clone();
        let done = tokio::task::spawn_blocking(move || apply(&store, batch)).await;
        drop(_w);
        let Ok((replies, frames, wrote_orphan)) = done else {
            // The blocking task panicked: its requests' senders were dropped with it, so
            // their callers see `Unavailable`.
            tracing::error!("write batch task failed");
            continue;
        };
        if let Some(frames) = frames {
            replica.broadcast(frames).await;
        }
        if wrote_orphan {
            load.wake.notify_one();
        }
        for (reply, answer) in replies {
            let _ = reply.send(answer);
        }
    }
}

type Reply<E> = (oneshot::Sender<Answer<E>>, Answer<E>);

/// Apply a batch against the store and write it. Returns the answers, the change chunks
/// (when something was written) and whether an orphan was written (the Load Driver's cue).
fn apply<E>(
    store: &crdt_store::Store,
    batch: Vec<Request<E>>,
) -> (Vec<Reply<E>>, Option<crdt_store::Frames>, bool) {
    if let Err(e) = store.check_writable() {
        // The store stopped taking writes after a failed write or fsync: its memory may hold
        // a change that never reached the disk, so even an answer that writes nothing ("already
        // accepted") could acknowledge it. Every request gets the error.
        let message = e.to_string();
        let replies = batch
            .into_iter()
            .map(|req| {
                let answer = Err(Failure::Store {
                    message: message.clone(),
                    io: true,
                });
                (req.reply, answer)
            })
            .collect();
        return (replies, None, false);
    }
    let mut current: HashMap<String, Option<SystemRecord>> = HashMap::new();
    let mut written: HashMap<String, SystemRecord> = HashMap::new();
    let mut answers: Vec<(usize, Answer<E>)> = Vec::new();
    let mut replies = Vec::with_capacity(batch.len());
    let mut writes_of: Vec<bool> = Vec::with_capacity(batch.len());
    for (i, req) in batch.into_iter().enumerate() {
        let now = match current.get(&req.fingerprint) {
            Some(r) => Ok(r.clone()),
            None => store.get_system(&req.fingerprint),
        };
        let answer = match now {
            Err(e) => {
                writes_of.push(false);
                Err(Failure::Store {
                    message: e.to_string(),
                    io: e.is_unavailable(),
                })
            }
            Ok(rec) => match (req.op)(rec.clone()) {
                Decision::Write(new) => {
                    current.insert(req.fingerprint.clone(), Some(new.clone()));
                    written.insert(req.fingerprint.clone(), new.clone());
                    writes_of.push(true);
                    Ok(Some(new))
                }
                Decision::Keep(r) => {
                    current.insert(req.fingerprint.clone(), rec);
                    writes_of.push(false);
                    Ok(r)
                }
                Decision::Fail(e) => {
                    current.insert(req.fingerprint.clone(), rec);
                    writes_of.push(false);
                    Err(Failure::Refused(e))
                }
            },
        };
        answers.push((i, answer));
        replies.push(req.reply);
    }
    let wrote_orphan = written
        .values()
        .any(|r| r.status == crdt_store::SystemStatus::Orphan);
    let records: Vec<Record> = written.into_values().map(Record::System).collect();
    let frames = if records.is_empty() {
        None
    } else {
        match store.put_batch(&records) {
            Ok(f) => Some(f),
            Err(e) => {
                // Nothing of the batch is acknowledged: every writer gets the error.
                let msg = e.to_string();
                let is_io = e.is_unavailable();
                for (i, a) in answers.iter_mut() {
                    if writes_of[*i] {
                        *a = Err(Failure::Store {
                            message: msg.clone(),
                            io: is_io,
                        });
                    }
                }
                None
            }
        }
    };
    let out = replies
        .into_iter()
        .zip(answers)
        .map(|(reply, (_, a))| (reply, a))
        .collect();
    (out, frames, wrote_orphan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdt_store::{Store, StoreOptions, SystemStatus};

    fn rec(fp: &str, status: SystemStatus) -> SystemRecord {
        SystemRecord::new(fp, fp, 0).with_status(status)
    }

    fn req(
        fp: &str,
        op: impl FnOnce(Option<SystemRecord>) -> Decision<&'static str> + Send + 'static,
    ) -> (
        Request<&'static str>,
        oneshot::Receiver<Answer<&'static str>>,
    ) {
        let (reply, rx) = oneshot::channel();
        (
            Request {
                fingerprint: fp.into(),
                op: Box::new(op),
                reply,
            },
            rx,
        )
    }

    #[test]
    fn a_batch_applies_in_order_sees_its_own_writes_and_is_written_once() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, _) = Store::open(
            dir.path(),
            StoreOptions {
                shard_count: 4,
                ..StoreOptions::default()
            },
        )
        .expect("open");
        let mut rx_events = store.subscribe();
        let (r1, _a1) = req("a", |cur| {
            assert!(cur.is_none());
            Decision::Write(rec("a", SystemStatus::New))
        });
        // Sees the first request's write, although nothing is in the store yet.
        let (r2, a2) = req("a", |cur| match cur {
            Some(mut r) if r.status == SystemStatus::New => {
                r.status = SystemStatus::Orphan;
                Decision::Write(r)
            }
            other => panic!("saw {other:?}"),
        });
        let (r3, a3) = req("b", |_| Decision::Fail("refused"));
        let (r4, a4) = req("c", Decision::Keep);
        let (replies, frames, orphan) = apply(&store, vec![r1, r2, r3, r4]);
        assert!(frames.is_some() && orphan);
        for (reply, answer) in replies {
            let _ = reply.send(answer);
        }
        let got = store.get_system("a").expect("get").expect("written");
        assert_eq!(got.status, SystemStatus::Orphan);
        assert!(store.get_system("b").expect("get").is_none());
        let ev = rx_events.try_recv().expect("one write");
        assert_eq!(ev.keys.len(), 1, "one record, written once");
        assert!(rx_events.try_recv().is_err(), "one batch");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        rt.block_on(async {
            assert_eq!(
                a2.await.expect("answered").expect("ok").map(|r| r.status),
                Some(SystemStatus::Orphan)
            );
            assert!(matches!(
                a3.await.expect("answered"),
                Err(Failure::Refused("refused"))
            ));
            assert!(matches!(a4.await.expect("answered"), Ok(None)));
        });
    }

    #[derive(Debug)]
    struct Nowhere;

    impl cluster_core::replica::Broadcast for Nowhere {
        fn broadcast(
            &self,
            _frames: Vec<(crdt_store::ShardId, Vec<u8>)>,
        ) -> cluster_core::replication::BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    /// A failed fsync: the write that hit it and every later one answer 503 with the store's
    /// message (what the HTTP API sends), even once the disk would work again.
    #[tokio::test]
    async fn after_a_failed_fsync_every_write_answers_503_naming_the_cause() {
        use crate::system_actions::Action;
        use crate::systems_api::act;
        use axum::http::StatusCode;
        let dir = tempfile::tempdir().expect("dir");
        let faults = crdt_store::FaultInjector::new();
        let opts = StoreOptions {
            shard_count: 4,
            faults: Some(faults.clone()),
            ..StoreOptions::default()
        };
        let (store, _) = Store::open(dir.path(), opts).expect("open");
        for fp in ["a", "b", "c"] {
            store
                .put(&Record::System(rec(fp, SystemStatus::New)))
                .expect("seed");
        }
        let replica = Replica::new(store.clone(), Arc::new(Nowhere));
        let load = Arc::new(LoadState::new(
            crate::config::LoadConfig::default(),
            std::time::Duration::ZERO,
        ));
        let (writes, queue) = WriteBatcher::<cluster_core::ApiError>::new();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(replica, load, queue, cancel.clone()));
        act(&writes, "a", Action::Accept).await.expect("accepted");
        faults.fail_fsync(true);
        let e = act(&writes, "b", Action::Accept).await.expect_err("EIO");
        assert_eq!(
            e.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            e.message()
        );
        assert!(
            e.message().contains("Input/output error"),
            "{}",
            e.message()
        );
        faults.fail_fsync(false);
        for fp in ["b", "c"] {
            let e = act(&writes, fp, Action::Accept).await.expect_err("stopped");
            assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                e.message().contains("takes no more writes") && e.message().contains("os error 5"),
                "{}",
                e.message()
            );
        }
        // A write through the replica (the Node Controller's, content's) says the same.
        let replica = Replica::new(store.clone(), Arc::new(Nowhere));
        let e: cluster_core::ApiError = replica
            .put_batch(vec![Record::System(rec("d", SystemStatus::New))])
            .await
            .expect_err("stopped")
            .into();
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.message().contains("os error 5"), "{}", e.message());
        let a = store.get_system("a").expect("reads go on").expect("a");
        assert_eq!(
            a.status,
            SystemStatus::Orphan,
            "accepted before the failure"
        );
        cancel.cancel();
        task.await.expect("batcher");
    }
}
