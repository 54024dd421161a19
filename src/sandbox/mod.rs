//! Stage: **sandbox** — an Intercom simulator speaking the real REST API 2.16 shapes, with state,
//! rate limits, scroll expiry, Intercom-shaped errors, fault injection and signed webhooks. Support
//! leads rehearse playbooks on it (`triaged sandbox`, `triaged serve --sandbox`); the test suite
//! uses it as its Intercom.
//!
//! It never talks to the real Intercom, never persists anything (the workspace lives in memory and
//! is seeded from YAML at start), and never imports a higher stage.
//!
//! # REST API (what the triaged client uses)
//! Bearer auth (401 `unauthorized` "Access Token Invalid"), `Intercom-Version` 1.0–2.16 or
//! `Preview`/`Unstable` accepted (anything else: 400 `intercom_version_invalid`), `error.list`
//! bodies, `X-RateLimit-Limit/Remaining/Reset` on every response, 429 `rate_limit_exceeded`.
//! `GET /me`, `/admins`, `/admins/{id}`, `/teams`; `POST /conversations/search`,
//! `GET /conversations`, `GET /conversations/{id}[?display_as=plaintext]` (500 newest parts),
//! `POST /conversations/{id}/reply`, `POST /conversations/{id}/parts`,
//! `POST /conversations/{id}/tags`, `DELETE /conversations/{id}/tags/{tag_id}` (JSON body
//! `{admin_id}`); `GET|POST /tags`; `POST /tickets`, `GET /tickets/{id}`, `GET /ticket_types`;
//! `GET /contacts/{id}` (410 `contact_merged` + `Link` for merged contacts), `POST /contacts/search`;
//! `GET /visitors?user_id=`; `GET /companies/{id}`, `GET /companies/scroll`;
//! `GET /articles/search?phrase=`.
//!
//! # Control API (`/_sandbox/…`, never used by Intercom; no auth, not rate limited)
//! | route | what |
//! |---|---|
//! | `POST /_sandbox/customer/conversations` `{contact_id, body}` | a customer starts a conversation → `{conversation_id}`; emits `conversation.user.created` |
//! | `POST /_sandbox/customer/conversations/{id}/reply` `{contact_id?, body, app_package_code?}` | a customer replies (reopens a closed one with an `open` part); `conversation.user.replied`. With `app_package_code` the reply came through that integration (the part carries the code) |
//! | `POST /_sandbox/teammate/conversations/{id}/{action}` `{admin_id, body?, assignee_id?, snoozed_until?, app_package_code?}` | a human in the Inbox: `action` = `reply`, `note`, `close`, `open`, `snooze`, `assign` (`assignee_id` an admin or team id, `"0"` unassigns); emits the matching `conversation.admin.*` topic. With `app_package_code`: through that integration |
//! | `GET /_sandbox/conversations/{id}` | the conversation's full state (all parts, HTML bodies) |
//! | `GET /_sandbox/stats` | request, 429, fault and webhook counts; the peak requests in one rate window |
//! | `PUT /_sandbox/faults` `{error_share, latency_ms, drop_after_write, error_after_write, error_after_write_status, fail_writes_after, unavailable}` | fault injection: a share of 500s, latency, the next N writes applied with their response dropped, the next N writes applied and answered 502 (or 500/504) with a load balancer's HTML page, every write after the next N answered 503 unapplied (`null` clears it), the routes listed in `unavailable` (`["POST /conversations/{id}/tags"]`) answered 503 unapplied |
//! | `PUT /_sandbox/webhooks/redelivery` `{after_ms}` | a failed notification is sent once more after `after_ms` (Intercom: about 60000), `null`: never (the default) |
//! | `POST /_sandbox/apps` `{access_token, package_code}` | installs a second app: REST calls with its token create parts carrying its `app_package_code` |
//! | `POST /_sandbox/teams` `{name}` | a teammate creates a team in the settings (Intercom has no API for it) → `{id, name}`; an existing team of that name is returned |
//! | `PUT /_sandbox/webhook_url` `{url}` | where notifications go (`null`: nowhere) |
//! | `POST /_sandbox/clock/advance` `{seconds}` | moves the sandbox clock forward (rate windows, scroll expiry) |
//! | `POST /_sandbox/webhooks/flush` | answers once every queued notification was attempted |
//!
//! Parts written through the REST API carry `app_package_code` [`model::APP_PACKAGE_CODE`] (or a
//! second app's code, for calls with its token); parts by customers and by teammates through the
//! control API carry null unless they name the integration they came through. Every change emits a signed
//! notification (plain-text bodies, only the new part) to the webhook URL; a reply by the bot admin
//! goes out on both `conversation.admin.replied` and `conversation.operator.replied`.

