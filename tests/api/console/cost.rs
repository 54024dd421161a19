//! LLM usage and cost: tokens each completion reports (cached ones included) priced by the table,
//! and the daily budget that turns agent steps into fallbacks.

use std::time::Duration;

use serde_json::json;
use triaged::{
    config::ModelPrice,
    llm::scripted::{ScriptedLlm, ScriptedTurn, Turn},
};

use crate::helpers::{shipped_live, spawn_scenario_with};

const REFUND: &str = "215000001";
const PRIYA: &str = "6762f1261bb69f9f21930001";
const CHECKOUT: &str = "215000002";
const CHECKOUT_CONTACT: &str = "6762f1261bb69f9f21930002";

/// USD per million tokens, far from any default so a wrong lookup shows.
const PRICE: ModelPrice = ModelPrice {
    input: 1000.0,
    cached_input: Some(100.0),
    output: 3000.0,
};

fn turns() -> Vec<ScriptedTurn> {
    [
        Turn::Tool {
            name: "get_conversation".into(),
            args: json!({"conversation_id": "{{conversation_id}}"}),
        },
        Turn::Say("Looked at it.".into()),
    ]
    .into_iter()
    .map(|turn| ScriptedTurn {
        turn,
        forever: false,
    })
    .collect()
}

#[tokio::test]
async fn the_cost_of_a_run_with_a_scripted_model_matches_the_price_table() {
    let llm = ScriptedLlm::start(turns()).await.unwrap();
    llm.set_conversation(REFUND);
    let app = spawn_scenario_with(
        &[shipped_live("refund-request")],
        Some(&llm.base_url()),
        Duration::ZERO,
        |config| {
            config.console.prices.insert("scripted-model".into(), PRICE);
        },
    )
    .await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "I want a refund")
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(llm.requests(), 2);

    let (run_id, prompt, cached, completion, cost, model): (i64, i64, i64, i64, f64, String) =
        triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
            "SELECT id, prompt_tokens, cached_tokens, completion_tokens, cost_usd, model \
             FROM runs WHERE playbook = 'refund-request'",
        )
        .fetch_one(p)
        .await)
        .unwrap();
    assert_eq!(model, "scripted-model");
    let steps: Vec<(i64, i64, i64, f64)> = triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
        "SELECT prompt_tokens, cached_tokens, completion_tokens, cost_usd FROM run_steps \
         WHERE run_id = $1 AND kind = 'llm_response' ORDER BY seq",
    )
    .bind(run_id)
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(steps.len(), 2, "usage is recorded per step");
    assert_eq!(prompt, steps.iter().map(|s| s.0).sum::<i64>());
    assert_eq!(cached, steps.iter().map(|s| s.1).sum::<i64>());
    assert_eq!(completion, steps.iter().map(|s| s.2).sum::<i64>());
    assert!(
        cached > 0,
        "the scripted model reports cached prompt tokens"
    );
    assert_eq!(steps[0].1, 0, "the first request has nothing cached");

    let expected = ((prompt - cached) as f64 * PRICE.input
        + cached as f64 * 100.0
        + completion as f64 * PRICE.output)
        / 1e6;
    assert!((cost - expected).abs() < 1e-9, "{cost} vs {expected}");
    let step_costs: f64 = steps.iter().map(|s| s.3).sum();
    assert!((step_costs - expected).abs() < 1e-9);

    let metrics = app.metrics().await;
    for wanted in [
        "triaged_llm_tokens_total{model=\"scripted-model\",playbook=\"refund-request\",kind=\"cached\"}",
        "triaged_llm_request_seconds",
        "triaged_runs_total{playbook=\"refund-request\",outcome=\"no_action\"}",
    ] {
        assert!(
            metrics.contains(wanted),
            "{wanted} missing from:\n{metrics}"
        );
    }
    llm.shutdown().await;
}

#[tokio::test]
async fn once_the_daily_budget_is_spent_agent_steps_take_their_fallback_with_reason_budget() {
    let llm = ScriptedLlm::start(turns()).await.unwrap();
    llm.set_conversation(REFUND);
    let app = spawn_scenario_with(
        &[shipped_live("refund-request")],
        Some(&llm.base_url()),
        Duration::ZERO,
        |config| {
            config.console.prices.insert("scripted-model".into(), PRICE);
            // Less than one run costs.
            config.console.llm_daily_budget = Some(0.01);
        },
    )
    .await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "I want a refund")
        .await
        .unwrap();
    app.settle().await;
    let spent: f64 = triaged::with_pool!(app.app.db(), |p| sqlx::query_scalar(
        "SELECT SUM(cost_usd) FROM runs"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert!(spent > 0.01, "the first run spends the budget: {spent}");
    let requests = llm.requests();

    app.sandbox()
        .customer_says(
            Some(CHECKOUT),
            CHECKOUT_CONTACT,
            "refund my checkout please",
        )
        .await
        .unwrap();
    app.settle().await;
    let (outcome, reason): (String, Option<String>) =
        triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
            "SELECT outcome, reason FROM runs WHERE conversation_id = $1 AND playbook IS NOT NULL",
        )
        .bind(CHECKOUT)
        .fetch_one(p)
        .await)
        .unwrap();
    assert_eq!(
        (outcome.as_str(), reason.as_deref()),
        ("failed", Some("budget"))
    );
    assert_eq!(llm.requests(), requests, "the model was not called");
    let notes: Vec<String> = app
        .parts(CHECKOUT)
        .iter()
        .filter(|p| p["part_type"] == "note")
        .filter_map(|p| p["body"].as_str().map(str::to_owned))
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("budget")),
        "the fallback note names the reason: {notes:?}"
    );
    llm.shutdown().await;
}
