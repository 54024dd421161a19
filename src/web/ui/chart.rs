//! The overview's chart: runs per hour or day, stacked by outcome, as inline SVG (no script, no
//! library; each bar has a `<title>` tooltip). Pure.

use std::collections::BTreeMap;

use maud::{Markup, html};

use crate::store::stats::Bucket;

/// Outcomes in stacking order (bottom first); anything else stacks last.
pub const ORDER: &[&str] = &[
    "resolved",
    "replied",
    "escalated",
    "handed_off",
    "no_action",
    "skipped",
    "no_playbook",
    "failed",
    "running",
];

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 22.0;

/// Every bucket label of the period ending now: 24 hours or `days` days, oldest first.
pub fn labels(hourly: bool, count: i64) -> Vec<String> {
    let now = jiff::Timestamp::now();
    (0..count)
        .rev()
        .filter_map(|back| {
            let span = if hourly {
                jiff::SignedDuration::from_hours(back)
            } else {
                jiff::SignedDuration::from_hours(24 * back)
            };
            let at = now.checked_sub(span).ok()?;
            Some(
                at.strftime(if hourly { "%Y-%m-%dT%H" } else { "%Y-%m-%d" })
                    .to_string(),
            )
        })
        .collect()
}

/// The stacked bar chart of `buckets` over `labels`.
pub fn runs(labels: &[String], buckets: &[Bucket]) -> Markup {
    let by_label: BTreeMap<&str, &BTreeMap<String, i64>> = buckets
        .iter()
        .map(|b| (b.label.as_str(), &b.by_outcome))
        .collect();
    let empty = BTreeMap::new();
    let max = labels
        .iter()
        .map(|l| {
            by_label
                .get(l.as_str())
                .map_or(0, |m| m.values().sum::<i64>())
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let slot = plot_w / labels.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let every = (labels.len() / 8).max(1);
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label="Runs over time by outcome" {
            title { "Runs over time by outcome" }
            text x="2" y="12" { (max) }
            text x="2" y=(plot_h) { "0" }
            line x1=(LEFT) y1=(plot_h) x2=(WIDTH) y2=(plot_h) stroke="#dde1e8" {}
            @for (i, label) in labels.iter().enumerate() {
                @let counts = by_label.get(label.as_str()).copied().unwrap_or(&empty);
                @let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
                @let mut y = plot_h;
                @for (outcome, n) in stacked(counts) {
                    @let h = n as f64 / max as f64 * (plot_h - 14.0);
                    @let top = { y -= h; y };
                    rect class={ "s-" (outcome) } x=(fmt(x)) y=(fmt(top)) width=(fmt(bar))
                        height=(fmt(h)) {
                        title { (label) ": " (n) " " (outcome) }
                    }
                }
                @if i % every == 0 {
                    text x=(fmt(x)) y=(HEIGHT - 6.0) { (short(label)) }
                }
            }
        }
    }
}

/// The legend for the outcomes present.
pub fn legend(totals: &BTreeMap<String, i64>) -> Markup {
    html! {
        p.legend {
            @for (outcome, n) in stacked(totals) {
                span { i class={ "badge o-" (outcome) } {} (outcome) " " (n) }
            }
        }
    }
}

fn stacked(counts: &BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = ORDER
        .iter()
        .filter_map(|o| counts.get(*o).map(|n| ((*o).to_owned(), *n)))
        .collect();
    out.extend(
        counts
            .iter()
            .filter(|(o, _)| !ORDER.contains(&o.as_str()))
            .map(|(o, n)| (o.clone(), *n)),
    );
    out.retain(|(_, n)| *n > 0);
    out
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// `2026-12-02T06` → `06:00`; `2026-12-02` → `12-02`.
fn short(label: &str) -> String {
    match label.split_once('T') {
        Some((_, hour)) => format!("{hour}:00"),
        None => label.get(5..).unwrap_or(label).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_by_outcome_and_outcomes_are_escaped_text() {
        let buckets = vec![Bucket {
            label: "2026-12-02".into(),
            by_outcome: BTreeMap::from([("replied".into(), 3), ("<b>".into(), 1)]),
        }];
        let svg = runs(&["2026-12-01".into(), "2026-12-02".into()], &buckets).into_string();
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert!(svg.contains("2026-12-02: 3 replied"));
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
    }
}
