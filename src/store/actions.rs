//! The `actions` table: every write the bot makes to Intercom, keyed so it happens once.
//!
//! A write is recorded `started` before the call and `done` (with what it made) after it. A retry
//! that finds `done` returns the recorded result; one that finds `started` must first find out
//! whether the earlier call landed (see `tools::toolbox`).

use serde::Serialize;
use sha1::{Digest, Sha1};
use sqlx::FromRow;

use std::time::Instant;

use super::{Db, StoreError, leases::Lease, with_pool, with_tx};

/// What [`Db::claim_action`] decided for a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionClaim {
    /// This attempt may send the write, and should not start sending after `until` (half the
    /// lease's remaining time from the claim, on this host's clock: a process paused that long
    /// since the claim may be being taken over). A write outside a leased run has no such bound.
    Claimed { until: Option<Instant> },
    /// Another attempt already made it; what it made.
    Done { result_ref: Option<String> },
    /// The run's lease is gone, or a later attempt claimed the write: not to be sent.
    Fenced,
}

/// A recorded write.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Action {
    pub id: i64,
    pub idempotency_key: String,
    pub run_id: i64,
    pub conversation_id: Option<String>,
    pub tool: String,
    pub arguments: String,
    pub mode: String,
    /// `started`, `done`, `failed`, `drafted`, `shadowed`.
    pub status: String,
    pub result_ref: Option<String>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// An action as recorded before its call.
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    pub key: &'a str,
    pub run_id: i64,
    pub conversation_id: &'a str,
    pub tool: &'a str,
    pub arguments: &'a serde_json::Value,
    /// `live`, `draft` or `shadow`.
    pub mode: &'a str,
    /// `started`, `drafted` or `shadowed`.
    pub status: &'a str,
}

/// The key of a write: the run, the tool and its canonical arguments. The step number is left out
/// on purpose: a run resumed after a crash may number its steps differently, and the same write
/// must still be recognised.
pub fn key(run_id: i64, tool: &str, arguments: &serde_json::Value) -> String {
    let mut hash = Sha1::new();
    hash.update(run_id.to_string());
    hash.update(b"\0");
    hash.update(tool);
    hash.update(b"\0");
    hash.update(arguments.to_string());
    hex::encode(hash.finalize())
}

