//! `/mcp` over real HTTP with plain JSON-RPC: scopes and filters in `tools/list` and `tools/call`,
//! annotations, a write made once and its retry, the 401s, `Origin` and `Host`, the body limit
//! and the per-token rate limit.

use reqwest::StatusCode;
use serde_json::{Value, json};
use triaged::store::tokens::TokenScope;

use super::{
    rpc::{Spec, call, post, request, rpc, start, token, tool_names},
    tokens::text,
};
use crate::tools::REFUND;

const READ_TOOLS: [&str; 11] = [
    "search_conversations",
    "get_conversation",
    "get_contact",
    "search_contacts",
    "get_visitor",
    "get_company",
    "list_ticket_types",
    "list_teams",
    "list_admins",
    "list_tags",
    "search_articles",
];

/// The JSON-RPC error of an answer (panics when it is a result).
fn error(answer: &Value) -> (i64, String) {
    let e = &answer["error"];
    assert!(e.is_object(), "expected a JSON-RPC error, got {answer}");
    (
        e["code"].as_i64().unwrap(),
        e["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_read_token_lists_no_write_tool_and_a_hidden_one_called_by_name_is_unknown() {
    let app = start().await;
    let (read, _) = token(&app, "reader", TokenScope::McpRead, Spec::default()).await;
    assert_eq!(tool_names(&app, &read).await, READ_TOOLS);

    let parts_before = app.parts(REFUND).len();
    let hidden = call(
        &app,
        &read,
        "reply_to_conversation",
        json!({"conversation_id": REFUND, "body": "Refunded!"}),
    )
    .await;
    let nonexistent = call(&app, &read, "delete_everything", json!({})).await;
    let (code, message) = error(&hidden);
    assert_eq!(code, -32602);
    assert_eq!(message, "unknown tool `reply_to_conversation`");
    assert_eq!(
        error(&nonexistent).0,
        code,
        "hidden and nonexistent look alike"
    );
    assert_eq!(app.parts(REFUND).len(), parts_before, "nothing was written");

    // Tags hide ticket and contact tools; tools narrow the tags further.
    let (tagged, _) = token(
        &app,
        "conversations-only",
        TokenScope::McpWrite,
        Spec {
            tags: Some(&["conversations"]),
            ..Spec::default()
        },
    )
    .await;
    let names = tool_names(&app, &tagged).await;
    assert!(names.iter().any(|n| n == "reply_to_conversation"));
    for hidden in [
        "create_ticket",
        "list_ticket_types",
        "get_contact",
        "search_contacts",
    ] {
        assert!(!names.iter().any(|n| n == hidden), "{hidden} in {names:?}");
    }
    assert_eq!(names.len(), 11, "{names:?}");
    let (narrow, _) = token(
        &app,
        "one-tool",
        TokenScope::McpRead,
        Spec {
            tags: Some(&["conversations"]),
            tools: Some(&["get_conversation", "list_tags"]),
            ..Spec::default()
        },
    )
    .await;
    assert_eq!(tool_names(&app, &narrow).await, ["get_conversation"]);
    let refused = call(
        &app,
        &narrow,
        "search_conversations",
        json!({"text": "refund"}),
    )
    .await;
    assert_eq!(error(&refused).1, "unknown tool `search_conversations`");
    let allowed = call(
        &app,
        &narrow,
        "get_conversation",
        json!({"conversation_id": REFUND}),
    )
    .await;
    let text = allowed["result"]["structuredContent"]["text"]
        .as_str()
        .unwrap();
    assert!(text.contains("charged twice"), "{text}");
}

#[tokio::test]
async fn every_tool_carries_deliberate_annotations_a_title_and_object_schemas() {
    let app = start().await;
    let (write, _) = token(&app, "writer", TokenScope::McpWrite, Spec::default()).await;
    let answer = rpc(&app, &write, "tools/list", json!({})).await;
    let tools = answer["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 21);
    for t in tools {
        let name = t["name"].as_str().unwrap();
        let a = &t["annotations"];
        assert!(t["title"].as_str().is_some_and(|s| !s.is_empty()), "{name}");
        assert_eq!(a["title"], t["title"], "{name}");
        assert_eq!(t["inputSchema"]["type"], "object", "{name}");
        assert_eq!(t["outputSchema"]["type"], "object", "{name}");
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(
                a[hint].is_boolean(),
                "{name}: {hint} is set on purpose: {a}"
            );
        }
        let read = READ_TOOLS.contains(&name);
        assert_eq!(a["readOnlyHint"], read, "{name}");
        if read {
            assert_eq!(a["destructiveHint"], false, "{name}");
            assert_eq!(a["openWorldHint"], false, "{name}");
            assert_eq!(a["idempotentHint"], true, "{name}");
        }
    }
    let hint = |name: &str, hint: &str| {
        tools.iter().find(|t| t["name"] == name).unwrap()["annotations"][hint].clone()
    };
    assert_eq!(hint("reply_to_conversation", "openWorldHint"), true);
    assert_eq!(hint("reply_to_conversation", "idempotentHint"), false);
    assert_eq!(hint("close_conversation", "destructiveHint"), true);
    assert_eq!(hint("add_note", "destructiveHint"), false);
    assert_eq!(answer["result"]["tools"][0]["name"], "search_conversations");
}

#[tokio::test]
async fn a_write_token_replies_once_and_a_retry_of_the_same_call_returns_the_first_result() {
    let app = start().await;
    let (write, _) = token(
        &app,
        "claude-support",
        TokenScope::McpWrite,
        Spec::default(),
    )
    .await;
    let args = json!({"conversation_id": REFUND, "body": "We refunded the duplicate charge."});
    let first = call(&app, &write, "reply_to_conversation", args.clone()).await;
    assert_eq!(first["result"]["isError"], false, "{first}");
    assert_eq!(app.bot_replies(REFUND).len(), 1);

    let retry = call(&app, &write, "reply_to_conversation", args.clone()).await;
    assert_eq!(
        retry["result"], first["result"],
        "the retry returns the first result"
    );
    assert_eq!(app.bot_replies(REFUND).len(), 1, "exactly one part");

    // A different call is not a retry: it is made.
    let other = call(
        &app,
        &write,
        "add_note",
        json!({"conversation_id": REFUND, "body": "x"}),
    )
    .await;
    assert_eq!(other["result"]["isError"], false, "{other}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(["mcp", "calls", "--json", "--token", "claude-support"])
        .env_remove("TRIAGED_CONFIG")
        .env("TRIAGED_DATABASE_URL", &app.database_url)
        .output()
        .expect("run triaged");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let calls: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let replies: Vec<&Value> = calls
        .iter()
        .filter(|c| c["tool"] == "reply_to_conversation")
        .collect();
    assert_eq!(replies.len(), 2, "{calls:#?}");
    let (retried, original) = (replies[0], replies[1]);
    assert_eq!(original["status"], "ok");
    assert_eq!(original["token_name"], "claude-support");
    assert_eq!(original["arguments"], args);
    assert!(original["duration_ms"].is_i64());
    let writes = original["writes"].as_array().unwrap();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0]["tool"], "reply_to_conversation");
    assert_eq!(writes[0]["status"], "done");
    assert_eq!(retried["status"], "ok");
    assert_eq!(retried["reason"], "replay");
    assert_eq!(retried["replay_of"], original["id"]);
    assert!(
        retried["writes"].as_array().unwrap().is_empty(),
        "the retry wrote nothing"
    );

    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"triaged_mcp_calls_total{tool="reply_to_conversation",status="ok"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn missing_malformed_unknown_expired_and_revoked_tokens_get_401_with_one_line() {
    let app = start().await;
    let (revoked, _) = token(&app, "gone", TokenScope::McpRead, Spec::default()).await;
    app.app.db().revoke_token("gone").await.unwrap();
    let (expired, _) = token(
        &app,
        "old",
        TokenScope::McpRead,
        Spec {
            expires_at: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1)),
            ..Spec::default()
        },
    )
    .await;
    let (ui, _) = token(&app, "console", TokenScope::Ui, Spec::default()).await;
    let unknown = format!("triaged_tok_{}", "A".repeat(43));
    let list = request("tools/list", json!({}));
    let cases: [(Option<&str>, &str); 6] = [
        (None, "missing token"),
        (Some("hunter2"), "malformed token"),
        (Some(&unknown), "unknown token"),
        (Some(&expired), "expired token"),
        (Some(&revoked), "revoked token"),
        (Some(&ui), "has scope ui"),
    ];
    for (bearer, reason) in cases {
        // The token as `Authorization: Bearer`, then in the path.
        let header = post(&app, "/mcp", bearer, &[], &list).await;
        let path = format!("/mcp/t/{}", bearer.unwrap_or_default());
        let in_path = post(&app, &path, None, &[], &list).await;
        for response in [header, in_path] {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{reason}");
            let body = response.text().await.unwrap();
            assert!(body.contains(reason), "{reason}: {body}");
            assert_eq!(body.trim().lines().count(), 1, "{body}");
        }
    }
}

