//! `/ui/playbooks` and `/ui/playbooks/{name}`: the loaded set (mode, priority, trigger in words,
//! version), the last reload and its errors with file:line:col, per-playbook figures, the last
//! runs, and a button that runs the playbook's test cases (`triaged playbook test`).

use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{
    UiState,
    auth::Viewer,
    layout,
    overview::{Period, auth_page, period_links},
    runs::{encode, table},
};
use crate::{
    playbook::{Mode, Playbook, Trigger},
    store::stats::{PlaybookStats, RunFilter},
};

fn mode(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "live",
        Mode::Draft => "draft",
        Mode::Shadow => "shadow",
    }
}

/// A trigger in words: "on conversation.user.created, when open, mentioning refund or money back".
pub fn trigger_in_words(trigger: &Trigger) -> String {
    let c = &trigger.conditions;
    let mut parts = vec![format!("on {}", trigger.topics.join(" or "))];
    if !c.states.is_empty() {
        let states: Vec<String> = c
            .states
            .iter()
            .map(|s| format!("{s:?}").to_lowercase())
            .collect();
        parts.push(format!("when {}", states.join(" or ")));
    }
    if !c.contains_any.is_empty() {
        parts.push(format!("mentioning {}", c.contains_any.join(" or ")));
    }
    if !c.contains_all.is_empty() {
        parts.push(format!("mentioning all of {}", c.contains_all.join(", ")));
    }
    if let Some(re) = &c.matches {
        parts.push(format!("matching /{}/", re.as_str()));
    }
    if !c.tags_present.is_empty() {
        parts.push(format!("tagged {}", c.tags_present.join(" and ")));
    }
    if !c.tags_absent.is_empty() {
        parts.push(format!("not tagged {}", c.tags_absent.join(" or ")));
    }
    if let Some(a) = &c.assignee {
        parts.push(format!("assignee {}", format!("{a:?}").to_lowercase()));
    }
    if !c.channels.is_empty() {
        parts.push(format!("via {}", c.channels.join(" or ")));
    }
    if c.business_hours.is_some() {
        parts.push("during business hours".to_owned());
    }
    if c.outside_business_hours.is_some() {
        parts.push("outside business hours".to_owned());
    }
    if let Some(role) = &c.contact_role {
        parts.push(format!("from a {role}"));
    }
    for (name, values) in &c.custom_attributes {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        parts.push(format!("{name} is {}", values.join(" or ")));
    }
    if trigger.reengage {
        parts.push("also on conversations handed to humans (re-engages)".to_owned());
    }
    parts.join(", ")
}

fn reload_status(state: &UiState) -> Markup {
    let status = state.playbooks.status();
    html! {
        p {
            "Loaded " (layout::when(&status.loaded_at)) " from " code { (state.playbooks.dir().display().to_string()) }
            " · " (status.applied) " reload(s) applied, " (status.refused) " refused"
            @if let Some(at) = &status.last_attempt_at { " · last checked " (layout::when(at)) }
        }
        @if !status.errors.is_empty() {
            div.notice.reload-errors {
                p.error { strong { "The last edit was refused; the playbooks below are still running." } }
                ul { @for d in &status.errors { li { code { (d.to_string()) } } } }
            }
        }
    }
}

fn stats_row(s: Option<&PlaybookStats>) -> Markup {
    let s = s.cloned().unwrap_or_default();
    html! {
        td.num { (s.runs) } td.num { (s.resolved) } td.num { (s.replied) } td.num { (s.handed_off) }
        td.num { (s.failed) } td.num { (layout::millis(s.median_ms)) } td.num { (s.tokens) }
        td.num { (layout::usd(s.cost_usd)) }
    }
}

const STATS_HEAD: &[&str] = &[
    "runs",
    "resolved",
    "replied",
    "handed off",
    "failed",
    "median",
    "tokens",
    "cost",
];

#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    period: Option<String>,
}

