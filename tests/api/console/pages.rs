//! Console pages over HTTP: the Playbooks page shows a refused reload at file:line:col and runs a
//! playbook's test cases; filters stay in the URL; the run page shows the playbook's version.

use std::time::Duration;

use reqwest::header;

use crate::helpers::{PATIENCE, TestApp, spawn_scenario_with};

const CONTACT: &str = "6762f1261bb69f9f21930003";

async fn signed_in(app: &TestApp) -> String {
    let secret = super::ui_token(app, "lead").await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/ui/login", app.base))
        .form(&[("token", secret)])
        .send()
        .await
        .unwrap();
    let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

async fn hand_off_app() -> TestApp {
    spawn_scenario_with(&[], None, Duration::ZERO, |config| {
        for file in ["hand-off.yaml", "hand-off.test.yaml"] {
            let from = format!("{}/playbooks/{file}", env!("CARGO_MANIFEST_DIR"));
            std::fs::copy(from, config.playbooks.join(file)).unwrap();
        }
    })
    .await
}

#[tokio::test]
async fn the_playbooks_page_shows_a_refused_edit_at_its_line_and_column_and_runs_test_cases() {
    let app = hand_off_app().await;
    let cookie = signed_in(&app).await;
    let list = page(&app, &cookie, "/ui/playbooks").await;
    assert!(list.contains("hand-off") && list.contains("on conversation.user.created"));

    let file = app.app.playbooks().dir().join("hand-off.yaml");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, good.replacen("priority:", "priorty:", 1)).unwrap();
    let mut status = app.app.playbooks().watch_status();
    tokio::time::timeout(PATIENCE, status.wait_for(|s| s.refused > 0))
        .await
        .unwrap()
        .unwrap();
    let line = good
        .lines()
        .position(|l| l.starts_with("priority:"))
        .unwrap()
        + 1;
    let list = page(&app, &cookie, "/ui/playbooks").await;
    assert!(
        list.contains(&format!("hand-off.yaml:{line}:1")),
        "the page names the file, line and column: {list}"
    );
    assert!(list.contains("still running"));
    std::fs::write(&file, good).unwrap();

    let detail = page(&app, &cookie, "/ui/playbooks/hand-off").await;
    let csrf = detail
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let report = app
        .client
        .post(format!("{}/ui/playbooks/hand-off/test", app.base))
        .header(header::COOKIE, &cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.contains("All cases passed"), "{report}");
    assert!(report.contains("a new generic question is handed to Support"));
}

#[tokio::test]
async fn filters_stay_in_the_url_and_the_run_page_shows_the_playbook_version() {
    let app = hand_off_app().await;
    app.sandbox()
        .customer_says(None, CONTACT, "Do you have a mobile app?")
        .await
        .unwrap();
    app.settle().await;
    let cookie = signed_in(&app).await;
    let runs = page(
        &app,
        &cookie,
        "/ui/runs?playbook=hand-off&outcome=handed_off",
    )
    .await;
    assert!(
        runs.contains(r#"<option value="handed_off" selected>"#),
        "{runs}"
    );
    assert!(runs.contains(r#"<option value="hand-off" selected>"#));
    let id: i64 = triaged::with_pool!(app.app.db(), |p| sqlx::query_scalar(
        "SELECT id FROM runs WHERE playbook = 'hand-off'"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert!(runs.contains(&format!("/ui/runs/{id}")));
    let version = app
        .app
        .playbooks()
        .current()
        .get("hand-off")
        .unwrap()
        .version
        .clone();
    let run = page(&app, &cookie, &format!("/ui/runs/{id}")).await;
    assert!(run.contains(&version), "{run}");
    assert!(run.contains("transcript"));
    let empty = page(&app, &cookie, "/ui/runs?playbook=hand-off&outcome=failed").await;
    assert!(empty.contains("No runs match"));
}
