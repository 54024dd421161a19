//! Configuration: the one place settings are read.
//!
//! Every setting is a flag and an environment variable (flags win), and may also come from a YAML
//! file given by `--config FILE` / `TRIAGED_CONFIG` whose keys are the environment variable names
//! (the file fills in what neither a flag nor the environment set). Parsed into typed structs and
//! validated at start-up; an invalid or missing required setting is one line naming the variable.
//! Secrets are [`SecretString`]s and never printed (not even by `--help`).

mod console;
mod layering;

pub use console::{ConsoleArgs, ConsoleConfig};

pub use layering::parse_cli;
use std::{io::IsTerminal, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use secrecy::SecretString;

use crate::{queue::QueueSettings, runner::RetryPolicy, store::Durability};

/// A setting that is missing or wrong; printed as one line at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is required for `triaged serve` (or run `triaged serve --sandbox`)")]
    Missing { var: &'static str },
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
}

/// Parses a duration such as `250ms`, `15s`, `3d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 250ms, 15s, 2m, 3d)"))
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

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
    /// Database URL: `sqlite://PATH` (created if missing).
    #[arg(
        long,
        env = "TRIAGED_DATABASE_URL",
        default_value = "sqlite://triaged.db"
    )]
    pub database_url: String,
    /// SQLite commit durability: `normal` survives a process crash; `full` also a machine crash.
    #[arg(long, env = "TRIAGED_DURABILITY", value_enum, default_value = "full")]
    pub durability: Durability,
}

/// Intercom settings, shared by `serve` and `tools call`.
#[derive(Debug, Clone, Args)]
pub struct IntercomArgs {
    /// Intercom REST access token.
    #[arg(long, env = "INTERCOM_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
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

/// `triaged serve` settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address the HTTP server binds.
    #[arg(long, env = "TRIAGED_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Playbook directory.
    #[arg(long, env = "TRIAGED_PLAYBOOKS", default_value = "./playbooks")]
    pub playbooks: PathBuf,
    /// Concurrent runs (0 accepts and stores webhooks but runs nothing).
    #[arg(long, env = "TRIAGED_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// Webhook signing secret(s): the app's client secret; comma-separated to rotate keys.
    #[arg(long, env = "INTERCOM_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
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
    #[arg(long, env = "TRIAGED_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,
    #[arg(long, env = "OPENAI_API_KEY", hide = true, hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// Default model for agent steps.
    #[arg(long, env = "TRIAGED_LLM_MODEL", default_value = "gpt-4.1-mini")]
    pub llm_model: String,
    /// How long a conversation's events wait to be coalesced into one run.
    #[arg(long, env = "TRIAGED_DEBOUNCE", default_value = "15s", value_parser = parse_duration)]
    pub debounce: Duration,
    /// Largest accepted webhook body, in bytes; larger bodies get 413.
    #[arg(long, env = "TRIAGED_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// On SIGTERM/SIGINT, how long in-flight runs may take to finish before the process exits.
    /// Short on purpose: a run cut off is resumed after the next start without doubling a write,
    /// while a long drain delays the restart (and, with one replica, the next webhooks).
    #[arg(long, env = "TRIAGED_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
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
    /// Attempts per event for transient errors, the first included.
    #[arg(long, env = "TRIAGED_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
    /// Back-off before the second attempt (doubles after, up to 10 minutes).
    #[arg(long, env = "TRIAGED_RETRY_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub retry_delay: Duration,
    /// Rehearsal: hold every job this long before working on it.
    #[arg(long, env = "TRIAGED_JOB_HOLD", default_value = "0s", value_parser = parse_duration, hide = true)]
    pub job_hold: Duration,
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
    pub console: ConsoleArgs,
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
    #[arg(long, env = "INTERCOM_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// The bearer token the sandbox accepts (a printed demo value when unset).
    #[arg(long, env = "INTERCOM_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// A workspace YAML file to start from instead of the demo workspace.
    #[arg(long, env = "SANDBOX_SEED")]
    pub seed: Option<PathBuf>,
    /// REST requests allowed per 10-second window (Intercom's default 10,000/min is 1666).
    #[arg(long, env = "SANDBOX_RATE_LIMIT", default_value_t = crate::sandbox::DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
}

