//! The console's reports: runs over time by outcome, rates, failures by reason, durations, tokens
//! and cost per day, per-playbook figures, and the filtered, paginated lists of runs and events.
//! Read-only; every query is bounded by a period or a page size and uses an index on `started_at`,
//! `received_at` or the primary key.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Backend, Db, StoreError, events::EventSummary, runs::RunSummary, with_pool};

/// Outcomes that mean the bot answered the customer itself.
pub const AUTOMATED: &[&str] = &["resolved", "replied"];
/// Outcomes that mean humans took over (a failed run's fallback hands off too).
pub const HANDED_OFF: &[&str] = &["handed_off", "escalated", "failed"];

/// Runs of one time bucket, by outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Bucket {
    /// `2026-12-02T06` (hours) or `2026-12-02` (days).
    pub label: String,
    pub by_outcome: BTreeMap<String, i64>,
}

/// One day's LLM usage.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct DayUsage {
    pub day: String,
    pub prompt_tokens: i64,
    pub cached_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
}

/// The overview of a period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overview {
    pub buckets: Vec<Bucket>,
    pub totals: BTreeMap<String, i64>,
    /// Runs that ran a playbook.
    pub with_playbook: i64,
    pub failures: Vec<(String, i64)>,
    pub duration_p50_ms: Option<i64>,
    pub duration_p95_ms: Option<i64>,
    pub usage: Vec<DayUsage>,
}

impl Overview {
    /// Share of playbook runs whose outcome is in `outcomes`.
    pub fn rate(&self, outcomes: &[&str]) -> Option<f64> {
        let n: i64 = outcomes
            .iter()
            .map(|o| self.totals.get(*o).copied().unwrap_or(0))
            .sum();
        (self.with_playbook > 0).then(|| n as f64 / self.with_playbook as f64)
    }
}

/// Figures of one playbook over a period.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct PlaybookStats {
    pub playbook: String,
    pub runs: i64,
    pub resolved: i64,
    pub replied: i64,
    pub handed_off: i64,
    pub failed: i64,
    pub tokens: i64,
    pub cost_usd: f64,
    #[sqlx(skip)]
    pub median_ms: Option<i64>,
}

/// Filters of the runs list (all optional; `before` pages by id).
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub playbook: Option<String>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub conversation: Option<String>,
    pub event: Option<i64>,
    /// RFC 3339 lower bound on `started_at`.
    pub since: Option<String>,
    pub until: Option<String>,
    pub before: Option<i64>,
}

const RUN_COLUMNS: &str = "id, event_id, conversation_id, topic, playbook, status, outcome, \
                           reason, last_error, attempts, started_at, finished_at, duration_ms";

/// `started_at` bound for "the last `seconds`".
fn since_sql(backend: Backend, seconds: u64) -> String {
    backend.ago(seconds as f64)
}

/// SQL counting the rows where `condition` holds (a plain integer on both backends).
fn count_if(condition: &str) -> String {
    format!("CAST(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS BIGINT)")
}

