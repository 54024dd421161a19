//! The validated settings each command runs with, built from its [`super::args`]: plain data,
//! checked once at start-up. The app turns them into each stage's own settings; nothing here
//! imports a stage.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use secrecy::{ExposeSecret, SecretString};

use super::{
    ConfigError, DEMO_ACCESS_TOKEN, DEMO_CLIENT_SECRET, Durability,
    args::{SandboxArgs, ServeArgs},
    is_blank,
};

/// `triaged sandbox`: the simulator's validated settings, demo credentials filled in.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// Address to bind (`SANDBOX_LISTEN`).
    pub listen: SocketAddr,
    /// Where notifications are POSTed (`SANDBOX_WEBHOOK_URL`); none sends nothing.
    pub webhook_url: Option<String>,
    /// The secret notifications are signed with (`INTERCOM_CLIENT_SECRET`, first entry).
    pub client_secret: SecretString,
    /// The bearer token accepted (`INTERCOM_ACCESS_TOKEN`).
    pub access_token: SecretString,
    /// A workspace file to start from instead of the demo workspace (`SANDBOX_SEED`).
    pub seed: Option<PathBuf>,
    /// REST requests allowed per 10-second window (`SANDBOX_RATE_LIMIT`).
    pub rate_limit: u32,
    /// One line per unset credential that took its demo value (to print at start).
    pub demo_notes: Vec<String>,
}

impl SandboxArgs {
    /// Validates `sandbox` arguments; unset credentials take their (announced) demo values.
    pub fn into_settings(self) -> Result<SandboxSettings, ConfigError> {
        if self.rate_limit == 0 {
            return Err(ConfigError::Invalid {
                var: "SANDBOX_RATE_LIMIT",
                message: "must be at least 1".to_owned(),
            });
        }
        let webhook_url = self.webhook_url.filter(|u| !u.trim().is_empty());
        if let Some(url) = &webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                var: "SANDBOX_WEBHOOK_URL",
                message: format!("{url:?} is not an http(s) URL"),
            });
        }
        let mut demo_notes = Vec::new();
        let client_secret = match split_secrets(self.client_secret.as_ref())
            .into_iter()
            .next()
        {
            Some(secret) => secret,
            None => {
                demo_notes.push(format!(
                    "INTERCOM_CLIENT_SECRET is unset: signing with the demo secret {DEMO_CLIENT_SECRET:?}"
                ));
                SecretString::from(DEMO_CLIENT_SECRET)
            }
        };
        let access_token = match self.access_token.filter(|t| !is_blank(t)) {
            Some(token) => token,
            None => {
                demo_notes.push(format!(
                    "INTERCOM_ACCESS_TOKEN is unset: accepting the demo token {DEMO_ACCESS_TOKEN:?}"
                ));
                SecretString::from(DEMO_ACCESS_TOKEN)
            }
        };
        Ok(SandboxSettings {
            listen: self.listen,
            webhook_url,
            client_secret,
            access_token,
            seed: self.seed,
            rate_limit: self.rate_limit,
            demo_notes,
        })
    }
}

/// Webhook receiver settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub secrets: Vec<SecretString>,
    pub max_body_bytes: usize,
}

/// The HTTP port's limits against slow, idle and too many clients.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Longest time a request may take, body included (`TRIAGED_REQUEST_TIMEOUT`); then 408.
    pub request_timeout: Duration,
    /// An idle keep-alive connection is closed after this (`TRIAGED_IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
    /// Open connections at most (`TRIAGED_MAX_CONNECTIONS`).
    pub max_connections: usize,
}

/// Intercom REST settings.
#[derive(Debug, Clone)]
pub struct IntercomConfig {
    pub base_url: String,
    pub access_token: Option<SecretString>,
    pub admin_id: Option<String>,
}

/// LLM settings.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub model: String,
}

