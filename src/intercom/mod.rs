//! Stage: **intercom** — the typed Intercom REST client (API version 2.16, pinned).
//!
//! [`IntercomClient`] is cheap to clone; all clones share one HTTP connection pool and one rate
//! limiter (all workers use the same access token). Operations are typed methods, grouped by
//! file: `conversations.rs` (search, list, retrieve, reply, manage, tag/untag), `directory.rs`
//! (`/me`, admins, teams, tags, ticket types, tickets) with [`directory_cache`] (those lists shared
//! by every run, with a TTL), `people.rs` (contacts, visitors,
//! companies, articles) and [`scroll`] (the company scroll). Their bodies are in [`requests`],
//! their answers in [`models`], their failures in [`IntercomError`]. Waiting, retries and rate
//! limiting live in `transport.rs` and [`ratelimit`]; [`startup`] checks the credentials once.
//!
//! Typical wiring: `IntercomClient::from_config(&config.intercom).build()?`, then
//! `check_startup(&client, client.admin_id()).await?` before taking work. A caller maps
//! [`IntercomError::is_transient`] to a job retry, [`IntercomError::RetryLater`] to a delayed
//! job, and [`IntercomError::UnknownOutcome`] to "re-read before doing it again".
//!
//! This module must never log or return the access token, never retry a write whose outcome is
//! unknown, and never block a worker longer than the configured `max_wait`.

mod conversations;
mod directory;
pub mod directory_cache;
mod error;
pub mod models;
mod people;
pub mod ratelimit;
pub mod requests;
pub mod scroll;
pub mod search;
pub mod startup;
pub mod tally;
mod transport;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};

pub use error::{ErrorItem, ErrorList, IntercomError, canonical_contact, error_from_response};
pub use ratelimit::Stats;
pub use scroll::CompanyScroll;
pub use startup::{Identity, StartupError, check_startup};
pub use tally::Tally;
pub use transport::{CallKind, FailureAction, after_send_failure, retryable_status};

use crate::{config::IntercomConfig, ids::AdminId};
use ratelimit::RateLimiter;

/// The API version every request pins with `Intercom-Version`.
pub const API_VERSION: &str = "2.16";

/// Default per-request timeout: long enough for a conversation with 500 parts, short enough that
/// a hung connection frees its worker.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default connect timeout: a TCP+TLS handshake to Intercom takes well under a second.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default longest wait for a rate-limit window before giving up with
/// [`IntercomError::RetryLater`]: three 10-second windows.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);

/// Default attempts per call, the first included: a few, so a worker never spends long retrying.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("INTERCOM_ACCESS_TOKEN is not set")]
    MissingToken,
    #[error("INTERCOM_BASE_URL {0:?} is not an http(s) URL")]
    BadBaseUrl(String),
    #[error("INTERCOM_ACCESS_TOKEN contains characters not allowed in an HTTP header")]
    BadToken,
    #[error("could not build the HTTP client: {0}")]
    Http(String),
}

/// Settings of a client, with defaults; finish with [`IntercomClientBuilder::build`].
#[derive(Debug, Clone)]
pub struct IntercomClientBuilder {
    base_url: String,
    token: Option<SecretString>,
    admin_id: Option<AdminId>,
    timeout: Duration,
    connect_timeout: Duration,
    max_wait: Duration,
    max_attempts: u32,
    directory_ttl: Duration,
}

impl IntercomClientBuilder {
    /// How long the directory lists (admins, teams, tags, ticket types) are reused
    /// (`TRIAGED_DIRECTORY_TTL`); zero fetches them on every use.
    pub fn directory_ttl(mut self, ttl: Duration) -> Self {
        self.directory_ttl = ttl;
        self
    }

    /// Per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest the client waits for a rate-limit window before returning `RetryLater`.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Attempts per call, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The admin writes act as (`INTERCOM_ADMIN_ID`).
    pub fn admin_id(mut self, admin_id: Option<AdminId>) -> Self {
        self.admin_id = admin_id;
        self
    }

