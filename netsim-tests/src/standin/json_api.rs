//! Uyuni's JSON over HTTP API (`/rhn/manager/api/<ns as path>/<method>`): GET for read-only
//! methods, POST for the rest; parameters from the query string plus a top-level JSON object,
//! matched to an overload **by Java parameter name**; session in the `pxt-session-cookie`
//! cookie; `{"success":true,"result":…}` envelopes, faults as HTTP 200 `{"success":false}`.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method as Verb, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use uyuni_api::json::{COOKIE, coerce_json, coerce_query, session_cookie, to_json};
use uyuni_api::{Fault, Value};

use super::dispatch::{METHODS, Method, beanify};
use super::handlers::auth;
use super::server::App;

fn envelope(status: StatusCode, body: Json) -> Response {
    (status, axum::Json(body)).into_response()
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    (status, text.into()).into_response()
}

/// Route handler for everything under `/rhn/manager/api/`.
pub async fn handle(
    State(engine): State<App>,
    verb: Verb,
    Path(path): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let name = beanify(&path.trim_matches('/').replace('/', "."));
    engine.count(&name);
    let body_json: Option<serde_json::Map<String, Json>> =
        if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice::<Json>(&body) {
                Ok(Json::Object(m)) => Some(m),
                Ok(_) => {
                    return plain(
                        StatusCode::BAD_REQUEST,
                        "request body must be a JSON object",
                    );
                }
                Err(e) => return plain(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")),
            }
        };
    match name.as_str() {
        "auth.login" => return login(&engine, &verb, &query, body_json.as_ref()).await,
        "auth.logout" => {
            if let Some(key) = session_cookie(&headers) {
                let _ = engine
                    .run(true, Some(&key), |ctx| auth::logout(ctx, &[]))
                    .await;
            }
            return envelope(StatusCode::OK, json!({"success": true}));
        }
        _ => {}
    }
    // Named parameters: query string, then the JSON body.
    let mut named: BTreeMap<String, (Option<String>, Option<Json>)> = BTreeMap::new();
    for (k, v) in query {
        named.entry(k).or_default().0 = Some(v);
    }
    for (k, v) in body_json.into_iter().flatten() {
        named.entry(k).or_default().1 = Some(v);
    }
    let names: BTreeSet<&str> = named.keys().map(String::as_str).collect();
    let candidates: Vec<&Method> = METHODS.iter().filter(|m| m.name == name).collect();
    let Some(method) = candidates
        .iter()
        .copied()
        .find(|m| m.params.iter().map(|(n, _)| *n).collect::<BTreeSet<_>>() == names)
    else {
        return plain(
            StatusCode::BAD_REQUEST,
            format!("no method {name} with parameters {names:?}"),
        );
    };
    let want = if method.read_only() {
        Verb::GET
    } else {
        Verb::POST
    };
    if verb != want {
        return plain(
            StatusCode::BAD_REQUEST,
            format!("{name} must be called with {want}"),
        );
    }
    let params: Vec<Value> = method
        .params
        .iter()
        .map(|(n, ty)| match named.get(*n) {
            Some((_, Some(j))) => coerce_json(j, ty),
            Some((Some(q), None)) => coerce_query(q, ty),
            _ => Value::Nil,
        })
        .collect();
    let key = if method.session {
        match session_cookie(&headers) {
            Some(k) => Some(k),
            None => {
                return envelope(
                    StatusCode::UNAUTHORIZED,
                    json!({"success": false, "message": "Authentication required"}),
                );
            }
        }
    } else {
        None
    };
    match engine.call(method, key.as_deref(), &params).await {
        Ok(v) => envelope(
            StatusCode::OK,
            json!({"success": true, "result": to_json(&v)}),
        ),
        Err(f) if f.is_invalid_session() => envelope(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": f.message()}),
        ),
        Err(f) => envelope(
            StatusCode::OK,
            json!({"success": false, "message": f.message()}),
        ),
    }
}

async fn login(
    engine: &App,
    verb: &Verb,
    query: &[(String, String)],
    body: Option<&serde_json::Map<String, Json>>,
) -> Response {
    if verb != Verb::POST {
        return plain(
            StatusCode::BAD_REQUEST,
            "auth/login must be called with POST",
        );
    }
    let field = |k: &str| {
        body.and_then(|b| b.get(k))
            .and_then(Json::as_str)
            .map(str::to_string)
            .or_else(|| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    };
    let user = field("login")
        .or_else(|| field("username"))
        .unwrap_or_default();
    let password = field("password").unwrap_or_default();
    let r = engine
        .run(true, None, |ctx| {
            if !auth::credentials_ok(ctx, &user, &password) {
                return Err(Fault::login_failed());
            }
            Ok(Value::String(auth::new_session(
                ctx,
                &user,
                auth::DEFAULT_DURATION_S,
            )))
        })
        .await;
    match r {
        Ok(Value::String(key)) => (
            StatusCode::OK,
            [(
                header::SET_COOKIE,
                format!("{COOKIE}={key}; Path=/; HttpOnly"),
            )],
            axum::Json(json!({"success": true})),
        )
            .into_response(),
        Ok(_) | Err(_) => envelope(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": Fault::login_failed().message()}),
        ),
    }
}
