//! Request extractors whose rejections are Intercom's: a query string or a path segment that does
//! not parse is answered 400 `parameter_invalid` as a JSON `error.list`, like every other sandbox
//! error, never with the web framework's `text/plain` line.

use axum::{
    extract::{FromRequestParts, Path, Query},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The query parameters, deserialized into `T` (unknown parameters ignored, as Intercom does).
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| Self(q))
            .map_err(|e| ApiError::invalid(reason("query string", &e.body_text())))
    }
}

/// The path parameters, deserialized into `T` (an id, or a pair of ids).
pub struct Ids<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Ids<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| Self(p))
            .map_err(|e| ApiError::invalid(reason("path", &e.body_text())))
    }
}

/// `invalid query string: per_page: invalid digit found in string`, from axum's
/// `Failed to deserialize query string: per_page: …`.
fn reason(what: &str, text: &str) -> String {
    let detail = text.split_once(": ").map_or(text, |(_, rest)| rest);
    format!("invalid {what}: {detail}")
}
