//! The search endpoints (docs/SEARCH.md):
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/search?q=&limit=&cursor=` | one page of the systems matching `q`, sorted by name |
//! | POST | `/search/bulk` | one action on **every** system `q` matches |
//! | POST | `/systems/{fingerprint}/tags` | add and remove tags of one system |
//!
//! Bulk actions go through `Store::update_systems` in chunks under the peer's write lock
//! (the same path the Load Driver uses for large rewrites); each record is checked against
//! the query again as it is read, so a system that stopped matching since the index saw it
//! is left alone.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use crdt_store::SystemRecord;
use serde::{Deserialize, Serialize};

use cluster_core::api_error::{ApiError, bad, internal};
use cluster_core::now_ms;
use load_driver::system_actions::{self, Action, check_tags};
use load_driver::systems_api::act;

use crate::{Cursor, Expr, SearchCtx, parse};

/// Page size when none is given.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page.
pub const MAX_LIMIT: usize = 10_000;
/// Systems per store batch of a bulk action (one hold of the write lock, one fsync and one
/// broadcast each): small enough that registrations waiting for the lock get in between,
/// large enough that a batch costs one fsync per thousand systems.
const BULK_CHUNK: usize = 1_000;
/// Largest page of a bulk action (`limit`).
pub const MAX_BULK_LIMIT: u64 = 10_000;

/// Query of `GET /search`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    /// The query (empty: every system).
    #[serde(default)]
    pub q: String,
    /// Page size (default 100, at most 10 000).
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

// The answers and the bulk request are the API gateway's types (its REST API serves the
// same search): `SearchPage`, `BulkRequest`, and `BulkReport` as `BulkResult`.
pub use gateway::{BulkReport as BulkResult, BulkRequest, SearchPage};

/// Body of `POST /systems/{fingerprint}/tags`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TagEdit {
    /// Tags to add.
    #[serde(default)]
    pub add: BTreeSet<String>,
    /// Tags to remove.
    #[serde(default)]
    pub remove: BTreeSet<String>,
}

/// The routes.
pub fn routes(ctx: SearchCtx) -> Router {
    Router::new()
        .route("/search", get(search))
        .route("/search/bulk", post(bulk))
        .route("/systems/{fingerprint}/tags", post(edit_tags))
        .with_state(ctx)
}

fn parse_query(q: &str) -> Result<Expr, ApiError> {
    parse(q).map_err(|e| bad(format!("bad query: {e}")))
}

fn ready(s: &SearchCtx) -> Result<(), ApiError> {
    if s.search.is_ready() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the search index is being built; retry shortly",
        ))
    }
}

async fn search(
    State(s): State<SearchCtx>,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchPage>, ApiError> {
    let Query(q) = q.map_err(|e| bad(e.body_text()))?;
    find(&s, &q.q, q.limit, q.cursor).await.map(Json)
}

/// One page of the systems matching `q` (`GET /search`, and the gateway's REST API).
pub async fn find(
    s: &SearchCtx,
    q: &str,
    limit: Option<usize>,
    cursor: Option<String>,
) -> Result<SearchPage, ApiError> {
    let expr = parse_query(q)?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be 1-{MAX_LIMIT}")));
    }
    let cursor = cursor
        .filter(|c| !c.is_empty())
        .map(|c| Cursor::decode(&c))
        .transpose()
        .map_err(|e| bad(e.to_string()))?;
    ready(s)?;
    let (state, store) = (s.search.clone(), s.replica.store().clone());
    let page = tokio::task::spawn_blocking(move || {
        let page = state.read().search(&expr, cursor.as_ref(), limit);
        // Records come from the store (the source of truth); one that stopped matching
        // since the index saw it is dropped from the page.
        let mut systems = Vec::with_capacity(page.fingerprints.len());
        for fp in &page.fingerprints {
            if let Some(rec) = store.get_system(fp)?
                && expr.matches(&rec)
            {
                systems.push(rec);
            }
        }
        Ok::<_, crdt_store::StoreError>(SearchPage {
            total: page.total as u64,
            systems,
            next: page.next.map(|c| c.encode()),
        })
    })
    .await
    .map_err(internal)??;
    Ok(page)
}

fn bulk_action(b: &BulkRequest) -> Result<Action, ApiError> {
    let tags: BTreeSet<String> = b.tags.iter().cloned().collect();
    let needs_tags = || {
        if tags.is_empty() {
            return Err(bad(format!("action {} needs tags", b.action)));
        }
        check_tags(&tags).map_err(bad)
    };
    Ok(match b.action.as_str() {
        "accept" => Action::Accept,
        "reject" => Action::Reject,
        "ban" => Action::Ban,
        "unregister" => Action::Unregister,
        "tag" => {
            needs_tags()?;
            Action::Tags {
                add: tags,
                remove: BTreeSet::new(),
            }
        }
        "untag" => {
            needs_tags()?;
            Action::Tags {
                add: BTreeSet::new(),
                remove: tags,
            }
        }
        other => {
            return Err(bad(format!(
                "unknown action {other:?} (expected tag, untag, accept, reject, ban or unregister)"
            )));
        }
    })
}

async fn bulk(
    State(s): State<SearchCtx>,
    body: Result<Json<BulkRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<BulkResult>, ApiError> {
    let Json(b) = body.map_err(|e| bad(e.body_text()))?;
    apply_bulk(&s, b).await.map(Json)
}

/// Apply a bulk action to every system matching its query (`POST /search/bulk`, and the
/// gateway's REST API).
pub async fn apply_bulk(s: &SearchCtx, b: BulkRequest) -> Result<BulkResult, ApiError> {
    if b.q.trim().is_empty() {
        return Err(bad(
            "a bulk action needs a query (\"*\" selects every system)",
        ));
    }
    let expr = Arc::new(parse_query(&b.q)?);
    let action = Arc::new(bulk_action(&b)?);
    let limit = match b.limit {
        None => None,
        Some(l) if (1..=MAX_BULK_LIMIT).contains(&l) => Some(l as usize),
        Some(_) => return Err(bad(format!("limit must be 1-{MAX_BULK_LIMIT}"))),
    };
    let after = b.after.clone().filter(|a| !a.is_empty());
    ready(s)?;
    let (state, e) = (s.search.clone(), expr.clone());
    let (fps, remaining, next) = tokio::task::spawn_blocking(move || {
        let fps = state.read().matching(&e);
        page(fps, limit, after.as_deref())
    })
    .await
    .map_err(internal)?;
    let mut out = BulkResult {
        matched: 0,
        changed: 0,
        remaining,
        next,
    };
    // An accept on the peer whose Load Driver leads the zone places the systems of its zone
    // in the same write (one write per system instead of an accept and a placement).
    let placing = match *action {
        Action::Accept => s
            .load
            .placer_for_accept(fps.len(), std::time::Instant::now()),
        _ => None,
    };
    let placing = Arc::new(std::sync::Mutex::new(placing));
    for chunk in fps.chunks(BULK_CHUNK) {
        let chunk = chunk.to_vec();
        let (store, expr, action) = (s.replica.store().clone(), expr.clone(), action.clone());
        let placing = placing.clone();
        let w = s.replica.write_lock().await;
        let res = tokio::task::spawn_blocking(move || {
            let now = now_ms();
            let mut matched = 0;
            let mut placing = placing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let r = store.update_systems(&chunk, |rec| {
                if !expr.matches(rec) {
                    return false;
                }
                matched += 1;
                match system_actions::apply(&action, rec) {
                    Ok(true) => {
                        system_actions::touch(rec, now);
                        if let Some((zone, placer)) = placing.as_mut() {
                            place_now(rec, zone, placer);
                        }
                        true
                    }
                    Ok(false) | Err(_) => false,
                }
            });
            r.map(|(frames, written)| (frames, written, matched))
        })
        .await
        .map_err(internal)?;
        drop(w);
        let (frames, written, matched) = res?;
        s.replica.broadcast(frames).await;
        out.matched += matched as u64;
        out.changed += written as u64;
    }
    if out.changed > 0 && matches!(*action, Action::Accept | Action::Unregister) {
        // New orphans: the Load Driver places them.
        s.wake_driver.notify_one();
    }
    tracing::info!(
        query = %b.q,
        action = %b.action,
        matched = out.matched,
        changed = out.changed,
        remaining = out.remaining,
        "bulk action"
    );
    Ok(out)
}

/// The matches a bulk request acts on: those whose fingerprint sorts after `after`; with a
/// `limit`, only the `limit` smallest of them, in fingerprint order, with how many matches
/// remain beyond the page and the page's last fingerprint when any do (the next `after`).
/// Without a limit every match, in the index's order, and nothing remains.
fn page(
    mut fps: Vec<String>,
    limit: Option<usize>,
    after: Option<&str>,
) -> (Vec<String>, u64, Option<String>) {
    if let Some(a) = after {
        fps.retain(|f| f.as_str() > a);
    }
    let Some(limit) = limit.filter(|l| *l > 0) else {
        return (fps, 0, None);
    };
    let remaining = fps.len().saturating_sub(limit) as u64;
    if remaining > 0 {
        // The smallest `limit` without sorting every match.
        fps.select_nth_unstable(limit - 1);
        fps.truncate(limit);
    }
    fps.sort_unstable();
    let next = (remaining > 0).then(|| fps.last().cloned()).flatten();
    (fps, remaining, next)
}

/// Place a system just accepted (an orphan now) on the placer's node, as the Load Driver
/// would: only a system of the placer's zone, not banned, with no node yet.
fn place_now(rec: &mut SystemRecord, zone: &str, placer: &mut load_driver::placement::Placer) {
    if rec.status != crdt_store::SystemStatus::Orphan
        || rec.node.is_some()
        || rec.banned
        || rec.zone.as_deref() != Some(zone)
    {
        return;
    }
    if let Some(node) = placer.place(&rec.fingerprint) {
        rec.node = Some(node.to_string());
        rec.status = crdt_store::SystemStatus::Onboarded;
    }
}

async fn edit_tags(
    State(s): State<SearchCtx>,
    Path(fp): Path<String>,
    body: Result<Json<TagEdit>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SystemRecord>, ApiError> {
    let Json(edit) = body.map_err(|e| bad(e.body_text()))?;
    check_tags(edit.add.iter().chain(&edit.remove)).map_err(bad)?;
    act(
        &s.writes,
        &fp,
        Action::Tags {
            add: edit.add,
            remove: edit.remove,
        },
    )
    .await
    .map(Json)
}

#[cfg(test)]
mod tests {
    use super::page;

    fn fps(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn without_a_limit_every_match_is_one_page() {
        let (p, remaining, next) = page(fps(&["c", "a", "b"]), None, None);
        assert_eq!((p, remaining, next), (fps(&["c", "a", "b"]), 0, None));
    }

    #[test]
    fn pages_walk_every_match_once_in_fingerprint_order() {
        let all = fps(&["e", "b", "g", "a", "d", "c", "f"]);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let (p, remaining, next) = page(all.clone(), Some(3), after.as_deref());
            pages += 1;
            seen.extend(p);
            assert_eq!(remaining, (7 - seen.len()) as u64);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, fps(&["a", "b", "c", "d", "e", "f", "g"]));
    }

    #[test]
    fn a_page_that_takes_the_rest_has_no_next() {
        let (p, remaining, next) = page(fps(&["b", "a"]), Some(2), None);
        assert_eq!((p, remaining, next), (fps(&["a", "b"]), 0, None));
        let (p, remaining, next) = page(fps(&["b", "a"]), Some(5), Some("a"));
        assert_eq!((p, remaining, next), (fps(&["b"]), 0, None));
    }
}
