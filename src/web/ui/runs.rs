//! `/ui/runs?playbook=…&outcome=…&reason=…&conversation=…&since=…&until=…&before=…` (filters kept
//! in the URL, so a link can be pasted into Slack or an Intercom note) and `/ui/runs/{id}`: the
//! whole transcript, as `triaged runs show` prints it, with the run's writes and version.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{UiState, auth::Viewer, layout, overview::auth_page};
use crate::store::{runs::RunSummary, stats::RunFilter};

/// Rows per page.
const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    playbook: Option<String>,
    outcome: Option<String>,
    reason: Option<String>,
    conversation: Option<String>,
    event: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl RunsQuery {
    fn filter(&self) -> RunFilter {
        RunFilter {
            playbook: given(&self.playbook),
            outcome: given(&self.outcome),
            reason: given(&self.reason),
            conversation: given(&self.conversation),
            event: given(&self.event).and_then(|e| e.parse().ok()),
            since: given(&self.since),
            until: given(&self.until),
            before: given(&self.before).and_then(|b| b.parse().ok()),
        }
    }

    /// This query's URL with `before` replaced (for the next page).
    fn with_before(&self, before: i64) -> String {
        let mut parts: Vec<String> = [
            ("playbook", &self.playbook),
            ("outcome", &self.outcome),
            ("reason", &self.reason),
            ("conversation", &self.conversation),
            ("event", &self.event),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter_map(|(k, v)| given(v).map(|v| format!("{k}={}", encode(&v))))
        .collect();
        parts.push(format!("before={before}"));
        format!("/ui/runs?{}", parts.join("&"))
    }
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A table of runs.
pub fn table(runs: &[RunSummary]) -> Markup {
    html! {
        div.scroll { table {
            tr {
                th { "run" } th { "started" } th { "playbook" } th { "outcome" } th { "reason" }
                th { "conversation" } th.num { "duration" }
            }
            @for r in runs {
                tr {
                    td { a href={ "/ui/runs/" (r.id) } { "#" (r.id) } }
                    td { (layout::when(&r.started_at)) }
                    td { @if let Some(p) = &r.playbook { a href={ "/ui/playbooks/" (encode(p)) } { (p) } } }
                    td { (layout::badge(r.outcome.as_deref().unwrap_or(&r.status))) }
                    td { (r.reason.as_deref().unwrap_or("")) }
                    td { @if let Some(c) = &r.conversation_id {
                        a href={ "/ui/runs?conversation=" (encode(c)) } { (c) }
                    } }
                    td.num { (layout::millis(r.duration_ms)) }
                }
            }
        } }
    }
}

/// `GET /ui/runs`.
pub async fn list(
    State(state): State<UiState>,
    viewer: Viewer,
    Query(q): Query<RunsQuery>,
) -> Response {
    let runs = match state.db.find_runs(&q.filter(), PAGE + 1).await {
        Ok(runs) => runs,
        Err(e) => return layout::internal(e),
    };
    let more = runs.len() as i64 > PAGE;
    let runs = &runs[..runs.len().min(PAGE as usize)];
    let playbooks = state.playbooks.current();
    let field = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/ui/runs" {
            label { "playbook" select name="playbook" {
                option value="" { "any" }
                @for p in playbooks.iter() {
                    option value=(p.name) selected[q.playbook.as_deref() == Some(p.name.as_str())] { (p.name) }
                }
            } }
            label { "outcome" select name="outcome" {
                option value="" { "any" }
                @for o in super::chart::ORDER {
                    option value=(o) selected[q.outcome.as_deref() == Some(*o)] { (o) }
                }
            } }
            label { "reason" input name="reason" value=(field(&q.reason)) placeholder="e.g. max_steps"; }
            label { "conversation" input name="conversation" value=(field(&q.conversation)); }
            label { "since" input name="since" value=(field(&q.since)) placeholder="2026-12-01"; }
            label { "until" input name="until" value=(field(&q.until)) placeholder="2026-12-02T12:00"; }
            button.primary type="submit" { "Filter" }
            a href="/ui/runs" { "clear" }
        }
        @if runs.is_empty() { p.muted { "No runs match." } } @else { (table(runs)) }
        @if more { @if let Some(last) = runs.last() {
            p { a href=(q.with_before(last.id)) { "Older runs →" } }
        } }
    };
    auth_page(&viewer, "/ui/runs", "Runs", body)
}

