//! Stage: **mcp** — the Intercom tools for MCP clients (ChatGPT, Claude, agent frameworks), and the
//! access tokens that let them in.
//!
//! [`cli`] manages tokens (`triaged tokens …`); the tokens themselves live in
//! [`crate::store::tokens`], one store for the whole product (the web console's `ui` tokens too).
//!
//! This module never defines a tool of its own: every tool comes from [`crate::tools`], the same
//! registry, guard and exactly-once write path the agent uses.

pub mod cli;