#[tokio::test]
async fn the_path_token_works_alone_unless_it_was_created_with_an_api_key() {
    let app = start().await;
    let (plain, _) = token(&app, "chatgpt", TokenScope::McpRead, Spec::default()).await;
    let list = request("tools/list", json!({}));
    let ok = post(&app, &format!("/mcp/t/{plain}"), None, &[], &list).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let answer: Value = ok.json().await.unwrap();
    assert_eq!(answer["result"]["tools"].as_array().unwrap().len(), 11);

    let (keyed, key) = token(
        &app,
        "chatgpt-keyed",
        TokenScope::McpRead,
        Spec {
            api_key: true,
            ..Spec::default()
        },
    )
    .await;
    let key = key.unwrap();
    let path = format!("/mcp/t/{keyed}");
    let alone = post(&app, &path, None, &[], &list).await;
    assert_eq!(alone.status(), StatusCode::UNAUTHORIZED);
    assert!(alone.text().await.unwrap().contains("needs its API key"));
    let wrong = post(&app, &path, Some(&plain), &[], &list).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let with_key = post(&app, &path, Some(&key), &[], &list).await;
    assert_eq!(with_key.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_foreign_origin_or_host_gets_403_and_an_oversized_body_413() {
    let app = start().await;
    let (read, _) = token(&app, "reader", TokenScope::McpRead, Spec::default()).await;
    let list = request("tools/list", json!({}));
    let foreign = post(
        &app,
        "/mcp",
        Some(&read),
        &[("origin", "https://evil.example")],
        &list,
    )
    .await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let local = post(
        &app,
        "/mcp",
        Some(&read),
        &[("origin", "http://localhost:6274")],
        &list,
    )
    .await;
    assert_eq!(local.status(), StatusCode::OK);
    let host = post(
        &app,
        "/mcp",
        Some(&read),
        &[("host", "evil.example")],
        &list,
    )
    .await;
    assert_eq!(host.status(), StatusCode::FORBIDDEN);
    let huge = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "search_articles", "arguments": {"query": "x".repeat(300 * 1024)}}});
    let too_big = post(&app, "/mcp", Some(&read), &[], &huge).await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // No OAuth metadata is published (clients that find it stop sending the header).
    let prm = app
        .client
        .get(format!("{}/.well-known/oauth-protected-resource", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(prm.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_over_its_rate_limit_gets_a_tool_error_with_a_retry_hint_and_no_intercom_call() {
    let app = start().await;
    let (limited, _) = token(
        &app,
        "busy",
        TokenScope::McpRead,
        Spec {
            rate_limit: Some(2),
            ..Spec::default()
        },
    )
    .await;
    for _ in 0..2 {
        let ok = call(&app, &limited, "list_tags", json!({})).await;
        assert_eq!(ok["result"]["isError"], false, "{ok}");
    }
    let before = app.sandbox().stats().requests;
    let limited_answer = call(&app, &limited, "list_tags", json!({})).await;
    assert_eq!(app.sandbox().stats().requests, before, "no Intercom call");
    let result = &limited_answer["result"];
    assert_eq!(result["isError"], true, "{limited_answer}");
    assert_eq!(result["structuredContent"]["reason"], "rate_limited");
    let retry = result["structuredContent"]["retry_after_seconds"]
        .as_u64()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let message = result["content"][0]["text"].as_str().unwrap();
    assert!(
        message.contains("2 tool calls a minute; retry in"),
        "{message}"
    );
}

#[tokio::test]
async fn clients_on_older_revisions_get_their_own_revision_back_from_initialize() {
    let app = start().await;
    let (read, _) = token(&app, "old-client", TokenScope::McpRead, Spec::default()).await;
    for version in ["2025-06-18", "2025-11-25"] {
        let init = request(
            "initialize",
            json!({"protocolVersion": version, "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "0"}}),
        );
        let response = post(
            &app,
            "/mcp",
            Some(&read),
            &[("mcp-protocol-version", version)],
            &init,
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers().get("mcp-session-id").is_none(),
            "stateless: no session is kept"
        );
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["result"]["protocolVersion"], version, "{answer}");
        assert_eq!(answer["result"]["serverInfo"]["name"], "triaged");
        assert!(answer["result"]["capabilities"]["tools"].is_object());
    }
}