/// The validated configuration of `triaged serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub durability: Durability,
    pub playbooks: PathBuf,
    pub webhook: WebhookConfig,
    pub http: HttpConfig,
    /// `/metrics` on its own address (`TRIAGED_METRICS_LISTEN`), else on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    pub intercom: IntercomConfig,
    pub llm: LlmConfig,
    pub debounce: Duration,
    /// Domains a reply's URLs may link to (`TRIAGED_REPLY_LINK_DOMAINS`); empty: none.
    pub reply_link_domains: Vec<String>,
    /// How long directory lists are reused (`TRIAGED_DIRECTORY_TTL`).
    pub directory_ttl: Duration,
    pub queue: QueueConfig,
    pub retry: RetryConfig,
    pub shutdown_grace: Duration,
    /// On shutdown, the least time webhooks are still stored (`TRIAGED_SHUTDOWN_DELAY`).
    pub shutdown_delay: Duration,
    pub job_hold: Duration,
    /// Bot replies per conversation per hour before the loop guard hands it to humans.
    pub max_bot_replies_per_hour: u32,
    /// The team the loop guard assigns to (else the playbook's fallback team).
    pub loop_guard_team: Option<String>,
    /// How long a conversation's lease outlives its last renewal.
    pub lease_ttl: Duration,
    /// This app's `app_package_code`, when configured.
    pub app_package_code: Option<String>,
    /// Run against a built-in sandbox instead of Intercom.
    pub sandbox: Option<EmbeddedSandbox>,
    /// The MCP server (`/mcp`).
    pub mcp: super::McpConfig,
    /// The console, LLM cost and retention.
    pub console: super::ConsoleConfig,
}

/// Queue tuning: the workers, how they poll, their heartbeat and the shutdown grace (the app
/// builds the queue's settings from it).
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Concurrent runs in this process (`TRIAGED_WORKERS`).
    pub workers: usize,
    /// How often an idle worker looks for new jobs (`TRIAGED_POLL_INTERVAL`).
    pub poll_interval: Duration,
    /// Worker heartbeat (`TRIAGED_HEARTBEAT`).
    pub heartbeat: Duration,
    /// On shutdown, how long runs in flight may take to finish (`TRIAGED_SHUTDOWN_GRACE`).
    pub grace: Duration,
}

/// Retries of transient errors (the app builds the runner's retry policy from it).
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// How long after a run's first attempt transient failures are retried (`TRIAGED_RETRY_FOR`).
    pub retry_for: Duration,
    /// At most this many attempts, the first included (`TRIAGED_MAX_ATTEMPTS`; none: no limit
    /// but the time).
    pub max_attempts: Option<u32>,
    /// Back-off before the second attempt (`TRIAGED_RETRY_DELAY`).
    pub base_delay: Duration,
    /// No back-off is longer than this.
    pub max_delay: Duration,
}

/// `serve --sandbox`: the built-in Intercom simulator the daemon runs against.
#[derive(Debug, Clone)]
pub struct EmbeddedSandbox {
    pub listen: SocketAddr,
    pub seed: Option<PathBuf>,
    /// REST requests it allows per 10-second window (Intercom's own budget unless a benchmark
    /// says otherwise).
    pub rate_limit: u32,
}

/// The longest back-off between two attempts of one event.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

impl Config {
    /// Validates `serve` arguments.
    pub fn from_serve_args(args: ServeArgs) -> Result<Self, ConfigError> {
        super::ranges::check_serve(&args)?;
        let mut secrets = split_secrets(args.client_secret.as_ref());
        let mut access_token = args.intercom.access_token.filter(|t| !is_blank(t));
        if args.sandbox {
            // The sandbox signs and authenticates with these; demo values when unset.
            if secrets.is_empty() {
                secrets.push(SecretString::from(DEMO_CLIENT_SECRET));
            }
            access_token.get_or_insert_with(|| SecretString::from(DEMO_ACCESS_TOKEN));
        }
        if secrets.is_empty() {
            return Err(ConfigError::Missing {
                var: "INTERCOM_CLIENT_SECRET",
            });
        }
        if access_token.is_none() {
            return Err(ConfigError::Missing {
                var: "INTERCOM_ACCESS_TOKEN",
            });
        }
        check_database_url(&args.db.database_url)?;
        let mcp = super::McpConfig::validate(
            args.public_url.as_deref(),
            &args.mcp_allowed_hosts,
            args.mcp_rate_limit,
            args.mcp_worker_reserve,
        )?;
        let api_key = args
            .llm_api_key
            .filter(|k| !is_blank(k))
            .or(args.openai_api_key)
            .filter(|k| !is_blank(k));
        let console = args.console.into_config()?;
        let reply_link_domains = link_domains(&args.reply_link_domains)?;
        Ok(Self {
            console,
            listen: args.listen,
            database_url: args.db.database_url,
            durability: args.db.durability,
            playbooks: args.playbooks,
            webhook: WebhookConfig {
                secrets,
                max_body_bytes: args.max_body_bytes,
            },
            metrics_listen: args.metrics_listen,
            http: HttpConfig {
                request_timeout: args.request_timeout,
                idle_timeout: args.idle_timeout,
                max_connections: args.max_connections,
            },
            intercom: IntercomConfig {
                base_url: args.intercom.intercom_base_url,
                access_token,
                admin_id: args.intercom.admin_id,
            },
            llm: LlmConfig {
                base_url: args.llm_base_url,
                api_key,
                model: args.llm_model,
            },
            debounce: args.debounce,
            reply_link_domains,
            directory_ttl: args.directory_ttl,
            queue: QueueConfig {
                workers: args.workers,
                poll_interval: args.poll_interval,
                heartbeat: args.heartbeat,
                grace: args.shutdown_grace,
            },
            retry: RetryConfig {
                retry_for: args.retry_for,
                max_attempts: args.max_attempts,
                base_delay: args.retry_delay,
                max_delay: MAX_RETRY_DELAY,
            },
            shutdown_grace: args.shutdown_grace,
            shutdown_delay: args.shutdown_delay,
            job_hold: args.job_hold,
            max_bot_replies_per_hour: args.max_bot_replies_per_hour,
            loop_guard_team: args.loop_guard_team.filter(|t| !t.trim().is_empty()),
            lease_ttl: args.lease_ttl,
            app_package_code: args.app_package_code.filter(|c| !c.trim().is_empty()),
            mcp,
            sandbox: args.sandbox.then_some(EmbeddedSandbox {
                listen: args.sandbox_listen,
                seed: args.sandbox_seed,
                rate_limit: super::DEFAULT_SANDBOX_RATE_LIMIT,
            }),
        })
    }