mod actions;
mod clock;
mod control;
mod error;
mod extract;
mod http;
mod model;
mod ratelimit;
mod render;
mod routes;
mod scroll;
mod search;
mod seed;
mod text;
mod webhooks;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub use actions::{AdminAction as TeammateAction, Via};
pub use model::APP_PACKAGE_CODE;

/// Where the workspace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seed {
    /// The shipped demo workspace (`src/sandbox/demo_workspace.yaml`).
    Demo,
    /// A YAML file in the same format.
    File(PathBuf),
}

/// Sandbox settings.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Address to bind; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The bearer token REST calls must carry.
    pub access_token: SecretString,
    /// The client secret notifications are signed with.
    pub client_secret: SecretString,
    /// Where notifications are POSTed; none sends nothing.
    pub webhook_url: Option<String>,
    pub seed: Seed,
    /// Requests allowed per [`Self::rate_window`].
    pub rate_limit: u32,
    /// Intercom splits its per-minute allowance into 10-second windows.
    pub rate_window: Duration,
    /// A company scroll unused this long expires (Intercom: 1 minute).
    pub scroll_expiry: Duration,
    /// Intercom tries a failed notification once more, about a minute later: with `Some(delay)`
    /// the sandbox does the same after `delay` (`None`: one attempt only, the default, so a
    /// rehearsal never waits a minute to shut down).
    pub redeliver_after: Option<Duration>,
}

/// The demo credentials used when none are configured (printed at start); defaults of the settings.
pub use crate::config::{DEMO_ACCESS_TOKEN, DEMO_CLIENT_SECRET};
/// Intercom's default: 10,000 calls a minute, split into six 10-second windows.
pub const DEFAULT_RATE_LIMIT: u32 = crate::config::DEFAULT_SANDBOX_RATE_LIMIT;
/// Companies per scroll page.
const SCROLL_PAGE_SIZE: usize = 15;

impl SandboxConfig {
    /// Demo data, demo credentials, Intercom's default limits, no webhook URL.
    pub fn demo(listen: SocketAddr) -> Self {
        Self {
            listen,
            access_token: SecretString::from(DEMO_ACCESS_TOKEN),
            client_secret: SecretString::from(DEMO_CLIENT_SECRET),
            webhook_url: None,
            seed: Seed::Demo,
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_window: Duration::from_secs(10),
            scroll_expiry: Duration::from_secs(60),
            redeliver_after: None,
        }
    }
}

/// Fault injection switches (all off by default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Share of REST requests (0.0–1.0) answered 500 without being handled.
    pub error_share: f64,
    /// Added before every REST request is handled.
    pub latency: Duration,
    /// The next N writes are applied, then the connection is dropped without a response.
    pub drop_after_write: u32,
    /// The next N writes that succeed are applied, then answered like a load balancer whose
    /// backend committed and went quiet: status [`Self::error_after_write_status`], an HTML page.
    pub error_after_write: u32,
    /// 500, 502 or 504 for [`Self::error_after_write`]; 0 (the default) means 502.
    pub error_after_write_status: u16,
    /// `Some(n)`: the next n writes go through, then every write is answered 503 without being
    /// applied until the switch is cleared (a transient outage in the middle of a run).
    pub fail_writes_after: Option<u32>,
    /// Route templates (`POST /conversations/{id}/tags`, as in [`SandboxStats::per_endpoint`])
    /// answered 503 unapplied until cleared: an outage of one Intercom feature.
    pub unavailable: Vec<String>,
}

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SandboxStats {
    /// REST requests received (429s included).
    pub requests: u64,
    /// Requests answered 429.
    pub throttled: u64,
    /// The most REST requests received in one rate-limit window (429s included): how hard a
    /// client pushed against the budget.
    pub peak_window_requests: u64,
    /// Requests answered 500 by fault injection.
    pub injected_errors: u64,
    /// Writes applied whose response was dropped.
    pub dropped_responses: u64,
    /// Writes applied and then answered 5xx by [`Faults::error_after_write`].
    pub errors_after_write: u64,
    /// Requests per `METHOD /route` (route templates, e.g. `GET /conversations/{id}`).
    pub per_endpoint: BTreeMap<String, u64>,
    /// Notifications queued, per topic.
    pub webhooks_by_topic: BTreeMap<String, u64>,
    /// Delivery attempts answered 2xx (redeliveries included).
    pub webhooks_delivered: u64,
    /// Delivery attempts that failed (no answer in 5 s, or not 2xx; redeliveries included).
    pub webhooks_failed: u64,
    /// Second attempts made for failed notifications (see [`SandboxConfig::redeliver_after`]).
    pub webhooks_redelivered: u64,
}

