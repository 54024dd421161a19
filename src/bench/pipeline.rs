//! `triaged bench pipeline`: the whole path, measured. Never part of the daemon.
//!
//! Starts the daemon in this process as `serve --sandbox` would (the embedded Intercom sandbox
//! with its real rate limit, a temporary SQLite file) with the LLM pointed at a zero-latency
//! stand-in ([`super::model`]); customers then write N messages over M conversations in the
//! sandbox, which sends the signed webhooks through the real receiver. When every event is
//! handled it prints runs/s, webhook → run start / first model request / run end latencies,
//! Intercom requests per run by endpoint, 429s, model requests and prompt bytes per run, and the
//! process's resident memory (the daemon, the sandbox and the stand-in together).
//!
//! Everything else is the daemon's usual configuration (`TRIAGED_*` variables), except the
//! database, the addresses, the LLM and what the flags below set.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;

use super::model::{Behaviour, BenchModel};
use crate::{app::App, config::Config, sandbox::DEFAULT_RATE_LIMIT};

/// The demo workspace's customers, who write the benchmark's messages in turn.
const CUSTOMERS: [&str; 2] = ["6762f1261bb69f9f21930001", "6762f1261bb69f9f21930002"];

/// Arguments of `triaged bench pipeline`.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// Customer messages to send.
    #[arg(long, default_value_t = 300)]
    pub messages: usize,
    /// Conversations they are spread over: the first message of each starts it, the others are
    /// replies (which may arrive while the conversation's run is in flight).
    #[arg(long, default_value_t = 300)]
    pub conversations: usize,
    /// What each customer writes.
    #[arg(
        long,
        default_value = "Hello, I was charged twice this month. Can I get a refund?"
    )]
    pub text: String,
    /// Playbook directory.
    #[arg(long, default_value = "./playbooks")]
    pub playbooks: PathBuf,
    /// Run a copy of the playbooks with `mode: live`, as production would (draft otherwise
    /// writes one review note instead of the reply).
    #[arg(long)]
    pub live: bool,
    /// Concurrent runs.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Debounce window; 0 measures the pipeline's own overhead.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub debounce: Duration,
    /// What the stand-in model does in a run.
    #[arg(long, value_enum, default_value = "read-then-reply")]
    pub model: Behaviour,
    /// The sandbox's REST budget per 10-second window (Intercom's 10,000 a minute by default);
    /// 0 turns the limit off, to measure the pipeline alone.
    #[arg(long, default_value_t = DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
    /// How long to wait for the queue to drain before giving up.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub patience: Duration,
    /// Customer messages per second (0: as fast as the sandbox takes them). A rate the workers
    /// keep up with measures the pipeline's latency rather than the queue's.
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
}

/// Only used to read the daemon's defaults and `TRIAGED_*` settings.
#[derive(Debug, Parser)]
struct Serve {
    #[command(flatten)]
    serve: crate::config::ServeArgs,
}

/// Runs the benchmark and prints its figures; errors when a run failed or nothing ran.
pub async fn run(args: PipelineArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.messages > 0, "--messages must be at least 1");
    anyhow::ensure!(
        (1..=args.messages).contains(&args.conversations),
        "--conversations must be between 1 and --messages ({})",
        args.messages
    );
    let dir = tempfile::tempdir().context("a temporary directory for the database")?;
    let playbooks = if args.live {
        live_copy(&args.playbooks, &dir.path().join("playbooks"))?
    } else {
        args.playbooks.clone()
    };
    let model = BenchModel::start(args.model)
        .await
        .context("starting the model stand-in")?;
    let mut serve = Serve::try_parse_from(["triaged"])
        .context("reading the TRIAGED_* settings")?
        .serve;
    serve.db.database_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    serve.listen = ([127, 0, 0, 1], 0).into();
    serve.sandbox = true;
    serve.sandbox_listen = ([127, 0, 0, 1], 0).into();
    serve.playbooks = playbooks;
    serve.workers = args.workers;
    serve.debounce = args.debounce;
    serve.llm_base_url = model.base_url();
    serve.llm_api_key = Some("bench".into());
    let mut config = Config::from_serve_args(serve).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(sandbox) = config.sandbox.as_mut() {
        sandbox.rate_limit = match args.rate_limit {
            0 => u32::MAX,
            n => n,
        };
    }
    let app = App::start(config).await?;
    let idle_rss = memory().rss_kib;
    // Start-up's own requests (`/me`, `/admins`) are not the runs'.
    let before = app.sandbox().map(|s| s.stats()).unwrap_or_default();
    let report = drive(&app, &args).await;
    let traffic = model.traffic();
    let stats = since(
        &before,
        &app.sandbox().map(|s| s.stats()).unwrap_or_default(),
    );
    let runs = finished_runs(&app).await;
    app.shutdown().await?;
    model.shutdown().await;
    let elapsed = report?;
    let runs = runs?;
    let figures = Figures::new(&runs, &traffic, &stats, elapsed, idle_rss);
    print!("{}", figures.render(&args));
    anyhow::ensure!(!runs.is_empty(), "no run finished");
    anyhow::ensure!(
        figures.failed == 0,
        "{} run(s) failed: see `triaged runs list --status failed` on the database above",
        figures.failed
    );
    Ok(())
}

