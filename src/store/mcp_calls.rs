//! The `mcp_calls` table: one row per MCP `tools/call` (token, tool, arguments, status, duration,
//! the run its write was made under), and the claim that makes a client's retry of a write return
//! the first call's result instead of writing again.
//!
//! This module stores and finds calls; it never runs a tool.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use super::{Db, StoreError, actions::Action, with_pool, with_tx};

/// How long a client's retry of the same write (same token, tool and arguments) returns the first
/// call's result instead of writing again. Long enough for any client's retry after a timeout,
/// short enough that the same note added deliberately an hour later is added.
pub const RETRY_WINDOW_SECONDS: i64 = 10 * 60;

/// A call still `pending` after this long is taken as dead (its process crashed), so a retry may
/// run it again; the write's own `actions` record still stops it landing twice.
const PENDING_DEAD_SECONDS: i64 = 120;

/// How a call ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Ok,
    /// Refused before it reached Intercom (unknown tool, bad arguments, the guard, rate limit).
    Refused,
    /// Intercom said no, or failed.
    Error,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Error => "error",
        }
    }
}

/// A call about to run.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    pub token_id: i64,
    pub token_name: &'a str,
    pub tool: &'a str,
    pub arguments: &'a serde_json::Value,
    pub protocol_version: Option<&'a str>,
    pub client: Option<&'a str>,
}

/// How a call ended.
#[derive(Debug, Clone)]
pub struct CallEnd<'a> {
    pub status: CallStatus,
    pub reason: Option<&'a str>,
    pub result: &'a str,
    pub run_id: Option<i64>,
    pub duration_ms: i64,
}

/// What the claim of a write found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// No such call in the window: run it (this call's row id).
    Fresh(i64),
    /// The same call succeeded in the window: return its result (this call's row id, recorded as
    /// a replay, and the first call's id and result).
    Replay { id: i64, first: i64, result: String },
    /// The same call is running right now (the first call's id): do not run it twice.
    InFlight { first: i64 },
}

/// A recorded call, for `triaged mcp calls`.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct McpCall {
    pub id: i64,
    pub token_name: String,
    pub tool: String,
    #[sqlx(try_from = "String")]
    pub arguments: JsonText,
    /// `pending`, `ok`, `refused` or `error`.
    pub status: String,
    pub reason: Option<String>,
    pub result: Option<String>,
    pub run_id: Option<i64>,
    pub replay_of: Option<i64>,
    pub protocol_version: Option<String>,
    pub client: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// The writes the call made (its run's `actions`).
    #[sqlx(skip)]
    pub writes: Vec<Action>,
}

/// Stored JSON text, printed as JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct JsonText(pub serde_json::Value);

impl From<String> for JsonText {
    fn from(text: String) -> Self {
        Self(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }
}

/// `value` with every object's keys sorted, so equal arguments hash equally.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&map[k]));
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical).collect())
        }
        other => other.clone(),
    }
}

/// The dedupe key of a write: token, tool and canonical arguments.
pub fn dedupe_key(token_id: i64, tool: &str, arguments: &serde_json::Value) -> String {
    let mut hash = Sha256::new();
    hash.update(token_id.to_string());
    hash.update(b"\0");
    hash.update(tool);
    hash.update(b"\0");
    hash.update(canonical(arguments).to_string());
    hex::encode(hash.finalize())
}

const INSERT: &str = "INSERT INTO mcp_calls (token_id, token_name, tool, arguments, status, \
    dedupe_key, protocol_version, client) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";

