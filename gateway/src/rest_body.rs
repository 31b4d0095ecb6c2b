//! The REST API's JSON request bodies: axum's `Json` extractor answers a body it cannot take
//! (not JSON, a missing field, the wrong content type) with plain text; [`JsonBody`] answers
//! the same status with the REST API's JSON error body (`{"error": "..."}`,
//! [`crate::rest::ErrorBody`]), as every other error of the API.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::response::Response;

/// A JSON request body of type `T`; a body that is not one answers the rejection's status
/// (400, 415, 422) with `{"error": <why>}`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(r) => Err(crate::rest::error(r.status(), r.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{StatusCode, header};

    #[derive(Debug, serde::Deserialize)]
    struct Req {
        #[allow(dead_code)]
        node: String,
    }

    async fn answer(content_type: Option<&str>, body: &str) -> (StatusCode, String, String) {
        let mut b = Request::builder()
            .method("POST")
            .uri("/api/v1/content/verify");
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        let req = b.body(Body::from(body.to_string())).expect("request");
        let Err(resp) = JsonBody::<Req>::from_request(req, &()).await else {
            panic!("{body:?} was taken")
        };
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, ct, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[test]
    fn a_body_that_is_not_taken_answers_the_rest_apis_json_error() {
        futures::executor::block_on(async {
            for (ct, body, status) in [
                (
                    Some("application/json"),
                    "{not json",
                    StatusCode::BAD_REQUEST,
                ),
                (
                    Some("application/json"),
                    r#"{"repair": true}"#,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                (None, r#"{"node": "a"}"#, StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ] {
                let (got, ct_out, text) = answer(ct, body).await;
                assert_eq!(got, status, "{body}: {text}");
                assert_eq!(ct_out, "application/json", "{body}");
                let json: serde_json::Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert!(
                    json["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{json}"
                );
            }
        });
        let req = Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"node": "a"}"#))
            .expect("request");
        let got = futures::executor::block_on(JsonBody::<Req>::from_request(req, &()));
        assert!(got.is_ok());
    }
}