/// Customers write; waits until the webhooks are delivered and every event is handled. Returns
/// the time from the first message to the drained queue.
async fn drive(app: &App, args: &PipelineArgs) -> anyhow::Result<Duration> {
    let sandbox = app
        .sandbox()
        .context("the benchmark needs the embedded sandbox")?;
    let started = Instant::now();
    let mut conversations = Vec::with_capacity(args.conversations);
    let mut pace =
        (args.rate > 0).then(|| tokio::time::interval(Duration::from_secs(1) / args.rate));
    for i in 0..args.messages {
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        let customer = CUSTOMERS[i % CUSTOMERS.len()];
        if i < args.conversations {
            conversations.push(sandbox.customer_says(None, customer, &args.text).await?);
        } else {
            let id = &conversations[i % args.conversations];
            sandbox
                .customer_says(Some(id), customer, "Any news on this?")
                .await?;
        }
    }
    sandbox.flush_webhooks().await;
    let drained = app.runner().drain(args.patience).await?;
    anyhow::ensure!(
        drained,
        "the queue did not drain within --patience {:?}",
        args.patience
    );
    Ok(started.elapsed())
}

/// The sandbox's counters between two readings.
fn since(
    before: &crate::sandbox::SandboxStats,
    after: &crate::sandbox::SandboxStats,
) -> crate::sandbox::SandboxStats {
    let mut per_endpoint = after.per_endpoint.clone();
    for (endpoint, n) in &before.per_endpoint {
        if let Some(count) = per_endpoint.get_mut(endpoint) {
            *count -= (*n).min(*count);
        }
    }
    per_endpoint.retain(|_, n| *n > 0);
    crate::sandbox::SandboxStats {
        requests: after.requests - before.requests.min(after.requests),
        throttled: after.throttled - before.throttled.min(after.throttled),
        per_endpoint,
        ..after.clone()
    }
}

