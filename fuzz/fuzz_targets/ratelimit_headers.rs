//! Rate-limit headers as Intercom (or anything in between) sends them: parsing never panics, and
//! the limiter fed with them never panics either.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use triaged::intercom::ratelimit::{self, RateHeaders};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    let names = ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "date", "retry-after"];
    for (name, line) in names.iter().zip(text.lines()) {
        if let Ok(value) = HeaderValue::from_str(line) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let _ = ratelimit::parse_http_date(text);
    let parsed = RateHeaders::from_headers(&headers);
    let mut limiter = ratelimit::RateLimiter::new();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_000_000);
    let _ = limiter.before_send(now);
    limiter.on_response(now, parsed.clone());
    let _ = limiter.before_send(now);
    limiter.on_rate_limited(now, parsed);
    let _ = limiter.before_send_leaving(now, 20);
});
