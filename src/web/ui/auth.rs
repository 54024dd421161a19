//! Signing in to the console: a `ui`-scoped token (from `triaged tokens create NAME --scope ui`)
//! is exchanged at `/ui/login` for a session cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! behind HTTPS, expiring). Every page needs a session, and a session whose token was revoked or
//! has expired ends at the next request. Every state-changing form carries the session's CSRF token.
//! Optionally (`TRIAGED_UI_TRUSTED_HEADER`, off by default) an authenticating proxy's header signs
//! its value in instead.

use axum::{
    Form,
    extract::{FromRequestParts, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use maud::html;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{UiState, layout};
use crate::store::tokens::{Refusal, TokenScope};

/// The session cookie's name.
pub const COOKIE: &str = "triaged_session";

/// Who is signed in, and the CSRF token their forms must carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub subject: String,
    pub csrf: String,
    /// A cookie to set on the response (a trusted-header user's first request).
    pub set_cookie: Option<HeaderValue>,
}

impl Viewer {
    /// The refusal of a state-changing request whose form lacks this session's CSRF token.
    pub fn csrf_refusal(&self, presented: Option<&str>) -> Option<Response> {
        let presented = presented.unwrap_or_default();
        if !presented.is_empty() && bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes())) {
            None
        } else {
            Some(layout::problem(
                StatusCode::FORBIDDEN,
                "This form is missing its CSRF token or the token is stale: reload the page and \
                 try again.",
            ))
        }
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// Whether the browser reached us over HTTPS (through a TLS-terminating proxy).
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(value: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// Where an unauthenticated request goes: pages to the login form, actions are refused.
fn sign_in_first(parts: &Parts) -> Response {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/ui", |p| p.as_str())
            .to_owned();
        let next: String = url_encode(&next);
        Redirect::to(&format!("/ui/login?next={next}")).into_response()
    } else {
        layout::problem(
            StatusCode::UNAUTHORIZED,
            "Sign in to the console first (your session has ended).",
        )
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<UiState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &UiState) -> Result<Self, Response> {
        if let Some(cookie) = cookie_value(&parts.headers) {
            let session = state.db.session(&cookie).await.map_err(layout::internal)?;
            if let Some(session) = session {
                let token_ok = match &session.token_name {
                    None => true,
                    Some(name) => {
                        let token = state.db.token(name).await.map_err(layout::internal)?;
                        token.is_some_and(|t| {
                            t.revoked_at.is_none()
                                && t.expires_at.as_deref().is_none_or(|at| {
                                    at.parse::<jiff::Timestamp>()
                                        .is_ok_and(|at| at > jiff::Timestamp::now())
                                })
                        })
                    }
                };
                if token_ok {
                    return Ok(Self {
                        subject: session.subject,
                        csrf: session.csrf,
                        set_cookie: None,
                    });
                }
                // The token was revoked or expired: its sessions end now.
                state
                    .db
                    .end_session(&cookie)
                    .await
                    .map_err(layout::internal)?;
            }
        }
        if let Some(name) = &state.trusted_header
            && let Some(user) = parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        {
            let (cookie, session) = state
                .db
                .create_session(None, user, state.session_ttl)
                .await
                .map_err(layout::internal)?;
            return Ok(Self {
                subject: session.subject,
                csrf: session.csrf,
                set_cookie: set_cookie(
                    &cookie,
                    state.session_ttl.as_secs(),
                    over_https(&parts.headers),
                ),
            });
        }
        Err(sign_in_first(parts))
    }
}

/// Adds the viewer's new session cookie, if any, to `response`.
pub fn with_cookie(viewer: &Viewer, mut response: Response) -> Response {
    if let Some(cookie) = &viewer.set_cookie {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only paths inside the console are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/ui".to_owned(),
    }
}

fn login_page(status: StatusCode, next: &str, message: Option<&str>) -> Response {
    layout::bare(
        status,
        "Sign in",
        html! {
            div.login {
                h1 { "triaged console" }
                @if let Some(message) = message { p.error role="alert" { (message) } }
                form method="post" action="/ui/login" {
                    input type="hidden" name="next" value=(next);
                    label for="token" { "Console token" }
                    input #token type="password" name="token" autocomplete="off" required
                        placeholder="triaged_tok_…";
                    button.primary type="submit" { "Sign in" }
                }
                p.muted {
                    "Ask your platform team for a token made with "
                    code { "triaged tokens create NAME --scope ui" } "."
                }
            }
        },
    )
}

/// `GET /ui/login`.
pub async fn login_form(Query(q): Query<Next>) -> Response {
    login_page(StatusCode::OK, &safe_next(q.next.as_deref()), None)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `POST /ui/login`: a valid `ui` token opens a session.
pub async fn login(
    State(state): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let token = match state.db.verify_token(&form.token).await {
        Err(e) => return layout::internal(e),
        Ok(Err(refusal)) => {
            let why = match refusal {
                Refusal::Expired => "This token has expired.",
                Refusal::Revoked => "This token was revoked.",
                _ => "That is not a valid console token.",
            };
            metrics::counter!("triaged_ui_logins_total", "result" => "refused").increment(1);
            return login_page(StatusCode::UNAUTHORIZED, &next, Some(why));
        }
        Ok(Ok(token)) => token,
    };
    if token.scope != TokenScope::Ui {
        metrics::counter!("triaged_ui_logins_total", "result" => "wrong_scope").increment(1);
        return login_page(
            StatusCode::FORBIDDEN,
            &next,
            Some(&format!(
                "Token `{}` is for {}, not the console: create one with --scope ui.",
                token.name, token.scope
            )),
        );
    }
    let (cookie, _) = match state
        .db
        .create_session(Some(&token.name), &token.name, state.session_ttl)
        .await
    {
        Ok(created) => created,
        Err(e) => return layout::internal(e),
    };
    metrics::counter!("triaged_ui_logins_total", "result" => "ok").increment(1);
    tracing::info!(token = %token.name, "console sign-in");
    let mut response = Redirect::to(&next).into_response();
    if let Some(cookie) = set_cookie(&cookie, state.session_ttl.as_secs(), over_https(&headers)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /ui/logout`.
pub async fn logout(
    State(state): State<UiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(form.csrf.as_deref()) {
        return refused;
    }
    if let Some(cookie) = cookie_value(&headers)
        && let Err(e) = state.db.end_session(&cookie).await
    {
        return layout::internal(e);
    }
    let mut response = Redirect::to("/ui/login").into_response();
    if let Some(cookie) = set_cookie("", 0, over_https(&headers)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
