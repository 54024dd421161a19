//! What a run used: the playbook and its version, the model, tokens (prompt, cached, completion)
//! and the estimated cost; and the day's LLM spend for the daily budget.

use std::collections::BTreeMap;

use super::{Db, StoreError, Tx, with_pool, with_tx};

/// A run's usage, written once its playbook has run.
#[derive(Debug, Clone, Default)]
pub struct RunUsage<'a> {
    pub playbook: &'a str,
    /// The playbook's content hash.
    pub version: &'a str,
    pub mode: &'a str,
    /// The model of its agent step, if it called one.
    pub model: Option<&'a str>,
    pub prompt_tokens: u32,
    pub cached_tokens: u32,
    pub completion_tokens: u32,
    /// Estimated, from the price table.
    pub cost_usd: f64,
}

impl Db {
    /// Adds `usage` to the run (a resumed run adds to what its earlier attempts used).
    pub async fn record_usage(&self, run_id: i64, usage: &RunUsage<'_>) -> Result<(), StoreError> {
        with_pool!(self, |p| sqlx::query(
            "UPDATE runs SET playbook = $1, playbook_version = $2, mode = $3, \
             model = COALESCE($4, model), prompt_tokens = prompt_tokens + $5, \
             cached_tokens = cached_tokens + $6, completion_tokens = completion_tokens + $7, \
             cost_usd = cost_usd + $8 WHERE id = $9",
        )
        .bind(usage.playbook)
        .bind(usage.version)
        .bind(usage.mode)
        .bind(usage.model)
        .bind(i64::from(usage.prompt_tokens))
        .bind(i64::from(usage.cached_tokens))
        .bind(i64::from(usage.completion_tokens))
        .bind(usage.cost_usd)
        .bind(run_id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Estimated LLM spend (USD) of the runs started today (UTC), plus the steps recorded today by
    /// runs still going, for the daily budget.
    pub async fn llm_spent_today(&self) -> Result<f64, StoreError> {
        let today = self.backend().today();
        let spent =
            format!("SELECT COALESCE(SUM(cost_usd), 0.0) FROM runs WHERE started_at >= {today}");
        let spent: f64 = with_pool!(self, |p| sqlx::query_scalar(sqlx::AssertSqlSafe(spent))
            .fetch_one(p)
            .await)?;
        let in_flight = format!(
            "SELECT COALESCE(SUM(s.cost_usd), 0.0) FROM runs r JOIN run_steps s ON s.run_id = r.id \
             WHERE r.status = 'running' AND s.created_at >= {today}"
        );
        let in_flight: f64 =
            with_pool!(self, |p| sqlx::query_scalar(sqlx::AssertSqlSafe(in_flight))
                .fetch_one(p)
                .await)?;
        Ok(spent + in_flight)
    }
}

/// What the console shows of a run beyond its summary.
#[derive(Debug, Clone, Default, sqlx::FromRow, serde::Serialize)]
pub struct RunCost {
    pub playbook_version: Option<String>,
    pub mode: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: i64,
    pub cached_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    /// When retention deleted the run's trail.
    pub pruned_at: Option<String>,
    /// The run's Intercom requests as stored (a JSON object); see [`RunCost::intercom`].
    #[serde(skip)]
    pub intercom_requests: Option<String>,
}

impl RunCost {
    /// The run's Intercom requests by route; `None` when they were not recorded (a run from
    /// before they were, or one still going).
    pub fn intercom(&self) -> Option<BTreeMap<String, u32>> {
        self.intercom_requests
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
    }
}

/// Adds `counts` to the Intercom requests recorded for run `run_id` (a resumed run adds to what
/// its earlier attempts sent).
pub async fn add_intercom_requests(
    tx: &mut Tx,
    run_id: i64,
    counts: &BTreeMap<String, u32>,
) -> Result<(), StoreError> {
    let before: Option<String> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT intercom_requests FROM runs WHERE id = $1"
    )
    .bind(run_id)
    .fetch_optional(c)
    .await)?
    .flatten();
    let mut total: BTreeMap<String, u32> = before
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    for (route, n) in counts {
        *total.entry(route.clone()).or_default() += n;
    }
    // A map of strings to integers always encodes.
    let json = serde_json::to_string(&total).unwrap_or_default();
    with_tx!(tx, |c| sqlx::query(
        "UPDATE runs SET intercom_requests = $1 WHERE id = $2"
    )
    .bind(json)
    .bind(run_id)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

impl Db {
    /// The version, model, tokens and cost of run `id`.
    pub async fn run_cost(&self, id: i64) -> Result<Option<RunCost>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_as(
            "SELECT playbook_version, mode, model, prompt_tokens, cached_tokens, \
             completion_tokens, cost_usd, pruned_at, intercom_requests FROM runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }
}
