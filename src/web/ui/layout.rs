//! The page shell (header, navigation, sign-out), small formatting helpers and the HTTP headers
//! every console response carries. Everything is rendered with maud, which escapes every value
//! (customer text, model output, file names) unless explicitly marked as pre-escaped; nothing here
//! marks anything from Intercom or the model that way.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use maud::{DOCTYPE, Markup, html};

use super::auth::Viewer;

/// The sections, in navigation order: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/ui", "Overview"),
    ("/ui/runs", "Runs"),
    ("/ui/events", "Events"),
    ("/ui/playbooks", "Playbooks"),
    ("/ui/tokens", "Tokens & MCP"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · triaged" }
            link rel="stylesheet" href="/ui/assets/console.css";
        }
    }
}

/// A full page for a signed-in viewer; `here` is the current section's path.
pub fn page(viewer: &Viewer, here: &str, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header {
                    a.brand href="/ui" { "triaged" }
                    nav {
                        @for (path, label) in NAV {
                            a class=@if *path == here { "here" } href=(path) { (label) } " "
                        }
                    }
                    span.who {
                        (viewer.subject) " "
                        form method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

/// A page outside the signed-in shell (login, errors).
pub fn bare(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { main { (body) } }
        }
    };
    html_response(status, markup)
}

/// `markup` as an HTML response with the console's security headers.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers);
    response
}

/// Headers on every console response: no scripts at all, no framing, no caching of pages that
/// show customer data, no referrer leaking run ids to other sites.
pub fn secure(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A coloured outcome label.
pub fn badge(outcome: &str) -> Markup {
    html! { span class={ "badge o-" (outcome) } { (outcome) } }
}

/// `0.1234` → `12.3%`.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

/// Milliseconds for people: `850 ms`, `12.4 s`.
pub fn millis(ms: Option<i64>) -> String {
    match ms {
        None => "–".to_owned(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// Dollars with enough digits for small LLM costs.
pub fn usd(amount: f64) -> String {
    if amount >= 1.0 {
        format!("${amount:.2}")
    } else {
        format!("${amount:.4}")
    }
}

/// A stored RFC 3339 time shortened for tables (`2026-12-02 06:31:07`).
pub fn when(at: &str) -> String {
    at.get(..19).unwrap_or(at).replace('T', " ")
}

/// A 4xx/5xx page or plain message for a failed action.
pub fn problem(status: StatusCode, message: &str) -> Response {
    bare(
        status,
        "Problem",
        html! {
            h1 { "That did not work" }
            p.error { (message) }
            p { a href="/ui" { "Back to the console" } }
        },
    )
}

/// Internal errors: logged with detail, shown without it.
pub fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "console page failed");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The console could not read the database; the error is in the daemon's log.",
    )
}
