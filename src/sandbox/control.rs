//! The control API under `/_sandbox/` (routes listed in the [`super`] module docs): act as a
//! customer or as a human teammate in the Inbox, read a conversation's full state, switch faults,
//! move the clock, read stats, switch redelivery, register a second app. Changes made here carry
//! no `app_package_code` (unless they say they came through an integration) and emit the same
//! signed notifications as real Intercom. Not authenticated and not rate limited: the sandbox is a
//! local rehearsal tool. Never reachable under an Intercom path.

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    routing::{get, post, put},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Faults, Shared,
    actions::{self, AdminAction, Via},
    error::{ApiError, parse_body},
    extract::Ids,
    lock, render,
};

type S = State<Arc<Shared>>;

/// The `/_sandbox/` routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sandbox/customer/conversations", post(customer_start))
        .route(
            "/_sandbox/customer/conversations/{id}/reply",
            post(customer_reply),
        )
        .route(
            "/_sandbox/teammate/conversations/{id}/{action}",
            post(teammate),
        )
        .route("/_sandbox/conversations/{id}", get(conversation))
        .route("/_sandbox/stats", get(stats))
        .route("/_sandbox/faults", put(faults))
        .route("/_sandbox/webhook_url", put(webhook_url))
        .route("/_sandbox/clock/advance", post(advance_clock))
        .route("/_sandbox/webhooks/flush", post(flush))
        .route("/_sandbox/webhooks/redelivery", put(redelivery))
        .route("/_sandbox/apps", post(add_app))
        .route("/_sandbox/teams", post(add_team))
        .with_state(shared)
}

#[derive(Debug, Deserialize)]
struct CustomerMessage {
    contact_id: Option<String>,
    body: String,
    /// The reply came through another integration with this package code (none: the Messenger).
    app_package_code: Option<String>,
}

/// A person in the UI, or through the integration `code`.
fn via(code: Option<&str>) -> Via<'_> {
    code.map_or(Via::Ui, Via::App)
}

async fn customer_start(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let msg: CustomerMessage = parse_body(&body)?;
    let contact_id = msg
        .contact_id
        .ok_or_else(|| ApiError::missing("contact_id"))?;
    let id = actions::start_conversation(&state, &contact_id, &msg.body)?;
    Ok(Json(json!({"conversation_id": id})))
}

async fn customer_reply(
    state: S,
    Ids(id): Ids<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let msg: CustomerMessage = parse_body(&body)?;
    let via = via(msg.app_package_code.as_deref());
    actions::contact_reply(&state, &id, msg.contact_id.as_deref(), &msg.body, via).map(Json)
}

#[derive(Debug, Deserialize)]
struct TeammateAction {
    admin_id: String,
    body: Option<String>,
    assignee_id: Option<String>,
    /// For `assign`: whether `assignee_id` is a team (guessed from the id when absent).
    team: Option<bool>,
    snoozed_until: Option<i64>,
    /// The teammate acted through another integration with this package code (none: the Inbox).
    app_package_code: Option<String>,
}

async fn teammate(
    state: S,
    Ids((id, action)): Ids<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let a: TeammateAction = parse_body(&body)?;
    let text = a.body.filter(|b| !b.trim().is_empty());
    let action = match action.as_str() {
        "reply" | "note" => AdminAction::Reply {
            note: action == "note",
            body: text.ok_or_else(|| ApiError::missing("body"))?,
        },
        "close" => AdminAction::Close { body: text },
        "open" => AdminAction::Open,
        "snooze" => AdminAction::Snooze {
            until: a
                .snoozed_until
                .ok_or_else(|| ApiError::missing("snoozed_until"))?,
        },
        "assign" => {
            let assignee_id = a
                .assignee_id
                .ok_or_else(|| ApiError::missing("assignee_id"))?;
            let team = a
                .team
                .unwrap_or_else(|| lock(&state.ws).team(&assignee_id).is_some());
            AdminAction::Assign {
                team,
                assignee_id,
                body: text,
            }
        }
        other => {
            return Err(ApiError::not_found(
                "not_found",
                format!("unknown teammate action {other:?}"),
            ));
        }
    };
    let via = via(a.app_package_code.as_deref());
    actions::admin_action(&state, &id, &a.admin_id, action, via).map(Json)
}

async fn conversation(state: S, Ids(id): Ids<String>) -> Result<Json<Value>, ApiError> {
    let ws = lock(&state.ws);
    ws.conversation(&id)
        .map(|c| Json(render::conversation(&ws, c, render::Parts::All, false)))
        .ok_or_else(|| ApiError::not_found("not_found", "Resource Not Found"))
}