/// A copy of the playbook directory's `*.yaml` files (test cases and seeds left out) with their
/// `mode:` set to `live`.
fn live_copy(from: &Path, to: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries =
        std::fs::read_dir(from).with_context(|| format!("--playbooks {}", from.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.ends_with(".yaml") || name.ends_with(".test.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        std::fs::write(to.join(name), with_live_mode(&text))?;
    }
    Ok(to.to_path_buf())
}

/// `text` with its top-level `mode:` line set to `live` (added when there is none).
fn with_live_mode(text: &str) -> String {
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("mode:") {
                found = true;
                "mode: live".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect();
    if !found {
        out.push("mode: live".to_owned());
    }
    out.join("\n") + "\n"
}

/// One finished run, as the audit trail has it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct RunRow {
    conversation_id: Option<String>,
    received_at: String,
    started_at: String,
    finished_at: Option<String>,
    status: String,
    outcome: Option<String>,
    reason: Option<String>,
}

async fn finished_runs(app: &App) -> anyhow::Result<Vec<RunRow>> {
    let rows: Vec<RunRow> = crate::with_pool!(app.db(), |p| sqlx::query_as(
        "SELECT r.conversation_id, e.received_at, r.started_at, r.finished_at, r.status, \
         r.outcome, r.reason \
         FROM runs r JOIN webhook_events e ON e.id = r.event_id",
    )
    .fetch_all(p)
    .await)
    .context("reading the runs")?;
    Ok(rows)
}

/// Resident memory of this process, from `/proc/self/status` (0 where there is none).
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}

/// What the benchmark prints.
#[derive(Debug)]
struct Figures {
    runs: usize,
    failed: usize,
    /// Runs per `outcome` (`outcome: reason` where there is a reason).
    outcomes: BTreeMap<String, usize>,
    elapsed: Duration,
    to_start: Vec<Duration>,
    to_model: Vec<Duration>,
    to_done: Vec<Duration>,
    per_endpoint: BTreeMap<String, u64>,
    intercom_requests: u64,
    throttled: u64,
    peak_window_requests: u64,
    model_requests: u64,
    request_bytes: u64,
    prompt_bytes: u64,
    idle_rss_kib: u64,
    peak_rss_kib: u64,
}

impl Figures {
    fn new(
        runs: &[RunRow],
        traffic: &HashMap<String, super::model::Traffic>,
        stats: &crate::sandbox::SandboxStats,
        elapsed: Duration,
        idle_rss_kib: u64,
    ) -> Self {
        let at = |s: &str| s.parse::<jiff::Timestamp>().ok();
        let between = |a: jiff::Timestamp, b: jiff::Timestamp| {
            Duration::try_from(b.duration_since(a)).unwrap_or_default()
        };
        let mut first_event: HashMap<&str, jiff::Timestamp> = HashMap::new();
        let (mut to_start, mut to_done) = (Vec::new(), Vec::new());
        for run in runs {
            let Some(received) = at(&run.received_at) else {
                continue;
            };
            if let Some(c) = run.conversation_id.as_deref() {
                let first = first_event.entry(c).or_insert(received);
                *first = (*first).min(received);
            }
            if let Some(started) = at(&run.started_at) {
                to_start.push(between(received, started));
            }
            if let Some(done) = run.finished_at.as_deref().and_then(at) {
                to_done.push(between(received, done));
            }
        }
        let to_model = traffic
            .iter()
            .filter_map(|(conversation, t)| {
                let first = first_event.get(conversation.as_str())?;
                let asked = jiff::Timestamp::try_from(t.first_request?).ok()?;
                Some(between(*first, asked))
            })
            .collect();
        let mut outcomes = BTreeMap::new();
        for run in runs {
            let outcome = run.outcome.as_deref().unwrap_or(&run.status);
            let key = match &run.reason {
                Some(reason) => format!("{outcome}: {reason}"),
                None => outcome.to_owned(),
            };
            *outcomes.entry(key).or_insert(0) += 1;
        }
        let sum = |f: fn(&super::model::Traffic) -> u64| traffic.values().map(f).sum::<u64>();
        Self {
            runs: runs.len(),
            failed: runs.iter().filter(|r| r.status == "failed").count(),
            outcomes,
            elapsed,
            to_start: sorted(to_start),
            to_model: sorted(to_model),
            to_done: sorted(to_done),
            per_endpoint: stats.per_endpoint.clone(),
            intercom_requests: stats.requests,
            throttled: stats.throttled,
            peak_window_requests: stats.peak_window_requests,
            model_requests: sum(|t| t.requests),
            request_bytes: sum(|t| t.request_bytes),
            prompt_bytes: sum(|t| t.prompt_bytes),
            idle_rss_kib,
            peak_rss_kib: memory().peak_kib,
        }
    }

    fn render(&self, args: &PipelineArgs) -> String {
        use std::fmt::Write;
        let per_run = |n: u64| n as f64 / self.runs.max(1) as f64;
        let runs_per_s = self.runs as f64 / self.elapsed.as_secs_f64().max(1e-9);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "messages: {}{}  conversations: {}  workers: {}  debounce: {:?}  model: {:?}{}",
            args.messages,
            if args.rate > 0 {
                format!(" at {}/s", args.rate)
            } else {
                String::new()
            },
            args.conversations,
            args.workers,
            args.debounce,
            args.model,
            if args.live {
                "  playbooks: live copy"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "runs: {}  failed: {}  in {:.2}s  →  {runs_per_s:.1} runs/s",
            self.runs,
            self.failed,
            self.elapsed.as_secs_f64()
        );
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(outcome, n)| format!("{outcome} × {n}"))
            .collect();
        let _ = writeln!(out, "outcomes: {}", outcomes.join(", "));
        for (label, values) in [
            ("webhook → run start", &self.to_start),
            ("webhook → first model request", &self.to_model),
            ("webhook → run end", &self.to_done),
        ] {
            let _ = writeln!(
                out,
                "{label}: p50 {:.1} ms  p99 {:.1} ms",
                ms(percentile(values, 0.50)),
                ms(percentile(values, 0.99))
            );
        }
        let calls_per_run = per_run(self.intercom_requests);
        let _ = writeln!(
            out,
            "Intercom requests: {} ({calls_per_run:.2} per run), 429s: {}, busiest 10 s window: {}",
            self.intercom_requests, self.throttled, self.peak_window_requests
        );
        for (endpoint, n) in &self.per_endpoint {
            let _ = writeln!(out, "  {endpoint}: {:.2} per run", per_run(*n));
        }
        if calls_per_run > 0.0 && args.rate_limit == 0 {
            let bound = f64::from(DEFAULT_RATE_LIMIT) / 10.0 / calls_per_run;
            let _ = writeln!(
                out,
                "rate limit off; Intercom's default budget would bound this at {bound:.1} runs/s"
            );
        } else if calls_per_run > 0.0 {
            let bound = f64::from(args.rate_limit) / 10.0 / calls_per_run;
            let _ = writeln!(
                out,
                "budget bound ({} requests / 10 s ÷ requests per run): {bound:.1} runs/s; achieved {:.0} %",
                args.rate_limit,
                100.0 * runs_per_s / bound
            );
        }
        let _ = writeln!(
            out,
            "model: {:.2} requests per run, {:.0} prompt bytes per run ({:.0} request bytes)",
            per_run(self.model_requests),
            per_run(self.prompt_bytes),
            per_run(self.request_bytes)
        );
        let _ = writeln!(
            out,
            "memory (daemon + sandbox + stand-in): idle {:.1} MB, peak {:.1} MB",
            self.idle_rss_kib as f64 / 1024.0,
            self.peak_rss_kib as f64 / 1024.0
        );
        out
    }
}

fn sorted(mut v: Vec<Duration>) -> Vec<Duration> {
    v.sort_unstable();
    v
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted.get(rank).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests;
