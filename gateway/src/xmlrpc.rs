//! `POST /rpc/api`: Uyuni's XML-RPC endpoint. Always HTTP 200 with `text/xml`, faults
//! included, as Uyuni answers; a body that is not XML-RPC gets a fault, never a panic.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tracing::Instrument as _;
use uyuni_api::Fault;
use uyuni_api::codec::{parse_call, render_fault};

use futures::StreamExt as _;

use crate::dispatch::XmlAnswer;
use crate::rawstream::{MERGED_HEAD, MERGED_TAIL};
use crate::{Gateway, Metastore, PARTIAL_HEADER, STRICT_HEADER};

/// The XML-RPC route.
pub fn routes<M: Metastore>(gw: Arc<Gateway<M>>) -> Router {
    Router::new()
        .route("/rpc/api", post(handle::<M>))
        .with_state(gw)
}

/// Whether the request asks for strict answers (or the gateway always gives them).
pub fn strict(headers: &HeaderMap, default: bool) -> bool {
    headers
        .get(STRICT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or(default, |v| matches!(v.trim(), "1" | "true" | "yes"))
}

async fn handle<M: Metastore>(
    State(gw): State<Arc<Gateway<M>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match std::str::from_utf8(&body)
        .map_err(|e| e.to_string())
        .and_then(|text| parse_call(text).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "malformed XML-RPC request");
            return xml(
                Body::from(render_fault(&Fault::xmlrpc(
                    -1,
                    format!("Malformed XML-RPC request: {e}"),
                ))),
                &[],
            );
        }
    };
    let span = tracing::info_span!("rpc", method = %call.method);
    let answer = gw
        .call_xml(
            &call.method,
            call.params,
            strict(&headers, gw.cfg.fails_on_partial()),
        )
        .instrument(span)
        .await;
    match answer {
        XmlAnswer::Doc { text, missing, .. } => xml(Body::from(text), &missing),
        XmlAnswer::Stream(s) => {
            let doc =
                futures::stream::once(async { Ok(Bytes::from_static(MERGED_HEAD.as_bytes())) })
                    .chain(s.body)
                    .chain(futures::stream::once(async {
                        Ok(Bytes::from_static(MERGED_TAIL.as_bytes()))
                    }));
            xml(Body::from_stream(doc), &s.missing)
        }
    }
}

fn xml(body: Body, missing: &[String]) -> Response {
    let mut resp = (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        body,
    )
        .into_response();
    if !missing.is_empty()
        && let Ok(v) = HeaderValue::from_str(&missing.join(","))
    {
        resp.headers_mut().insert(PARTIAL_HEADER, v);
    }
    resp
}
