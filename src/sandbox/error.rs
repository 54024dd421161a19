//! Intercom-shaped errors: `{type:"error.list", request_id, errors:[{code, message}]}` with the
//! matching HTTP status. Every error the sandbox answers goes through [`ApiError`]; internal
//! details never leak into a body.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// One error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `parameter_invalid`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "parameter_invalid", message)
    }

    /// 400 `parameter_not_found` (a required parameter is missing).
    pub fn missing(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "parameter_not_found",
            format!("{name} not specified"),
        )
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 401 `unauthorized` "Access Token Invalid".
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Access Token Invalid",
        )
    }
}

/// A random UUID-shaped string (request ids, notification ids).
pub fn uuid_like() -> String {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect()
    };
    format!("{}-{}-4{}-{}-{}", hex(8), hex(4), hex(3), hex(4), hex(12))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "error.list",
            "request_id": uuid_like(),
            "errors": [{"code": self.code, "message": self.message}],
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// Parses a JSON body, answering 400 `parameter_invalid` with serde's message when it does not fit.
pub fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid("a JSON body is required"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))
}