/// `GET /ui/playbooks`.
pub async fn list(
    State(state): State<UiState>,
    viewer: Viewer,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let period = Period::parse(q.period.as_deref().or(Some("7d")));
    let stats = match state.db.playbook_stats(period.seconds()).await {
        Ok(s) => s,
        Err(e) => return layout::internal(e),
    };
    let set = state.playbooks.current();
    let body = html! {
        (reload_status(&state))
        (period_links("/ui/playbooks", period))
        div.scroll { table {
            tr {
                th { "playbook" } th { "mode" } th.num { "priority" } th { "trigger" } th { "version" }
                @for h in STATS_HEAD { th.num { (h) } }
            }
            @for p in set.iter() {
                tr {
                    td { a href={ "/ui/playbooks/" (encode(&p.name)) } { (p.name) } }
                    td { (mode(p.mode)) } td.num { (p.priority) }
                    td { (trigger_in_words(&p.trigger)) }
                    td { code { (p.version) } }
                    (stats_row(stats.iter().find(|s| s.playbook == p.name)))
                }
            }
        } }
        p.muted { "Playbooks run in this order: the first whose trigger matches handles the event." }
    };
    auth_page(&viewer, "/ui/playbooks", "Playbooks", body)
}

fn details(p: &Playbook) -> Markup {
    html! {
        table {
            tr { th { "description" } td { (p.description) } }
            tr { th { "mode" } td { (mode(p.mode)) } }
            tr { th { "priority" } td { (p.priority) } }
            tr { th { "trigger" } td { (trigger_in_words(&p.trigger)) } }
            tr { th { "file" } td { code { (p.source.display().to_string()) } " · version " code { (p.version) } } }
            tr { th { "steps" } td { (p.steps.len()) " step(s), " (p.fallback.len()) " fallback step(s)"
                @if let Some(a) = p.agent() { " · agent with tools " (a.tools.join(", ")) } } }
        }
    }
}

/// `GET /ui/playbooks/{name}`.
pub async fn show(
    State(state): State<UiState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Response {
    render_show(&state, &viewer, &name, q.period.as_deref(), None).await
}

async fn render_show(
    state: &UiState,
    viewer: &Viewer,
    name: &str,
    period: Option<&str>,
    report: Option<(bool, String)>,
) -> Response {
    let set = state.playbooks.current();
    let Some(playbook) = set.get(name) else {
        return layout::problem(
            StatusCode::NOT_FOUND,
            &format!("No playbook named `{name}` is loaded."),
        );
    };
    let period = Period::parse(period.or(Some("7d")));
    let filter = RunFilter {
        playbook: Some(name.to_owned()),
        ..RunFilter::default()
    };
    let (stats, runs) = match tokio::try_join!(
        state.db.playbook_stats(period.seconds()),
        state.db.find_runs(&filter, 20)
    ) {
        Ok(parts) => parts,
        Err(e) => return layout::internal(e),
    };
    let body = html! {
        (details(playbook))
        h2 { "Figures" }
        (period_links(&format!("/ui/playbooks/{}", encode(name)), period))
        table {
            tr { @for h in STATS_HEAD { th.num { (h) } } }
            tr { (stats_row(stats.iter().find(|s| s.playbook == name))) }
        }
        h2 { "Test cases" }
        form method="post" action={ "/ui/playbooks/" (encode(name)) "/test" } {
            input type="hidden" name="csrf" value=(viewer.csrf);
            button.primary type="submit" { "Run this playbook's test cases" }
            span.muted { " (against a private sandbox and scripted model, like " code { "triaged playbook test" } ")" }
        }
        @if let Some((passed, text)) = &report {
            p class=@if *passed { "ok" } @else { "error" } {
                strong { @if *passed { "All cases passed." } @else { "Some cases failed." } }
            }
            pre.test-report { (text) }
        }
        h2 { "Last runs" }
        (table(&runs))
        p { a href={ "/ui/runs?playbook=" (encode(name)) } { "All runs of " (name) " →" } }
    };
    auth_page(viewer, "/ui/playbooks", &format!("Playbook {name}"), body)
}

#[derive(Debug, Deserialize)]
pub struct TestForm {
    csrf: Option<String>,
}

/// `POST /ui/playbooks/{name}/test`: runs the cases whose file tests this playbook.
pub async fn test(
    State(state): State<UiState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<TestForm>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(form.csrf.as_deref()) {
        return refused;
    }
    let dir = state.playbooks.dir().to_path_buf();
    let report = crate::playbook::testing::run_report(&[dir], Some(&name)).await;
    render_show(&state, &viewer, &name, None, Some(report)).await
}
