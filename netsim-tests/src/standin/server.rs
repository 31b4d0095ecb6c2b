//! The HTTP side: `POST /rpc/api` (XML-RPC), the JSON API (`json_api`), and the stand-in's
//! test hooks under `/standin/`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use uyuni_api::codec::{parse_call, render_fault, render_response};
use uyuni_api::{Fault, Value};

use super::dispatch::{beanify, exists, find, no_method};
use super::engine::Engine;
use super::handlers::saltkey;
use super::handlers::system::{SeedSpec, Seeded};

/// Shared state of the routes.
pub type App = Arc<Engine>;

/// All routes.
pub fn router(engine: App) -> Router {
    Router::new()
        .route("/rpc/api", post(xmlrpc))
        .route("/rhn/manager/api/{*path}", any(super::json_api::handle))
        .route("/standin/health", get(|| async { "ok" }))
        .route("/standin/calls", get(calls))
        .route("/standin/minions", post(add_minion))
        .route("/standin/user", post(add_user))
        .route("/standin/seed", post(seed))
        .route("/standin/package", post(add_package))
        .route("/standin/erratum", post(add_erratum))
        .with_state(engine)
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// One XML-RPC call; always HTTP 200 `text/xml`, faults included.
async fn xmlrpc(State(engine): State<App>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let call = match parse_call(&text) {
        Ok(c) => c,
        Err(e) => {
            return xml(render_fault(&Fault::xmlrpc(
                -1,
                format!("unhandled internal exception: {e}"),
            )));
        }
    };
    let name = beanify(&call.method);
    engine.count(&name);
    let reply = xmlrpc_dispatch(&engine, &name, &call.params).await;
    xml(match reply {
        Ok(v) => {
            render_response(&v).unwrap_or_else(|e| render_fault(&Fault::internal(e.to_string())))
        }
        Err(f) => render_fault(&f),
    })
}

async fn xmlrpc_dispatch(engine: &Engine, name: &str, params: &[Value]) -> Result<Value, Fault> {
    let Some(method) = find(name, params.len()) else {
        let _ = exists(name);
        return Err(no_method(name, params));
    };
    if method.session {
        let key = match params.first() {
            Some(Value::String(k)) => k.clone(),
            Some(Value::Integer(i)) => i.to_string(),
            _ => String::new(),
        };
        engine.call(method, Some(&key), &params[1..]).await
    } else {
        engine.call(method, None, params).await
    }
}

async fn calls(State(engine): State<App>) -> Response {
    axum::Json(engine.calls()).into_response()
}

#[derive(Debug, serde::Deserialize)]
struct NewMinion {
    minion_id: String,
    #[serde(default)]
    fingerprint: String,
}

/// Test hook: a minion connected and its key waits in `minions_pre`.
async fn add_minion(State(engine): State<App>, body: Bytes) -> Response {
    let m: NewMinion = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad JSON: {e}")).into_response(),
    };
    let mut added = false;
    let r = engine
        .run(true, None, |ctx| {
            added = saltkey::add_pending(ctx, &m.minion_id, &m.fingerprint)?;
            Ok(Value::Boolean(added))
        })
        .await;
    match r {
        Ok(_) => axum::Json(serde_json::json!({ "added": added, "minion_id": m.minion_id }))
            .into_response(),
        Err(f) => (StatusCode::BAD_REQUEST, f.message().to_string()).into_response(),
    }
}

/// Test hook: a Uyuni user besides the admin (`state::User` as JSON), kept in memory.
async fn add_user(State(engine): State<App>, body: Bytes) -> Response {
    let u: super::state::User = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad JSON: {e}")).into_response(),
    };
    let login = u.login.clone();
    let r = engine
        .run(true, None, |ctx| {
            ctx.model.users.insert(u.login.clone(), u);
            Ok(Value::Boolean(true))
        })
        .await;
    match r {
        Ok(_) => axum::Json(serde_json::json!({ "login": login })).into_response(),
        Err(f) => (StatusCode::BAD_REQUEST, f.message().to_string()).into_response(),
    }
}

/// Test hook: `count` onboarded systems at once (`handlers::system::seed`), for benchmarks.
async fn seed(State(engine): State<App>, body: Bytes) -> Response {
    let spec: SeedSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad JSON: {e}")).into_response(),
    };
    let mut seeded = None;
    let r = engine
        .run(true, None, |ctx| {
            seeded = Some(super::handlers::system::seed(ctx, &spec)?);
            Ok(Value::Boolean(true))
        })
        .await;
    match (r, seeded) {
        (Ok(_), Some(s)) => axum::Json::<Seeded>(s).into_response(),
        (Err(f), _) => (StatusCode::BAD_REQUEST, f.message().to_string()).into_response(),
        (Ok(_), None) => (StatusCode::INTERNAL_SERVER_ERROR, "seed did not run").into_response(),
    }
}

/// Test hook: import a package (`handlers::packages::NewPackage` as JSON), as a reposync
/// would; answers its id.
async fn add_package(State(engine): State<App>, body: Bytes) -> Response {
    let np: super::handlers::packages::NewPackage = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad JSON: {e}")).into_response(),
    };
    let mut id = None;
    let r = engine
        .run(true, None, |ctx| {
            id = Some(super::handlers::packages::add_package(ctx, &np)?);
            Ok(Value::Boolean(true))
        })
        .await;
    created(r, id)
}

/// Test hook: import an erratum (`handlers::errata::NewErratum` as JSON); answers its id.
async fn add_erratum(State(engine): State<App>, body: Bytes) -> Response {
    let ne: super::handlers::errata::NewErratum = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad JSON: {e}")).into_response(),
    };
    let mut id = None;
    let r = engine
        .run(true, None, |ctx| {
            id = Some(super::handlers::errata::add_erratum(ctx, &ne)?);
            Ok(Value::Boolean(true))
        })
        .await;
    created(r, id)
}

fn created(r: Result<Value, Fault>, id: Option<i64>) -> Response {
    match (r, id) {
        (Ok(_), Some(id)) => axum::Json(serde_json::json!({ "id": id })).into_response(),
        (Err(f), _) => (StatusCode::BAD_REQUEST, f.message().to_string()).into_response(),
        (Ok(_), None) => (StatusCode::INTERNAL_SERVER_ERROR, "import did not run").into_response(),
    }
}
