//! Retention: deletes what holds customer data once it is older than `TRIAGED_RETENTION` — raw
//! webhook bodies, run trails (prompts, model answers, tool results) and write arguments — while
//! run summaries, counts, tokens and costs stay for the reports.
//!
//! Never touches anything still needed: events still queued, runs still running or retrying, and
//! writes whose outcome is not known yet (`started`) are kept whatever their age.

use std::time::Duration;

use serde::Serialize;

use super::{Db, StoreError, Tx, with_tx};

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
    /// Deletes what is older than `retention` (see the module doc), in one transaction. On
    /// PostgreSQL one replica at a time does it (the others find the lock taken and skip).
    pub async fn prune(&self, retention: Duration) -> Result<Pruned, StoreError> {
        let backend = self.backend();
        let now = backend.now();
        let cutoff = backend.ago(retention.as_secs() as f64);
        let mut tx = self.begin_write().await?;
        if !tx.try_lock("triaged.retention").await? {
            tx.rollback().await?;
            return Ok(Pruned::default());
        }
        let event_bodies = with_tx!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_events SET raw_body = $1, pruned_at = {now} \
             WHERE received_at < {cutoff} AND pruned_at IS NULL AND status <> 'queued'"
        )))
        .bind(&b""[..])
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        let old_runs = format!(
            "SELECT id FROM runs WHERE started_at < {cutoff} AND pruned_at IS NULL \
             AND status NOT IN ('running', 'retrying')"
        );
        let run_steps = exec(
            &mut tx,
            format!("DELETE FROM run_steps WHERE run_id IN ({old_runs})"),
        )
        .await?;
        let actions = exec(
            &mut tx,
            format!(
                "UPDATE actions SET arguments = '{{}}', result = NULL, error = NULL \
                 WHERE run_id IN ({old_runs}) AND status <> 'started'"
            ),
        )
        .await?;
        let run_trails = exec(
            &mut tx,
            format!(
                "UPDATE runs SET pruned_at = {now}, last_error = NULL WHERE id IN ({old_runs})"
            ),
        )
        .await?;
        let sessions = exec(
            &mut tx,
            format!("DELETE FROM ui_sessions WHERE expires_at < {now}"),
        )
        .await?;
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

/// Runs `sql` (no parameters) in `tx`; returns the rows it touched.
async fn exec(tx: &mut Tx, sql: String) -> Result<u64, StoreError> {
    Ok(with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?)
}
