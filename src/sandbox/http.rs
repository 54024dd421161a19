//! The gate every REST request passes before its handler: counting, rate limiting (with the
//! `X-RateLimit-*` headers on every answer), bearer auth (which app is calling), `Intercom-Version`
//! checking, and the fault switches (latency, a share of 500s, dropping the response after a write,
//! a load balancer's 502/504 after a write was applied, refusing writes with 503 after the next few).
//!
//! Never applies to the `/_sandbox/` control API.

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{APP_PACKAGE_CODE, Shared, error::ApiError, lock};

/// The app a REST request authenticated as, by its `app_package_code` (a request extension the
/// write handlers read to stamp the parts they create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App(pub String);

/// Counts, rate-limits, authenticates and applies faults, in that order.
pub async fn gate(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let decision = lock(&shared.limiter).check(shared.clock.now_ms());
    {
        let mut stats = lock(&shared.stats);
        stats.requests += 1;
        stats.peak_window_requests = stats.peak_window_requests.max(u64::from(decision.arrived));
    }
    let app = app_of(&shared, &req);
    let mut response = if !decision.allowed {
        lock(&shared.stats).throttled += 1;
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "You have exceeded the rate limit. Please try again later.",
        )
        .into_response()
    } else if let Some(app) = app {
        if let Some(bad) = bad_version(&req) {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "intercom_version_invalid",
                format!("Intercom-Version {bad:?} is not a known API version"),
            )
            .into_response()
        } else {
            req.extensions_mut().insert(app);
            with_faults(&shared, req, next).await
        }
    } else {
        ApiError::unauthorized().into_response()
    };
    let headers = response.headers_mut();
    // Intercom's `Date` is Intercom's clock, the one `X-RateLimit-Reset` is counted on: a client
    // that corrects its clock skew with `Date` must see the sandbox clock here, moved or not.
    if let Some(date) = http_date(shared.clock.now()) {
        headers.insert(header::DATE, date);
    }
    for (name, value) in [
        ("x-ratelimit-limit", i64::from(decision.limit)),
        ("x-ratelimit-remaining", i64::from(decision.remaining)),
        ("x-ratelimit-reset", decision.reset),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    response
}

/// `Sat, 28 Nov 2026 00:20:00 GMT` (RFC 9110) for Unix second `secs`.
fn http_date(secs: i64) -> Option<HeaderValue> {
    let ts = jiff::Timestamp::from_second(secs).ok()?;
    let text = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&ts)
        .ok()?;
    HeaderValue::from_str(&text).ok()
}

/// Counts requests per route template.
pub async fn count_endpoint(
    State(shared): State<Arc<Shared>>,
    path: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let key = format!("{} {}", req.method(), path.as_str());
    let down = lock(&shared.faults).unavailable.contains(&key);
    {
        let mut stats = lock(&shared.stats);
        *stats.per_endpoint.entry(key).or_default() += 1;
        if down {
            stats.injected_errors += 1;
        }
    }
    if down {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "This feature is temporarily unavailable (sandbox fault injection); nothing was applied.",
        )
        .into_response();
    }
    next.run(req).await
}

/// The app whose bearer token the request carries: the sandbox's own, or a second app registered
/// with [`super::Sandbox::add_app`]. None: not authorized.
fn app_of(shared: &Shared, req: &Request) -> Option<App> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?
        .trim();
    if token == secrecy::ExposeSecret::expose_secret(&shared.access_token) {
        return Some(App(APP_PACKAGE_CODE.to_owned()));
    }
    lock(&shared.apps).get(token).cloned().map(App)
}

/// The `Intercom-Version` value when it names no known version (absent is fine: the app's version).
fn bad_version(req: &Request) -> Option<String> {
    let value = req.headers().get("intercom-version")?;
    let v = value.to_str().unwrap_or_default().trim();
    let known = match v.split_once('.') {
        Some(("1", minor)) => minor.parse::<u8>().is_ok_and(|m| m <= 4),
        Some(("2", minor)) => minor.parse::<u8>().is_ok_and(|m| m <= 16),
        _ => v == "Preview" || v == "Unstable",
    };
    (!known).then(|| v.to_owned())
}

async fn with_faults(shared: &Shared, req: Request, next: Next) -> Response {
    let faults = lock(&shared.faults).clone();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let is_write = req.method() != Method::GET && !req.uri().path().ends_with("/search");
    let refuse_write = is_write && {
        let mut f = lock(&shared.faults);
        match f.fail_writes_after.as_mut() {
            Some(0) => true,
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        }
    };
    if refuse_write {
        lock(&shared.stats).injected_errors += 1;
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Service temporarily unavailable (sandbox fault injection); nothing was applied.",
        )
        .into_response();
    }
    if faults.error_share > 0.0 && fastrand::f64() < faults.error_share {
        lock(&shared.stats).injected_errors += 1;
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Request failed due to an internal error (sandbox fault injection).",
        )
        .into_response();
    }
    let drop_response = is_write && take_one(&mut lock(&shared.faults).drop_after_write);
    let response = next.run(req).await;
    if drop_response {
        lock(&shared.stats).dropped_responses += 1;
        return dropped(response);
    }
    if is_write
        && response.status().is_success()
        && take_one(&mut lock(&shared.faults).error_after_write)
    {
        lock(&shared.stats).errors_after_write += 1;
        return gateway_error(faults.error_after_write_status);
    }
    response
}

/// Counts a fault switch down; whether it fired.
fn take_one(remaining: &mut u32) -> bool {
    let fire = *remaining > 0;
    if fire {
        *remaining -= 1;
    }
    fire
}

/// The write happened; a body that fails at once makes hyper abort the connection, so the client
/// sees a lost response.
fn dropped(response: Response) -> Response {
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other(
            "sandbox fault: response dropped after the write",
        ))
    });
    Response::from_parts(parts, Body::from_stream(failing))
}

/// What a load balancer in front of Intercom answers when the backend was slow or went away after
/// committing: an HTML page, not an Intercom `error.list`. `status` 0 means 502.
fn gateway_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(StatusCode::is_server_error)
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let reason = status.canonical_reason().unwrap_or("Server Error");
    let code = status.as_u16();
    let page = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
        page,
    )
        .into_response()
}
