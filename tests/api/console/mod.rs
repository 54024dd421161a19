//! Issue 13: operations (supervision, retention), live playbook reload, LLM cost, and the console.

mod auth;
mod browser;
mod cost;
mod operations;
mod pages;
mod reload;
mod webdriver;

/// A `ui` token made through the token store; returns its secret.
pub async fn ui_token(app: &crate::helpers::TestApp, name: &str) -> String {
    token(app, name, triaged::store::tokens::TokenScope::Ui).await
}

/// A token of `scope` made through the token store; returns its secret.
pub async fn token(
    app: &crate::helpers::TestApp,
    name: &str,
    scope: triaged::store::tokens::TokenScope,
) -> String {
    let created = app
        .app
        .db()
        .create_token(&triaged::store::tokens::NewToken {
            name: name.into(),
            scope,
            tags: None,
            tools: None,
            expires_at: None,
            require_api_key: false,
            rate_limit: None,
        })
        .await
        .expect("token");
    triaged::store::tokens::expose(&created.secret).to_owned()
}