/// State shared by the handlers, the control API and [`Sandbox`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub ws: Mutex<model::Workspace>,
    pub clock: clock::Clock,
    pub access_token: SecretString,
    /// Second apps: access token → `app_package_code` (see [`Sandbox::add_app`]).
    pub apps: Mutex<BTreeMap<String, String>>,
    /// Where notifications go: none, one URL, or several taken in turn (replicas behind a
    /// Service), with the count of notifications sent so far choosing the next.
    pub webhook_urls: Mutex<(Vec<String>, usize)>,
    pub faults: Mutex<Faults>,
    pub stats: Arc<Mutex<SandboxStats>>,
    pub limiter: Mutex<ratelimit::RateLimiter>,
    pub scrolls: Mutex<scroll::Scrolls>,
    pub emitter: webhooks::Emitter,
}

/// Locks a mutex, recovering the data if a holder panicked (the sandbox keeps serving).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running sandbox.
#[derive(Debug)]
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

impl Sandbox {
    /// Loads the seed, binds the listener and starts serving.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        let clock = clock::Clock::default();
        let yaml = match &config.seed {
            Seed::Demo => seed::DEMO_YAML.to_owned(),
            Seed::File(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading sandbox seed {}", path.display()))?,
        };
        let ws = seed::load(&yaml, clock.now())?;
        let stats = Arc::new(Mutex::new(SandboxStats::default()));
        let emitter = webhooks::Emitter::start(
            config.client_secret.expose_secret().to_owned(),
            config.redeliver_after,
            stats.clone(),
        )?;
        let window_ms = i64::try_from(config.rate_window.as_millis()).unwrap_or(10_000);
        let expiry_ms = i64::try_from(config.scroll_expiry.as_millis()).unwrap_or(60_000);
        let shared = Arc::new(Shared {
            ws: Mutex::new(ws),
            clock,
            access_token: config.access_token,
            apps: Mutex::new(BTreeMap::new()),
            webhook_urls: Mutex::new((config.webhook_url.into_iter().collect(), 0)),
            faults: Mutex::new(Faults::default()),
            stats,
            limiter: Mutex::new(ratelimit::RateLimiter::new(config.rate_limit, window_ms)),
            scrolls: Mutex::new(scroll::Scrolls::new(expiry_ms, SCROLL_PAGE_SIZE)),
            emitter,
        });
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the sandbox to {}", config.listen))?;
        let addr = listener.local_addr()?;
        let router = routes::router(shared.clone()).merge(control::router(shared.clone()));
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        tracing::info!(%addr, "Intercom sandbox listening");
        if !addr.ip().is_loopback() {
            // The control API has no authentication: anyone who reaches it can act as a customer
            // and point notifications anywhere (`PUT /_sandbox/webhook_url`, an SSRF relay).
            tracing::warn!(
                %addr,
                "the Intercom sandbox listens beyond loopback; its control API has no \
                 authentication and can send requests anywhere (bind 127.0.0.1)"
            );
        }
        Ok(Sandbox {
            shared,
            addr,
            shutdown,
            server,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, the REST base URL to give a client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The id of the bot admin (the one `/me` returns).
    pub fn bot_admin_id(&self) -> String {
        lock(&self.shared.ws)
            .bot()
            .map(|a| a.id.clone())
            .unwrap_or_default()
    }

    /// Where notifications go from now on.
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.set_webhook_urls(url.into_iter().collect());
    }

    /// Sends notifications to each of `urls` in turn from now on, one notification each (as a
    /// Service spreads them over replicas); none: nowhere.
    pub fn set_webhook_urls(&self, urls: Vec<String>) {
        *lock(&self.shared.webhook_urls) = (urls, 0);
    }

    /// Replaces the fault switches.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Redeliver a failed notification once after `delay` (Intercom: about 60 s), or never.
    pub fn set_redelivery(&self, delay: Option<Duration>) {
        self.shared.emitter.set_redelivery(delay);
    }

    /// Registers a second app (another integration installed in the workspace): REST calls with
    /// `access_token` act as it, and the parts they create carry `package_code` as their
    /// `app_package_code`.
    pub fn add_app(&self, access_token: &str, package_code: &str) {
        lock(&self.shared.apps).insert(access_token.to_owned(), package_code.to_owned());
    }

    /// Companies per `GET /companies/scroll` page (15 unless changed).
    pub fn set_scroll_page_size(&self, size: usize) {
        lock(&self.shared.scrolls).page_size = size.max(1);
    }

    /// Moves the sandbox clock forward (rate-limit windows, scroll expiry, timestamps).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// The counters so far.
    pub fn stats(&self) -> SandboxStats {
        lock(&self.shared.stats).clone()
    }

    /// A conversation's full current state (every part, HTML bodies), as JSON.
    pub fn conversation(&self, id: &str) -> Option<serde_json::Value> {
        let ws = lock(&self.shared.ws);
        ws.conversation(id)
            .map(|c| render::conversation(&ws, c, render::Parts::All, false))
    }

    /// A customer writes: starts a conversation (`None`) or replies to one. Returns its id; emits
    /// `conversation.user.created` or `conversation.user.replied`.
    pub async fn customer_says(
        &self,
        conversation_id: Option<&str>,
        contact_id: &str,
        text: &str,
    ) -> anyhow::Result<String> {
        let result = match conversation_id {
            None => actions::start_conversation(&self.shared, contact_id, text),
            Some(id) => actions::contact_reply(&self.shared, id, Some(contact_id), text, Via::Ui)
                .map(|_| id.to_owned()),
        };
        result.map_err(|e| anyhow::anyhow!("{} ({})", e.message, e.code))
    }

    /// A customer's reply that reaches the conversation through another integration (a WhatsApp
    /// or e-mail connector): the part is the contact's, with `package_code` as its
    /// `app_package_code`. Emits `conversation.user.replied`.
    pub async fn customer_says_via_app(
        &self,
        conversation_id: &str,
        contact_id: &str,
        text: &str,
        package_code: &str,
    ) -> anyhow::Result<()> {
        let via = Via::App(package_code);
        actions::contact_reply(&self.shared, conversation_id, Some(contact_id), text, via)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{} ({})", e.message, e.code))
    }

    /// A teammate acts through another integration (the part is the admin's, with
    /// `package_code` as its `app_package_code`); emits the matching `conversation.admin.*`.
    pub async fn teammate_via_app(
        &self,
        conversation_id: &str,
        admin_id: &str,
        action: TeammateAction,
        package_code: &str,
    ) -> anyhow::Result<()> {
        let via = Via::App(package_code);
        actions::admin_action(&self.shared, conversation_id, admin_id, action, via)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{} ({})", e.message, e.code))
    }

    /// A human teammate replies in the Inbox (no `app_package_code`); emits
    /// `conversation.admin.replied`.
    pub async fn teammate_replies(
        &self,
        conversation_id: &str,
        admin_id: &str,
        text: &str,
    ) -> anyhow::Result<()> {
        let action = actions::AdminAction::Reply {
            note: false,
            body: text.to_owned(),
        };
        actions::admin_action(&self.shared, conversation_id, admin_id, action, Via::Ui)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{} ({})", e.message, e.code))
    }

    /// A human teammate acts in the Inbox (reply, note, close, open, snooze, assign) with no
    /// `app_package_code`; emits the matching `conversation.admin.*` notification.
    pub async fn teammate(
        &self,
        conversation_id: &str,
        admin_id: &str,
        action: TeammateAction,
    ) -> anyhow::Result<()> {
        actions::admin_action(&self.shared, conversation_id, admin_id, action, Via::Ui)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{} ({})", e.message, e.code))
    }

    /// A teammate creates a team in the settings (see `POST /_sandbox/teams`); returns its id.
    pub fn add_team(&self, name: &str) -> anyhow::Result<String> {
        control::add_team_named(&self.shared, name)
            .map_err(|e| anyhow::anyhow!("{} ({})", e.message, e.code))
    }

    /// Resolves once every notification queued so far was attempted, redeliveries included.
    pub async fn flush_webhooks(&self) {
        self.shared.emitter.flush().await;
    }

    /// Delivers pending notifications (not waiting for redeliveries still due), then stops
    /// serving.
    pub async fn shutdown(self) {
        self.shared.emitter.drain().await;
        self.shutdown.cancel();
        let _ = self.server.await;
    }
}
