//! `/rhn/manager/api/<ns as path>/<method>`: Uyuni's JSON over HTTP API, answered for the
//! cluster by the same dispatcher as XML-RPC. GET for read-only methods, POST for the rest;
//! parameters by Java name from the query string and a top-level JSON object; the session in
//! the `pxt-session-cookie` cookie; `{"success":…}` envelopes. A merged answer missing some
//! nodes carries them in `"partial"` (and the `X-Uyuni-Cluster-Partial` header).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method as Verb, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value as Json, json};
use uyuni_api::Value;
use uyuni_api::json::{COOKIE, coerce_json, coerce_query, session_cookie, to_json};

use futures::StreamExt as _;

use crate::fanout::stream::{Format, Streamed};
use crate::params::{known, overload, read_only};
use crate::xmlrpc::strict;
use crate::{Gateway, Metastore, PARTIAL_HEADER};

/// The JSON API routes.
pub fn routes<M: Metastore>(gw: Arc<Gateway<M>>) -> Router {
    Router::new()
        .route("/rhn/manager/api/{*path}", any(handle::<M>))
        .with_state(gw)
}

fn envelope(status: StatusCode, body: Json) -> Response {
    (status, axum::Json(body)).into_response()
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    (status, text.into()).into_response()
}

/// A request's parameters by Java name: (query-string value, JSON body value).
pub type Named = BTreeMap<String, (Option<String>, Option<Json>)>;

/// The named parameters of a request: the query string's pairs, then the members of the body,
/// which must be blank or a JSON object (else a `400` response). Public for the fuzz target.
pub fn named_params(query: Vec<(String, String)>, body: &Bytes) -> Result<Named, Box<Response>> {
    let mut named = Named::new();
    for (k, v) in query {
        named.entry(k).or_default().0 = Some(v);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(named);
    }
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(m)) => {
            for (k, v) in m {
                named.entry(k).or_default().1 = Some(v);
            }
            Ok(named)
        }
        Ok(_) => Err(Box::new(plain(
            StatusCode::BAD_REQUEST,
            "request body must be a JSON object",
        ))),
        Err(e) => Err(Box::new(plain(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON: {e}"),
        ))),
    }
}

fn text_of(named: &Named, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        named.get(*n).and_then(|(q, j)| {
            j.as_ref()
                .and_then(|j| j.as_str().map(str::to_string))
                .or_else(|| q.clone())
        })
    })
}

async fn handle<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    verb: Verb,
    Path(path): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let method = path.trim_matches('/').replace('/', ".");
    let named = match named_params(query, &body) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    match method.as_str() {
        // POST only, as on Uyuni: a password never goes into a URL.
        "auth.login" if verb != Verb::POST => {
            return plain(
                StatusCode::BAD_REQUEST,
                "auth.login must be called with POST",
            );
        }
        "auth.login" => return login(&gw, &named).await,
        "auth.logout" => {
            if let Some(key) = session_cookie(&headers) {
                let _ = gw
                    .call("auth.logout", vec![Value::String(key)], false)
                    .await;
            }
            return envelope(StatusCode::OK, json!({"success": true}));
        }
        _ => {}
    }
    if !known(&method) {
        return plain(
            StatusCode::NOT_FOUND,
            format!("{method} is not available through the gateway's JSON API; use XML-RPC"),
        );
    }
    let names: Vec<&str> = named.keys().map(String::as_str).collect();
    let Some(params) = overload(&method, &names) else {
        let names: BTreeSet<&str> = names.into_iter().collect();
        return plain(
            StatusCode::BAD_REQUEST,
            format!("no method {method} with parameters {names:?}"),
        );
    };
    let want = if read_only(&method) {
        Verb::GET
    } else {
        Verb::POST
    };
    if verb != want {
        return plain(
            StatusCode::BAD_REQUEST,
            format!("{method} must be called with {want}"),
        );
    }
    let mut args: Vec<Value> = Vec::with_capacity(params.len() + 1);
    let sessionless = crate::table::sessionless(&method);
    if !sessionless {
        match session_cookie(&headers) {
            Some(k) => args.push(Value::String(k)),
            None => {
                return envelope(
                    StatusCode::UNAUTHORIZED,
                    json!({"success": false, "message": "Authentication required"}),
                );
            }
        }
    }
    args.extend(params.iter().map(|(n, ty)| match named.get(*n) {
        Some((_, Some(j))) => coerce_json(j, ty),
        Some((Some(q), None)) => coerce_query(q, ty),
        _ => Value::Nil,
    }));
    let strict = strict(&headers, gw.cfg.fails_on_partial());
    let out = if crate::dispatch::streamed(&method, &args) {
        match gw.call_stream(&method, args, strict, Format::Json).await {
            Ok(s) => return json_stream(s),
            Err(f) => crate::Outcome::done(Err(f)),
        }
    } else {
        gw.call(&method, args, strict).await
    };
    let mut resp = match out.result {
        Ok(v) => {
            let mut body = json!({"success": true, "result": to_json(&v)});
            if !out.missing.is_empty() {
                body["partial"] = json!(out.missing);
            }
            envelope(StatusCode::OK, body)
        }
        Err(f) if f.is_invalid_session() => envelope(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": f.message()}),
        ),
        Err(f) => envelope(
            StatusCode::OK,
            json!({"success": false, "message": f.message()}),
        ),
    };
    if !out.missing.is_empty()
        && let Ok(v) = HeaderValue::from_str(&out.missing.join(","))
    {
        resp.headers_mut().insert(PARTIAL_HEADER, v);
    }
    resp
}

/// A merged list streamed as `{"success":true,"partial":[…],"result":[…]}` (`partial` only
/// when nodes are missing; it comes first, as the list is not known yet).
fn json_stream(s: Streamed) -> Response {
    let mut head = String::from("{\"success\":true,");
    if !s.missing.is_empty() {
        head += &format!("\"partial\":{},", json!(s.missing));
    }
    head += "\"result\":[";
    let mut first = true;
    let items = s.body.map(move |piece| {
        piece.map(|b| {
            if first && !b.is_empty() {
                first = false;
                if b.first() == Some(&b',') {
                    return b.slice(1..);
                }
            }
            b
        })
    });
    let doc = futures::stream::once(async move { Ok(Bytes::from(head)) })
        .chain(items)
        .chain(futures::stream::once(async {
            Ok(Bytes::from_static(b"]}"))
        }));
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::from_stream(doc),
    )
        .into_response();
    if !s.missing.is_empty()
        && let Ok(v) = HeaderValue::from_str(&s.missing.join(","))
    {
        resp.headers_mut().insert(PARTIAL_HEADER, v);
    }
    resp
}

async fn login<M: Metastore>(gw: &Gateway<M>, named: &Named) -> Response {
    let (Some(user), Some(password)) = (
        text_of(named, &["login", "username"]),
        text_of(named, &["password"]),
    ) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "auth/login needs login (or username) and password",
        );
    };
    let out = gw
        .call(
            "auth.login",
            vec![Value::String(user), Value::String(password)],
            false,
        )
        .await;
    match out.result {
        Ok(Value::String(key)) => {
            let mut resp = envelope(StatusCode::OK, json!({"success": true}));
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict"
            )) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Ok(_) => envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"success": false, "message": "login answered without a session"}),
        ),
        Err(f) => envelope(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": f.message()}),
        ),
    }
}
