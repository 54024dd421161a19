//! `/ui?period=24h|7d|30d`: what the bot did in the period at a glance.

use axum::{
    extract::{Query, State},
    response::Response,
};
use maud::html;
use serde::Deserialize;

use super::{UiState, auth::Viewer, chart, layout};
use crate::store::stats::{AUTOMATED, HANDED_OFF};

/// A reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("7d") => Self::Week,
            Some("30d") => Self::Month,
            _ => Self::Day,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    pub fn seconds(self) -> u64 {
        match self {
            Self::Day => 86_400,
            Self::Week => 7 * 86_400,
            Self::Month => 30 * 86_400,
        }
    }

    /// Hourly buckets for a day, daily ones otherwise: (hourly, how many).
    fn buckets(self) -> (bool, i64) {
        match self {
            Self::Day => (true, 24),
            Self::Week => (false, 7),
            Self::Month => (false, 30),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct OverviewQuery {
    period: Option<String>,
}

/// Links to the three periods, the current one marked.
pub fn period_links(base: &str, current: Period) -> maud::Markup {
    html! {
        p.periods {
            "Period: "
            @for p in [Period::Day, Period::Week, Period::Month] {
                a class=@if p == current { "here" } href={ (base) "?period=" (p.as_str()) } {
                    (p.as_str())
                }
            }
        }
    }
}

/// `GET /ui`.
pub async fn page(
    State(state): State<UiState>,
    viewer: Viewer,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let period = Period::parse(q.period.as_deref());
    let (hourly, count) = period.buckets();
    let overview = match state.db.overview(period.seconds(), hourly).await {
        Ok(o) => o,
        Err(e) => return layout::internal(e),
    };
    let depth = crate::queue::depth(&state.db).await.unwrap_or(0);
    let intercom = state.intercom.stats();
    let ack_p99 = super::metrics::ack_p99_seconds();
    let total: i64 = overview.totals.values().sum();
    let cost: f64 = overview.usage.iter().map(|d| d.cost_usd).sum();
    let body = html! {
        (period_links("/ui", period))
        div.cards {
            div.card { div.n { (total) } div.l { "runs" } }
            div.card {
                div.n { (layout::percent(overview.rate(AUTOMATED))) }
                div.l { "automation rate (resolved or replied by the bot)" }
            }
            div.card {
                div.n { (layout::percent(overview.rate(HANDED_OFF))) }
                div.l { "hand-off rate (handed off, escalated or failed → fallback)" }
            }
            div.card {
                div.n { (layout::millis(overview.duration_p50_ms)) " / " (layout::millis(overview.duration_p95_ms)) }
                div.l { "run duration p50 / p95" }
            }
            div.card { div.n { (layout::usd(cost)) } div.l { "LLM cost (estimate)" } }
            div.card { div.n { (depth) } div.l { "queue depth" } }
            div.card {
                div.n { @match ack_p99 { Some(s) => (format!("{:.0} ms", s * 1000.0)), None => "–" } }
                div.l { "webhook ack p99 (since start)" }
            }
        }
        h2 { "Runs over time by outcome" }
        (chart::runs(&chart::labels(hourly, count), &overview.buckets))
        (chart::legend(&overview.totals))
        h2 { "Failures by reason" }
        @if overview.failures.is_empty() {
            p.muted { "No failed runs in this period." }
        } @else {
            table {
                tr { th { "reason" } th.num { "runs" } }
                @for (reason, n) in &overview.failures {
                    tr {
                        td { a href={ "/ui/runs?outcome=failed&reason=" (reason) } { (reason) } }
                        td.num { (n) }
                    }
                }
            }
        }
        h2 { "LLM tokens and cost per day" }
        p.muted { "Costs are estimates from the price table (TRIAGED_LLM_PRICES), not an invoice." }
        div.scroll { table {
            tr {
                th { "day" } th.num { "prompt" } th.num { "of which cached" }
                th.num { "completion" } th.num { "cost" }
            }
            @for d in &overview.usage {
                tr {
                    td { (d.day) } td.num { (d.prompt_tokens) } td.num { (d.cached_tokens) }
                    td.num { (d.completion_tokens) } td.num { (layout::usd(d.cost_usd)) }
                }
            }
        } }
        h2 { "Intercom API budget (since start)" }
        table {
            tr { th { "requests" } th { "429 answers" } th { "waits for a window reset" } th { "time waited" } th { "retries" } }
            tr {
                td { (intercom.requests) } td { (intercom.rate_limited) } td { (intercom.waits) }
                td { (format!("{:.1} s", intercom.total_wait.as_secs_f64())) } td { (intercom.retries) }
            }
        }
    };
    auth_page(&viewer, "/ui", "Overview", body)
}

/// A page with the viewer's cookie if one is new.
pub fn auth_page(viewer: &Viewer, here: &str, title: &str, body: maud::Markup) -> Response {
    super::auth::with_cookie(viewer, layout::page(viewer, here, title, body))
}