impl SandboxArgs {
    /// The sandbox configuration, and the demo values used for unset credentials (to print).
    pub fn into_config(self) -> Result<(crate::sandbox::SandboxConfig, Vec<String>), ConfigError> {
        use crate::sandbox::{SandboxConfig, Seed};
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
        let mut config = SandboxConfig::demo(self.listen);
        let mut demo = Vec::new();
        match split_secrets(self.client_secret.as_deref()).first() {
            Some(secret) => {
                config.client_secret = secrecy::ExposeSecret::expose_secret(secret).to_owned();
            }
            None => demo.push(format!(
                "INTERCOM_CLIENT_SECRET is unset: signing with the demo secret {:?}",
                config.client_secret
            )),
        }
        match self.access_token.filter(|t| !t.trim().is_empty()) {
            Some(token) => config.access_token = token,
            None => demo.push(format!(
                "INTERCOM_ACCESS_TOKEN is unset: accepting the demo token {:?}",
                config.access_token
            )),
        }
        config.webhook_url = webhook_url;
        config.seed = self.seed.map_or(Seed::Demo, Seed::File);
        config.rate_limit = self.rate_limit;
        Ok((config, demo))
    }
}

/// Webhook receiver settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub secrets: Vec<SecretString>,
    pub max_body_bytes: usize,
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
    pub intercom: IntercomConfig,
    pub llm: LlmConfig,
    pub debounce: Duration,
    pub queue: QueueSettings,
    pub retry: RetryPolicy,
    pub shutdown_grace: Duration,
    pub job_hold: Duration,
    /// Bot replies per conversation per hour before the loop guard hands it to humans.
    pub max_bot_replies_per_hour: u32,
    /// Run against a built-in sandbox instead of Intercom.
    pub sandbox: Option<EmbeddedSandbox>,
    /// The console, LLM cost and retention.
    pub console: ConsoleConfig,
}

/// `serve --sandbox`: the built-in Intercom simulator the daemon runs against.
#[derive(Debug, Clone)]
pub struct EmbeddedSandbox {
    pub listen: SocketAddr,
    pub seed: Option<PathBuf>,
}

/// The longest back-off between two attempts of one event.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

impl Config {
    /// Validates `serve` arguments.
    pub fn from_serve_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let mut secrets = split_secrets(args.client_secret.as_deref());
        let mut access_token = args.intercom.access_token.filter(|t| !t.trim().is_empty());
        if args.sandbox {
            // The sandbox signs and authenticates with these; demo values when unset.
            if secrets.is_empty() {
                secrets.push(SecretString::from(crate::sandbox::DEMO_CLIENT_SECRET));
            }
            access_token.get_or_insert_with(|| crate::sandbox::DEMO_ACCESS_TOKEN.to_owned());
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
        if !args.db.database_url.starts_with("sqlite:") {
            return Err(ConfigError::Invalid {
                var: "TRIAGED_DATABASE_URL",
                message: format!(
                    "{:?} is not supported; use sqlite://PATH",
                    args.db.database_url
                ),
            });
        }
        if args.max_attempts == 0 {
            return Err(ConfigError::Invalid {
                var: "TRIAGED_MAX_ATTEMPTS",
                message: "must be at least 1".to_owned(),
            });
        }
        if args.poll_interval.is_zero() || args.heartbeat < Duration::from_secs(1) {
            return Err(ConfigError::Invalid {
                var: "TRIAGED_POLL_INTERVAL / TRIAGED_HEARTBEAT",
                message: "the poll interval must be above 0 and the heartbeat at least 1s"
                    .to_owned(),
            });
        }
        let api_key = args
            .llm_api_key
            .or(args.openai_api_key)
            .filter(|k| !k.trim().is_empty())
            .map(SecretString::from);
        let console = args.console.into_config()?;
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
            intercom: IntercomConfig {
                base_url: args.intercom.intercom_base_url,
                access_token: access_token.map(SecretString::from),
                admin_id: args.intercom.admin_id,
            },
            llm: LlmConfig {
                base_url: args.llm_base_url,
                api_key,
                model: args.llm_model,
            },
            debounce: args.debounce,
            queue: QueueSettings {
                workers: args.workers,
                poll_interval: args.poll_interval,
                heartbeat: args.heartbeat,
                grace: args.shutdown_grace,
            },
            retry: RetryPolicy {
                max_attempts: args.max_attempts,
                base_delay: args.retry_delay,
                max_delay: MAX_RETRY_DELAY,
            },
            shutdown_grace: args.shutdown_grace,
            job_hold: args.job_hold,
            max_bot_replies_per_hour: args.max_bot_replies_per_hour,
            sandbox: args.sandbox.then_some(EmbeddedSandbox {
                listen: args.sandbox_listen,
                seed: args.sandbox_seed,
            }),
        })
    }

    /// A configuration for tests and embedding: defaults, the given database and secrets, port 0,
    /// and a built-in sandbox on port 0 as Intercom.
    pub fn for_tests(database_url: String, secrets: &[&str]) -> Self {
        let mut args = <ServeArgsParser as clap::Parser>::parse_from(["triaged"]).serve;
        args.db.database_url = database_url;
        args.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        args.client_secret = Some(secrets.join(","));
        args.sandbox = true;
        args.sandbox_listen = SocketAddr::from(([127, 0, 0, 1], 0));
        args.poll_interval = Duration::from_millis(20);
        args.retry_delay = Duration::from_millis(100);
        args.debounce = Duration::ZERO;
        match Self::from_serve_args(args) {
            Ok(config) => config,
            Err(e) => unreachable!("the test configuration is valid: {e}"),
        }
    }
}

