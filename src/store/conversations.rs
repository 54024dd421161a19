//! The bot's watermark per conversation (`conversations.seen_part_id`) and the snapshot each run
//! worked on (`runs.snapshot_part_id`); see `triage::seen` for what they mean.

use super::{Db, StoreError, Tx, with_pool, with_tx};

/// A reply whose outcome is unknown (see [`Db::unconfirmed_replies`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnconfirmedReply {
    /// The snapshot the reply's run answered.
    pub snapshot: String,
    /// The reply's recorded arguments (`{"conversation_id": …, "body": …}`; `{}` once retention
    /// has cleared them).
    pub arguments: String,
    /// When the write was claimed (RFC 3339).
    pub started_at: String,
}

impl Db {
    /// The newest part the bot has seen and acted upon, if a run recorded one.
    pub async fn watermark(&self, conversation_id: &str) -> Result<Option<String>, StoreError> {
        let mark: Option<Option<String>> = with_pool!(self, |p| sqlx::query_scalar(
            "SELECT seen_part_id FROM conversations WHERE conversation_id = $1"
        )
        .bind(conversation_id)
        .fetch_optional(p)
        .await)?;
        Ok(mark.flatten())
    }

    /// The snapshot of the newest run on the conversation that made a customer-visible reply (sent
    /// or drafted). Such a reply answered that snapshot even when its run never finished (the
    /// process was killed, or its event was then covered by a later one), so the bot has seen at
    /// least that far.
    pub async fn replied_snapshot(
        &self,
        conversation_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let snapshot: Option<Option<String>> = with_pool!(self, |p| sqlx::query_scalar(
            "SELECT r.snapshot_part_id FROM runs r WHERE r.conversation_id = $1 \
               AND r.snapshot_part_id IS NOT NULL AND EXISTS (SELECT 1 FROM actions a \
                 WHERE a.run_id = r.id AND a.tool = 'reply_to_conversation' \
                   AND a.status IN ('done', 'drafted')) \
             ORDER BY r.id DESC LIMIT 1",
        )
        .bind(conversation_id)
        .fetch_optional(p)
        .await)?;
        Ok(snapshot.flatten())
    }

    /// The replies a crash left unconfirmed on the conversation (recorded `started`, never `done`:
    /// the process died between sending and recording, or the run was covered by a later one
    /// before it found out), newest first, with the snapshot each one's run answered. Whether one
    /// landed is for the caller to tell from the conversation ([`crate::triage::seen`]).
    pub async fn unconfirmed_replies(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<UnconfirmedReply>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_as(
            "SELECT r.snapshot_part_id AS snapshot, a.arguments, a.started_at FROM actions a \
             JOIN runs r ON r.id = a.run_id WHERE a.conversation_id = $1 \
               AND a.tool = 'reply_to_conversation' AND a.status = 'started' \
               AND r.snapshot_part_id IS NOT NULL \
             ORDER BY a.id DESC LIMIT 10",
        )
        .bind(conversation_id)
        .fetch_all(p)
        .await)?)
    }

    /// Records the snapshot this attempt works on, unless the run already made a customer-visible
    /// reply (sent or drafted) in an earlier attempt: that reply answered the older snapshot.
    /// Returns the run's snapshot after the call.
    pub async fn note_snapshot(&self, run_id: i64, part_id: &str) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        with_tx!(&mut tx, |c| sqlx::query(
            "UPDATE runs SET snapshot_part_id = $1 WHERE id = $2 AND (snapshot_part_id IS NULL \
               OR NOT EXISTS (SELECT 1 FROM actions WHERE run_id = $2 \
                   AND tool = 'reply_to_conversation' AND status IN ('done', 'drafted')))",
        )
        .bind(part_id)
        .bind(run_id)
        .execute(c)
        .await
        .map(|_| ()))?;
        let snapshot: Option<String> = with_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT snapshot_part_id FROM runs WHERE id = $1"
        )
        .bind(run_id)
        .fetch_one(c)
        .await)?;
        tx.commit().await?;
        Ok(snapshot.unwrap_or_else(|| part_id.to_owned()))
    }
}

/// Moves the conversation's watermark to `part_id`, inside the run's final transaction.
pub async fn set_watermark(
    tx: &mut Tx,
    conversation_id: &str,
    part_id: &str,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO conversations (conversation_id, seen_part_id) VALUES ($1, $2) \
         ON CONFLICT (conversation_id) DO UPDATE SET seen_part_id = $2, updated_at = {}",
        tx.backend().now()
    );
    with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(conversation_id)
        .bind(part_id)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}
