//! `triaged tokens create|list|revoke` as the real binary, on a fresh database (either backend:
//! the CI matrix runs it on PostgreSQL too).

use std::process::Output;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::daemon::TestDb;
use triaged::store::{
    Db, Durability,
    tokens::{NewToken, Refusal, TokenScope},
};

/// A database for the binary and the test to share.
pub struct TokenDb {
    pub url: String,
    _db: TestDb,
    _dir: TempDir,
}

impl TokenDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDb::new_blocking(dir.path());
        Self {
            url: db.url.clone(),
            _db: db,
            _dir: dir,
        }
    }

    /// Runs `triaged ARGS…` on this database.
    pub fn triaged(&self, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
            .args(args)
            .env_remove("TRIAGED_CONFIG")
            .env_remove("TRIAGED_PUBLIC_URL")
            .env_remove("TRIAGED_LISTEN")
            .env("TRIAGED_DATABASE_URL", &self.url)
            .env("TRIAGED_LOG_FORMAT", "text")
            .output()
            .expect("run triaged")
    }

    /// `triaged tokens create … --json`, parsed; panics unless it succeeds.
    pub fn create(&self, args: &[&str]) -> Value {
        let mut all = vec!["tokens", "create"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = self.triaged(&all);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("one JSON document")
    }

    pub async fn open(&self) -> Db {
        Db::open(&self.url, Durability::Normal).await.expect("db")
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn a_created_token_is_printed_once_and_the_database_holds_only_its_sha256() {
    let db = TokenDb::new();
    let created = db.create(&[
        "chatgpt-support",
        "--scope",
        "mcp:read",
        "--tags",
        "conversations",
        "--require-api-key",
        "--rate-limit",
        "30",
    ]);
    let secret = created["token"].as_str().unwrap();
    let api_key = created["api_key"].as_str().unwrap();
    assert_eq!(created["name"], "chatgpt-support");
    assert!(
        secret.starts_with("triaged_tok_") && secret.len() == 12 + 43,
        "{secret}"
    );
    assert!(api_key.starts_with("triaged_key_"), "{api_key}");
    assert_eq!(created["mcp_url"], "http://127.0.0.1:8080/mcp");
    assert_eq!(
        created["mcp_path_url"],
        format!("http://127.0.0.1:8080/mcp/t/{secret}")
    );

    // Every column of every row, as text: neither secret appears; the hashes do.
    let pool = db.open().await;
    let rows: Vec<(String, String, Option<String>, String)> =
        triaged::with_pool!(pool, |p| sqlx::query_as(
            "SELECT name, secret_hash, api_key_hash, \
           name || scope || coalesce(tags,'') || coalesce(tools,'') || secret_hash || \
           coalesce(api_key_hash,'') || created_at FROM tokens",
        )
        .fetch_all(p)
        .await)
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (name, secret_hash, api_key_hash, everything) = &rows[0];
    assert_eq!(name, "chatgpt-support");
    assert_eq!(secret_hash, &hex::encode(Sha256::digest(secret.as_bytes())));
    assert_eq!(
        api_key_hash.as_deref(),
        Some(hex::encode(Sha256::digest(api_key.as_bytes())).as_str())
    );
    assert!(!everything.contains(secret) && !everything.contains(&secret[12..]));
    assert!(!everything.contains(api_key) && !everything.contains(&api_key[12..]));

    // The listing shows what the token is, never its secret.
    let out = db.triaged(&["tokens", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(!listed.contains(&secret[12..]) && !listed.contains(&api_key[12..]));
    let list: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(list[0]["name"], "chatgpt-support");
    assert_eq!(list[0]["scope"], "mcp:read");
    assert_eq!(list[0]["tags"], serde_json::json!(["conversations"]));
    assert_eq!(list[0]["requires_api_key"], true);
    assert_eq!(list[0]["rate_limit"], 30);
    assert_eq!(list[0]["revoked_at"], Value::Null);
    let table = text(&db.triaged(&["tokens", "list"]).stdout);
    assert!(
        table.contains("chatgpt-support") && table.contains("active"),
        "{table}"
    );
    assert!(!table.contains(&secret[12..]));

    // The secret verifies; the same shape with other bits does not.
    let token = pool.verify_token(secret).await.unwrap().unwrap();
    assert_eq!(token.scope, TokenScope::McpRead);
    assert!(token.api_key_matches(api_key));
    assert!(!token.api_key_matches(secret));
    let mut other = secret.to_owned();
    other.replace_range(20..21, if &secret[20..21] == "A" { "B" } else { "A" });
    assert_eq!(
        pool.verify_token(&other).await.unwrap().unwrap_err(),
        Refusal::Unknown
    );
    assert_eq!(
        pool.verify_token("hunter2").await.unwrap().unwrap_err(),
        Refusal::Malformed
    );
}

#[tokio::test]
async fn a_revoked_token_is_refused_and_listed_as_revoked() {
    let db = TokenDb::new();
    let secret = db.create(&["claude", "--scope", "mcp:write", "--expires", "30d"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let pool = db.open().await;
    assert!(pool.verify_token(&secret).await.unwrap().is_ok());

    let out = db.triaged(&["tokens", "revoke", "claude"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("token `claude` revoked"));
    assert_eq!(
        pool.verify_token(&secret).await.unwrap().unwrap_err(),
        Refusal::Revoked
    );
    let list: Vec<Value> =
        serde_json::from_slice(&db.triaged(&["tokens", "list", "--json"]).stdout).unwrap();
    assert!(list[0]["revoked_at"].is_string());
    assert!(list[0]["expires_at"].is_string());
    assert!(
        list[0]["last_used_at"].is_string(),
        "verification records the use"
    );

    let again = db.triaged(&["tokens", "revoke", "claude"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already revoked"));
    let missing = db.triaged(&["tokens", "revoke", "nobody"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("no token named `nobody`"));
}

#[tokio::test]
async fn an_expired_token_is_refused_as_expired() {
    let db = TokenDb::new();
    let pool = db.open().await;
    pool.migrate().await.unwrap();
    let created = pool
        .create_token(&NewToken {
            name: "old".into(),
            scope: TokenScope::Ui,
            tags: None,
            tools: None,
            expires_at: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1)),
            require_api_key: false,
            rate_limit: None,
        })
        .await
        .unwrap();
    let secret = triaged::store::tokens::expose(&created.secret);
    assert_eq!(
        pool.verify_token(secret).await.unwrap().unwrap_err(),
        Refusal::Expired
    );
    let table = text(&db.triaged(&["tokens", "list"]).stdout);
    assert!(
        table.contains("old") && table.contains("expired"),
        "{table}"
    );
}

#[test]
fn create_refuses_bad_scopes_tags_tools_expiries_and_taken_names_with_one_line_each() {
    let db = TokenDb::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["a", "--scope", "admin"],
            "unknown scope `admin`: use mcp:read, mcp:write or ui",
        ),
        (
            &["a", "--scope", "mcp:read", "--tags", "conversation"],
            "unknown tag `conversation`; tags:",
        ),
        (
            &["a", "--scope", "mcp:read", "--tools", "reply"],
            "unknown tool `reply`; tools:",
        ),
        (
            &["a", "--scope", "ui", "--tags", "conversations"],
            "are for MCP tokens, not scope ui",
        ),
        (
            &["a", "--scope", "mcp:read", "--rate-limit", "0"],
            "--rate-limit",
        ),
        (
            &[
                "a",
                "--scope",
                "mcp:read",
                "--expires",
                "2001-01-01T00:00:00Z",
            ],
            "is in the past",
        ),
        (
            &["a", "--scope", "mcp:read", "--expires", "soon"],
            "neither a duration nor RFC 3339",
        ),
        (
            &["has space", "--scope", "mcp:read"],
            "invalid token name `has space`",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["tokens", "create"];
        all.extend_from_slice(args);
        let out = db.triaged(&all);
        let err = text(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(message), "{args:?}: {err}");
    }
    db.create(&["taken", "--scope", "ui"]);
    let out = db.triaged(&["tokens", "create", "taken", "--scope", "mcp:read"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("a token named `taken` already exists"));
    let list: Vec<Value> =
        serde_json::from_slice(&db.triaged(&["tokens", "list", "--json"]).stdout).unwrap();
    assert_eq!(list.len(), 1, "nothing but the one good token was stored");
    assert_eq!(list[0]["scope"], "ui");
}
