//! The `tokens` table: access tokens for MCP clients (`mcp:read`, `mcp:write`) and the web console
//! (`ui`), one store for the whole product.
//!
//! A token is 256 random bits, base64url, behind a recognisable prefix (`triaged_tok_…`, so secret
//! scanners and people can spot a leaked one). Only its SHA-256 is stored: a fast hash is right for
//! a high-entropy random secret (slow password hashes exist to protect guessable passwords, and
//! would only add latency to every request). The secret is shown once, at creation. A token may
//! carry a second credential, an API key (`triaged_key_…`), also stored hashed.
//!
//! This module never decides what a token may do with the tools; it stores the scope and filters
//! and says whether a presented secret is valid, and if not, why.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Db, StoreError, with_pool};

/// The prefix of every token secret.
pub const TOKEN_PREFIX: &str = "triaged_tok_";
/// The prefix of every API key (the optional second credential).
pub const API_KEY_PREFIX: &str = "triaged_key_";
/// Random bytes per secret: 256 bits.
const SECRET_BYTES: usize = 32;
/// Length of the base64url text of [`SECRET_BYTES`] (no padding).
const SECRET_CHARS: usize = 43;
/// `last_used_at` is refreshed at most this often per token, so a busy client does not turn every
/// request into a database write.
const LAST_USED_EVERY_SECONDS: i64 = 60;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenScope {
    /// MCP, read tools only.
    #[serde(rename = "mcp:read")]
    McpRead,
    /// MCP, read and write tools.
    #[serde(rename = "mcp:write")]
    McpWrite,
    /// The web console.
    #[serde(rename = "ui")]
    Ui,
}

impl TokenScope {
    /// Every scope, for help texts.
    pub const ALL: &[Self] = &[Self::McpRead, Self::McpWrite, Self::Ui];

    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::McpRead => "mcp:read",
            Self::McpWrite => "mcp:write",
            Self::Ui => "ui",
        }
    }

    /// Whether the token may be used on `/mcp`.
    pub fn is_mcp(self) -> bool {
        matches!(self, Self::McpRead | Self::McpWrite)
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TokenScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|scope| scope.as_str() == s.trim())
            .ok_or_else(|| format!("unknown scope `{s}`: use mcp:read, mcp:write or ui"))
    }
}

/// A stored token, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    /// Only tools with one of these tags (MCP); `None`: no narrowing.
    pub tags: Option<Vec<String>>,
    /// Only these tools (MCP); `None`: no narrowing.
    pub tools: Option<Vec<String>>,
    /// Whether a path-token request must also carry the API key.
    pub requires_api_key: bool,
    /// MCP tool calls per minute; `None`: the server's default.
    pub rate_limit: Option<u32>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    #[serde(skip)]
    api_key_hash: Option<String>,
}

impl Token {
    /// A token as stored, for unit tests of code that decides by scope and filters.
    #[cfg(test)]
    pub(crate) fn example(
        scope: TokenScope,
        tags: Option<Vec<String>>,
        tools: Option<Vec<String>>,
    ) -> Self {
        Self {
            id: 1,
            name: "example".to_owned(),
            scope,
            tags,
            tools,
            requires_api_key: false,
            rate_limit: None,
            created_at: "2026-12-02T00:00:00.000Z".to_owned(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            api_key_hash: None,
        }
    }

    /// Whether `presented` is this token's API key (constant-time); `false` when it has none.
    pub fn api_key_matches(&self, presented: &str) -> bool {
        self.api_key_hash
            .as_deref()
            .is_some_and(|stored| hashes_equal(stored, &hash(presented.trim())))
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub scope: TokenScope,
    pub tags: Option<Vec<String>>,
    pub tools: Option<Vec<String>>,
    pub expires_at: Option<Timestamp>,
    pub require_api_key: bool,
    /// MCP tool calls per minute; `None`: the server's default.
    pub rate_limit: Option<u32>,
}

/// A token just created: the only time its secrets exist outside the client.
#[derive(Debug)]
pub struct Created {
    pub token: Token,
    pub secret: SecretString,
    pub api_key: Option<SecretString>,
}

/// Why a presented token was refused; [`fmt::Display`] is the one-line reason for a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token was presented.
    Missing,
    /// Not shaped like a token at all.
    Malformed,
    /// Shaped like one, but no token has this secret.
    Unknown,
    Expired,
    Revoked,
}

impl Refusal {
    /// A short stable label (`missing`, `malformed`, `unknown`, `expired`, `revoked`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "missing token: send `Authorization: Bearer triaged_tok_…`",
            Self::Malformed => {
                "malformed token: expected `triaged_tok_` and 43 base64url characters"
            }
            Self::Unknown => "unknown token",
            Self::Expired => "expired token",
            Self::Revoked => "revoked token",
        })
    }
}

