//! Retention: deletes what holds customer data once it is older than `TRIAGED_RETENTION` — raw
//! webhook bodies, run trails (prompts, model answers, tool results) and write arguments — while
//! run summaries, counts, tokens and costs stay for the reports.
//!
//! Never touches anything still needed: events still queued, runs still running or retrying, and
//! writes whose outcome is not known yet (`started`) are kept whatever their age.

use std::time::Duration;

use serde::Serialize;

use super::{Db, NOW, StoreError};

/// What one prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Events whose raw body was deleted.
    pub event_bodies: u64,
    /// Runs whose trail (prompts, transcripts) was deleted.
    pub run_trails: u64,
    /// Trail entries deleted.
    pub run_steps: u64,
    /// Writes whose arguments and results were deleted.
    pub actions: u64,
    /// Console sessions past their expiry.
    pub sessions: u64,
}

impl Pruned {
    /// Whether nothing was deleted.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Db {
    /// Deletes what is older than `retention` (see the module doc), in one transaction.
    pub async fn prune(&self, retention: Duration) -> Result<Pruned, StoreError> {
        let cutoff = format!(
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{} seconds')",
            retention.as_secs()
        );
        let mut tx = self.begin_write().await?;
        let event_bodies = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_events SET raw_body = X'', pruned_at = {NOW} \
             WHERE received_at < {cutoff} AND pruned_at IS NULL AND status <> 'queued'"
        )))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let old_runs = format!(
            "SELECT id FROM runs WHERE started_at < {cutoff} AND pruned_at IS NULL \
             AND status NOT IN ('running', 'retrying')"
        );
        let run_steps = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM run_steps WHERE run_id IN ({old_runs})"
        )))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let actions = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE actions SET arguments = '{{}}', result = NULL, error = NULL \
             WHERE run_id IN ({old_runs}) AND status <> 'started'"
        )))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let run_trails = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE runs SET pruned_at = {NOW}, last_error = NULL WHERE id IN ({old_runs})"
        )))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let sessions = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM ui_sessions WHERE expires_at < {NOW}"
        )))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Pruned {
            event_bodies,
            run_trails,
            run_steps,
            actions,
            sessions,
        })
    }
}