    /// Builds the client (installs the rustls crypto provider first).
    pub fn build(self) -> Result<IntercomClient, BuildError> {
        let token = self.token.ok_or(BuildError::MissingToken)?;
        let base_url = self.base_url.trim().trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => return Err(BuildError::BadBaseUrl(self.base_url)),
        }
        let mut auth =
            reqwest::header::HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
                .map_err(|_| BuildError::BadToken)?;
        auth.set_sensitive(true);
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("triaged/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError::Http(e.to_string()))?;
        Ok(IntercomClient {
            leave_percent: 0,
            inner: Arc::new(Inner {
                http,
                base_url,
                auth,
                admin_id: self.admin_id,
                max_wait: self.max_wait,
                max_attempts: self.max_attempts,
                shared: Mutex::new(Shared::default()),
                directory: directory_cache::DirectoryCache::new(self.directory_ttl),
                scroll_lock: Arc::new(tokio::sync::Mutex::new(())),
            }),
        })
    }
}

/// The typed Intercom client. Clones share the connection pool and the rate limiter.
#[derive(Debug, Clone)]
pub struct IntercomClient {
    inner: Arc<Inner>,
    /// The share of each rate-limit window this handle leaves to the others (see
    /// [`Self::leaving_to_workers`]); 0 for the workers' own handle.
    leave_percent: u8,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// Without a trailing slash.
    base_url: String,
    /// `Bearer <token>`, marked sensitive so it never shows in debug output.
    auth: reqwest::header::HeaderValue,
    admin_id: Option<AdminId>,
    max_wait: Duration,
    max_attempts: u32,
    shared: Mutex<Shared>,
    /// The workspace's directory lists, shared by every run.
    directory: directory_cache::DirectoryCache,
    /// Intercom allows one open company scroll per app; this keeps ours to one per process.
    scroll_lock: Arc<tokio::sync::Mutex<()>>,
}

/// The limiter and counters shared by all clones.
#[derive(Debug, Default)]
struct Shared {
    limiter: RateLimiter,
    stats: Stats,
}

impl IntercomClient {
    /// A builder for `base_url` (US `https://api.intercom.io`, EU `https://api.eu.intercom.io`,
    /// AU `https://api.au.intercom.io`, or a sandbox `http://127.0.0.1:PORT`).
    pub fn builder(base_url: impl Into<String>, token: SecretString) -> IntercomClientBuilder {
        IntercomClientBuilder {
            base_url: base_url.into(),
            token: Some(token),
            admin_id: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_wait: DEFAULT_MAX_WAIT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            directory_ttl: directory_cache::DEFAULT_DIRECTORY_TTL,
        }
    }

    /// A builder from the validated configuration (base URL, token, acting admin).
    pub fn from_config(config: &IntercomConfig) -> IntercomClientBuilder {
        IntercomClientBuilder {
            base_url: config.base_url.clone(),
            token: config.access_token.clone(),
            admin_id: config
                .admin_id
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(AdminId::from),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_wait: DEFAULT_MAX_WAIT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            directory_ttl: directory_cache::DEFAULT_DIRECTORY_TTL,
        }
    }

    /// A handle on the same connection pool and rate limiter whose requests leave `percent` of
    /// every rate-limit window to the other handles (the workers): MCP clients use it, so that a
    /// busy chat client cannot starve triage.
    pub fn leaving_to_workers(&self, percent: u8) -> Self {
        Self {
            inner: self.inner.clone(),
            leave_percent: percent.min(100),
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The configured acting admin (`INTERCOM_ADMIN_ID`), if any.
    pub fn admin_id(&self) -> Option<&AdminId> {
        self.inner.admin_id.as_ref()
    }

    /// Counters of this client and all its clones.
    pub fn stats(&self) -> Stats {
        match self.inner.shared.lock() {
            Ok(shared) => shared.stats,
            Err(poisoned) => poisoned.into_inner().stats,
        }
    }
}

/// The region a base URL points at: `US`, `EU`, `AU`, or `custom` (a sandbox or proxy).
pub fn region_of(base_url: &str) -> &'static str {
    let host = reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    match host.as_str() {
        "api.intercom.io" => "US",
        "api.eu.intercom.io" => "EU",
        "api.au.intercom.io" => "AU",
        _ => "custom",
    }
}

#[cfg(test)]
mod tests;
