//! Following the store's change feed: the pattern every in-memory view of the Metastore
//! uses (the Load Driver's [`crate::load_index::LoadIndex`], the search index). A view is
//! built by a full scan at start and again whenever the feed lagged (the broadcast channel
//! dropped events), and otherwise takes in the current value of each changed key. Store
//! reads run on blocking threads.
//!
//! ```text
//!   Store::subscribe() ──► follow() ──► Follower::apply(keys and current records)
//!                               └── at start / Lagged ──► Follower::rebuild(store)
//! ```

use std::sync::Arc;

use crdt_store::{ChangeEvent, Record, Store};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// A view kept current from the change feed. Both methods run on a blocking thread.
pub trait Follower: Send + Sync + 'static {
    /// Whether the view cares about `key` (others are not read).
    fn wants(&self, _key: &str) -> bool {
        true
    }

    /// Start over from a full scan of `store`.
    fn rebuild(&self, store: &Store);

    /// Take in changed keys with their current records (`None`: deleted).
    fn apply(&self, changes: Vec<(String, Option<Record>)>);
}

/// Run `f` on a blocking thread; `None` (logged) if it panicked.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!("blocking task failed: {e}");
            None
        }
    }
}

/// Rebuild `view` from `store` on a blocking thread.
pub async fn rebuild<F: Follower>(store: &Store, view: &Arc<F>) {
    let (store, view) = (store.clone(), view.clone());
    blocking(move || view.rebuild(&store)).await;
}

/// Feed `view` until `cancel`: a rebuild first, then every change (a rebuild after a lag).
/// `changes` must be subscribed before the first rebuild's scan, so nothing falls between.
pub async fn follow<F: Follower>(
    store: Store,
    mut changes: broadcast::Receiver<ChangeEvent>,
    view: Arc<F>,
    cancel: CancellationToken,
) {
    rebuild(&store, &view).await;
    loop {
        let ev = tokio::select! {
            () = cancel.cancelled() => return,
            ev = changes.recv() => ev,
        };
        match ev {
            Ok(ev) => {
                let keys: Vec<String> = ev.keys.into_iter().filter(|k| view.wants(k)).collect();
                if keys.is_empty() {
                    continue;
                }
                let (store, view) = (store.clone(), view.clone());
                blocking(move || {
                    let recs = keys
                        .into_iter()
                        .map(|k| {
                            let r = store.get(&k).ok().flatten();
                            (k, r)
                        })
                        .collect();
                    view.apply(recs);
                })
                .await;
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(missed = n, "change feed lagged; rebuilding");
                rebuild(&store, &view).await;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
