//! Sending one call: reserve a rate-limit slot (waiting for the window's reset if it is spent),
//! send, fold the answer's `X-RateLimit-*` headers into the shared limiter, and retry what is
//! safe to retry. The decisions are pure functions ([`retryable_status`], [`after_send_failure`])
//! tested on their own; this file only strings them together with the clock and the network.
//!
//! Retry rules: a 429 waits for `X-RateLimit-Reset` (+ jitter) and retries; a 5xx backs off
//! exponentially and retries a read. A write answered 503 is retried too (Intercom itself refused
//! it, nothing was applied), but a write answered 500, 502 or 504 is an
//! [`IntercomError::UnknownOutcome`]: a load balancer answers 502/504 when the backend went quiet,
//! possibly after committing, so the caller must look before sending again. A failure before the
//! request left (connect, DNS, TLS) retries; a failure after it left (timeout, reset) retries a
//! read but turns a write into [`IntercomError::UnknownOutcome`]. Attempts are bounded; a wait
//! longer than `max_wait` returns [`IntercomError::RetryLater`] instead of sleeping.

use std::time::SystemTime;

use reqwest::{
    Method,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, LINK},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    API_VERSION, IntercomClient, IntercomError, Shared,
    error::error_from_response,
    ratelimit::{Decision, RateHeaders, backoff, with_jitter},
};

/// Whether a call only reads or may change something in Intercom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Read,
    Write,
}

impl CallKind {
    fn label(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// What to do after a request failed without an HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Nothing reached Intercom, or re-doing it is harmless: retry (within the attempt budget).
    Retry,
    /// A write may have been applied: stop and report [`IntercomError::UnknownOutcome`].
    Unknown,
}

/// A failure before the request was sent is always retryable; after it was sent, only a read is.
pub fn after_send_failure(sent: bool, kind: CallKind) -> FailureAction {
    match (sent, kind) {
        (false, _) | (true, CallKind::Read) => FailureAction::Retry,
        (true, CallKind::Write) => FailureAction::Unknown,
    }
}

/// Whether an HTTP status may be retried. 429 always (nothing was done); 503 unless
/// `server_retries` is off (Intercom refused the request itself); any other 5xx only for reads
/// (for a write, see `write_outcome_unknown`); 4xx never.
pub fn retryable_status(status: u16, kind: CallKind, server_retries: bool) -> bool {
    match status {
        429 => true,
        503 => server_retries,
        500..=599 => server_retries && kind == CallKind::Read,
        _ => false,
    }
}

/// Whether a write answered `status` may have been applied all the same: 500 (the backend failed
/// part way), 502 and 504 (a gateway gave up waiting on a backend that may have committed).
pub fn write_outcome_unknown(status: u16, kind: CallKind) -> bool {
    kind == CallKind::Write && matches!(status, 500 | 502 | 504)
}

/// One request to make.
#[derive(Debug, Clone)]
pub(super) struct Call {
    pub method: Method,
    /// Starts with `/`; ids in it already checked by [`segment`].
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    pub kind: CallKind,
    /// Retry 500/502/503/504 (off for the company scroll, which must restart instead).
    pub server_retries: bool,
}

impl Call {
    pub fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
            kind: CallKind::Read,
            server_retries: true,
        }
    }

    /// A call with a JSON body. `kind` says whether it writes (a search is a POST that reads).
    pub fn with_body<B: Serialize>(
        method: Method,
        path: String,
        kind: CallKind,
        body: &B,
    ) -> Result<Self, IntercomError> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| IntercomError::InvalidRequest(e.to_string()))?;
        Ok(Self {
            method,
            path,
            query: Vec::new(),
            body: Some(bytes),
            kind,
            server_retries: true,
        })
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }
}

/// An id checked to be safe inside a URL path (letters, digits, `_`, `-`), so an id chosen by a
/// model cannot reach another route.
pub(super) fn segment(what: &str, id: &str) -> Result<String, IntercomError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(IntercomError::InvalidRequest(format!(
            "{what} {id:?} is not a valid Intercom id"
        )))
    }
}

/// A short, safe description of a transport failure (the full error goes to the logs).
fn transport_detail(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() {
        "connection lost while transferring the body"
    } else {
        "request failed"
    }
}

