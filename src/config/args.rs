//! The command-line arguments of each command (clap), with their environment variables and
//! defaults: raw, unvalidated input. [`super::Config`] and [`super::SandboxSettings`] are what
//! they validate into. Plain data: nothing here imports a stage.

use std::{io::IsTerminal, net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use secrecy::SecretString;

use super::{Durability, LogFormat, parse_duration, parse_secret};

/// Settings every command shares.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// YAML file of settings, keyed by environment variable name (e.g. `TRIAGED_LISTEN: ...`).
    #[arg(long, env = "TRIAGED_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Log format: `json` or `text` [default: text on a terminal, else json].
    #[arg(long, env = "TRIAGED_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

impl GlobalArgs {
    pub fn log_format(&self) -> LogFormat {
        self.log_format
            .unwrap_or(if std::io::stderr().is_terminal() {
                LogFormat::Text
            } else {
                LogFormat::Json
            })
    }
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: `sqlite://PATH` (created if missing; one replica), or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (the database must exist; several replicas).
    #[arg(
        long,
        env = "TRIAGED_DATABASE_URL",
        default_value = "sqlite://triaged.db"
    )]
    pub database_url: String,
    /// SQLite commit durability (PostgreSQL always commits durably): `normal` survives a process crash; `full` also a machine crash.
    #[arg(long, env = "TRIAGED_DURABILITY", value_enum, default_value = "full")]
    pub durability: Durability,
}

/// Intercom settings, shared by `serve` and `tools call`.
#[derive(Debug, Clone, Args)]
pub struct IntercomArgs {
    /// Intercom REST access token.
    #[arg(long, env = "INTERCOM_ACCESS_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub access_token: Option<SecretString>,
    /// Intercom REST base URL (US, EU, AU or a sandbox).
    #[arg(
        long,
        env = "INTERCOM_BASE_URL",
        default_value = "https://api.intercom.io"
    )]
    pub intercom_base_url: String,
    /// The Intercom admin the bot acts as (default: the token's admin).
    #[arg(long, env = "INTERCOM_ADMIN_ID")]
    pub admin_id: Option<String>,
}

