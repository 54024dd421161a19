//! Console authentication from the outside: no session → login page or refusal; a `ui` token
//! opens an HttpOnly, SameSite=Strict session; revoking or expiring the token ends it; forms need
//! their CSRF token; the trusted proxy header is off unless configured.

use std::time::Duration;

use reqwest::{StatusCode, header};
use triaged::store::tokens::TokenScope;

use super::token;

use crate::helpers::{TestApp, spawn_app, spawn_scenario_with};

const PAGES: &[&str] = &[
    "/ui",
    "/ui?period=7d",
    "/ui/runs?playbook=x&outcome=failed",
    "/ui/runs/1",
    "/ui/events?status=failed",
    "/ui/playbooks",
    "/ui/playbooks/some-playbook",
    "/ui/tokens",
];
const ACTIONS: &[&str] = &[
    "/ui/events/1/replay",
    "/ui/events/replay",
    "/ui/playbooks/some-playbook/test",
    "/ui/logout",
];

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Logs in; returns the `Set-Cookie` header and the `name=value` pair to send back.
async fn login(app: &TestApp, secret: &str, https: bool) -> reqwest::Response {
    let mut request = no_redirects()
        .post(format!("{}/ui/login", app.base))
        .form(&[("token", secret), ("next", "/ui/runs?outcome=failed")]);
    if https {
        request = request.header("x-forwarded-proto", "https");
    }
    request.send().await.unwrap()
}

fn cookie_of(response: &reqwest::Response) -> (String, String) {
    let set = response
        .headers()
        .get(header::SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    let pair = set.split(';').next().unwrap().to_owned();
    (set, pair)
}

async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}{path}", app.base))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field in the page")
        .to_owned()
}

#[tokio::test]
async fn without_a_session_every_page_redirects_to_login_and_every_action_is_refused() {
    let app = spawn_app().await;
    for page in PAGES {
        let response = get(&app, page, "").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert!(
            location.starts_with("/ui/login?next=%2Fui")
                || location.starts_with("/ui/login?next=/ui"),
            "{page} → {location}"
        );
    }
    for action in ACTIONS {
        let response = no_redirects()
            .post(format!("{}{action}", app.base))
            .form(&[("csrf", "guess"), ("status", "failed"), ("since", "1h")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{action}");
    }
    // A made-up cookie is no session either.
    let response = get(&app, "/ui", "triaged_session=made-up").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let login = no_redirects()
        .get(format!("{}/ui/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    // The trusted proxy header is off by default.
    let response = no_redirects()
        .get(format!("{}/ui", app.base))
        .header("x-forwarded-email", "lead@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_ui_token_opens_a_strict_http_only_session_that_ends_when_the_token_is_revoked() {
    let app = spawn_app().await;
    let mcp = token(&app, "claude", TokenScope::McpRead).await;
    let refused = login(&app, &mcp, false).await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "an MCP token is not a console token"
    );
    assert!(refused.headers().get(header::SET_COOKIE).is_none());
    let wrong = login(&app, "triaged_tok_not-a-real-token", false).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let secret = token(&app, "support-lead", TokenScope::Ui).await;
    let response = login(&app, &secret, true).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/ui/runs?outcome=failed"
    );
    let (set, cookie) = cookie_of(&response);
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/ui",
        "Max-Age=",
    ] {
        assert!(set.contains(attribute), "{attribute} missing from {set}");
    }
    let plain = login(&app, &secret, false).await;
    assert!(
        !cookie_of(&plain).0.contains("Secure"),
        "no Secure flag over plain HTTP"
    );

    for page in PAGES
        .iter()
        .filter(|p| !p.contains("/runs/1") && !p.contains("some-playbook"))
    {
        let response = get(&app, page, &cookie).await;
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
    }

    app.app.db().revoke_token("support-lead").await.unwrap();
    let after = get(&app, "/ui", &cookie).await;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "a revoked token's session ends"
    );
    let again = get(&app, "/ui", &cookie).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_expired_token_or_session_stops_working() {
    let app = spawn_app().await;
    let secret = token(&app, "lead", TokenScope::Ui).await;
    let (_, cookie) = cookie_of(&login(&app, &secret, false).await);
    assert_eq!(get(&app, "/ui", &cookie).await.status(), StatusCode::OK);
    // Time passes: the token's expiry is now behind us.
    triaged::with_pool!(app.app.db(), |p| sqlx::query(
        "UPDATE tokens SET expires_at = '2020-01-01T00:00:00.000Z' WHERE name = 'lead'"
    )
    .execute(p)
    .await
    .map(|_| ()))
    .unwrap();
    assert_eq!(
        get(&app, "/ui", &cookie).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        login(&app, &secret, false).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let secret = token(&app, "lead-2", TokenScope::Ui).await;
    let (_, cookie) = cookie_of(&login(&app, &secret, false).await);
    assert_eq!(get(&app, "/ui", &cookie).await.status(), StatusCode::OK);
    triaged::with_pool!(app.app.db(), |p| sqlx::query(
        "UPDATE ui_sessions SET expires_at = '2020-01-01T00:00:00.000Z'"
    )
    .execute(p)
    .await
    .map(|_| ()))
    .unwrap();
    assert_eq!(
        get(&app, "/ui", &cookie).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    let secret = token(&app, "lead", TokenScope::Ui).await;
    let (_, cookie) = cookie_of(&login(&app, &secret, false).await);
    let page = get(&app, "/ui/events", &cookie).await.text().await.unwrap();
    let csrf = csrf_in(&page);
    let post = |form: Vec<(&'static str, String)>| {
        no_redirects()
            .post(format!("{}/ui/events/replay", app.base))
            .header(header::COOKIE, &cookie)
            .form(&form)
            .send()
    };
    let base = vec![("status", "failed".to_owned()), ("since", "1h".to_owned())];
    let missing = post(base.clone()).await.unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let mut wrong = base.clone();
    wrong.push(("csrf", "x".repeat(csrf.len())));
    assert_eq!(post(wrong).await.unwrap().status(), StatusCode::FORBIDDEN);
    let mut right = base;
    right.push(("csrf", csrf));
    let ok = post(right).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        ok.headers()[header::LOCATION],
        "/ui/events?status=queued&replayed=0"
    );
}

#[tokio::test]
async fn behind_an_authenticating_proxy_its_header_signs_the_user_in() {
    let app = spawn_scenario_with(&[], None, Duration::ZERO, |config| {
        config.console.ui_trusted_header = Some("x-forwarded-email".parse().unwrap());
    })
    .await;
    let response = no_redirects()
        .get(format!("{}/ui", app.base))
        .header("x-forwarded-email", "lead@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::SET_COOKIE).is_some());
    assert!(response.text().await.unwrap().contains("lead@example.com"));
    assert_eq!(get(&app, "/ui", "").await.status(), StatusCode::SEE_OTHER);
}
