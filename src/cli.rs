//! The `triaged` command line: parses arguments (see [`crate::config`]) and runs one command.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};

mod trail;

use crate::{
    app::App,
    config::{Config, DbArgs, GlobalArgs, SandboxArgs, ServeArgs},
    store::{Db, StoreError, events::EventStatus, runs::RunStatus},
    telemetry,
};

/// Self-hosted autonomous triage for Intercom.
#[derive(Debug, Parser)]
#[command(name = "triaged", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: webhook receiver, workers and ops endpoints.
    Serve(Box<ServeArgs>),
    /// Run the Intercom sandbox simulator alone, on its own port, until SIGTERM/SIGINT.
    Sandbox(SandboxArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// The audit trail of runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Received webhooks.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Benchmarks against a running daemon.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Playbooks: validate them, print their JSON Schema.
    #[command(subcommand)]
    Playbook(PlaybookCommand),
    /// The tool registry; run one tool by hand.
    #[command(subcommand)]
    Tools(crate::tools::cli::ToolsCommand),
    /// Delete raw webhook bodies, run trails and write arguments older than the retention (run
    /// summaries, counts and costs stay). `triaged serve` does the same every hour.
    Prune {
        #[command(flatten)]
        db: DbArgs,
        /// Keep this much (e.g. `30d`, `72h`).
        #[arg(long, env = "TRIAGED_RETENTION", default_value = "30d", value_parser = crate::config::parse_duration)]
        retention: std::time::Duration,
        /// Print what was deleted as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Access tokens for MCP clients and the web console.
    #[command(subcommand)]
    Tokens(crate::mcp::cli::TokensCommand),
    /// The MCP server's audit of tool calls.
    #[command(subcommand)]
    Mcp(crate::mcp::cli::McpCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fire unique signed notifications; print throughput and p50/p99/max ack latency.
    Webhooks(crate::bench::BenchArgs),
    /// Run customer messages through the whole pipeline in this process (embedded sandbox,
    /// zero-latency model stand-in); print runs/s, latencies, Intercom and model traffic per run.
    Pipeline(crate::bench::pipeline::PipelineArgs),
}

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// Validate playbooks; print `file:line:col: message` for each problem and exit 1 on any.
    Check {
        /// Playbook files or directories [default: the playbook directory].
        paths: Vec<PathBuf>,
        /// Playbook directory, checked when no PATH is given.
        #[arg(long, env = "TRIAGED_PLAYBOOKS", default_value = "./playbooks")]
        playbooks: PathBuf,
    },
    /// Print the playbook JSON Schema (for editors and CI).
    Schema,
    /// Run playbook test cases (`*.test.yaml`) against an in-process daemon and sandbox; print
    /// each case's result and exit 1 on any failure.
    Test {
        /// Test files or directories [default: the playbook directory].
        paths: Vec<PathBuf>,
        /// Playbook directory, searched for `*.test.yaml` when no PATH is given.
        #[arg(long, env = "TRIAGED_PLAYBOOKS", default_value = "./playbooks")]
        playbooks: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Only runs with this status.
        #[arg(long, value_enum)]
        status: Option<RunStatus>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one run.
    Show {
        #[command(flatten)]
        db: DbArgs,
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List received webhooks, newest first.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Only events with this status.
        #[arg(long, value_enum)]
        status: Option<EventStatus>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Run a stored event again (re-parsing it if it was stored unparsed), or every event with
    /// a status (`--status failed`, optionally `--since 1h`). Writes are idempotent, so replaying
    /// an event that was already handled changes nothing in Intercom.
    #[command(group = clap::ArgGroup::new("which").required(true).args(["id", "status"]))]
    Replay {
        #[command(flatten)]
        db: DbArgs,
        /// The event's id (`events list` shows it).
        id: Option<i64>,
        /// Every event with this status instead of one id.
        #[arg(long, value_enum, conflicts_with = "id")]
        status: Option<EventStatus>,
        /// With `--status`: only events received this recently (`1h`, `30m`, `2d`).
        #[arg(long, requires = "status", value_parser = crate::config::parse_duration)]
        since: Option<std::time::Duration>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match crate::config::parse_cli::<Cli>() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // `playbook test` starts whole daemons; its report is the output, their logs only noise.
    let quiet = matches!(cli.command, Command::Playbook(PlaybookCommand::Test { .. }));
    telemetry::init_logging_with(cli.global.log_format(), if quiet { "off" } else { "info" });
    crate::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("triaged: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("triaged: {}", one_line(&e));
            if e.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// An error and its causes as one line, each cause printed once: many errors already end with
/// their cause's text (`cannot open database: file is not a database`), and printing the chain
/// as is would repeat it two or three times.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line.replace('\n', " ")
}

/// A setting or argument that cannot work (a malformed database URL, no database there): printed
/// as one line, exit code 2 like clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Opens the database of a command that only reads (`events list`, `runs`, …): refuses a
/// malformed URL or a missing file as a [`UsageError`] (so nothing is created under a mistyped
/// name), then opens it read-only, so it also works on a read-only directory.
pub async fn open_read_only(db: &DbArgs) -> anyhow::Result<Db> {
    crate::config::check_database_url(&db.database_url).map_err(|e| UsageError(e.to_string()))?;
    match Db::open_read_only(&db.database_url).await {
        Ok(handle) => Ok(handle),
        Err(e @ (StoreError::Missing { .. } | StoreError::Url { .. })) => {
            Err(UsageError(format!("TRIAGED_DATABASE_URL: {e}")).into())
        }
        Err(e) => Err(anyhow::Error::new(e).context("TRIAGED_DATABASE_URL")),
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve(*args).await,
        Command::Events(EventsCommand::Replay {
            db, id: Some(id), ..
        }) => trail::replay(&db, id).await,
        Command::Events(EventsCommand::Replay {
            db, status, since, ..
        }) => trail::replay_many(&db, status.unwrap_or(EventStatus::Failed), since).await,
        Command::Bench(BenchCommand::Pipeline(args)) => {
            crate::bench::pipeline::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Webhooks(args)) => {
            crate::bench::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Playbook(PlaybookCommand::Check { paths, playbooks }) => {
            let paths = if paths.is_empty() {
                vec![playbooks]
            } else {
                paths
            };
            Ok(check_playbooks(&paths))
        }
        Command::Playbook(PlaybookCommand::Test { paths, playbooks }) => {
            let paths = if paths.is_empty() {
                vec![playbooks]
            } else {
                paths
            };
            Ok(if crate::playbook::testing::run_paths(&paths).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Playbook(PlaybookCommand::Schema) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::playbook::schema())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sandbox(args) => sandbox(args).await,
        Command::Tools(command) => crate::tools::cli::run(command).await,
        Command::Prune {
            db,
            retention,
            json,
        } => {
            let pruned = open(&db).await?.prune(retention).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pruned)?);
            } else {
                println!(
                    "pruned data older than {}: {} event bodies, {} run trails ({} steps), {} \
                     write records, {} expired sessions",
                    humantime::format_duration(retention),
                    pruned.event_bodies,
                    pruned.run_trails,
                    pruned.run_steps,
                    pruned.actions,
                    pruned.sessions
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tokens(command) => crate::mcp::cli::run(command).await,
        Command::Mcp(command) => crate::mcp::cli::run_mcp(command).await,
        Command::Migrate(db) => {
            open(&db).await?;
            println!(
                "migrations applied to {}",
                crate::store::redact(&db.database_url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs(RunsCommand::List {
            db,
            status,
            limit,
            json,
        }) => trail::runs_list(&db, status, limit, json).await,
        Command::Runs(RunsCommand::Show { db, id, json }) => trail::runs_show(&db, id, json).await,
        Command::Events(EventsCommand::List {
            db,
            status,
            limit,
            json,
        }) => trail::events_list(&db, status, limit, json).await,
    }
}

/// `triaged playbook check`: every problem on stderr, or the warnings on stderr and a one-line
/// summary on stdout.
fn check_playbooks(paths: &[PathBuf]) -> ExitCode {
    let mut diagnostics = match crate::playbook::load_paths(paths) {
        Ok(set) if set.is_empty() => paths
            .iter()
            .map(|p| crate::playbook::Diagnostic {
                file: p.clone(),
                line: 0,
                column: 0,
                message: "no playbook files (*.yaml, *.yml) here".to_owned(),
            })
            .collect(),
        Ok(set) => {
            // Warnings do not fail the check: the playbooks load as they are.
            for warning in set.warnings() {
                eprintln!("{warning}");
            }
            let names: Vec<&str> = set.iter().map(|p| p.name.as_str()).collect();
            println!(
                "{} playbook{} OK: {}",
                set.len(),
                if set.len() == 1 { "" } else { "s" },
                names.join(", ")
            );
            return ExitCode::SUCCESS;
        }
        Err(diagnostics) => diagnostics,
    };
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    for d in &diagnostics {
        eprintln!("{d}");
    }
    eprintln!(
        "playbook check: {} error{}",
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    );
    ExitCode::FAILURE
}

/// Opens and migrates the database of a command (shared by the subcommands of other modules);
/// a malformed URL is a [`UsageError`].
pub(crate) async fn open(db: &DbArgs) -> anyhow::Result<Db> {
    crate::config::check_database_url(&db.database_url).map_err(|e| UsageError(e.to_string()))?;
    let handle = Db::open(&db.database_url, db.durability)
        .await
        .context("TRIAGED_DATABASE_URL")?;
    handle
        .migrate()
        .await
        .context("applying database migrations")?;
    Ok(handle)
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match Config::from_serve_args(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("triaged: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let app = App::start(config).await?;
    app.run_until(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// `triaged sandbox`: the simulator until SIGTERM/SIGINT.
async fn sandbox(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let (config, demo_notes) = match args.into_settings() {
        Ok(mut settings) => {
            let notes = std::mem::take(&mut settings.demo_notes);
            (crate::app::sandbox_config(settings), notes)
        }
        Err(e) => {
            eprintln!("triaged: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let webhook = config.webhook_url.clone();
    let sandbox = crate::sandbox::Sandbox::start(config).await?;
    println!("Intercom sandbox on {}", sandbox.base_url());
    for note in demo_notes {
        println!("  {note}");
    }
    println!(
        "  bot admin id (INTERCOM_ADMIN_ID): {}",
        sandbox.bot_admin_id()
    );
    match webhook {
        Some(url) => println!("  notifications go to {url}"),
        None => println!("  SANDBOX_WEBHOOK_URL is unset: no notifications are sent"),
    }
    println!(
        "  control API: {}/_sandbox/ (see `triaged sandbox --help`)",
        sandbox.base_url()
    );
    shutdown_signal().await;
    sandbox.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