impl Db {
    /// The action with this key, if any.
    pub async fn action(&self, key: &str) -> Result<Option<Action>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_as(
            "SELECT * FROM actions WHERE idempotency_key = $1"
        )
        .bind(key)
        .fetch_optional(p)
        .await)?)
    }

    /// Records (or re-opens) an action before the call, outside a leased run (a draft or shadow
    /// record, or a write of an MCP or command-line run, whose key no other run shares). A write
    /// already `done` is left as it is.
    pub async fn begin_action(&self, a: &NewAction<'_>) -> Result<ActionClaim, StoreError> {
        self.claim_action(a, None).await
    }

    /// Claims a write for this run attempt before its call: only one attempt can win it.
    ///
    /// With a `lease` (a run's), the claim is taken in one write transaction that first checks the
    /// lease is still held (under the conversation's lock on PostgreSQL, so no other replica can
    /// take the conversation over in between), then records the action `started` with the
    /// lease's owner and epoch unless it is `done` or claimed by a later epoch. Without one, only
    /// a `done` write is refused.
    pub async fn claim_action(
        &self,
        a: &NewAction<'_>,
        lease: Option<&Lease>,
    ) -> Result<ActionClaim, StoreError> {
        let mut tx = self.begin_write().await?;
        let remaining = match lease {
            Some(lease) => match lease.remaining_in(&mut tx).await? {
                Some(remaining) => Some(remaining),
                None => {
                    tx.rollback().await?;
                    return Ok(ActionClaim::Fenced);
                }
            },
            None => None,
        };
        let sql = format!(
            "INSERT INTO actions (idempotency_key, run_id, conversation_id, tool, arguments, mode, \
               status, claimed_by, claim_epoch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status, \
               error = NULL, started_at = {}, claimed_by = excluded.claimed_by, \
               claim_epoch = excluded.claim_epoch \
             WHERE actions.status <> 'done' AND (actions.claim_epoch IS NULL \
               OR excluded.claim_epoch IS NULL OR actions.claim_epoch <= excluded.claim_epoch) \
             RETURNING id",
            self.backend().now()
        );
        let claimed: Option<i64> =
            with_tx!(&mut tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(a.key)
                .bind(a.run_id)
                .bind(a.conversation_id)
                .bind(a.tool)
                .bind(a.arguments.to_string())
                .bind(a.mode)
                .bind(a.status)
                .bind(lease.map(|l| l.owner.as_str()))
                .bind(lease.map(|l| l.epoch))
                .fetch_optional(c)
                .await)?;
        let claim = if claimed.is_some() {
            ActionClaim::Claimed {
                until: remaining.map(|r| Instant::now() + r / 2),
            }
        } else {
            let (status, result_ref): (String, Option<String>) = with_tx!(&mut tx, |c| {
                sqlx::query_as("SELECT status, result_ref FROM actions WHERE idempotency_key = $1")
                    .bind(a.key)
                    .fetch_one(c)
                    .await
            })?;
            if status == "done" {
                ActionClaim::Done { result_ref }
            } else {
                ActionClaim::Fenced
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Records how an action ended.
    pub async fn end_action(
        &self,
        key: &str,
        status: &str,
        result_ref: Option<&str>,
        result: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE actions SET status = $1, result_ref = $2, result = $3, error = $4, \
             finished_at = {} WHERE idempotency_key = $5",
            self.backend().now()
        );
        with_pool!(self, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status)
            .bind(result_ref)
            .bind(result)
            .bind(error)
            .bind(key)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The actions of a run, in order.
    pub async fn run_actions(&self, run_id: i64) -> Result<Vec<Action>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_as(
            "SELECT * FROM actions WHERE run_id = $1 ORDER BY id"
        )
        .bind(run_id)
        .fetch_all(p)
        .await)?)
    }

    /// The keys of the customer replies a run already made (sent or drafted), across its attempts:
    /// a resumed run's reply cap counts them.
    pub async fn run_replies(&self, run_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_scalar(
            "SELECT idempotency_key FROM actions WHERE run_id = $1 \
             AND tool = 'reply_to_conversation' AND status IN ('done', 'drafted')",
        )
        .bind(run_id)
        .fetch_all(p)
        .await)?)
    }

    /// Customer replies the bot made on a conversation in the last hour, sent (`live`) or drafted
    /// for review (`draft`): the loop guard counts both.
    pub async fn bot_replies_last_hour(&self, conversation_id: &str) -> Result<i64, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM actions WHERE conversation_id = $1 \
             AND tool = 'reply_to_conversation' AND status IN ('done', 'drafted') \
             AND started_at > {}",
            self.backend().ago(3600.0)
        );
        Ok(with_pool!(self, |p| sqlx::query_scalar(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(conversation_id)
        .fetch_one(p)
        .await)?)
    }

    /// Marks the conversation handed off to humans: the bot stays quiet on it.
    pub async fn hand_off(&self, conversation_id: &str, reason: &str) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO conversations (conversation_id, status, reason) VALUES ($1, 'handed_off', $2) \
             ON CONFLICT (conversation_id) DO UPDATE SET status = 'handed_off', reason = $2, \
               updated_at = {}",
            self.backend().now()
        );
        with_pool!(self, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(conversation_id)
            .bind(reason)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The bot may speak on the conversation again (a playbook re-engaged it).
    pub async fn reactivate(&self, conversation_id: &str) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE conversations SET status = 'active', reason = NULL, updated_at = {} \
             WHERE conversation_id = $1",
            self.backend().now()
        );
        with_pool!(self, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(conversation_id)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// `active` or `handed_off` (`active` when the bot never touched it).
    pub async fn conversation_status(&self, conversation_id: &str) -> Result<String, StoreError> {
        let status: Option<String> = with_pool!(self, |p| sqlx::query_scalar(
            "SELECT status FROM conversations WHERE conversation_id = $1"
        )
        .bind(conversation_id)
        .fetch_optional(p)
        .await)?;
        Ok(status.unwrap_or_else(|| "active".to_owned()))
    }
}