/// Intercom's inbox link for a conversation of workspace `app_id`.
fn inbox_link(app_id: Option<&str>, conversation: &str) -> Option<String> {
    app_id.map(|app| {
        format!(
            "https://app.intercom.com/a/inbox/{}/inbox/conversation/{}",
            encode(app),
            encode(conversation)
        )
    })
}

/// `GET /ui/runs/{id}`.
pub async fn show(State(state): State<UiState>, viewer: Viewer, Path(id): Path<i64>) -> Response {
    let run = match state.db.run(id).await {
        Ok(Some(run)) => run,
        Ok(None) => {
            return layout::problem(StatusCode::NOT_FOUND, &format!("There is no run {id}."));
        }
        Err(e) => return layout::internal(e),
    };
    let (steps, actions, cost) = match tokio::try_join!(
        state.db.run_steps(id),
        state.db.run_actions(id),
        state.db.run_cost(id)
    ) {
        Ok(parts) => parts,
        Err(e) => return layout::internal(e),
    };
    let cost = cost.unwrap_or_default();
    let transcript = crate::transcript::render(&run, &cost, &steps, &actions);
    let inbox = run
        .conversation_id
        .as_deref()
        .and_then(|c| inbox_link(state.app_id.as_deref(), c));
    let body = html! {
        table {
            tr { th { "outcome" } td { (layout::badge(run.outcome.as_deref().unwrap_or(&run.status)))
                @if let Some(r) = &run.reason { " " (r) } } }
            tr { th { "playbook" } td {
                @if let Some(p) = &run.playbook { a href={ "/ui/playbooks/" (encode(p)) } { (p) } }
                @if let Some(v) = &cost.playbook_version { " · version " code.version { (v) } }
                @if let Some(m) = &cost.mode { " · " (m) " mode" }
            } }
            tr { th { "conversation" } td {
                @if let Some(c) = &run.conversation_id {
                    a href={ "/ui/runs?conversation=" (encode(c)) } { (c) }
                    @if let Some(link) = &inbox { " · " a href=(link) rel="noreferrer" target="_blank" { "open in Intercom's inbox" } }
                }
            } }
            tr { th { "event" } td { a href={ "/ui/events?id=" (run.event_id) } { "#" (run.event_id) } " · " (run.topic.as_deref().unwrap_or("")) } }
            tr { th { "time" } td { (layout::when(&run.started_at)) " · " (layout::millis(run.duration_ms)) " · attempts " (run.attempts) } }
            tr { th { "LLM" } td {
                (cost.model.as_deref().unwrap_or("no model call")) " · "
                (cost.prompt_tokens) " prompt (" (cost.cached_tokens) " cached) + "
                (cost.completion_tokens) " completion tokens · " (layout::usd(cost.cost_usd)) " (estimate)"
            } }
        }
        @if let Some(at) = &cost.pruned_at {
            p.notice { "This run's transcript and write details were deleted by retention on " (layout::when(at)) "." }
        }
        h2 { "Writes" }
        @if actions.is_empty() { p.muted { "No writes." } } @else {
            div.scroll { table {
                tr { th { "tool" } th { "mode" } th { "status" } th { "result" } th { "at" } }
                @for a in &actions {
                    tr {
                        td { (a.tool) } td { (a.mode) } td { (a.status) }
                        td { (a.result_ref.as_deref().or(a.error.as_deref()).unwrap_or("")) }
                        td { (layout::when(&a.started_at)) }
                    }
                }
            } }
        }
        h2 { "Transcript" }
        pre.transcript { (transcript) }
    };
    auth_page(&viewer, "/ui/runs", &format!("Run #{id}"), body)
}
