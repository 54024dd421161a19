//! `/ui/tokens`: access tokens (never a secret: only names, scopes, filters and dates exist after
//! creation) and the latest MCP tool calls.

use axum::{extract::State, response::Response};
use maud::html;

use super::{UiState, auth::Viewer, layout, overview::auth_page};

/// `GET /ui/tokens`.
pub async fn page(State(state): State<UiState>, viewer: Viewer) -> Response {
    let (tokens, calls) =
        match tokio::try_join!(state.db.list_tokens(), state.db.recent_mcp_calls(50)) {
            Ok(parts) => parts,
            Err(e) => return layout::internal(e),
        };
    let body = html! {
        p.muted { "Create and revoke tokens with " code { "triaged tokens create NAME --scope mcp:read|mcp:write|ui" }
            " and " code { "triaged tokens revoke NAME" } ". Secrets are shown once, at creation, and never stored." }
        div.scroll { table {
            tr { th { "name" } th { "scope" } th { "narrowed to" } th { "created" } th { "expires" } th { "last used" } th { "state" } }
            @for t in &tokens {
                tr {
                    td { (t.name) } td { (t.scope.as_str()) }
                    td { @if let Some(tags) = &t.tags { "tags " (tags.join(", ")) " " }
                         @if let Some(tools) = &t.tools { "tools " (tools.join(", ")) } }
                    td { (layout::when(&t.created_at)) }
                    td { (t.expires_at.as_deref().map(layout::when).unwrap_or_else(|| "never".into())) }
                    td { (t.last_used_at.as_deref().map(layout::when).unwrap_or_default()) }
                    td { @if t.revoked_at.is_some() { span.error { "revoked" } } @else { "active" } }
                }
            }
        } }
        h2 { "Latest MCP tool calls" }
        @if calls.is_empty() { p.muted { "No MCP tool calls yet." } } @else {
            div.scroll { table {
                tr { th { "at" } th { "token" } th { "tool" } th { "status" } th { "run" } th { "client" } th.num { "duration" } }
                @for c in &calls {
                    tr {
                        td { (layout::when(&c.created_at)) } td { (c.token_name) } td { (c.tool) }
                        td { (c.status) @if let Some(r) = &c.reason { " (" (r) ")" } }
                        td { @if let Some(run) = c.run_id { a href={ "/ui/runs/" (run) } { "#" (run) } } }
                        td { (c.client.as_deref().unwrap_or("")) }
                        td.num { (layout::millis(c.duration_ms)) }
                    }
                }
            } }
        }
    };
    auth_page(&viewer, "/ui/tokens", "Tokens & MCP calls", body)
}
