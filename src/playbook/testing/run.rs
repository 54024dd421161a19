//! Runs one case: a fresh in-process app (temporary SQLite file, the embedded sandbox on port 0,
//! only the playbook under test, debounce 0, the scripted model or the configured LLM), the
//! customer's message, a deterministic wait (webhooks flushed, queue drained — never a sleep), and
//! what happened read back from the run row, `run_steps`, `actions` and the sandbox.
//!
//! Every case gets its own app and files, removed afterwards; nothing touches the daemon's database
//! or a real Intercom workspace.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use anyhow::Context;
use serde_json::Value;

use super::case::{Case, CaseFile};
use crate::{
    app::App,
    config::{Config, EmbeddedSandbox, LlmConfig},
    llm::scripted::ScriptedLlm,
    playbook::Mode,
    store::runs::RunSummary,
};

/// How long a case with the scripted model may take to settle.
const SCRIPTED_PATIENCE: Duration = Duration::from_secs(30);
/// With a real LLM: an agent step's default wall time, plus room.
const REAL_LLM_PATIENCE: Duration = Duration::from_secs(180);
/// Flush-and-drain rounds: the customer's event, then the echoes of the bot's own writes.
const SETTLE_ROUNDS: usize = 3;

/// Who made a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Model,
    Step,
    Fallback,
}

/// One tool call of the run, in order.
#[derive(Debug, Clone)]
pub struct Call {
    pub by: By,
    pub tool: String,
    pub args: Value,
    /// The tool result's status (`ok`, `refused:…`), when recorded.
    pub status: Option<String>,
}

/// What a case's run did.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub conversation_id: String,
    /// The run of the customer's event (the first of the conversation).
    pub run: Option<RunSummary>,
    /// Whether the queue drained in time.
    pub settled: bool,
    pub calls: Vec<Call>,
    /// Model responses (LLM steps).
    pub llm_steps: u32,
    /// Customer-visible bot replies in the conversation afterwards.
    pub replies: Vec<String>,
    /// Internal notes by the bot afterwards.
    pub notes: u32,
    pub state: Option<String>,
    /// The assigned team's name afterwards.
    pub team: Option<String>,
    /// Problems of the scripted model (placeholders it could not fill).
    pub script_problems: Vec<String>,
    /// Scripted turns never taken.
    pub unused_turns: usize,
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "triaged-playbook-test-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(path.join("playbooks"))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The playbook's text with its top-level `mode:` set to `mode`, checked by parsing it again.
fn with_mode(text: &str, source: &Path, mode: Mode) -> anyhow::Result<String> {
    let name = match mode {
        Mode::Live => "live",
        Mode::Draft => "draft",
        Mode::Shadow => "shadow",
    };
    let line = regex::Regex::new(r"(?m)^mode:.*$")?;
    let text = if line.is_match(text) {
        line.replace(text, format!("mode: {name}").as_str())
            .into_owned()
    } else {
        format!("{text}\nmode: {name}\n")
    };
    match super::super::parse_str(&text, source) {
        Ok(p) if p.mode == mode => Ok(text),
        _ => anyhow::bail!(
            "could not set `mode: {name}` in {}: write `mode:` as a top-level line",
            source.display()
        ),
    }
}

/// Runs `case` of `file` and reports what happened; an error means the case could not run.
pub async fn run(file: &CaseFile, case: &Case) -> anyhow::Result<Observed> {
    let dir = TempDir::new().context("creating a temporary directory")?;
    let source = &file.playbook.source;
    let mut text =
        std::fs::read_to_string(source).with_context(|| format!("reading {}", source.display()))?;
    if let Some(mode) = case.mode {
        text = with_mode(&text, source, mode)?;
    }
    std::fs::write(
        dir.0
            .join("playbooks")
            .join(format!("{}.yaml", file.playbook.name)),
        text,
    )?;
    let scripted = match &case.model {
        Some(turns) => Some(
            ScriptedLlm::start(turns.clone())
                .await
                .context("starting the scripted model")?,
        ),
        None => None,
    };
    let url = format!("sqlite://{}", dir.0.join("triaged.db").display());
    // Reads TRIAGED_LLM_* from the environment: the real LLM for cases without `model`.
    let mut config = Config::for_tests(url, &[crate::sandbox::DEMO_CLIENT_SECRET]);
    config.playbooks = dir.0.join("playbooks");
    config.debounce = Duration::ZERO;
    config.job_hold = Duration::ZERO;
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.sandbox = Some(EmbeddedSandbox {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        seed: case.seed.clone(),
        rate_limit: crate::config::DEFAULT_SANDBOX_RATE_LIMIT,
    });
    if let Some(scripted) = &scripted {
        config.llm = LlmConfig {
            base_url: scripted.base_url(),
            api_key: Some(secrecy::SecretString::from("scripted")),
            model: "scripted".to_owned(),
        };
    }
    let patience = if scripted.is_some() {
        SCRIPTED_PATIENCE
    } else {
        REAL_LLM_PATIENCE
    };
    let app = match App::start(config).await {
        Ok(app) => app,
        Err(e) => {
            if let Some(scripted) = scripted {
                scripted.shutdown().await;
            }
            return Err(e.context("starting triaged"));
        }
    };
    let result = exercise(&app, case, scripted.as_ref(), patience).await;
    let stopped = app.shutdown().await;
    let mut observed = result?;
    if let Some(scripted) = scripted {
        observed.script_problems = scripted.problems();
        observed.unused_turns = scripted.unused_turns();
        scripted.shutdown().await;
    }
    stopped.context("stopping triaged")?;
    drop(dir);
    Ok(observed)
}