impl Db {
    /// The overview of the last `seconds`, bucketed by hour (`hourly`) or day.
    pub async fn overview(&self, seconds: u64, hourly: bool) -> Result<Overview, StoreError> {
        let since = since_sql(self.backend(), seconds);
        let width = if hourly { 13 } else { 10 };
        let sql = format!(
            "SELECT substr(started_at, 1, {width}) AS b, outcome, COUNT(*) FROM runs \
             WHERE started_at >= {since} GROUP BY b, outcome ORDER BY b"
        );
        let rows: Vec<(String, Option<String>, i64)> =
            with_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(p)
                .await)?;
        let mut overview = Overview::default();
        for (label, outcome, n) in rows {
            let outcome = outcome.unwrap_or_else(|| "running".to_owned());
            *overview.totals.entry(outcome.clone()).or_default() += n;
            match overview.buckets.last_mut() {
                Some(b) if b.label == label => {
                    b.by_outcome.insert(outcome, n);
                }
                _ => overview.buckets.push(Bucket {
                    label,
                    by_outcome: BTreeMap::from([(outcome, n)]),
                }),
            }
        }
        let sql = format!(
            "SELECT COUNT(*) FROM runs WHERE started_at >= {since} AND playbook IS NOT NULL"
        );
        overview.with_playbook =
            with_pool!(self, |p| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(p)
                .await)?;
        let sql = format!(
            "SELECT COALESCE(reason, '?'), COUNT(*) FROM runs WHERE started_at >= {since} \
             AND status = 'failed' GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
        );
        overview.failures = with_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(p)
            .await)?;
        let where_ =
            format!("started_at >= {since} AND playbook IS NOT NULL AND duration_ms IS NOT NULL");
        overview.duration_p50_ms = self.percentile_ms(&where_, 0.5).await?;
        overview.duration_p95_ms = self.percentile_ms(&where_, 0.95).await?;
        let sql = format!(
            "SELECT substr(started_at, 1, 10) AS day, \
             CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, \
             CAST(SUM(cached_tokens) AS BIGINT) AS cached_tokens, \
             CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, \
             SUM(cost_usd) AS cost_usd FROM runs WHERE started_at >= {since} \
             GROUP BY day ORDER BY day"
        );
        overview.usage = with_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(p)
            .await)?;
        Ok(overview)
    }

    /// The `q` quantile of `duration_ms` over the runs matching `where_` (nearest rank).
    async fn percentile_ms(&self, where_: &str, q: f64) -> Result<Option<i64>, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM runs WHERE {where_}");
        let n: i64 = with_pool!(self, |p| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(p)
            .await)?;
        if n == 0 {
            return Ok(None);
        }
        let offset = ((n as f64 * q).ceil() as i64 - 1).clamp(0, n - 1);
        let sql = format!(
            "SELECT duration_ms FROM runs WHERE {where_} ORDER BY duration_ms LIMIT 1 OFFSET {offset}"
        );
        Ok(with_pool!(self, |p| sqlx::query_scalar(
            sqlx::AssertSqlSafe(sql)
        )
        .fetch_optional(p)
        .await)?)
    }

    /// Per-playbook figures over the last `seconds`.
    pub async fn playbook_stats(&self, seconds: u64) -> Result<Vec<PlaybookStats>, StoreError> {
        let since = since_sql(self.backend(), seconds);
        let sql = format!(
            "SELECT playbook, COUNT(*) AS runs, {} AS resolved, {} AS replied, \
             {} AS handed_off, {} AS failed, \
             CAST(SUM(prompt_tokens + completion_tokens) AS BIGINT) AS tokens, \
             SUM(cost_usd) AS cost_usd \
             FROM runs WHERE started_at >= {since} AND playbook IS NOT NULL \
             GROUP BY playbook ORDER BY playbook",
            count_if("outcome = 'resolved'"),
            count_if("outcome = 'replied'"),
            count_if("outcome IN ('handed_off', 'escalated')"),
            count_if("status = 'failed'"),
        );
        let mut stats: Vec<PlaybookStats> =
            with_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(p)
                .await)?;
        for s in &mut stats {
            let name = s.playbook.replace('\'', "''");
            let where_ = format!(
                "started_at >= {since} AND playbook = '{name}' AND duration_ms IS NOT NULL"
            );
            s.median_ms = self.percentile_ms(&where_, 0.5).await?;
        }
        Ok(stats)
    }

    /// One page (`limit`, newest first) of runs matching `filter`.
    pub async fn find_runs(
        &self,
        filter: &RunFilter,
        limit: i64,
    ) -> Result<Vec<RunSummary>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE ($1 IS NULL OR playbook = $1) \
             AND ($2 IS NULL OR outcome = $2) AND ($3 IS NULL OR reason = $3) \
             AND ($4 IS NULL OR conversation_id = $4) AND ($5 IS NULL OR event_id = $5) \
             AND ($6 IS NULL OR started_at >= $6) AND ($7 IS NULL OR started_at < $7) \
             AND ($8 IS NULL OR id < $8) ORDER BY id DESC LIMIT $9"
        );
        Ok(with_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql
        ))
        .bind(&filter.playbook)
        .bind(&filter.outcome)
        .bind(&filter.reason)
        .bind(&filter.conversation)
        .bind(filter.event)
        .bind(&filter.since)
        .bind(&filter.until)
        .bind(filter.before)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// One page of events with `status` and `topic` (both optional), newest first.
    pub async fn find_events(
        &self,
        status: Option<&str>,
        topic: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventSummary>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_as(
            "SELECT id, notification_id, topic, conversation_id, received_at, status, \
             delivery_attempts, parse_error, processed_at FROM webhook_events \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR topic = $2) \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(status)
        .bind(topic)
        .bind(before)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Ids of the events with `status` received in the last `seconds`, oldest first.
    pub async fn event_ids_since(
        &self,
        status: &str,
        seconds: u64,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "SELECT id FROM webhook_events WHERE status = $1 AND received_at >= {} ORDER BY id",
            since_sql(self.backend(), seconds)
        );
        Ok(with_pool!(self, |p| sqlx::query_scalar(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(status)
        .fetch_all(p)
        .await)?)
    }
}

/// One MCP tool call, as the console lists it (no arguments or results: those stay in the audit
/// table and `triaged mcp calls`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct McpCall {
    pub id: i64,
    pub token_name: String,
    pub tool: String,
    pub status: String,
    pub reason: Option<String>,
    pub run_id: Option<i64>,
    pub client: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: String,
}

impl Db {
    /// The newest MCP tool calls.
    pub async fn recent_mcp_calls(&self, limit: i64) -> Result<Vec<McpCall>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_as(
            "SELECT id, token_name, tool, status, reason, run_id, client, duration_ms, created_at \
             FROM mcp_calls ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }
}