    /// A configuration for tests and embedding: defaults, the given database and secrets, port 0,
    /// and a built-in sandbox on port 0 as Intercom.
    pub fn for_tests(database_url: String, secrets: &[&str]) -> Self {
        let mut args = <ServeArgsParser as clap::Parser>::parse_from(["triaged"]).serve;
        args.db.database_url = database_url;
        args.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        args.client_secret = Some(SecretString::from(secrets.join(",")));
        args.sandbox = true;
        args.sandbox_listen = SocketAddr::from(([127, 0, 0, 1], 0));
        args.poll_interval = Duration::from_millis(20);
        args.retry_delay = Duration::from_millis(100);
        // Tests that exhaust retries do so in a few 100 ms steps, not over two hours.
        args.max_attempts = Some(5);
        args.debounce = Duration::ZERO;
        match Self::from_serve_args(args) {
            Ok(config) => config,
            Err(e) => unreachable!("the test configuration is valid: {e}"),
        }
    }
}

/// Only used to build a default [`ServeArgs`] for [`Config::for_tests`].
#[derive(Debug, clap::Parser)]
pub(super) struct ServeArgsParser {
    #[command(flatten)]
    pub(super) serve: ServeArgs,
}

/// Checks that `TRIAGED_DATABASE_URL` names a database: a SQLite file (`sqlite://PATH` or
/// `sqlite:PATH`, query parameters allowed) or a PostgreSQL server (`postgres://[USER@]HOST…` or
/// `postgresql://…`). Anything else (`garbage`, `sqlite://`, `postgres://` with no host, an empty
/// value) is refused before a file could be created under that name.
pub fn check_database_url(url: &str) -> Result<(), ConfigError> {
    let valid = if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        // The authority: `[user[:password]@]host[:port]`, up to the path or the query.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default();
        // A socket directory given as `?host=/run/postgresql` also names the server.
        !host.trim().is_empty() || rest.contains("host=")
    } else {
        url.strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .map(|rest| rest.split(['?', '#']).next().unwrap_or_default())
            .is_some_and(|path| !path.trim().is_empty())
    };
    if valid {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var: "TRIAGED_DATABASE_URL",
            message: format!(
                "{url:?} is not a database URL; use sqlite://PATH or postgres://USER@HOST/DATABASE"
            ),
        })
    }
}

/// `TRIAGED_REPLY_LINK_DOMAINS`: host names (`*.` allowed in front), or `none`.
fn link_domains(raw: &[String]) -> Result<Vec<String>, ConfigError> {
    let entries: Vec<String> = raw
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    if entries.iter().any(|d| d == "none") {
        return Ok(Vec::new());
    }
    for domain in &entries {
        let bare = domain.trim_start_matches("*.");
        let valid = bare.contains('.')
            && bare.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid {
            return Err(ConfigError::Invalid {
                var: "TRIAGED_REPLY_LINK_DOMAINS",
                message: format!(
                    "{domain:?} is not a domain (e.g. help.example.com, without https:// or a path)"
                ),
            });
        }
    }
    Ok(entries)
}

/// `a, b ,c` → three secrets; empty entries are dropped.
pub(super) fn split_secrets(raw: Option<&SecretString>) -> Vec<SecretString> {
    raw.map(ExposeSecret::expose_secret)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(SecretString::from)
        .collect()
}