/// Errors of the token commands.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "invalid token name `{0}`: use 1-64 letters, digits, `.`, `_` or `-` (e.g. `chatgpt-support`)"
    )]
    InvalidName(String),
    #[error("a token named `{0}` already exists (revoke it, or pick another name)")]
    NameTaken(String),
    #[error("no token named `{0}`")]
    NotFound(String),
    #[error("token `{0}` is already revoked")]
    AlreadyRevoked(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Sql(e))
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    scope: String,
    tags: Option<String>,
    tools: Option<String>,
    secret_hash: String,
    api_key_hash: Option<String>,
    rate_limit: Option<i64>,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
}

impl Row {
    fn into_token(self) -> Result<Token, StoreError> {
        let scope = self.scope.parse().map_err(|e: String| {
            StoreError::Sql(sqlx::Error::Decode(format!("tokens.scope: {e}").into()))
        })?;
        let list = |text: Option<String>| -> Option<Vec<String>> {
            text.and_then(|t| serde_json::from_str(&t).ok())
        };
        Ok(Token {
            id: self.id,
            name: self.name,
            scope,
            tags: list(self.tags),
            tools: list(self.tools),
            requires_api_key: self.api_key_hash.is_some(),
            rate_limit: self.rate_limit.and_then(|n| u32::try_from(n).ok()),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
            api_key_hash: self.api_key_hash,
        })
    }
}

/// A fresh random secret behind `prefix`.
fn generate(prefix: &str) -> Result<String, StoreError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| {
        StoreError::Sql(sqlx::Error::Protocol(format!(
            "no system randomness for a token secret: {e}"
        )))
    })?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Hex SHA-256 of a presented secret.
fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn hashes_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether `text` is shaped like a secret with `prefix` (no database needed to refuse garbage).
fn well_formed(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|body| {
        body.len() == SECRET_CHARS
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The RFC 3339 text (milliseconds, UTC) this store uses for times.
fn stored_time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Db {
    /// Creates a token; the returned secrets are never stored in clear and never shown again.
    pub async fn create_token(&self, new: &NewToken) -> Result<Created, TokenError> {
        if !valid_name(&new.name) {
            return Err(TokenError::InvalidName(new.name.clone()));
        }
        let secret = generate(TOKEN_PREFIX)?;
        let api_key = new
            .require_api_key
            .then(|| generate(API_KEY_PREFIX))
            .transpose()?;
        let json = |list: &Option<Vec<String>>| {
            list.as_ref()
                .map(|l| serde_json::Value::from(l.clone()).to_string())
        };
        let inserted = with_pool!(self, |p| {
            sqlx::query(
            "INSERT INTO tokens (name, scope, tags, tools, secret_hash, api_key_hash, expires_at, \
             rate_limit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&new.name)
        .bind(new.scope.as_str())
        .bind(json(&new.tags))
        .bind(json(&new.tools))
        .bind(hash(&secret))
        .bind(api_key.as_deref().map(hash))
        .bind(new.expires_at.map(stored_time))
        .bind(new.rate_limit.map(i64::from))
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        if inserted == 0 {
            return Err(TokenError::NameTaken(new.name.clone()));
        }
        let token = self
            .token(&new.name)
            .await?
            .ok_or_else(|| TokenError::NotFound(new.name.clone()))?;
        Ok(Created {
            token,
            secret: SecretString::from(secret),
            api_key: api_key.map(SecretString::from),
        })
    }

    /// The token called `name`, if any.
    pub async fn token(&self, name: &str) -> Result<Option<Token>, StoreError> {
        let row: Option<Row> = with_pool!(self, |p| sqlx::query_as(
            "SELECT * FROM tokens WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await)?;
        row.map(Row::into_token).transpose()
    }

    /// Every token (revoked and expired ones too), oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<Token>, StoreError> {
        let rows: Vec<Row> =
            with_pool!(self, |p| sqlx::query_as("SELECT * FROM tokens ORDER BY id")
                .fetch_all(p)
                .await)?;
        rows.into_iter().map(Row::into_token).collect()
    }

    /// Revokes the token called `name`; it is refused from the next request on.
    pub async fn revoke_token(&self, name: &str) -> Result<Token, TokenError> {
        let Some(token) = self.token(name).await? else {
            return Err(TokenError::NotFound(name.to_owned()));
        };
        if token.revoked_at.is_some() {
            return Err(TokenError::AlreadyRevoked(name.to_owned()));
        }
        let sql = format!(
            "UPDATE tokens SET revoked_at = {} WHERE id = $1 AND revoked_at IS NULL",
            self.backend().now()
        );
        with_pool!(self, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token.id)
            .execute(p)
            .await
            .map(|_| ()))?;
        self.token(name)
            .await?
            .ok_or_else(|| TokenError::NotFound(name.to_owned()))
    }

    /// Checks a presented secret: the token it belongs to, or why it is refused. Records the use.
    pub async fn verify_token(
        &self,
        presented: &str,
    ) -> Result<Result<Token, Refusal>, StoreError> {
        let presented = presented.trim();
        if presented.is_empty() {
            return Ok(Err(Refusal::Missing));
        }
        if !well_formed(presented, TOKEN_PREFIX) {
            return Ok(Err(Refusal::Malformed));
        }
        let wanted = hash(presented);
        let row: Option<Row> = with_pool!(self, |p| sqlx::query_as(
            "SELECT * FROM tokens WHERE secret_hash = $1"
        )
        .bind(&wanted)
        .fetch_optional(p)
        .await)?;
        let Some(row) = row.filter(|r| hashes_equal(&r.secret_hash, &wanted)) else {
            return Ok(Err(Refusal::Unknown));
        };
        let token = row.into_token()?;
        if token.revoked_at.is_some() {
            return Ok(Err(Refusal::Revoked));
        }
        if let Some(expires) = &token.expires_at {
            // An unreadable expiry is treated as expired: never let a token live longer than meant.
            let past = expires
                .parse::<Timestamp>()
                .map_or(true, |at| at <= Timestamp::now());
            if past {
                return Ok(Err(Refusal::Expired));
            }
        }
        let backend = self.backend();
        let sql = format!(
            "UPDATE tokens SET last_used_at = {} WHERE id = $1 AND (last_used_at IS NULL \
             OR last_used_at < {})",
            backend.now(),
            backend.ago(LAST_USED_EVERY_SECONDS as f64)
        );
        with_pool!(self, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token.id)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(Ok(token))
    }
}

/// Whether `text` looks like an API key (for messages; the check itself is [`Token::api_key_matches`]).
pub fn is_api_key_shaped(text: &str) -> bool {
    well_formed(text.trim(), API_KEY_PREFIX)
}

/// Reads the secret of a [`Created`] token (for printing it once).
pub fn expose(secret: &SecretString) -> &str {
    secret.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_well_formed_and_different() {
        let a = generate(TOKEN_PREFIX).unwrap_or_default();
        let b = generate(TOKEN_PREFIX).unwrap_or_default();
        assert!(well_formed(&a, TOKEN_PREFIX), "{a}");
        assert_ne!(a, b);
        assert!(!well_formed(&a, API_KEY_PREFIX));
        assert!(!well_formed("triaged_tok_short", TOKEN_PREFIX));
        assert!(!well_formed(&format!("{a}="), TOKEN_PREFIX));
    }

    #[test]
    fn hashes_compare_equal_only_when_equal() {
        assert!(hashes_equal(&hash("x"), &hash("x")));
        assert!(!hashes_equal(&hash("x"), &hash("y")));
        assert!(!hashes_equal("ab", "abc"));
    }

    #[test]
    fn scopes_parse_from_their_names_only() {
        for scope in TokenScope::ALL {
            assert_eq!(scope.as_str().parse::<TokenScope>(), Ok(*scope));
        }
        assert!("admin".parse::<TokenScope>().is_err());
    }

    #[test]
    fn names_are_short_and_plain() {
        assert!(valid_name("chatgpt-support.eu_1"));
        assert!(!valid_name(""));
        assert!(!valid_name("has space"));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
