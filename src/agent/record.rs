//! Writes a run's audit trail (`run_steps`): every LLM request and response, tool call and result,
//! deterministic step and fallback, in order. Recording never fails a run: a write error is logged.

use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::Value;

use crate::store::Db;

/// Appends steps to one run's trail.
#[derive(Debug)]
pub struct Recorder {
    db: Db,
    run_id: i64,
    seq: AtomicI64,
}

/// One entry of the trail.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub kind: &'a str,
    pub name: Option<&'a str>,
    pub payload: Value,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// Of the prompt tokens, those served from the provider's cache.
    pub cached_tokens: Option<u32>,
    /// Estimated cost of this LLM call (USD); `None` for a model with no price.
    pub cost_usd: Option<f64>,
    pub duration_ms: Option<i64>,
}

impl Recorder {
    /// Continues after the steps the run already has (a resumed run keeps its earlier trail).
    pub async fn new(db: Db, run_id: i64) -> Self {
        let last: i64 = crate::with_pool!(db, |p| {
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM run_steps WHERE run_id = $1")
                .bind(run_id)
                .fetch_one(p)
                .await
        })
        .unwrap_or(0);
        Self {
            db,
            run_id,
            seq: AtomicI64::new(last),
        }
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    pub async fn record(&self, entry: Entry<'_>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let result = crate::with_pool!(self.db, |p| sqlx::query(
            "INSERT INTO run_steps (run_id, seq, kind, name, payload, prompt_tokens, \
             completion_tokens, cached_tokens, cost_usd, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(self.run_id)
        .bind(seq)
        .bind(entry.kind)
        .bind(entry.name)
        .bind(entry.payload.to_string())
        .bind(entry.prompt_tokens.map(i64::from))
        .bind(entry.completion_tokens.map(i64::from))
        .bind(entry.cached_tokens.map(i64::from))
        .bind(entry.cost_usd)
        .bind(entry.duration_ms)
        .execute(p)
        .await
        .map(|_| ()));
        if let Err(error) = result {
            tracing::error!(%error, run_id = self.run_id, "could not record a run step");
        }
    }
}
