//! Configuration: the one place settings are read. Plain data: `config` imports no stage; the
//! app builds each stage's own settings (queue, retry policy, sandbox) from what is here.
//!
//! Every setting is a flag and an environment variable (flags win), and may also come from a YAML
//! file given by `--config FILE` / `TRIAGED_CONFIG` whose keys are the environment variable names
//! (the file fills in what neither a flag nor the environment set). Parsed ([`args`]) into typed
//! structs and validated ([`validated`]) at start-up; an invalid or missing required setting is one
//! line naming the variable. Secrets are [`secrecy::SecretString`]s and never printed (not even by
//! `--help`).

pub mod args;
mod console;
mod layering;
pub mod mcp;
mod ranges;
pub mod validated;

use std::time::Duration;

pub use args::{DbArgs, GlobalArgs, IntercomArgs, PublicUrlArgs, SandboxArgs, ServeArgs};
use clap::ValueEnum;
pub use console::{ConsoleArgs, ConsoleConfig, ModelPrice};
pub use layering::parse_cli;
pub use mcp::McpConfig;
use secrecy::{ExposeSecret, SecretString};
pub use validated::{
    Config, EmbeddedSandbox, HttpConfig, IntercomConfig, LlmConfig, QueueConfig, RetryConfig,
    SandboxSettings, WebhookConfig, check_database_url,
};

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

/// Parses a duration such as `250ms`, `15s`, `3d`. Spaces around the value are ignored (a stray
/// space from an env file or a YAML value is not worth a refused start); spaces inside it
/// separate units (`1m 30s`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (use e.g. 250ms, 15s, 2m, 3d)"))
}

/// A secret setting (a token, a client secret, an API key): parsed straight into a
/// [`SecretString`], whose `Debug` prints `[REDACTED]`, so no `{:?}` of the arguments shows it.
pub fn parse_secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

/// Whether a secret setting is blank (unset, for every purpose).
pub fn is_blank(secret: &SecretString) -> bool {
    secret.expose_secret().trim().is_empty()
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// How SQLite makes a commit durable (`PRAGMA synchronous` in WAL mode; `TRIAGED_DURABILITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous = NORMAL`: a committed event survives a crash of the process (the WAL is in the
    /// OS page cache), but the last commits may be lost if the machine itself loses power.
    Normal,
    /// `synchronous = FULL`: every commit is fsynced before the webhook is answered; survives a
    /// machine crash too, at the cost of one fsync per commit.
    Full,
}

/// The bearer token the sandbox accepts when none is configured (printed at start).
pub const DEMO_ACCESS_TOKEN: &str = "sandbox-access-token";
/// The client secret the sandbox signs with when none is configured (printed at start).
pub const DEMO_CLIENT_SECRET: &str = "sandbox-client-secret";
/// `SANDBOX_RATE_LIMIT`'s default: Intercom's 10,000 calls a minute, split into six 10-second
/// windows.
pub const DEFAULT_SANDBOX_RATE_LIMIT: u32 = 10_000 / 6;

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, net::SocketAddr};

    use clap::{CommandFactory, FromArgMatches};

    use super::{
        layering::with_file_defaults,
        validated::{ServeArgsParser, split_secrets},
        *,
    };

    /// A command line shaped like `triaged`'s, without importing the `cli` module above `config`.
    #[derive(Debug, clap::Parser)]
    #[expect(
        clippy::large_enum_variant,
        reason = "only its clap command is built, never a value"
    )]
    enum Cli {
        Serve(ServeArgs),
        Sandbox(SandboxArgs),
    }

    #[test]
    fn config_is_plain_data_that_imports_no_other_module_of_the_crate() {
        // Arrows point down: every stage may read `config`, so `config` must not reach back up.
        let sources = [
            ("mod.rs", include_str!("mod.rs")),
            ("args.rs", include_str!("args.rs")),
            ("validated.rs", include_str!("validated.rs")),
            ("layering.rs", include_str!("layering.rs")),
            ("ranges.rs", include_str!("ranges.rs")),
        ];
        let needle = format!("{}::", "crate");
        for (file, text) in sources {
            let line = text.lines().position(|l| l.contains(&needle));
            assert_eq!(
                line, None,
                "src/config/{file} imports another module of the crate"
            );
        }
    }

    #[test]
    fn sqlite_urls_that_name_a_file_and_postgres_urls_that_name_a_host_are_database_urls() {
        for good in [
            "sqlite://triaged.db",
            "sqlite:///var/lib/t.db?mode=ro",
            "sqlite:t.db",
            "postgres://x/y",
            "postgres://triaged:secret@db.internal:5432/triaged?sslmode=require",
            "postgresql://postgres@127.0.0.1/postgres",
            "postgres:///triaged?host=/run/postgresql",
        ] {
            assert!(check_database_url(good).is_ok(), "{good}");
        }
        for bad in [
            "garbage",
            "sqlite://",
            "sqlite:",
            "",
            "sqlite://?mode=ro",
            "postgres://",
            "postgres:///triaged",
            "postgresql://user@/db",
            "mysql://x/y",
        ] {
            let error = check_database_url(bad).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("TRIAGED_DATABASE_URL: "),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn secrets_split_on_commas_and_ignore_blanks() {
        assert_eq!(split_secrets(Some(&" a, b ,,c ".into())).len(), 3);
        assert!(split_secrets(None).is_empty());
    }

    #[test]
    fn serve_without_a_secret_names_the_variable() {
        let mut args = <ServeArgsParser as clap::Parser>::parse_from(["triaged"]).serve;
        args.intercom.access_token = Some(SecretString::from("t"));
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
        assert!(bad.into_settings().is_err());
        let settings = args.into_settings().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.access_token.expose_secret(), DEMO_ACCESS_TOKEN);
        assert_eq!(
            settings.demo_notes.len(),
            2,
            "both demo values are announced"
        );
        assert!(settings.webhook_url.is_some());
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
