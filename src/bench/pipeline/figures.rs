//! What `triaged bench pipeline` reads back and prints: the finished runs from the audit trail,
//! the process's memory, and the figures computed from them with the model's and the sandbox's
//! counters.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use anyhow::Context;

use super::PipelineArgs;
use crate::bench::model::Traffic;
use crate::{app::App, sandbox::DEFAULT_RATE_LIMIT};

/// One finished run, as the audit trail has it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct RunRow {
    conversation_id: Option<String>,
    received_at: String,
    started_at: String,
    finished_at: Option<String>,
    status: String,
    outcome: Option<String>,
    reason: Option<String>,
}

pub(super) async fn finished_runs(app: &App) -> anyhow::Result<Vec<RunRow>> {
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
pub(super) struct Memory {
    pub(super) rss_kib: u64,
    peak_kib: u64,
}

pub(super) fn memory() -> Memory {
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
pub(super) struct Figures {
    runs: usize,
    pub(super) failed: usize,
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
    pub(super) fn new(
        runs: &[RunRow],
        traffic: &HashMap<String, Traffic>,
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
        let sum = |f: fn(&Traffic) -> u64| traffic.values().map(f).sum::<u64>();
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

    pub(super) fn render(&self, args: &PipelineArgs) -> String {
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
            "database: {}",
            match (&args.database_url, args.replicas) {
                (None, _) => "SQLite (a temporary file)".to_owned(),
                (Some(_), 1) => "PostgreSQL, 1 replica".to_owned(),
                (Some(_), n) => format!("PostgreSQL, {n} replicas (webhooks spread in turn)"),
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

pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted.get(rank).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