impl IntercomClient {
    pub(super) fn with_shared<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> R {
        match self.inner.shared.lock() {
            Ok(mut shared) => f(&mut shared),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Builds the HTTP request of a call, with every header the API wants. No I/O.
    pub(super) fn build_request(&self, call: &Call) -> Result<reqwest::Request, IntercomError> {
        let url = format!("{}{}", self.inner.base_url, call.path);
        let mut builder = self
            .inner
            .http
            .request(call.method.clone(), url)
            .header(AUTHORIZATION, self.inner.auth.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("Intercom-Version", HeaderValue::from_static(API_VERSION));
        if !call.query.is_empty() {
            builder = builder.query(&call.query);
        }
        if let Some(body) = &call.body {
            builder = builder.body(body.clone());
        }
        builder.build().map_err(|_| {
            IntercomError::InvalidRequest(format!("cannot build a request for {}", call.path))
        })
    }

    /// Waits until the limiter lets a request go, or returns `RetryLater` if waiting in total
    /// would take longer than `max_wait`. Under contention a woken caller may find the new window
    /// already spent by the others and wait again; the bound is on the total, not on rounds.
    pub(super) async fn acquire(&self) -> Result<(), IntercomError> {
        let started = tokio::time::Instant::now();
        loop {
            let leave = self.leave_percent;
            let decision =
                self.with_shared(|s| s.limiter.before_send_leaving(SystemTime::now(), leave));
            let wait = match decision {
                Decision::Go => return Ok(()),
                Decision::Wait(wait) => wait,
            };
            if started.elapsed() + wait > self.inner.max_wait {
                metrics::counter!("triaged_intercom_retry_later_total").increment(1);
                return Err(IntercomError::RetryLater { after: wait });
            }
            let wait = with_jitter(wait, fastrand::f64());
            self.with_shared(|s| {
                s.stats.waits += 1;
                s.stats.total_wait += wait;
            });
            metrics::counter!("triaged_intercom_rate_limit_waits_total").increment(1);
            metrics::counter!("triaged_intercom_rate_limit_wait_ms_total")
                .increment(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
            tracing::debug!(?wait, "waiting for Intercom's rate-limit window to reset");
            tokio::time::sleep(wait).await;
        }
    }

    async fn pause_before_retry(&self, retry: u32) {
        self.with_shared(|s| s.stats.retries += 1);
        metrics::counter!("triaged_intercom_retries_total").increment(1);
        tokio::time::sleep(backoff(retry, fastrand::f64())).await;
    }

    /// Sends a call and decodes its 2xx answer into `T`.
    pub(super) async fn execute<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<T, IntercomError> {
        let body = self.execute_raw(&call).await?;
        serde_json::from_slice(&body).map_err(|e| {
            tracing::warn!(error = %e, path = %call.path, "could not decode Intercom's answer");
            IntercomError::Decode {
                detail: format!(
                    "{} (line {}, column {})",
                    e.classify_label(),
                    e.line(),
                    e.column()
                ),
            }
        })
    }

    /// Sends a call with retries; returns the body of a 2xx answer.
    pub(super) async fn execute_raw(&self, call: &Call) -> Result<Vec<u8>, IntercomError> {
        let result = self.execute_inner(call).await;
        if let Err(e) = &result {
            metrics::counter!("triaged_intercom_errors_total", "code" => e.code()).increment(1);
        }
        result
    }

    async fn execute_inner(&self, call: &Call) -> Result<Vec<u8>, IntercomError> {
        let max_attempts = self.inner.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= max_attempts;
            self.acquire().await?;
            let request = self.build_request(call)?;
            self.with_shared(|s| s.stats.requests += 1);
            super::Tally::count(&call.method, &call.path);
            metrics::counter!("triaged_intercom_requests_total", "kind" => call.kind.label())
                .increment(1);
            let response = match self.inner.http.execute(request).await {
                Ok(response) => response,
                Err(e) => {
                    let sent = !e.is_connect();
                    if !sent {
                        self.with_shared(|s| s.limiter.release());
                    }
                    let detail = transport_detail(&e);
                    tracing::warn!(error = %e, attempt, path = %call.path, "Intercom request failed");
                    match after_send_failure(sent, call.kind) {
                        FailureAction::Unknown => {
                            return Err(IntercomError::UnknownOutcome {
                                detail: detail.to_owned(),
                            });
                        }
                        FailureAction::Retry if !last => {
                            self.pause_before_retry(attempt).await;
                            continue;
                        }
                        FailureAction::Retry => {
                            return Err(IntercomError::Transport {
                                detail: detail.to_owned(),
                            });
                        }
                    }
                }
            };
            let status = response.status().as_u16();
            let rate = RateHeaders::from_headers(response.headers());
            let link = response
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let now = SystemTime::now();
            if status == 429 {
                self.with_shared(|s| {
                    s.limiter.on_rate_limited(now, rate);
                    s.stats.rate_limited += 1;
                });
                metrics::counter!("triaged_intercom_rate_limited_total").increment(1);
            } else {
                self.with_shared(|s| s.limiter.on_response(now, rate));
            }
            let body = match response.bytes().await {
                Ok(body) => body.to_vec(),
                // A refusal is classified from its status alone.
                Err(_) if !(200..300).contains(&status) => Vec::new(),
                Err(e) => {
                    tracing::warn!(error = %e, status, path = %call.path, "lost Intercom's answer");
                    let detail = transport_detail(&e).to_owned();
                    match after_send_failure(true, call.kind) {
                        FailureAction::Unknown => {
                            return Err(IntercomError::UnknownOutcome { detail });
                        }
                        FailureAction::Retry if !last => {
                            self.pause_before_retry(attempt).await;
                            continue;
                        }
                        FailureAction::Retry => return Err(IntercomError::Transport { detail }),
                    }
                }
            };
            if (200..300).contains(&status) {
                return Ok(body);
            }
            if write_outcome_unknown(status, call.kind) {
                tracing::warn!(status, path = %call.path, "a write was answered {status}: it may have been applied");
                return Err(IntercomError::UnknownOutcome {
                    detail: format!("answered {status}, so the write may have been applied"),
                });
            }
            if retryable_status(status, call.kind, call.server_retries) && !last {
                tracing::info!(status, attempt, path = %call.path, "retrying Intercom request");
                if status == 429 {
                    // The next `acquire` waits for the window's reset (or returns RetryLater).
                    self.with_shared(|s| s.stats.retries += 1);
                    metrics::counter!("triaged_intercom_retries_total").increment(1);
                } else {
                    self.pause_before_retry(attempt).await;
                }
                continue;
            }
            let error = error_from_response(status, link.as_deref(), &body);
            let request_id = super::error::ErrorList::parse(&body).request_id;
            tracing::info!(status, code = error.code(), request_id, path = %call.path, "Intercom refused a request");
            return Err(error);
        }
    }
}

trait ClassifyLabel {
    fn classify_label(&self) -> &'static str;
}

impl ClassifyLabel for serde_json::Error {
    fn classify_label(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "JSON of an unexpected shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_left_is_never_retried_blindly_but_a_read_is() {
        assert_eq!(
            after_send_failure(true, CallKind::Write),
            FailureAction::Unknown
        );
        assert_eq!(
            after_send_failure(true, CallKind::Read),
            FailureAction::Retry
        );
        assert_eq!(
            after_send_failure(false, CallKind::Write),
            FailureAction::Retry
        );
    }

    #[test]
    fn writes_retry_429_and_503_only_and_a_500_502_or_504_write_may_have_landed() {
        for status in [429, 503] {
            assert!(retryable_status(status, CallKind::Write, true), "{status}");
        }
        for status in [500, 501, 502, 504] {
            assert!(!retryable_status(status, CallKind::Write, true), "{status}");
        }
        for status in [500, 502, 503, 504, 507] {
            assert!(retryable_status(status, CallKind::Read, true), "{status}");
        }
        for status in [500, 502, 504] {
            assert!(write_outcome_unknown(status, CallKind::Write), "{status}");
            assert!(!write_outcome_unknown(status, CallKind::Read), "{status}");
        }
        for status in [200, 400, 404, 429, 501, 503] {
            assert!(!write_outcome_unknown(status, CallKind::Write), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 410, 422] {
            assert!(!retryable_status(status, CallKind::Read, true), "{status}");
        }
        assert!(!retryable_status(500, CallKind::Read, false));
        assert!(retryable_status(429, CallKind::Read, false));
    }

    #[test]
    fn path_ids_cannot_escape_their_segment() {
        assert!(segment("conversation", "123").is_ok());
        assert!(segment("contact", "6762f0d01bb69f9f2193bb7d").is_ok());
        assert!(segment("conversation", "last").is_ok());
        for bad in ["", "1/../admins", "1?x=2", "a b", "%2e%2e"] {
            assert!(segment("conversation", bad).is_err(), "{bad}");
        }
    }
}
