//! `triaged tokens create|list|revoke`: access tokens on the command line; `triaged mcp calls`:
//! the audit of MCP tool calls.
//!
//! Part of the **mcp** stage's edge: it validates what a support lead types (scope, tags and tool
//! names against the tool registry, the expiry) and prints a new token's secret exactly once. It
//! never prints a stored secret (there is none to print: only hashes are kept).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use jiff::Timestamp;

use crate::{
    cli::{open, open_read_only},
    config::{DbArgs, PublicUrlArgs, parse_duration},
    store::tokens::{self, NewToken, Token, TokenScope},
    tools::{ALL, ToolName},
};

/// `triaged tokens …`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print its secret (shown only this once).
    Create(CreateArgs),
    /// List tokens (never their secrets): name, scope, filters, created, expires, last used, revoked.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: refused from its next request on.
    Revoke {
        #[command(flatten)]
        db: DbArgs,
        /// The token's name.
        name: String,
    },
}

/// `triaged mcp …`.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// The audit of MCP tool calls, newest first: token, tool, arguments, status (ok, refused,
    /// error), reason, duration, and the writes each call made.
    Calls {
        #[command(flatten)]
        db: DbArgs,
        /// Only the calls of this token.
        #[arg(long)]
        token: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `mcp` subcommand.
pub async fn run_mcp(command: McpCommand) -> anyhow::Result<ExitCode> {
    let McpCommand::Calls {
        db,
        token,
        limit,
        json,
    } = command;
    let calls = open(&db)
        .await?
        .list_mcp_calls(token.as_deref(), limit)
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&calls)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>6}  {:<28}  {:<20}  {:<22}  {:<8}  {:<18}  {:>7}  WRITES",
        "ID", "CREATED", "TOKEN", "TOOL", "STATUS", "REASON", "MS"
    );
    for c in calls {
        let writes: Vec<String> = c
            .writes
            .iter()
            .map(|w| format!("{} {}", w.tool, w.status))
            .collect();
        println!(
            "{:>6}  {:<28}  {:<20}  {:<22}  {:<8}  {:<18}  {:>7}  {}",
            c.id,
            c.created_at,
            c.token_name,
            c.tool,
            c.status,
            c.reason.unwrap_or_default(),
            c.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            writes.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `triaged tokens create NAME --scope …`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// A name for people and the audit trail, e.g. `chatgpt-support` (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// `mcp:read` (read tools only), `mcp:write` (read and write tools) or `ui` (the web console).
    #[arg(long)]
    pub scope: String,
    /// MCP: only tools with one of these tags, comma-separated (see `triaged tools list`).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// MCP: only these tools, comma-separated (applied after the scope and the tags).
    #[arg(long, value_delimiter = ',')]
    pub tools: Vec<String>,
    /// When the token stops working: a duration from now (`30d`, `12h`) or an RFC 3339 time.
    #[arg(long)]
    pub expires: Option<String>,
    /// MCP: also create an API key that a request with the token in its URL path must send as
    /// `Authorization: Bearer <api key>` (a leaked URL alone then runs nothing).
    #[arg(long)]
    pub require_api_key: bool,
    /// MCP: tool calls per minute this token may make [default: TRIAGED_MCP_RATE_LIMIT].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: Option<u32>,
    /// Print `{"name","token","mcp_url","api_key"?}` as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub public: PublicUrlArgs,
}

/// Runs a `tokens` subcommand.
pub async fn run(command: TokensCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokensCommand::Create(args) => create(args).await,
        TokensCommand::List { db, json } => {
            let tokens = open_read_only(&db).await?.list_tokens().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                print_table(&tokens);
            }
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::Revoke { db, name } => match open(&db).await?.revoke_token(&name).await {
            Ok(token) => {
                println!(
                    "token `{}` revoked at {}",
                    token.name,
                    token.revoked_at.unwrap_or_default()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("triaged: {e}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}

/// What `create` was asked for, checked; or one line saying what is wrong.
fn validate(args: &CreateArgs) -> Result<NewToken, String> {
    let scope: TokenScope = args.scope.parse()?;
    let clean = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let tags = clean(&args.tags);
    let tools = clean(&args.tools);
    if !scope.is_mcp()
        && (!tags.is_empty()
            || !tools.is_empty()
            || args.require_api_key
            || args.rate_limit.is_some())
    {
        return Err(format!(
            "--tags, --tools, --require-api-key and --rate-limit are for MCP tokens, not scope {scope}"
        ));
    }
    let known_tags: std::collections::BTreeSet<&str> =
        ALL.iter().flat_map(|t| t.tags().iter().copied()).collect();
    if let Some(bad) = tags.iter().find(|t| !known_tags.contains(t.as_str())) {
        let known: Vec<&str> = known_tags.into_iter().collect();
        return Err(format!(
            "--tags: unknown tag `{bad}`; tags: {}",
            known.join(", ")
        ));
    }
    if let Some(bad) = tools.iter().find(|t| ToolName::parse(t).is_none()) {
        let names: Vec<&str> = ALL.iter().map(|t| t.as_str()).collect();
        return Err(format!(
            "--tools: unknown tool `{bad}`; tools: {}",
            names.join(", ")
        ));
    }
    let expires_at = args.expires.as_deref().map(parse_expiry).transpose()?;
    Ok(NewToken {
        name: args.name.trim().to_owned(),
        scope,
        tags: (!tags.is_empty()).then_some(tags),
        tools: (!tools.is_empty()).then_some(tools),
        expires_at,
        require_api_key: args.require_api_key,
        rate_limit: args.rate_limit,
    })
}

/// `30d` (from now) or an RFC 3339 time, which must lie in the future.
fn parse_expiry(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    let at = match text.parse::<Timestamp>() {
        Ok(at) => at,
        Err(_) => {
            let span = parse_duration(text).map_err(|e| {
                format!("--expires: `{text}` is neither a duration nor RFC 3339 ({e})")
            })?;
            let span = jiff::SignedDuration::try_from(span)
                .map_err(|e| format!("--expires: `{text}`: {e}"))?;
            Timestamp::now()
                .checked_add(span)
                .map_err(|e| format!("--expires: `{text}` is too far away ({e})"))?
        }
    };
    if at <= Timestamp::now() {
        return Err(format!("--expires: {at} is in the past"));
    }
    Ok(at)
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let new = match validate(&args) {
        Ok(new) => new,
        Err(message) => {
            eprintln!("triaged: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let db = open(&args.db).await?;
    let created = match db.create_token(&new).await {
        Ok(created) => created,
        Err(e) => {
            eprintln!("triaged: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let secret = tokens::expose(&created.secret);
    let api_key = created.api_key.as_ref().map(tokens::expose);
    let base = args.public.base_url();
    let scope = created.token.scope;
    if args.json {
        let mut doc = serde_json::json!({
            "name": created.token.name,
            "scope": scope,
            "token": secret,
        });
        if scope.is_mcp() {
            doc["mcp_url"] = format!("{base}/mcp").into();
            doc["mcp_path_url"] = format!("{base}/mcp/t/{secret}").into();
        } else {
            doc["ui_url"] = format!("{base}/ui").into();
        }
        if let Some(key) = api_key {
            doc["api_key"] = key.into();
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "token `{}` created (scope {scope}{}). Its secret is shown only now:\n\n  {secret}\n",
        created.token.name,
        created
            .token
            .expires_at
            .as_deref()
            .map(|e| format!(", expires {e}"))
            .unwrap_or_default()
    );
    if scope.is_mcp() {
        println!("MCP URL, token as `Authorization: Bearer <token>`:  {base}/mcp");
        println!("MCP URL with the token in the path (ChatGPT):       {base}/mcp/t/{secret}");
    } else {
        println!("console: {base}/ui");
    }
    if let Some(key) = api_key {
        println!(
            "\nAPI key (required with the path URL, as `Authorization: Bearer <api key>`):\n\n  {key}"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(tokens: &[Token]) {
    println!(
        "{:<24}  {:<9}  {:<28}  {:<24}  {:<24}  {:<24}  STATUS",
        "NAME", "SCOPE", "FILTERS", "CREATED", "EXPIRES", "LAST USED"
    );
    let now = Timestamp::now();
    for t in tokens {
        let mut filters = Vec::new();
        if let Some(tags) = &t.tags {
            filters.push(format!("tags={}", tags.join(",")));
        }
        if let Some(tools) = &t.tools {
            filters.push(format!("tools={}", tools.join(",")));
        }
        if t.requires_api_key {
            filters.push("api-key".to_owned());
        }
        if let Some(n) = t.rate_limit {
            filters.push(format!("{n}/min"));
        }
        let expired = t
            .expires_at
            .as_deref()
            .and_then(|e| e.parse::<Timestamp>().ok())
            .is_some_and(|at| at <= now);
        let status = match (&t.revoked_at, expired) {
            (Some(at), _) => format!("revoked {at}"),
            (None, true) => "expired".to_owned(),
            (None, false) => "active".to_owned(),
        };
        println!(
            "{:<24}  {:<9}  {:<28}  {:<24}  {:<24}  {:<24}  {status}",
            t.name,
            t.scope.as_str(),
            if filters.is_empty() {
                "-".to_owned()
            } else {
                filters.join(" ")
            },
            t.created_at,
            t.expires_at.as_deref().unwrap_or("never"),
            t.last_used_at.as_deref().unwrap_or("never"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_a_duration_or_a_future_rfc3339_time() {
        let in_30d = parse_expiry("30d").unwrap_or(Timestamp::UNIX_EPOCH);
        let days = (in_30d.as_second() - Timestamp::now().as_second()) / 86_400;
        assert!((29..=30).contains(&days), "{days}");
        assert!(parse_expiry("2999-01-01T00:00:00Z").is_ok());
        assert!(
            parse_expiry("2001-01-01T00:00:00Z")
                .unwrap_err()
                .contains("past")
        );
        assert!(
            parse_expiry("soon")
                .unwrap_err()
                .contains("neither a duration nor RFC 3339")
        );
    }
}
