//! The error every HTTP endpoint of the peer answers with: a status code and a message,
//! sent as `{"error": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An API error: status code plus message.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    /// An error with this status.
    pub fn new(code: StatusCode, msg: impl Into<String>) -> Self {
        Self(code, msg.into())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<crdt_store::StoreError> for ApiError {
    fn from(e: crdt_store::StoreError) -> Self {
        // A disk error, or a store that stopped taking writes after one: 503, with the
        // store's message (which names the failed file and the OS error).
        let code = if e.is_unavailable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self(code, e.to_string())
    }
}

/// A 400 Bad Request with this message.
pub fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// A 500 Internal Server Error with this message (a failed blocking task, for instance).
pub fn internal(msg: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, msg.to_string())
}
