//! `/mcp` and `/mcp/t/{token}` on the daemon's HTTP server: the gate (who is calling), then
//! rmcp's Streamable HTTP service, stateless (no sessions in memory, so any replica answers any
//! request), answering JSON rather than SSE.
//!
//! The gate answers 401 with one line (missing, malformed, unknown, expired or revoked token; a
//! path token without its API key) and never says more. rmcp then checks `Host` (DNS rebinding)
//! and `Origin` (403 for a foreign one) and the body size (413). No OAuth metadata is published:
//! clients that see it stop sending the configured header.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::never::NeverSessionManager,
};
use tower_http::trace::TraceLayer;

use super::{McpState, grant::Grant, server::McpServer};
use crate::store::tokens::Refusal;

/// Largest MCP request body: tool arguments are small; a reply body is a few KB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The routes, with their gate. A request in flight when the daemon stops is let finish (the
/// HTTP server's graceful shutdown waits for it), so rmcp's own cancellation is never used.
pub fn router(state: Arc<McpState>) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(state.settings.allowed_hosts.clone())
        .with_allowed_origins(state.settings.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    let server = McpServer {
        state: state.clone(),
    };
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(state, gate))
        .layer(TraceLayer::new_for_http().make_span_with(
            // A path token is a secret: the span names the route, never the token.
            |req: &Request| tracing::debug_span!("mcp", method = %req.method(), path = %redact(req.uri().path())),
        ))
}

/// A 401 with a one-line reason.
fn unauthorized(reason: &str) -> Response {
    metrics::counter!("triaged_mcp_auth_refused_total").increment(1);
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"triaged\"")],
        format!("{reason}\n"),
    )
        .into_response()
}

/// The bearer credential of `Authorization`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Finds the token (path, else `Authorization`), verifies it, and attaches the [`Grant`].
async fn gate(State(state): State<Arc<McpState>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let (presented, in_path) = match path.strip_prefix("/mcp/t/") {
        Some(rest) => (Some(rest.trim_end_matches('/').to_owned()), true),
        None if path == "/mcp" || path == "/mcp/" => {
            (bearer(request.headers()).map(str::to_owned), false)
        }
        None => return StatusCode::NOT_FOUND.into_response(),
    };
    let Some(presented) = presented else {
        return unauthorized(&Refusal::Missing.to_string());
    };
    let token = match state.db.verify_token(&presented).await {
        Ok(Ok(token)) => token,
        Ok(Err(refusal)) => {
            tracing::info!(reason = refusal.label(), in_path, "MCP request refused");
            return unauthorized(&refusal.to_string());
        }
        Err(error) => {
            tracing::error!(%error, "MCP: cannot check a token");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response();
        }
    };
    if !token.scope.is_mcp() {
        return unauthorized(&format!(
            "token `{}` has scope {}, not mcp:read or mcp:write",
            token.name, token.scope
        ));
    }
    if in_path && token.requires_api_key {
        let key = bearer(request.headers()).unwrap_or_default();
        if !token.api_key_matches(key) {
            return unauthorized(
                "this token also needs its API key: send `Authorization: Bearer triaged_key_…`",
            );
        }
    }
    request.extensions_mut().insert(Grant { token });
    next.run(request).await
}

/// `path` with the secret of a path token cut out, for logs and traces.
pub fn redact(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/mcp/t/") {
        Some(_) => "/mcp/t/…".into(),
        None => path.into(),
    }
}