impl Db {
    /// Records a call as `pending` before it runs (reads, and refusals before any claim).
    pub async fn begin_mcp_call(&self, call: &NewCall<'_>) -> Result<i64, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_scalar(INSERT)
            .bind(call.token_id)
            .bind(call.token_name)
            .bind(call.tool)
            .bind(call.arguments.to_string())
            .bind("pending")
            .bind(None::<String>)
            .bind(call.protocol_version)
            .bind(call.client)
            .fetch_one(p)
            .await)?)
    }

    /// Claims a write: finds the same call (token, tool, arguments) in the retry window, or records
    /// this one as `pending`. One write transaction, so two concurrent retries cannot both run.
    pub async fn claim_mcp_write(&self, call: &NewCall<'_>) -> Result<Claim, StoreError> {
        let key = dedupe_key(call.token_id, call.tool, call.arguments);
        let mut tx = self.begin_write().await?;
        // Two retries of one call on two replicas: one decides, the other waits and sees it.
        tx.lock(&format!("triaged.mcp_write:{key}")).await?;
        let backend = tx.backend();
        let sql = format!(
            "SELECT id, status, result FROM mcp_calls WHERE dedupe_key = $1 AND replay_of IS NULL \
             AND ((status = 'ok' AND created_at > {}) \
              OR (status = 'pending' AND created_at > {})) \
             ORDER BY id DESC LIMIT 1",
            backend.ago(RETRY_WINDOW_SECONDS as f64),
            backend.ago(PENDING_DEAD_SECONDS as f64),
        );
        let earlier: Option<(i64, String, Option<String>)> =
            with_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&key)
                .fetch_optional(c)
                .await)?;
        if let Some((first, status, _)) = &earlier
            && status == "pending"
        {
            return Ok(Claim::InFlight { first: *first });
        }
        let id: i64 = with_tx!(&mut tx, |c| sqlx::query_scalar(INSERT)
            .bind(call.token_id)
            .bind(call.token_name)
            .bind(call.tool)
            .bind(call.arguments.to_string())
            .bind("pending")
            .bind(&key)
            .bind(call.protocol_version)
            .bind(call.client)
            .fetch_one(c)
            .await)?;
        let claim = match earlier {
            Some((first, _, result)) => {
                let result = result.unwrap_or_default();
                let sql = format!(
                    "UPDATE mcp_calls SET status = 'ok', reason = 'replay', result = $1, \
                     replay_of = $2, duration_ms = 0, finished_at = {} WHERE id = $3",
                    backend.now()
                );
                with_tx!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&result)
                    .bind(first)
                    .bind(id)
                    .execute(c)
                    .await
                    .map(|_| ()))?;
                Claim::Replay { id, first, result }
            }
            None => Claim::Fresh(id),
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Records how a call ended.
    pub async fn finish_mcp_call(&self, id: i64, end: &CallEnd<'_>) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE mcp_calls SET status = $1, reason = $2, result = $3, run_id = $4, \
             duration_ms = $5, finished_at = {} WHERE id = $6",
            self.backend().now()
        );
        with_pool!(self, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(end.status.as_str())
            .bind(end.reason)
            .bind(end.result)
            .bind(end.run_id)
            .bind(end.duration_ms)
            .bind(id)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Recorded calls, newest first, optionally of one token, with the writes each made.
    pub async fn list_mcp_calls(
        &self,
        token: Option<&str>,
        limit: i64,
    ) -> Result<Vec<McpCall>, StoreError> {
        let mut calls: Vec<McpCall> = with_pool!(self, |p| {
            sqlx::query_as(
            "SELECT id, token_name, tool, arguments, status, reason, result, run_id, replay_of, \
             protocol_version, client, duration_ms, created_at, finished_at FROM mcp_calls \
             WHERE ($1 IS NULL OR token_name = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(token)
        .bind(limit)
        .fetch_all(p)
        .await
        })?;
        for call in &mut calls {
            if let Some(run) = call.run_id {
                call.writes = self.run_actions(run).await?;
            }
        }
        Ok(calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dedupe_key_ignores_key_order_but_not_values() {
        let a = serde_json::json!({"conversation_id": "1", "body": "hi", "x": {"b": 1, "a": 2}});
        let b = serde_json::json!({"x": {"a": 2, "b": 1}, "body": "hi", "conversation_id": "1"});
        let c = serde_json::json!({"conversation_id": "1", "body": "hi!"});
        assert_eq!(dedupe_key(1, "add_note", &a), dedupe_key(1, "add_note", &b));
        assert_ne!(dedupe_key(1, "add_note", &a), dedupe_key(2, "add_note", &a));
        assert_ne!(dedupe_key(1, "add_note", &a), dedupe_key(1, "add_note", &c));
    }
}