async fn exercise(
    app: &App,
    case: &Case,
    scripted: Option<&ScriptedLlm>,
    patience: Duration,
) -> anyhow::Result<Observed> {
    let sandbox = app.sandbox().context("the app runs without its sandbox")?;
    let customer = match (&case.customer, &case.conversation) {
        (Some(c), _) => c.clone(),
        (None, Some(id)) => {
            let conversation = sandbox
                .conversation(id)
                .with_context(|| format!("conversation {id} is not in the sandbox workspace"))?;
            conversation["contacts"]["contacts"][0]["id"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("conversation {id} has no contact; give `customer`"))?
        }
        (None, None) => anyhow::bail!("a new conversation needs a `customer`"),
    };
    let id = sandbox
        .customer_says(case.conversation.as_deref(), &customer, &case.message)
        .await
        .context("the customer's message")?;
    if let Some(scripted) = scripted {
        scripted.set_conversation(&id);
    }
    let mut settled = true;
    for _ in 0..SETTLE_ROUNDS {
        sandbox.flush_webhooks().await;
        if !app.runner().drain(patience).await? {
            settled = false;
            break;
        }
    }
    observe(app, id, settled).await
}

async fn observe(app: &App, conversation_id: String, settled: bool) -> anyhow::Result<Observed> {
    let db = app.db();
    let run = db
        .list_runs(None, 1000)
        .await?
        .into_iter()
        .rev()
        .find(|r| r.conversation_id.as_deref() == Some(conversation_id.as_str()));
    let mut observed = Observed {
        settled,
        ..Observed::default()
    };
    if let Some(run) = &run {
        let rows: Vec<(String, Option<String>, String)> = crate::with_pool!(db, |p| {
            sqlx::query_as(
                "SELECT kind, name, payload FROM run_steps WHERE run_id = $1 ORDER BY seq",
            )
            .bind(run.id)
            .fetch_all(p)
            .await
        })?;
        let mut by = By::Step;
        for (kind, name, payload) in rows {
            let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
            let name = name.unwrap_or_default();
            match kind.as_str() {
                "llm_response" => observed.llm_steps += 1,
                "fallback" => by = By::Fallback,
                "tool_call" => {
                    let raw = payload["arguments"].as_str().unwrap_or_default();
                    let args = serde_json::from_str(raw).unwrap_or(Value::String(raw.to_owned()));
                    observed.calls.push(Call {
                        by: By::Model,
                        tool: name,
                        args,
                        status: None,
                    });
                }
                "step" => observed.calls.push(Call {
                    by,
                    tool: name,
                    args: payload,
                    status: None,
                }),
                "tool_result" | "step_result" => {
                    if let Some(call) = observed.calls.iter_mut().rev().find(|c| c.tool == name)
                        && call.status.is_none()
                    {
                        let status = payload["status"].as_str().unwrap_or_default();
                        call.status = Some(status.to_lowercase());
                    }
                }
                _ => {}
            }
        }
        // What each write did (`done`, `drafted`, `shadowed`, `failed`), from `actions`.
        for call in &mut observed.calls {
            let key = crate::store::actions::key(run.id, &call.tool, &call.args);
            if let Some(action) = db.action(&key).await? {
                call.status = Some(action.status);
            }
        }
    }
    observed.run = run;
    if let Some(sandbox) = app.sandbox()
        && let Some(conversation) = sandbox.conversation(&conversation_id)
    {
        let bot = app.identity().admin_id.to_string();
        let parts = conversation["conversation_parts"]["conversation_parts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for part in parts
            .iter()
            .filter(|p| p["author"]["id"].as_str() == Some(bot.as_str()))
        {
            match part["part_type"].as_str() {
                Some("comment") => observed
                    .replies
                    .push(part["body"].as_str().unwrap_or_default().to_owned()),
                Some("note") => observed.notes += 1,
                _ => {}
            }
        }
        observed.state = conversation["state"].as_str().map(str::to_owned);
        let team = match &conversation["team_assignee_id"] {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if !s.is_empty() && s != "0" => Some(s.clone()),
            _ => None,
        };
        if let Some(team) = team {
            let teams = app.intercom().list_teams().await.ok();
            let name = teams
                .and_then(|t| t.teams.into_iter().find(|t| t.id.as_str() == team))
                .and_then(|t| t.name);
            observed.team = Some(name.unwrap_or(team));
        }
    }
    observed.conversation_id = conversation_id;
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYBOOK: &str = "name: a\nmode: draft   # comment\ntrigger:\n  topics: [conversation.user.created]\nsteps:\n  - close\n";

    #[test]
    fn the_mode_override_rewrites_the_top_level_mode_line_only() {
        let text = with_mode(PLAYBOOK, Path::new("a.yaml"), Mode::Live);
        assert!(text.is_ok_and(|t| t.contains("mode: live\n") && !t.contains("draft")));
        let without = PLAYBOOK.replace("mode: draft   # comment\n", "");
        let text = with_mode(&without, Path::new("a.yaml"), Mode::Shadow);
        assert!(text.is_ok_and(|t| t.ends_with("mode: shadow\n")));
    }
}
