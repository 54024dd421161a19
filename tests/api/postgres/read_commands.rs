//! Every read command gives the same answer on PostgreSQL as on SQLite for the same rows, and a
//! PostgreSQL server that cannot be reached is one line naming the setting.

use triaged::{
    store::{
        Db, Durability,
        mcp_calls::{CallEnd, CallStatus, NewCall},
        tokens::{NewToken, TokenScope},
    },
    with_pool,
};

use super::{TestPg, success, triaged};

/// One event, one run with a trail and a write, a token and an MCP call made by it: the same
/// statements on either backend.
pub async fn seed(db: &Db) {
    db.migrate().await.unwrap();
    for sql in [
        "INSERT INTO webhook_events (dedupe_key, notification_id, topic, app_id, conversation_id, \
           created_at, delivery_attempts, status, raw_body, job_seq) \
         VALUES ('notif_pg_1', 'notif_pg_1', 'conversation.user.replied', 'a86dr8yl', '7001', \
           1734537561, 1, 'processed', $1, 1)",
        "INSERT INTO runs (event_id, conversation_id, topic, playbook, status, outcome, attempts, \
           duration_ms, prompt_tokens, completion_tokens, cost_usd, mode) \
         VALUES (1, '7001', 'conversation.user.replied', 'refund-request', 'succeeded', \
           'replied', 1, 2500, 120, 30, 0.25, 'live')",
        "INSERT INTO run_steps (run_id, seq, kind, name, payload, prompt_tokens, completion_tokens) \
         VALUES (1, 1, 'llm_response', NULL, '{\"content\":\"hello\"}', 120, 30)",
        "INSERT INTO run_steps (run_id, seq, kind, name, payload) \
         VALUES (1, 2, 'tool_call', 'reply_to_conversation', '{\"body\":\"Refunded.\"}')",
        "INSERT INTO actions (idempotency_key, run_id, conversation_id, tool, arguments, mode, \
           status, result_ref) VALUES ('k1', 1, '7001', 'reply_to_conversation', \
           '{\"body\":\"Refunded.\"}', 'live', 'done', 'part_1')",
    ] {
        with_pool!(db, |p| sqlx::query(sql)
            .bind(&br#"{"type":"notification_event"}"#[..])
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let created = db
        .create_token(&NewToken {
            name: "claude".into(),
            scope: TokenScope::McpWrite,
            tags: Some(vec!["conversations".into()]),
            tools: None,
            expires_at: None,
            require_api_key: false,
            rate_limit: Some(30),
        })
        .await
        .unwrap();
    let arguments = serde_json::json!({"conversation_id": "7001"});
    let call = db
        .begin_mcp_call(&NewCall {
            token_id: created.token.id,
            token_name: "claude",
            tool: "get_conversation",
            arguments: &arguments,
            protocol_version: Some("2025-11-25"),
            client: Some("pytest"),
        })
        .await
        .unwrap();
    db.finish_mcp_call(
        call,
        &CallEnd {
            status: CallStatus::Ok,
            reason: None,
            result: "{}",
            run_id: Some(1),
            duration_ms: 12,
        },
    )
    .await
    .unwrap();
}

/// `value` without the fields that hold times (they differ between two databases).
fn timeless(mut value: serde_json::Value) -> serde_json::Value {
    match &mut value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !k.ends_with("_at"));
            for v in map.values_mut() {
                *v = timeless(v.take());
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                *v = timeless(v.take());
            }
        }
        _ => {}
    }
    value
}

const COMMANDS: [&[&str]; 6] = [
    &["events", "list", "--json"],
    &["runs", "list", "--json"],
    &["runs", "show", "1", "--json"],
    &["tokens", "list", "--json"],
    &["mcp", "calls", "--json"],
    &["runs", "list", "--status", "succeeded", "--json"],
];

#[tokio::test]
async fn every_read_command_answers_the_same_on_postgres_as_on_sqlite() {
    let pg = TestPg::new().await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("t.db").display());
    for url in [&pg.url, &sqlite] {
        let db = Db::open(url, Durability::Normal).await.unwrap();
        seed(&db).await;
        db.close().await;
    }
    for command in COMMANDS {
        let answer = |url: &str| {
            let out = success(
                &format!("{command:?} on {url}"),
                &triaged(dir.path(), url, command),
            );
            timeless(
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{command:?}: {e}: {out}")),
            )
        };
        let on_pg = answer(&pg.url);
        assert_eq!(on_pg, answer(&sqlite), "{command:?}");
        assert_ne!(on_pg, serde_json::json!([]), "{command:?} found the rows");
    }
    // The tables print too.
    let table = success(
        "runs list",
        &triaged(dir.path(), &pg.url, &["runs", "list"]),
    );
    assert!(table.contains("replied"), "{table}");
    let transcript = success(
        "runs show",
        &triaged(dir.path(), &pg.url, &["runs", "show", "1"]),
    );
    assert!(transcript.contains("Refunded."), "{transcript}");
}

#[tokio::test]
async fn read_commands_on_postgres_write_nothing() {
    let pg = TestPg::new().await;
    let dir = tempfile::tempdir().unwrap();
    let out = triaged(dir.path(), &pg.url, &["runs", "list"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "no schema yet: the read command does not make one"
    );
    let mut conn = pg.connect().await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 0, "a read command never migrates");
}

#[test]
fn an_unreachable_postgres_server_is_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    // A name that does not resolve fails at once; a refused port is retried for a few seconds
    // (a server still starting), so only one command tries it.
    for (url, commands) in [
        (
            "postgres://postgres@no-such-host.invalid/triaged",
            &[
                &["runs", "list"][..],
                &["events", "list"],
                &["tokens", "list"],
                &["migrate"],
            ][..],
        ),
        (
            "postgres://postgres@127.0.0.1:1/triaged",
            &[&["runs", "list"][..]][..],
        ),
    ] {
        for command in commands {
            let out = triaged(dir.path(), url, command);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{command:?} {url}: {err}");
            assert_eq!(err.lines().count(), 1, "{command:?} {url}: {err}");
            assert!(err.starts_with("triaged: TRIAGED_DATABASE_URL"), "{err}");
            assert!(out.stdout.is_empty());
        }
    }
}
