//! `/ui/events?status=…&topic=…`: received webhooks; replay one, or every event with a status in
//! a period (e.g. every failed event of the last hour). Replays go through the same path as
//! `triaged events replay`: writes are idempotent and the bot's silence rules apply.

use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use maud::html;
use serde::Deserialize;

use super::{UiState, auth::Viewer, layout, overview::auth_page, runs::encode};

const PAGE: i64 = 50;
const STATUSES: &[&str] = &[
    "queued",
    "processed",
    "failed",
    "coalesced",
    "ignored",
    "unparsed",
];

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    status: Option<String>,
    topic: Option<String>,
    id: Option<String>,
    before: Option<String>,
    replayed: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `GET /ui/events`.
pub async fn list(
    State(state): State<UiState>,
    viewer: Viewer,
    Query(q): Query<EventsQuery>,
) -> Response {
    let before = given(&q.before).and_then(|b| b.parse::<i64>().ok());
    let events = match given(&q.id).and_then(|i| i.parse::<i64>().ok()) {
        Some(id) => state
            .db
            .find_events(None, None, Some(id + 1), 1)
            .await
            .map(|mut e| {
                e.retain(|e| e.id == id);
                e
            }),
        None => {
            state
                .db
                .find_events(given(&q.status), given(&q.topic), before, PAGE + 1)
                .await
        }
    };
    let events = match events {
        Ok(e) => e,
        Err(e) => return layout::internal(e),
    };
    let more = events.len() as i64 > PAGE;
    let events = &events[..events.len().min(PAGE as usize)];
    let body = html! {
        @if let Some(n) = given(&q.replayed) { p.notice { (n) " event(s) queued again; their new runs appear under Runs." } }
        form.filters method="get" action="/ui/events" {
            label { "status" select name="status" {
                option value="" { "any" }
                @for s in STATUSES { option value=(s) selected[given(&q.status) == Some(*s)] { (s) } }
            } }
            label { "topic" input name="topic" value=(given(&q.topic).unwrap_or("")) placeholder="conversation.user.replied"; }
            button.primary type="submit" { "Filter" }
            a href="/ui/events" { "clear" }
        }
        form.filters method="post" action="/ui/events/replay" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            label { "replay every event that is" select name="status" {
                option value="failed" { "failed" } option value="unparsed" { "unparsed" }
            } }
            label { "received in the last" select name="since" {
                option value="1h" { "hour" } option value="24h" { "24 hours" } option value="7d" { "7 days" }
            } }
            button type="submit" { "Replay them" }
        }
        @if events.is_empty() { p.muted { "No events match." } } @else {
            div.scroll { table {
                tr { th { "event" } th { "received" } th { "topic" } th { "status" } th { "conversation" } th { "runs" } th {} }
                @for e in events {
                    tr {
                        td { "#" (e.id) }
                        td { (layout::when(&e.received_at)) }
                        td { (e.topic.as_deref().unwrap_or("")) }
                        td { (layout::badge(&e.status)) @if let Some(p) = &e.parse_error { br; span.error { (p) } } }
                        td { @if let Some(c) = &e.conversation_id { a href={ "/ui/runs?conversation=" (encode(c)) } { (c) } } }
                        td { a href={ "/ui/runs?event=" (e.id) } { "runs" } }
                        td { @if e.status != "queued" && e.status != "ignored" {
                            form method="post" action={ "/ui/events/" (e.id) "/replay" } {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button type="submit" { "Replay" }
                            }
                        } }
                    }
                }
            } }
        }
        @if more { @if let Some(last) = events.last() {
            p { a href={ "/ui/events?before=" (last.id)
                @if let Some(s) = given(&q.status) { "&status=" (encode(s)) }
                @if let Some(t) = given(&q.topic) { "&topic=" (encode(t)) } } { "Older events →" } }
        } }
    };
    auth_page(&viewer, "/ui/events", "Events", body)
}

#[derive(Debug, Deserialize)]
pub struct ReplayOne {
    csrf: Option<String>,
}

/// `POST /ui/events/{id}/replay`: back to the event's runs, where the new run appears.
pub async fn replay_one(
    State(state): State<UiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<ReplayOne>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(form.csrf.as_deref()) {
        return refused;
    }
    match crate::ingest::replay(&state.db, id).await {
        Ok(_) => {
            tracing::info!(event_id = id, by = %viewer.subject, "event replayed from the console");
            Redirect::to(&format!("/ui/runs?event={id}")).into_response()
        }
        Err(e) => layout::problem(StatusCode::CONFLICT, &e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
pub struct ReplayMany {
    csrf: Option<String>,
    status: String,
    since: String,
}

/// `POST /ui/events/replay`: every event with the status received in the period.
pub async fn replay_many(
    State(state): State<UiState>,
    viewer: Viewer,
    Form(form): Form<ReplayMany>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(form.csrf.as_deref()) {
        return refused;
    }
    if !["failed", "unparsed"].contains(&form.status.as_str()) {
        return layout::problem(
            StatusCode::BAD_REQUEST,
            "Only failed or unparsed events are replayed in bulk.",
        );
    }
    let Ok(since) = humantime::parse_duration(&form.since) else {
        return layout::problem(
            StatusCode::BAD_REQUEST,
            "The period must look like 1h, 24h or 7d.",
        );
    };
    let ids = match state
        .db
        .event_ids_since(&form.status, since.as_secs())
        .await
    {
        Ok(ids) => ids,
        Err(e) => return layout::internal(e),
    };
    let mut replayed = 0;
    for id in ids {
        match crate::ingest::replay(&state.db, id).await {
            Ok(_) => replayed += 1,
            Err(error) => {
                tracing::warn!(event_id = id, %error, "console bulk replay skipped an event")
            }
        }
    }
    tracing::info!(replayed, by = %viewer.subject, "events replayed from the console");
    Redirect::to(&format!("/ui/events?status=queued&replayed={replayed}")).into_response()
}
