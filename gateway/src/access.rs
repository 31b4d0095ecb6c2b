//! What a REST session may see and do, by the user's Uyuni roles (read at login):
//!
//! - a SUSE Manager administrator (`satellite_admin`) sees and acts on every system;
//! - an organisation administrator (`org_admin`) sees and acts on the systems Uyuni shows
//!   them (their organisation's, read with their own session: `system.getMinionIdMap` on
//!   every node), plus the systems not yet on any node (the cluster's intake, before Uyuni
//!   gives them an organisation);
//! - any other user sees only what Uyuni shows them, and acts on nothing (403).
//!
//! A bulk action whose query matches a system outside the user's scope is refused whole
//! (403), never done in part. Every bulk action, done or refused, is audited.

use std::collections::BTreeSet;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crdt_store::SystemRecord;
use uyuni_api::Value;

use crate::metastore::{AuditRecord, BulkRequest, MetastoreError, SearchPage};
use crate::pool::Credentials;
use crate::rest::error;
use crate::sessions::Session;
use crate::{Gateway, Metastore};

/// Page size of the scans behind a filtered search or a bulk action.
const SCAN_PAGE: usize = 10_000;

/// The systems a session may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every system (SUSE Manager administrator).
    All,
    /// The systems with these minion ids, and (`unplaced`) those on no node yet.
    Only {
        /// Minion ids Uyuni shows the user.
        minions: BTreeSet<String>,
        /// Whether systems on no node count too (org admins).
        unplaced: bool,
    },
}

impl Scope {
    /// Whether `s` is in the scope.
    pub fn shows(&self, s: &SystemRecord) -> bool {
        match self {
            Self::All => true,
            Self::Only { minions, unplaced } => {
                minions.contains(&s.minion_id) || (*unplaced && s.node.is_none())
            }
        }
    }
}

/// The scope of `session`: administrators' from their role, others' from what Uyuni shows
/// them on every node (nodes that do not answer show nothing: the safe side).
pub async fn scope<M: Metastore>(
    gw: &Gateway<M>,
    session: &Session,
    cred: &Credentials,
) -> Result<Scope, Response> {
    if session.roles.is_satellite_admin() {
        return Ok(Scope::All);
    }
    let out = gw
        .call(
            "system.getMinionIdMap",
            vec![Value::String(cred.key.clone())],
            false,
        )
        .await;
    let minions = match out.result {
        Ok(Value::Struct(m)) => m.into_keys().collect(),
        Ok(_) => BTreeSet::new(),
        Err(f) if f.is_invalid_session() => {
            return Err(error(StatusCode::UNAUTHORIZED, f.message()));
        }
        Err(f) => return Err(error(StatusCode::SERVICE_UNAVAILABLE, f.message())),
    };
    Ok(Scope::Only {
        minions,
        unplaced: session.roles.is_org_admin(),
    })
}

/// Every system `q` matches (all pages).
async fn all_matching<M: Metastore>(
    gw: &Gateway<M>,
    q: &str,
) -> Result<Vec<SystemRecord>, MetastoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = gw.meta.search(q, SCAN_PAGE, cursor).await?;
        out.extend(page.systems);
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
}

/// A search restricted to `scope`: the matches are scanned and filtered, then paged by
/// offset (cursor `o<offset>`).
pub async fn search_within<M: Metastore>(
    gw: &Gateway<M>,
    scope: &Scope,
    q: &str,
    limit: usize,
    cursor: Option<&str>,
) -> Result<SearchPage, MetastoreError> {
    let offset = match cursor {
        None => 0,
        Some(c) => c
            .strip_prefix('o')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| MetastoreError::BadQuery(format!("bad cursor {c:?}")))?,
    };
    let visible: Vec<SystemRecord> = all_matching(gw, q)
        .await?
        .into_iter()
        .filter(|s| scope.shows(s))
        .collect();
    let total = visible.len();
    let end = offset.saturating_add(limit).min(total);
    Ok(SearchPage {
        total: total as u64,
        systems: visible
            .into_iter()
            .skip(offset)
            .take(end.saturating_sub(offset))
            .collect(),
        next: (end < total).then(|| format!("o{end}")),
    })
}

/// How many fingerprints an audit entry names before it says "and N more".
const AUDIT_SYSTEMS: usize = 100;

fn systems_detail(req: &BulkRequest, systems: &[SystemRecord]) -> String {
    let mut names: Vec<&str> = systems
        .iter()
        .take(AUDIT_SYSTEMS)
        .map(|s| s.fingerprint.as_str())
        .collect();
    let more = systems.len().saturating_sub(AUDIT_SYSTEMS);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    names.sort_unstable();
    format!(
        "q={:?} tags={:?} systems({})=[{}]{more}",
        req.q,
        req.tags,
        systems.len(),
        names.join(",")
    )
}

/// A bulk action for `session`: refused (403) unless every system it matches is the user's
/// to act on; audited either way.
pub async fn bulk<M: Metastore>(
    gw: &Gateway<M>,
    session: &Session,
    cred: &Credentials,
    req: BulkRequest,
) -> Response {
    let matched = match all_matching(gw, &req.q).await {
        Ok(m) => m,
        Err(MetastoreError::BadQuery(e)) => return error(StatusCode::BAD_REQUEST, e),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let refusal = if !session.roles.is_admin() {
        Some(format!(
            "{} may not act on systems: that needs the org_admin or satellite_admin role",
            session.user
        ))
    } else {
        match scope(gw, session, cred).await {
            Err(r) => return r,
            Ok(scope) => {
                let outside = matched.iter().filter(|s| !scope.shows(s)).count();
                (outside > 0).then(|| {
                    format!(
                        "the query matches {outside} system(s) outside {}'s organisation; \
                         nothing was done",
                        session.user
                    )
                })
            }
        }
    };
    let detail = systems_detail(&req, &matched);
    let action = format!("bulk {}", req.action);
    let (status, answer) = match refusal {
        Some(why) => (StatusCode::FORBIDDEN, error(StatusCode::FORBIDDEN, why)),
        None => match gw.meta.bulk(req).await {
            Ok(report) => (StatusCode::OK, Json(report).into_response()),
            Err(MetastoreError::BadQuery(e)) => {
                (StatusCode::BAD_REQUEST, error(StatusCode::BAD_REQUEST, e))
            }
            Err(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            ),
        },
    };
    let entry = AuditRecord {
        at_ms: crate::dispatch::now_ms(),
        who: format!("user:{}", session.user),
        action,
        detail,
        status: status.as_u16(),
    };
    if let Err(e) = gw.meta.audit(entry) {
        tracing::error!(error = %e, "a gateway bulk action could not be audited");
        if status == StatusCode::OK {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the action was done but could not be audited: {e}"),
            );
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(minion: &str, node: Option<&str>) -> SystemRecord {
        SystemRecord::new(format!("fp-{minion}"), minion, 1).with_node(node)
    }

    #[test]
    fn scopes_follow_uyunis_visibility() {
        let minions: BTreeSet<String> = ["web1".to_string()].into();
        let plain = Scope::Only {
            minions: minions.clone(),
            unplaced: false,
        };
        let org_admin = Scope::Only {
            minions,
            unplaced: true,
        };
        let (mine, other, intake) = (
            sys("web1", Some("dc1-a")),
            sys("db1", Some("dc1-a")),
            sys("new1", None),
        );
        assert!(plain.shows(&mine) && !plain.shows(&other) && !plain.shows(&intake));
        assert!(org_admin.shows(&mine) && !org_admin.shows(&other) && org_admin.shows(&intake));
        assert!(Scope::All.shows(&other));
    }
}
