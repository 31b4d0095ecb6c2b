//! Sending news of holdings ([`crate::news`]) to the nodes that asked about a version
//! recently, each on the connection it asked on (a unidirectional stream per piece of news;
//! the asker's fetcher reads them, [`crate::Fetcher`]). Whom to tell is decided by
//! [`Watchers`]; this is the I/O around it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::Ordering::Relaxed},
    time::Instant,
};

use iroh::{EndpointId, endpoint::Connection};
use iroh_blobs::Hash;

use crate::{
    endpoint::ServeStats,
    have::{HaveTable, known},
    news::{self, WatchOptions, Watchers},
};

#[derive(Debug)]
struct State {
    watchers: Watchers,
    /// The latest holdings connection of each asker.
    conns: HashMap<EndpointId, Connection>,
}

/// Tells recent askers what this node holds when that changes.
#[derive(Debug, Clone)]
pub(crate) struct Announcer {
    state: Arc<Mutex<State>>,
    have: HaveTable,
    stats: Arc<ServeStats>,
}

impl Announcer {
    pub(crate) fn new(have: HaveTable, stats: Arc<ServeStats>, opts: WatchOptions) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                watchers: Watchers::new(opts),
                conns: HashMap::new(),
            })),
            have,
            stats,
        }
    }

    /// The holdings table the news is about.
    pub(crate) fn have(&self) -> &HaveTable {
        &self.have
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The asker on `conn` asked about `manifest` (and got an answer).
    pub(crate) fn asked(&self, manifest: Hash, conn: &Connection, now: Instant) {
        let mut s = self.state();
        let who = conn.remote_id();
        s.watchers.asked(manifest, who, now);
        s.conns.insert(who, conn.clone());
    }

    /// `conn` closed: its asker is told nothing more until it asks again.
    pub(crate) fn closed(&self, conn: &Connection) {
        let mut s = self.state();
        let who = conn.remote_id();
        if s.conns
            .get(&who)
            .is_some_and(|c| c.stable_id() == conn.stable_id())
        {
            s.conns.remove(&who);
            s.watchers.forget(&who);
        }
    }

    /// What this node holds of `manifest` changed: tell those who asked recently.
    pub(crate) fn announce(&self, manifest: Hash) {
        let now = Instant::now();
        let targets: Vec<(EndpointId, Connection)> = {
            let mut s = self.state();
            s.watchers.prune(now);
            let ids = s.watchers.targets(&manifest, now);
            ids.into_iter()
                .filter_map(|id| s.conns.get(&id).map(|c| (id, c.clone())))
                .collect()
        };
        for (id, conn) in targets {
            let Some((bits, hints)) = self.have.answer(&manifest, Some(id), now) else {
                continue;
            };
            let msg = news::encode(&manifest, &known(&bits, &hints));
            self.stats.news_sent.fetch_add(1, Relaxed);
            tokio::spawn(async move {
                match conn.open_uni().await {
                    Ok(mut s) => {
                        if s.write_all(&msg).await.is_ok() {
                            s.finish().ok();
                        }
                    }
                    Err(e) => tracing::debug!(to = %id.fmt_short(), "news not sent: {e}"),
                }
            });
        }
    }

    /// What this node answers about blob `file` changed (super-seeding handed it out): tell
    /// the askers of every version listing it.
    pub(crate) fn announce_file(&self, file: &Hash) {
        for m in self.have.manifests_of(file) {
            self.announce(m);
        }
    }
}
