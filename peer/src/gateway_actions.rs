//! Cluster action ids across the cluster's gateways: a scheduling call over systems of several
//! nodes answers one cluster action id (`gateway::cluster_actions`), given and kept by one
//! gateway; a client may follow it up through any other (every peer can embed a gateway, and
//! tools behind a load balancer reach any), so a gateway that does not know an id asks the
//! others.
//!
//! - `GET /gateway/actions` answers this peer's gateway's tag (`{"tag": n}` or `null`: the
//!   residue class of its cluster action numbers), so a new gateway picks a free one.
//! - `GET /gateway/actions/{id}` answers the node actions (their gateway ids) of cluster action
//!   `id` if this peer's gateway gave it (`{"id": …, "members": […]}`), 404 otherwise.
//!
//! Behind the admin door, peer certificates only (as the sessions route). Nothing secret
//! travels: action ids of the nodes' Uyuni servers.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cluster_core::ApiError;
use cluster_core::serve::ConnInfo;
use gateway::cluster_actions::ClusterActions;
use serde::{Deserialize, Serialize};

/// The route's state: this peer's gateway's cluster actions, if it runs a gateway.
#[derive(Debug, Clone, Default)]
pub struct Actions(pub Option<Arc<ClusterActions>>);

/// A cluster action as the gateway that gave it answers.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActionAnswer {
    /// The cluster action id.
    pub id: i64,
    /// Its node actions' gateway ids.
    pub members: Vec<i64>,
}

/// A gateway's tag.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TagAnswer {
    /// The residue class of its cluster action numbers (`None`: not chosen yet).
    pub tag: Option<u32>,
}

fn table(a: &Actions) -> Result<&ClusterActions, ApiError> {
    a.0.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "this peer runs no gateway ([gateway] listen)",
        )
    })
}

async fn tag(State(a): State<Actions>, req: Request) -> Result<Json<TagAnswer>, ApiError> {
    crate::gateway_sessions::check_caller(req.extensions().get::<ConnInfo>())?;
    Ok(Json(TagAnswer {
        tag: table(&a)?.tag(),
    }))
}

async fn read(
    State(a): State<Actions>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<ActionAnswer>, ApiError> {
    crate::gateway_sessions::check_caller(req.extensions().get::<ConnInfo>())?;
    // Parsed here rather than by the extractor, so that a bad id gets the API's JSON error.
    let id: i64 = id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("not a cluster action id: {id:?}"),
        )
    })?;
    table(&a)?
        .own_members(id)
        .map(|members| Json(ActionAnswer { id, members }))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such cluster action given here"))
}

/// `GET /gateway/actions` and `GET /gateway/actions/{id}` (behind the admin door).
pub fn routes(a: Actions) -> Router {
    Router::new()
        .route("/gateway/actions", get(tag))
        .route("/gateway/actions/{id}", get(read))
        .with_state(a)
}

/// The one answer among the other gateways' `answers` to `GET /gateway/actions/{id}` (the
/// JSON bodies of their 200s): the node actions of `id`, or `None` when none answered for it or
/// two answered differently (which the tags prevent; logged).
pub fn one_answer(id: i64, answers: &[String]) -> Option<Vec<i64>> {
    let mut found: Vec<Vec<i64>> = answers
        .iter()
        .filter_map(|b| serde_json::from_str::<ActionAnswer>(b).ok())
        .filter(|a| a.id == id && !a.members.is_empty())
        .map(|a| a.members)
        .collect();
    found.dedup();
    match found.len() {
        0 => None,
        1 => found.pop(),
        _ => {
            tracing::error!(id, ?found, "two gateways answer for one cluster action id");
            None
        }
    }
}

/// The tags in the other gateways' answers to `GET /gateway/actions`.
pub fn tags(answers: &[String]) -> Vec<u32> {
    answers
        .iter()
        .filter_map(|b| serde_json::from_str::<TagAnswer>(b).ok())
        .filter_map(|t| t.tag)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_core::tls::{ClientIdentity, Role};

    fn request(client: Option<Role>) -> Request {
        let mut req = Request::new(axum::body::Body::empty());
        req.extensions_mut().insert(ConnInfo {
            remote: "127.0.0.1:1".parse().expect("addr"),
            tls: true,
            client: client.map(|role| ClientIdentity {
                name: "caller".into(),
                role,
            }),
        });
        req
    }

    #[test]
    fn a_gateway_asks_by_number_and_anything_else_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let table = Arc::new(ClusterActions::in_memory());
        let id = table.record(vec![1024, 2049]);
        let actions = Actions(Some(table));
        let ask = |path: &str, client| {
            rt.block_on(read(
                State(actions.clone()),
                Path(path.to_string()),
                request(client),
            ))
        };
        let Ok(Json(got)) = ask(&id.to_string(), Some(Role::Peer)) else {
            panic!("a peer is answered")
        };
        assert_eq!(got.members, vec![1024, 2049]);
        for (path, client, status) in [
            ("abc", Some(Role::Peer), StatusCode::BAD_REQUEST),
            (
                "99999999999999999999",
                Some(Role::Peer),
                StatusCode::BAD_REQUEST,
            ),
            ("3071", Some(Role::Peer), StatusCode::NOT_FOUND),
            (
                id.to_string().as_str(),
                Some(Role::Operator),
                StatusCode::FORBIDDEN,
            ),
            (id.to_string().as_str(), None, StatusCode::UNAUTHORIZED),
        ] {
            let got = ask(path, client).map(|_| ()).map_err(|e| e.status());
            assert_eq!(got, Err(status), "{path} by {client:?}");
        }
    }

    #[test]
    fn one_gateway_answers_for_an_id() {
        let a = r#"{"id": 2047, "members": [1024, 2049]}"#.to_string();
        assert_eq!(
            one_answer(2047, std::slice::from_ref(&a)),
            Some(vec![1024, 2049])
        );
        assert_eq!(
            one_answer(3071, std::slice::from_ref(&a)),
            None,
            "another id"
        );
        assert_eq!(one_answer(2047, &[]), None);
        let b = r#"{"id": 2047, "members": [7]}"#.to_string();
        assert_eq!(one_answer(2047, &[a.clone(), b]), None, "ambiguous");
        assert_eq!(one_answer(2047, &[a.clone(), a]), Some(vec![1024, 2049]));
        assert_eq!(
            tags(&[
                r#"{"tag": 3}"#.into(),
                r#"{"tag": null}"#.into(),
                "x".into()
            ]),
            vec![3]
        );
    }
}
