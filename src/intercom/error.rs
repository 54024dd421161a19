//! Errors of the Intercom client, and the pure parsing of Intercom's `error.list` bodies.
//!
//! Every variant's text is safe to show a model or a support lead: it never contains the access
//! token, a URL with credentials, or transport internals (those go to the logs only).

use std::time::Duration;

use serde::Deserialize;

use crate::ids::ContactId;

/// What went wrong talking to Intercom, in kinds a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntercomError {
    /// 401: the access token is missing, invalid, revoked or expired.
    #[error("Intercom refused the access token (401 {code})")]
    Unauthorized { code: String },
    /// 403: not allowed, including `api_plan_restricted`.
    #[error("Intercom forbade the request (403 {code}): {message}")]
    Forbidden { code: String, message: String },
    /// 404: the object (or the route) does not exist.
    #[error("not found ({code}): {message}")]
    NotFound { code: String, message: String },
    /// 410 `contact_merged`: the contact was merged into `canonical` (from the `Link` header).
    #[error("the contact was merged{}", match canonical { Some(c) => format!(" into {c}"), None => String::new() })]
    ContactMerged { canonical: Option<ContactId> },
    /// 400, 409, 422 and other 4xx: Intercom rejected the request as sent.
    #[error("Intercom rejected the request ({status} {code}): {message}")]
    Invalid {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    /// The request was refused by the client itself before sending (e.g. a search query over the
    /// documented limits).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// 429 on every attempt.
    #[error("Intercom rate limit exceeded; retries exhausted")]
    RateLimited,
    /// 5xx on every attempt (or a 5xx that must not be retried).
    #[error("Intercom server error ({status}){}", match message { Some(m) => format!(": {m}"), None => String::new() })]
    Server {
        status: u16,
        message: Option<String>,
    },
    /// The rate limiter would have to wait longer than the configured bound: reschedule the job
    /// instead of blocking a worker.
    #[error("Intercom's rate limit window is spent; retry in {}s", after.as_secs().max(1))]
    RetryLater { after: Duration },
    /// A write whose request may have reached Intercom but whose response was lost (timeout after
    /// sending, connection reset) or was a 500/502/504 (a gateway may answer after the backend
    /// committed). Never retried by the client: reconcile (re-read) first.
    #[error("the outcome of this write is unknown ({detail}); check before retrying")]
    UnknownOutcome { detail: String },
    /// Failed before the request was sent (connection refused, DNS, TLS): safe to retry.
    #[error("could not reach Intercom ({detail})")]
    Transport { detail: String },
    /// Intercom answered something this client could not understand.
    #[error("unexpected response from Intercom: {detail}")]
    Decode { detail: String },
}

impl IntercomError {
    /// Worth retrying the same call later (by the queue). `UnknownOutcome` is not: the caller
    /// must first find out whether the write happened.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited | Self::Server { .. } | Self::RetryLater { .. } => true,
            Self::Transport { .. } => true,
            Self::Unauthorized { .. }
            | Self::Forbidden { .. }
            | Self::NotFound { .. }
            | Self::ContactMerged { .. }
            | Self::Invalid { .. }
            | Self::InvalidRequest(_)
            | Self::UnknownOutcome { .. }
            | Self::Decode { .. } => false,
        }
    }

    /// A short stable label for metrics, logs and run records.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::ContactMerged { .. } => "contact_merged",
            Self::Invalid { .. } => "invalid",
            Self::InvalidRequest(_) => "invalid_request",
            Self::RateLimited => "rate_limited",
            Self::Server { .. } => "server_error",
            Self::RetryLater { .. } => "retry_later",
            Self::UnknownOutcome { .. } => "unknown_outcome",
            Self::Transport { .. } => "transport",
            Self::Decode { .. } => "decode",
        }
    }
}

/// `{type:"error.list", request_id, errors:[{code, message?, field?}]}` (`SPEC#error`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ErrorList {
    pub request_id: Option<String>,
    pub errors: Vec<ErrorItem>,
}

/// One entry of an `error.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ErrorItem {
    pub code: String,
    pub message: Option<String>,
    pub field: Option<String>,
}

impl ErrorList {
    /// Parses an error body; anything that is not an `error.list` gives an empty list.
    pub fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    fn first(&self) -> ErrorItem {
        self.errors.first().cloned().unwrap_or_default()
    }
}

/// The longest Intercom message kept in an error: enough for any documented message, short
/// enough that an HTML error page from a proxy cannot flood a model's context.
const MAX_MESSAGE_CHARS: usize = 300;

/// Maps a non-2xx answer to an error, from its status, `Link` header and body. Pure.
pub fn error_from_response(status: u16, link: Option<&str>, body: &[u8]) -> IntercomError {
    let list = ErrorList::parse(body);
    let first = list.first();
    let code = if first.code.is_empty() {
        status_code_label(status).to_owned()
    } else {
        first.code.clone()
    };
    let message: String = first
        .message
        .clone()
        .unwrap_or_default()
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    match status {
        401 => IntercomError::Unauthorized { code },
        403 => IntercomError::Forbidden { code, message },
        404 => IntercomError::NotFound { code, message },
        410 if code == "contact_merged" || link.is_some() => IntercomError::ContactMerged {
            canonical: link.and_then(canonical_contact),
        },
        429 => IntercomError::RateLimited,
        500..=599 => IntercomError::Server {
            status,
            message: (!message.is_empty()).then_some(message),
        },
        _ => IntercomError::Invalid {
            status,
            code,
            message,
            field: first.field,
        },
    }
}