async fn stats(state: S) -> Json<Value> {
    Json(serde_json::to_value(lock(&state.stats).clone()).unwrap_or_default())
}

#[derive(Debug, Deserialize)]
struct FaultsBody {
    #[serde(default)]
    error_share: f64,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    drop_after_write: u32,
    #[serde(default)]
    error_after_write: u32,
    /// 500, 502 or 504 (default 502).
    error_after_write_status: Option<u16>,
    fail_writes_after: Option<u32>,
    #[serde(default)]
    unavailable: Vec<String>,
}

async fn faults(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let f: FaultsBody = parse_body(&body)?;
    if !(0.0..=1.0).contains(&f.error_share) {
        return Err(ApiError::invalid("error_share must be between 0 and 1"));
    }
    let status = f.error_after_write_status.unwrap_or(502);
    if ![500, 502, 504].contains(&status) {
        return Err(ApiError::invalid(
            "error_after_write_status must be 500, 502 or 504",
        ));
    }
    *lock(&state.faults) = Faults {
        error_share: f.error_share,
        latency: Duration::from_millis(f.latency_ms),
        drop_after_write: f.drop_after_write,
        error_after_write: f.error_after_write,
        error_after_write_status: status,
        fail_writes_after: f.fail_writes_after,
        unavailable: f.unavailable.clone(),
    };
    Ok(Json(json!({
        "error_share": f.error_share,
        "latency_ms": f.latency_ms,
        "drop_after_write": f.drop_after_write,
        "error_after_write": f.error_after_write,
        "error_after_write_status": status,
        "fail_writes_after": f.fail_writes_after,
        "unavailable": f.unavailable,
    })))
}

#[derive(Debug, Deserialize)]
struct UrlBody {
    url: Option<String>,
}

async fn webhook_url(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: UrlBody = parse_body(&body)?;
    *lock(&state.webhook_urls) = (b.url.clone().into_iter().collect(), 0);
    Ok(Json(json!({"url": b.url})))
}

#[derive(Debug, Deserialize)]
struct Advance {
    seconds: u64,
}

async fn advance_clock(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a: Advance = parse_body(&body)?;
    state.clock.advance(Duration::from_secs(a.seconds));
    Ok(Json(json!({"now": state.clock.now()})))
}

#[derive(Debug, Deserialize)]
struct Redelivery {
    /// Milliseconds before the one redelivery of a failed notification; null: never.
    after_ms: Option<u64>,
}

async fn redelivery(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let r: Redelivery = parse_body(&body)?;
    state
        .emitter
        .set_redelivery(r.after_ms.map(Duration::from_millis));
    Ok(Json(json!({"after_ms": r.after_ms})))
}

#[derive(Debug, Deserialize)]
struct NewApp {
    access_token: String,
    package_code: String,
}

async fn add_app(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let app: NewApp = parse_body(&body)?;
    if app.access_token.trim().is_empty()
        || app.access_token == secrecy::ExposeSecret::expose_secret(&state.access_token)
    {
        return Err(ApiError::invalid(
            "access_token must be non-empty and differ from the sandbox's own",
        ));
    }
    if app.package_code.trim().is_empty() {
        return Err(ApiError::missing("package_code"));
    }
    lock(&state.apps).insert(app.access_token, app.package_code.clone());
    Ok(Json(json!({"package_code": app.package_code})))
}

#[derive(Debug, Deserialize)]
struct NewTeam {
    name: String,
}

async fn add_team(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let team: NewTeam = parse_body(&body)?;
    let id = add_team_named(&state, &team.name)?;
    Ok(Json(json!({"id": id, "name": team.name.trim()})))
}

/// Creates a team (Intercom has no API for it: a teammate does it in the settings); a team of
/// that name already there is returned instead.
pub(super) fn add_team_named(shared: &Shared, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::missing("name"));
    }
    let mut ws = lock(&shared.ws);
    if let Some(team) = ws.teams.iter().find(|t| t.name.eq_ignore_ascii_case(name)) {
        return Ok(team.id.clone());
    }
    let id = ws.new_id();
    ws.teams.push(super::model::Team {
        id: id.clone(),
        name: name.to_owned(),
        admin_ids: Vec::new(),
    });
    Ok(id)
}

async fn flush(state: S) -> Json<Value> {
    state.emitter.flush().await;
    Json(json!({"flushed": true}))
}