/// Only used to build a default [`ServeArgs`] for [`Config::for_tests`].
#[derive(Debug, clap::Parser)]
struct ServeArgsParser {
    #[command(flatten)]
    serve: ServeArgs,
}

/// `a, b ,c` → three secrets; empty entries are dropped.
fn split_secrets(raw: Option<&str>) -> Vec<SecretString> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(SecretString::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::{CommandFactory, FromArgMatches};

    use super::{layering::with_file_defaults, *};
    use crate::cli::Cli;

    #[test]
    fn secrets_split_on_commas_and_ignore_blanks() {
        assert_eq!(split_secrets(Some(" a, b ,,c ")).len(), 3);
        assert!(split_secrets(None).is_empty());
    }

    #[test]
    fn serve_without_a_secret_names_the_variable() {
        let mut args = <ServeArgsParser as clap::Parser>::parse_from(["triaged"]).serve;
        args.intercom.access_token = Some("t".into());
        let err = Config::from_serve_args(args).err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("INTERCOM_CLIENT_SECRET"));
    }

    #[test]
    fn the_sandbox_uses_printed_demo_credentials_when_none_are_set() {
        let matches = Cli::command()
            .try_get_matches_from([
                "triaged",
                "sandbox",
                "--webhook-url",
                "http://127.0.0.1:8080/webhooks/intercom",
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let sub = matches
            .subcommand_matches("sandbox")
            .unwrap_or_else(|| panic!("sandbox"));
        let args = SandboxArgs::from_arg_matches(sub).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(args.listen.port(), 8090);
        let mut bad = args.clone();
        bad.rate_limit = 0;
        assert!(bad.into_config().is_err());
        let (config, notes) = args.into_config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.access_token, crate::sandbox::DEMO_ACCESS_TOKEN);
        assert_eq!(notes.len(), 2, "both demo values are announced");
        assert!(config.webhook_url.is_some());
    }

    #[test]
    fn a_config_file_fills_in_what_flags_do_not_set() {
        let mut values = BTreeMap::new();
        values.insert("TRIAGED_WORKERS".to_owned(), "9".to_owned());
        values.insert("TRIAGED_LISTEN".to_owned(), "127.0.0.1:9999".to_owned());
        let command = with_file_defaults(Cli::command(), &values);
        let matches = command
            .try_get_matches_from(["triaged", "serve", "--listen", "127.0.0.1:1234"])
            .unwrap_or_else(|e| panic!("{e}"));
        let sub = matches
            .subcommand_matches("serve")
            .unwrap_or_else(|| panic!("serve"));
        assert_eq!(sub.get_one::<usize>("workers"), Some(&9));
        assert_eq!(
            sub.get_one::<SocketAddr>("listen").map(|a| a.port()),
            Some(1234)
        );
    }
}