fn status_code_label(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        410 => "gone",
        422 => "unprocessable_entity",
        429 => "rate_limit_exceeded",
        _ => "http_error",
    }
}

/// The canonical contact id from a 410 `contact_merged` answer's
/// `Link: </contacts/{id}>; rel="canonical"` header (absolute URLs accepted too).
pub fn canonical_contact(link: &str) -> Option<ContactId> {
    link.split(',').find_map(|entry| {
        let mut pieces = entry.split(';');
        let target = pieces.next()?.trim();
        let is_canonical = pieces.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"canonical\"" || p == "rel=canonical"
        });
        if !is_canonical {
            return None;
        }
        let uri = target.strip_prefix('<')?.strip_suffix('>')?;
        let path = uri.split(['?', '#']).next()?;
        let (_, id) = path.rsplit_once("/contacts/")?;
        let id = id.trim_end_matches('/');
        (!id.is_empty() && !id.contains('/')).then(|| ContactId::from(id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../shared/intercom/examples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_spec_404_example_is_a_not_found_with_its_code_and_message() {
        let body = example("error_list_404_not_found.spec-2.16.json");
        let err = error_from_response(404, None, &body);
        assert_eq!(
            err,
            IntercomError::NotFound {
                code: "not_found".into(),
                message: "Resource Not Found".into()
            }
        );
        assert!(!err.is_transient());
        assert_eq!(err.code(), "not_found");
    }

    #[test]
    fn the_spec_429_example_is_rate_limited_and_transient() {
        let body = example("error_429_rate_limit_exceeded.spec-2.16.json");
        let list = ErrorList::parse(&body);
        assert_eq!(list.errors[0].code, "rate_limit_exceeded");
        let err = error_from_response(429, None, &body);
        assert_eq!(err, IntercomError::RateLimited);
        assert!(err.is_transient());
    }

    #[test]
    fn status_codes_map_to_actionable_kinds() {
        let body = br#"{"type":"error.list","request_id":null,"errors":[{"code":"api_plan_restricted","message":"Active subscription needed."}]}"#;
        assert!(matches!(
            error_from_response(403, None, body),
            IntercomError::Forbidden { code, .. } if code == "api_plan_restricted"
        ));
        let body = br#"{"type":"error.list","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}"#;
        assert_eq!(
            error_from_response(401, None, body).to_string(),
            "Intercom refused the access token (401 unauthorized)"
        );
        let body = br#"{"type":"error.list","errors":[{"code":"parameter_invalid","message":"bad","field":"snoozed_until"}]}"#;
        assert!(matches!(
            error_from_response(422, None, body),
            IntercomError::Invalid { status: 422, field: Some(f), .. } if f == "snoozed_until"
        ));
        let err = error_from_response(502, None, b"<html>bad gateway</html>");
        assert_eq!(
            err,
            IntercomError::Server {
                status: 502,
                message: None
            }
        );
        assert!(err.is_transient());
    }

    #[test]
    fn a_410_contact_merged_carries_the_canonical_id_from_the_link_header() {
        let body = br#"{"type":"error.list","errors":[{"code":"contact_merged","message":"This contact has been merged."}]}"#;
        let err = error_from_response(410, Some("</contacts/abc123>; rel=\"canonical\""), body);
        assert_eq!(
            err,
            IntercomError::ContactMerged {
                canonical: Some(ContactId::from("abc123"))
            }
        );
        assert_eq!(err.code(), "contact_merged");
    }

    #[test]
    fn link_parsing_accepts_absolute_urls_and_ignores_other_relations() {
        assert_eq!(
            canonical_contact("<https://api.intercom.io/contacts/6762f0d0>;rel=canonical"),
            Some(ContactId::from("6762f0d0"))
        );
        assert_eq!(
            canonical_contact("</contacts/old>; rel=\"prev\", </contacts/new>; rel=\"canonical\""),
            Some(ContactId::from("new"))
        );
        assert_eq!(canonical_contact("</contacts/x>; rel=\"next\""), None);
        assert_eq!(canonical_contact("</companies/x>; rel=\"canonical\""), None);
        assert_eq!(canonical_contact("garbage"), None);
    }

    #[test]
    fn error_text_is_short_even_when_intercom_sends_a_long_message() {
        let long = "x".repeat(5000);
        let body =
            format!(r#"{{"type":"error.list","errors":[{{"code":"c","message":"{long}"}}]}}"#);
        let text = error_from_response(400, None, body.as_bytes()).to_string();
        assert!(text.len() < 400, "{}", text.len());
    }
}
