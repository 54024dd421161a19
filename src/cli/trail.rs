//! The commands that read and replay the audit trail: `runs list`, `runs show`, `events list`,
//! `events replay`.

use std::process::ExitCode;

use super::{open, open_read_only};
use crate::{
    config::DbArgs,
    store::{events::EventStatus, runs::RunStatus},
};

/// `runs list`: the newest runs, a table or JSON.
pub(super) async fn runs_list(
    db: &DbArgs,
    status: Option<RunStatus>,
    limit: i64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let runs = open_read_only(db)
        .await?
        .list_runs(status.map(RunStatus::as_str), limit)
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else {
        println!(
            "{:>6}  {:>6}  {:<10}  {:<12}  {:<28}  REASON",
            "ID", "EVENT", "STATUS", "OUTCOME", "STARTED"
        );
        for r in runs {
            println!(
                "{:>6}  {:>6}  {:<10}  {:<12}  {:<28}  {}",
                r.id,
                r.event_id,
                r.status,
                r.outcome.unwrap_or_default(),
                r.started_at,
                r.reason.unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `runs show`: one run's transcript (or JSON: the run, its usage, steps and writes).
pub(super) async fn runs_show(db: &DbArgs, id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let db = open_read_only(db).await?;
    let Some(run) = db.run(id).await? else {
        eprintln!("triaged: no run {id}");
        return Ok(ExitCode::FAILURE);
    };
    let steps = db.run_steps(id).await?;
    let actions = db.run_actions(id).await?;
    let cost = db.run_cost(id).await?.unwrap_or_default();
    if json {
        let steps: Vec<serde_json::Value> = steps
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["payload"] = serde_json::from_str(&s.payload)
                    .unwrap_or(serde_json::Value::String(s.payload.clone()));
                v
            })
            .collect();
        let doc = serde_json::json!({"run": run, "usage": cost,
            "intercom_requests": cost.intercom(), "steps": steps, "actions": actions});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!(
            "{}",
            crate::transcript::render(&run, &cost, &steps, &actions)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `events list`: the newest events, a table or JSON.
pub(super) async fn events_list(
    db: &DbArgs,
    status: Option<EventStatus>,
    limit: i64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let events = open_read_only(db)
        .await?
        .list_events(status.map(EventStatus::as_str), limit)
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&events)?);
    } else {
        println!(
            "{:>6}  {:<10}  {:<34}  {:<28}  CONVERSATION",
            "ID", "STATUS", "TOPIC", "RECEIVED"
        );
        for e in events {
            println!(
                "{:>6}  {:<10}  {:<34}  {:<28}  {}",
                e.id,
                e.status,
                e.topic.unwrap_or_default(),
                e.received_at,
                e.conversation_id.unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `events replay ID`: one event re-queued.
pub(super) async fn replay(db: &DbArgs, id: i64) -> anyhow::Result<ExitCode> {
    match crate::ingest::replay(&open(db).await?, id).await {
        Ok(id) => {
            println!("event {id} re-queued; a running daemon picks it up (or the next to start)");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("triaged: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `events replay --status S [--since D]`: every matching event re-queued, one line each, and a
/// count. Exits 1 when one could not be (the others are queued all the same).
pub(super) async fn replay_many(
    db: &DbArgs,
    status: EventStatus,
    since: Option<std::time::Duration>,
) -> anyhow::Result<ExitCode> {
    let db = open(db).await?;
    let results = crate::ingest::replay_matching(&db, status, since).await?;
    let mut failed = 0;
    for result in &results {
        match result {
            Ok(id) => println!("event {id} re-queued"),
            Err(e) => {
                failed += 1;
                eprintln!("triaged: {e}");
            }
        }
    }
    let window = since.map_or(String::new(), |d| {
        format!(" in the last {}", humantime::format_duration(d))
    });
    println!(
        "{} {} event(s){window} re-queued; a running daemon picks them up (or the next to start)",
        results.len() - failed,
        status.as_str()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
