//! `triaged tools list|call`: the tool registry on the command line, and one tool run by hand
//! against the configured Intercom (or a sandbox) — the same code path the agent uses.
//!
//! Part of the **tools** stage's edge: it builds a client and a [`Toolbox`] the way the daemon
//! does, and never bypasses the guard, the mode or the `actions` record.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{
    ALL, Access, ToolName,
    guard::{Reads, Scope},
    registry,
    toolbox::{CallStatus, ToolOutput, Toolbox},
};
use crate::{
    config::{DbArgs, IntercomArgs, IntercomConfig},
    ids::ConversationId,
    intercom::{IntercomClient, check_startup},
    playbook::Mode,
    store::{
        Db,
        events::{self, EventStatus, Inserted, NewEvent},
        runs::{self, RunEnd, RunStatus},
    },
};

/// `triaged tools …`.
#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// List every tool: name, access (read/write), tags, hints, description.
    List {
        /// One JSON array (fields `name`, `description`, `access`, `tags`, `hints`,
        /// `input_schema`) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run one tool against the configured Intercom, live, and print its result.
    Call(CallArgs),
}

/// `triaged tools call NAME --args JSON [--conversation ID]`.
#[derive(Debug, Clone, Args)]
pub struct CallArgs {
    /// The tool, e.g. `get_conversation` (see `triaged tools list`).
    pub name: String,
    /// The tool's arguments as one JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// The conversation the call may change (required for write tools: the guard only lets a
    /// write touch this conversation and tickets only for its contacts).
    #[arg(long)]
    pub conversation: Option<String>,
    #[command(flatten)]
    pub intercom: IntercomArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Runs a `tools` subcommand.
pub async fn run(command: ToolsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ToolsCommand::List { json } => {
            list(json)?;
            Ok(ExitCode::SUCCESS)
        }
        ToolsCommand::Call(args) => call(args).await,
    }
}

fn list(json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&registry())?);
        return Ok(());
    }
    println!("{:<22}  {:<6}  {:<14}  HINTS", "NAME", "ACCESS", "TAGS");
    for tool in ALL {
        let spec = tool.spec();
        let h = spec.hints;
        let hints: Vec<&str> = [
            (h.read_only, "read-only"),
            (h.destructive, "destructive"),
            (h.idempotent, "idempotent"),
            (h.customer_visible, "customer-visible"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        println!(
            "{:<22}  {:<6}  {:<14}  {}",
            spec.name,
            match spec.access {
                Access::Read => "read",
                Access::Write => "write",
            },
            spec.tags.join(","),
            hints.join(",")
        );
        println!("    {}", spec.description);
    }
    Ok(())
}

async fn call(args: CallArgs) -> anyhow::Result<ExitCode> {
    let Some(tool) = ToolName::parse(&args.name) else {
        let names: Vec<&str> = ALL.iter().map(|t| t.as_str()).collect();
        eprintln!(
            "triaged: there is no tool `{}`; tools: {}",
            args.name,
            names.join(", ")
        );
        return Ok(ExitCode::from(2));
    };
    let conversation = args
        .conversation
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if tool.access() == Access::Write && conversation.is_none() {
        eprintln!(
            "triaged: `{}` is a write tool: give --conversation ID (the only conversation it may \
             change)",
            tool.as_str()
        );
        return Ok(ExitCode::from(2));
    }
    let config = IntercomConfig {
        base_url: args.intercom.intercom_base_url.clone(),
        access_token: args
            .intercom
            .access_token
            .clone()
            .filter(|t| !crate::config::is_blank(t)),
        admin_id: args.intercom.admin_id.clone(),
    };
    let client = IntercomClient::from_config(&config).build()?;
    let identity = check_startup(&client, client.admin_id()).await?;
    let contact_ids = match conversation {
        Some(id) => client
            .retrieve_conversation(&ConversationId::from(id), false)
            .await
            .with_context(|| format!("reading conversation {id}"))?
            .contact_ids()
            .map(|c| c.to_string())
            .collect(),
        None => Vec::new(),
    };
    let db = Db::open(&args.db.database_url, args.db.durability)
        .await
        .context("TRIAGED_DATABASE_URL")?;
    db.migrate().await.context("applying database migrations")?;
    let run_id = start_run(&db, "cli", tool, &args.args, conversation).await?;
    // An operator at the command line: reads reach the workspace.
    let scope = Scope::conversation(conversation.unwrap_or_default(), contact_ids)
        .reading(Reads::Workspace)
        .allowing(ALL.iter().copied())
        .replies(1);
    let mut toolbox = Toolbox::new(
        client,
        db.clone(),
        identity.admin_id,
        run_id,
        Mode::Live,
        scope,
    );
    let started = std::time::Instant::now();
    let output = toolbox.call(tool.as_str(), &args.args).await;
    let ok = output.status == CallStatus::Ok;
    finish_run(&db, run_id, "cli", &output, started.elapsed()).await?;
    if ok {
        println!("{}", output.content);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("triaged: {} ({})", output.content, output.status);
        Ok(ExitCode::FAILURE)
    }
}

/// Ends the run of a manual call (`source`: `cli` or `mcp`, recorded as the run's reason).
pub async fn finish_run(
    db: &Db,
    run_id: i64,
    source: &str,
    output: &ToolOutput,
    took: std::time::Duration,
) -> Result<(), crate::store::StoreError> {
    let ok = output.status == CallStatus::Ok;
    let mut tx = db.begin_write().await?;
    runs::finish(
        &mut tx,
        run_id,
        &RunEnd {
            status: if ok {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            },
            outcome: if ok { "no_action" } else { "failed" },
            playbook: None,
            reason: Some(source),
            last_error: (!ok).then_some(output.content.as_str()),
            duration_ms: i64::try_from(took.as_millis()).unwrap_or(i64::MAX),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Opens the run a manual call is recorded under (`source`: `cli` for `tools call`, `mcp` for an
/// MCP client's write). Every write in the `actions` table belongs to a run and every run to an
/// event (foreign keys), so a manual call stores a synthetic event first: topic `source`, status
/// `processed` (no worker ever picks it up), the call itself as its body, and a unique dedupe
/// key. Each invocation is its own run, so calling a write twice by hand makes it twice, as a
/// person would expect (an MCP client's retry is recognised before this, see `mcp`).
pub async fn start_run(
    db: &Db,
    source: &str,
    tool: ToolName,
    arguments: &str,
    conversation: Option<&str>,
) -> Result<i64, crate::store::StoreError> {
    let now = jiff::Timestamp::now();
    let key = format!(
        "{source}:{}:{}:{}",
        now.as_nanosecond(),
        std::process::id(),
        fastrand::u64(..)
    );
    let body = serde_json::json!({"tool": tool.as_str(), "arguments": arguments}).to_string();
    let mut tx = db.begin_write().await?;
    let inserted = events::insert(
        &mut tx,
        &NewEvent {
            dedupe_key: &key,
            notification_id: None,
            topic: Some(source),
            app_id: None,
            conversation_id: conversation,
            created_at: Some(now.as_second()),
            delivery_attempts: None,
            status: EventStatus::Processed,
            parse_error: None,
            raw_body: body.as_bytes(),
        },
    )
    .await?;
    tx.commit().await?;
    let event_id = match inserted {
        Inserted::New(id) | Inserted::Duplicate(id) => id,
    };
    runs::start_or_resume(db, event_id, conversation, Some(source), 1).await
}
