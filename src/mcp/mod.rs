//! Stage: **mcp** — the Intercom tools for MCP clients (ChatGPT, Claude, agent frameworks) over
//! Streamable HTTP, and the access tokens that let them in.
//!
//! - [`http`]: `/mcp` (token as `Authorization: Bearer`) and `/mcp/t/{token}` (token in the path,
//!   for clients that cannot send headers), the gate and rmcp's stateless service;
//! - [`server`]: `tools/list` and `tools/call` over the tool registry, filtered by the token
//!   ([`grant`]);
//! - [`call`]: one call through the rate limit ([`limit`]), the toolbox and the audit
//!   (`mcp_calls`, `triaged mcp calls`);
//! - [`cli`]: `triaged tokens …` and `triaged mcp calls`. The tokens themselves live in
//!   [`crate::store::tokens`], one store for the whole product (the console's `ui` tokens too).
//!
//! This module never defines a tool of its own: every tool comes from [`crate::tools`], the same
//! registry, guard and exactly-once write path the agent uses.

pub mod call;
pub mod cli;
pub mod grant;
pub mod http;
pub mod limit;
pub mod server;

use crate::{ids::AdminId, intercom::IntercomClient, store::Db};

/// The MCP server's settings (the app builds them from the configuration).
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// The domains a reply's URLs may link to (`TRIAGED_REPLY_LINK_DOMAINS`).
    pub reply_links: crate::tools::reply_html::ReplyLinks,
    /// Tool calls a minute per token, unless the token says otherwise.
    pub rate_limit: u32,
    /// `Host` values accepted (loopback, the public URL's host, `TRIAGED_MCP_ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
    /// `Origin` values accepted (requests without one pass; any other gets 403).
    pub allowed_origins: Vec<String>,
}

/// What every MCP request shares.
#[derive(Debug)]
pub struct McpState {
    db: Db,
    /// A handle that leaves the workers their share of Intercom's rate limit.
    intercom: IntercomClient,
    /// The admin every write acts as (never taken from arguments).
    bot: AdminId,
    limits: limit::TokenLimits,
    settings: McpSettings,
}

impl McpState {
    pub fn new(db: Db, intercom: IntercomClient, bot: AdminId, settings: McpSettings) -> Self {
        Self {
            db,
            intercom,
            bot,
            limits: limit::TokenLimits::default(),
            settings,
        }
    }
}
