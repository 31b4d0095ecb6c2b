//! Runs calls against the model: one lock for the whole call (calls are serialised, like one
//! database transaction each), a private copy of the model for calls that change state, and
//! the write-through of their SQL before the copy replaces the model.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;
use uyuni_api::{Fault, Value};

use super::dispatch::{Config, Ctx, Reply, lookup_session};
use super::state::{Arch, Model};
use super::store_pg::PgStore;

/// Channel arches of the in-memory mode (the same rows the schema seeds).
pub const ARCHES: &[(i64, &str, &str)] = &[
    (500, "channel-ia32", "IA-32"),
    (501, "channel-ia64", "IA-64"),
    (502, "channel-x86_64", "x86_64"),
    (503, "channel-aarch64", "AArch64"),
    (504, "channel-ppc64le", "PPC64LE"),
    (505, "channel-s390x", "s390x"),
    (506, "channel-amd64-deb", "AMD64 Debian"),
    (507, "channel-arm64-deb", "arm64 Debian"),
];

/// Now, Unix ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The stand-in's state and storage.
#[derive(Debug)]
pub struct Engine {
    model: Mutex<Model>,
    store: Option<PgStore>,
    cfg: Config,
    calls: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl Engine {
    /// An engine over `store` (the model is loaded from it), or in memory only.
    pub async fn new(cfg: Config, store: Option<PgStore>) -> anyhow::Result<Self> {
        let model = match &store {
            Some(s) => s.load().await?,
            None => Model {
                arches: ARCHES
                    .iter()
                    .map(|(id, label, name)| Arch {
                        id: *id,
                        label: (*label).into(),
                        name: (*name).into(),
                    })
                    .collect(),
                ..Model::default()
            },
        };
        Ok(Self {
            model: Mutex::new(model),
            store,
            cfg,
            calls: std::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// Settings.
    pub fn cfg(&self) -> &Config {
        &self.cfg
    }

    /// Count a call of `method` (the audit behind `GET /standin/calls`).
    pub fn count(&self, method: &str) {
        if let Ok(mut c) = self.calls.lock() {
            *c.entry(method.to_string()).or_default() += 1;
        }
    }

    /// Calls so far.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Run `f` as one call. With `session_key`, the session must exist (and is extended in
    /// memory). With `mutating`, `f` works on a copy whose SQL is committed before the copy
    /// becomes the model; a failed handler or a failed commit changes nothing.
    pub async fn run(
        &self,
        mutating: bool,
        session_key: Option<&str>,
        f: impl FnOnce(&mut Ctx<'_>) -> Reply,
    ) -> Reply {
        let mut guard = self.model.lock().await;
        let now = now_ms();
        let session = match session_key {
            Some(key) => {
                let s = lookup_session(&guard, key, now)?;
                // Every call extends the session (in memory only: reads stay reads).
                if let Some(live) = guard.sessions.get_mut(&s.id) {
                    live.expires = live.expires.max(now + 3_600_000);
                }
                Some(s)
            }
            None => None,
        };
        if !mutating {
            let mut ctx = Ctx {
                model: &mut guard,
                sql: Vec::new(),
                cfg: &self.cfg,
                now,
                session,
            };
            return f(&mut ctx);
        }
        let mut copy = guard.clone();
        let mut ctx = Ctx {
            model: &mut copy,
            sql: Vec::new(),
            cfg: &self.cfg,
            now,
            session,
        };
        let value = f(&mut ctx)?;
        let sql = std::mem::take(&mut ctx.sql);
        if let Some(store) = &self.store {
            store.apply(&sql).await.map_err(|e| {
                tracing::error!("{e:#}");
                Fault::internal(format!("database error: {e:#}"))
            })?;
        }
        *guard = copy;
        Ok(value)
    }

    /// Call a method from the table (`params` without the session key).
    pub async fn call(
        &self,
        method: &super::dispatch::Method,
        session_key: Option<&str>,
        params: &[Value],
    ) -> Reply {
        self.run(!method.read_only(), session_key, |ctx| {
            (method.handler)(ctx, params)
        })
        .await
    }
}