/// Where users reach the daemon, for the URLs `triaged tokens create` prints.
#[derive(Debug, Clone, Args)]
pub struct PublicUrlArgs {
    /// The URL users reach the daemon at, e.g. `https://triage.example.com` (MCP URLs, allowed
    /// hosts, console links) [default: `http://` + TRIAGED_LISTEN].
    #[arg(long, env = "TRIAGED_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Address the HTTP server binds (the URL's fallback).
    #[arg(long, env = "TRIAGED_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

impl PublicUrlArgs {
    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        match self
            .public_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// `triaged serve` settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address the HTTP server binds.
    #[arg(long, env = "TRIAGED_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve `/metrics` on this address only (e.g. `0.0.0.0:9090`, reachable by Prometheus but
    /// not routed from the internet) [default: on TRIAGED_LISTEN].
    #[arg(long, env = "TRIAGED_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Playbook directory.
    #[arg(long, env = "TRIAGED_PLAYBOOKS", default_value = "./playbooks")]
    pub playbooks: PathBuf,
    /// Concurrent runs (0 accepts and stores webhooks but runs nothing).
    #[arg(long, env = "TRIAGED_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// Webhook signing secret(s): the app's client secret; comma-separated to rotate keys.
    #[arg(long, env = "INTERCOM_CLIENT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub client_secret: Option<SecretString>,
    #[command(flatten)]
    pub intercom: IntercomArgs,
    /// OpenAI-compatible API base URL (including `/v1`).
    #[arg(
        long,
        env = "TRIAGED_LLM_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub llm_base_url: String,
    /// LLM API key (`OPENAI_API_KEY` is read too). Without one, agent steps take their fallback.
    #[arg(long, env = "TRIAGED_LLM_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub llm_api_key: Option<SecretString>,
    #[arg(long, env = "OPENAI_API_KEY", hide = true, hide_env_values = true, value_parser = parse_secret)]
    pub openai_api_key: Option<SecretString>,
    /// Default model for agent steps.
    #[arg(long, env = "TRIAGED_LLM_MODEL", default_value = "gpt-4.1-mini")]
    pub llm_model: String,
    /// Domains a reply's URLs may link to, comma-separated (subdomains included); any other URL,
    /// and any markup the model wrote, reaches the customer as text. `none`: no links.
    #[arg(
        long,
        env = "TRIAGED_REPLY_LINK_DOMAINS",
        value_delimiter = ',',
        default_value = "intercom.help"
    )]
    pub reply_link_domains: Vec<String>,
    /// How long a conversation's events wait to be coalesced into one run.
    #[arg(long, env = "TRIAGED_DEBOUNCE", default_value = "15s", value_parser = parse_duration)]
    pub debounce: Duration,
    /// How long the workspace's lists of admins, teams, tags and ticket types are reused by every
    /// run before they are fetched again (a name missing from them is refreshed at once).
    #[arg(long, env = "TRIAGED_DIRECTORY_TTL", default_value = "5m", value_parser = parse_duration)]
    pub directory_ttl: Duration,
    /// Largest accepted webhook body, in bytes; larger bodies get 413.
    #[arg(long, env = "TRIAGED_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// On SIGTERM/SIGINT, how long in-flight runs may take to finish before the process exits.
    /// Short on purpose: a run cut off is resumed after the next start without doubling a write,
    /// while a long drain delays the restart (and, with one replica, the next webhooks).
    #[arg(long, env = "TRIAGED_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// On SIGTERM/SIGINT, the least time the receiver keeps storing webhooks (with `/readyz`
    /// answering 503) even when no run is in flight: a load balancer that routes by `/readyz` needs
    /// its probe period plus its sync time to stop sending here. Part of the grace, not added to
    /// it. 0: HTTP stops once the runs in flight have finished (in Kubernetes, preStop's sleep
    /// keeps the pod serving while the endpoints are updated).
    #[arg(long, env = "TRIAGED_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_duration)]
    pub shutdown_delay: Duration,
    /// Longest time a request may take, body upload included (a sender that stops mid-body is
    /// answered 408). Intercom itself gives up on a webhook after 5 s.
    #[arg(long, env = "TRIAGED_REQUEST_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this long (also the
    /// longest wait for a request's headers). Above the 60 s idle timeout of common load
    /// balancers, so they close first.
    #[arg(long, env = "TRIAGED_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Open connections on the HTTP port; further clients wait in the kernel's accept queue.
    #[arg(long, env = "TRIAGED_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// How often an idle worker looks for new jobs.
    #[arg(long, env = "TRIAGED_POLL_INTERVAL", default_value = "200ms", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Worker heartbeat; jobs of a worker silent for two heartbeats (a crashed process) run again.
    #[arg(long, env = "TRIAGED_HEARTBEAT", default_value = "10s", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// A conversation that already got this many bot replies in the last hour is handed to humans
    /// instead of answered again (stops any reply loop that gets past the echo rules).
    #[arg(long, env = "TRIAGED_MAX_BOT_REPLIES_PER_HOUR", default_value_t = 5)]
    pub max_bot_replies_per_hour: u32,
    /// The team the loop guard assigns a conversation to (name or id) [default: the team in the
    /// matched playbook's fallback].
    #[arg(long, env = "TRIAGED_LOOP_GUARD_TEAM")]
    pub loop_guard_team: Option<String>,
    /// A conversation's lease expires this long after its run stopped renewing it (a crashed or
    /// paused process); the run renews it every third of this while it lives.
    #[arg(long, env = "TRIAGED_LEASE_TTL", default_value = "60s", value_parser = parse_duration)]
    pub lease_ttl: Duration,
    /// This app's `app_package_code` (parts it creates are the bot's) [default: learned from the
    /// bot's own parts].
    #[arg(long, env = "INTERCOM_APP_PACKAGE_CODE")]
    pub app_package_code: Option<String>,
    /// How long transient failures (Intercom or the LLM unavailable) are retried, with back-off,
    /// before the playbook's fallback runs so a human is told.
    #[arg(long, env = "TRIAGED_RETRY_FOR", default_value = "2h", value_parser = parse_duration)]
    pub retry_for: Duration,
    /// At most this many attempts per event, the first included, whichever of this and
    /// `TRIAGED_RETRY_FOR` runs out first [default: no limit but the time].
    #[arg(long, env = "TRIAGED_MAX_ATTEMPTS")]
    pub max_attempts: Option<u32>,
    /// Back-off before the second attempt (doubles after, up to 10 minutes).
    #[arg(long, env = "TRIAGED_RETRY_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub retry_delay: Duration,
    /// Rehearsal: hold every job this long before working on it.
    #[arg(long, env = "TRIAGED_JOB_HOLD", default_value = "0s", value_parser = parse_duration, hide = true)]
    pub job_hold: Duration,
    /// The URL users reach the daemon at, e.g. `https://triage.example.com` (MCP URLs, allowed
    /// hosts and origins, console links).
    #[arg(long, env = "TRIAGED_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Extra `Host` values `/mcp` accepts, comma-separated (loopback and the public URL's host
    /// always are).
    #[arg(long, env = "TRIAGED_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,
    /// MCP tool calls a minute per token (a token created with `--rate-limit` has its own).
    #[arg(long, env = "TRIAGED_MCP_RATE_LIMIT", default_value_t = super::mcp::DEFAULT_MCP_RATE_LIMIT)]
    pub mcp_rate_limit: u32,
    /// Percent of every Intercom rate-limit window MCP calls leave to the workers.
    #[arg(long, env = "TRIAGED_MCP_WORKER_RESERVE", default_value_t = super::mcp::DEFAULT_MCP_WORKER_RESERVE)]
    pub mcp_worker_reserve: u8,
    /// Run against a built-in Intercom sandbox seeded with demo data (no credentials needed).
    #[arg(long)]
    pub sandbox: bool,
    /// With `--sandbox`: the address the built-in sandbox binds (its control API acts as a customer).
    #[arg(long, env = "SANDBOX_LISTEN", default_value = "127.0.0.1:8090")]
    pub sandbox_listen: SocketAddr,
    /// With `--sandbox`: a workspace YAML file to start from instead of the demo workspace.
    #[arg(long, env = "SANDBOX_SEED")]
    pub sandbox_seed: Option<PathBuf>,
    #[command(flatten)]
    pub console: super::ConsoleArgs,
}

/// `triaged sandbox` settings: the Intercom simulator alone, on its own port.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Address the sandbox binds.
    #[arg(long, env = "SANDBOX_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Where the sandbox POSTs its signed notifications (none when unset).
    #[arg(long, env = "SANDBOX_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// The client secret notifications are signed with (the first one when comma-separated; a
    /// printed demo value when unset).
    #[arg(long, env = "INTERCOM_CLIENT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub client_secret: Option<SecretString>,
    /// The bearer token the sandbox accepts (a printed demo value when unset).
    #[arg(long, env = "INTERCOM_ACCESS_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub access_token: Option<SecretString>,
    /// A workspace YAML file to start from instead of the demo workspace.
    #[arg(long, env = "SANDBOX_SEED")]
    pub seed: Option<PathBuf>,
    /// REST requests allowed per 10-second window (Intercom's default 10,000/min is 1666).
    #[arg(long, env = "SANDBOX_RATE_LIMIT", default_value_t = super::DEFAULT_SANDBOX_RATE_LIMIT)]
    pub rate_limit: u32,
}
