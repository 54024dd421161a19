//! Stage: **web** — the console at `/ui`, for support leads and operators: an overview of what the
//! bot did, runs with their whole transcripts, events and replay, playbooks (reload status, figures,
//! test cases), tokens and MCP calls.
//!
//! Server-rendered HTML (maud escapes every value: customer text and model output render as
//! text), one embedded stylesheet, no script and no asset fetched from anywhere. Every page needs a
//! signed-in viewer (`auth`); every state-changing form carries a CSRF token. Pages read the
//! database and the running playbook set; actions only re-queue events or run playbook test cases
//! in a private sandbox — the console never writes to Intercom itself.
//!
//! | file | what |
//! |---|---|
//! | `auth` | login with a `ui` token, session cookie, CSRF, trusted proxy header |
//! | `layout` | page shell, security headers, formatting |
//! | `chart` | the runs-over-time SVG |
//! | `overview`, `runs`, `events`, `playbooks`, `tokens` | the pages |
//! | `metrics` | figures read from the process's Prometheus recorder |

mod auth;
mod chart;
mod events;
mod layout;
mod metrics;
mod overview;
mod playbooks;
mod runs;
mod tokens;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};

use crate::{intercom::IntercomClient, playbook::LivePlaybooks, store::Db};

pub use auth::COOKIE;

/// What the console pages read.
#[derive(Debug, Clone)]
pub struct UiState {
    pub db: Db,
    pub playbooks: Arc<LivePlaybooks>,
    /// For the Intercom budget figures.
    pub intercom: IntercomClient,
    /// The workspace id, for links into Intercom's inbox.
    pub app_id: Option<String>,
    /// `TRIAGED_UI_TRUSTED_HEADER`.
    pub trusted_header: Option<HeaderName>,
    /// `TRIAGED_UI_SESSION_TTL`.
    pub session_ttl: Duration,
}

/// The stylesheet, embedded in the binary.
const CSS: &str = include_str!("console.css");

async fn css() -> Response {
    let mut response = CSS.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// `/ui…`.
pub fn router(state: UiState) -> Router {
    Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(overview::page))
        .route("/ui/login", get(auth::login_form).post(auth::login))
        .route("/ui/logout", post(auth::logout))
        .route("/ui/assets/console.css", get(css))
        .route("/ui/runs", get(runs::list))
        .route("/ui/runs/{id}", get(runs::show))
        .route("/ui/events", get(events::list))
        .route("/ui/events/replay", post(events::replay_many))
        .route("/ui/events/{id}/replay", post(events::replay_one))
        .route("/ui/playbooks", get(playbooks::list))
        .route("/ui/playbooks/{name}", get(playbooks::show))
        .route("/ui/playbooks/{name}/test", post(playbooks::test))
        .route("/ui/tokens", get(tokens::page))
        .with_state(state)
}
