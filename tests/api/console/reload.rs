//! Live playbook reload: edits, broken edits and ConfigMap-style `..data` symlink swaps change the
//! running set with no restart. Waits are on the reload status (a watch channel), never sleeps.

use std::{path::Path, time::Duration};

use triaged::playbook::ReloadStatus;

use crate::helpers::{PATIENCE, TestApp, spawn_scenario_with};

const REFUND: &str = "215000001";
const PRIYA: &str = "6762f1261bb69f9f21930001";

/// A playbook that notes who handled the message (no model needed).
fn playbook(name: &str) -> String {
    format!(
        "name: {name}\ndescription: answers hello\npriority: 10\nmode: live\ntrigger:\n  \
         topics: [conversation.user.replied]\n  conditions:\n    contains:\n      any: [hello]\n\
         steps:\n  - note: \"handled by {name}\"\n"
    )
}

/// Waits until the reload status satisfies `done`.
async fn reloaded(app: &TestApp, done: impl Fn(&ReloadStatus) -> bool) -> ReloadStatus {
    let mut status = app.app.playbooks().watch_status();
    tokio::time::timeout(PATIENCE, status.wait_for(|s| done(s)))
        .await
        .expect("the daemon reloads its playbooks")
        .expect("the daemon is running")
        .clone()
}

/// The playbook and version of the newest run after the customer says hello again.
async fn next_run(app: &TestApp) -> (String, String) {
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "hello again")
        .await
        .unwrap();
    app.settle().await;
    let run: (Option<String>, Option<String>) =
        triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
            "SELECT playbook, playbook_version FROM runs WHERE playbook IS NOT NULL \
         ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(p)
        .await)
        .unwrap();
    (run.0.unwrap(), run.1.unwrap_or_default())
}

async fn start(prepare: impl FnOnce(&Path)) -> TestApp {
    spawn_scenario_with(&[], None, Duration::ZERO, |config| {
        prepare(&config.playbooks)
    })
    .await
}

#[tokio::test]
async fn editing_a_playbook_changes_the_playbook_of_the_next_event_without_a_restart() {
    let app =
        start(|dir| std::fs::write(dir.join("greeter.yaml"), playbook("alpha")).unwrap()).await;
    let (first, first_version) = next_run(&app).await;
    assert_eq!(first, "alpha");
    assert_eq!(
        first_version.len(),
        12,
        "the run records the playbook's content hash"
    );

    let before = app.app.playbooks().status().applied;
    std::fs::write(
        app.app.playbooks().dir().join("greeter.yaml"),
        playbook("beta"),
    )
    .unwrap();
    reloaded(&app, |s| s.applied > before).await;

    let (second, second_version) = next_run(&app).await;
    assert_eq!(second, "beta", "the next event runs the edited playbook");
    assert_ne!(second_version, first_version);
}

#[tokio::test]
async fn an_edit_made_as_soon_as_the_daemon_has_started_is_seen_by_the_watch_not_the_30s_check() {
    let app =
        start(|dir| std::fs::write(dir.join("greeter.yaml"), playbook("alpha")).unwrap()).await;
    std::fs::write(
        app.app.playbooks().dir().join("greeter.yaml"),
        playbook("beta"),
    )
    .unwrap();
    // Well inside the 30 s safety-net check: only the file watch can have seen it.
    let mut status = app.app.playbooks().watch_status();
    tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| s.applied > 0))
        .await
        .expect("the edit is seen by the watch, not by the 30 s check")
        .expect("the daemon is running");
    assert_eq!(next_run(&app).await.0, "beta");
}

#[tokio::test]
async fn after_an_edit_is_applied_the_watcher_goes_quiet_its_own_reads_are_no_change() {
    let app =
        start(|dir| std::fs::write(dir.join("greeter.yaml"), playbook("alpha")).unwrap()).await;
    let before = app.app.playbooks().status().applied;
    std::fs::write(
        app.app.playbooks().dir().join("greeter.yaml"),
        playbook("beta"),
    )
    .unwrap();
    let applied = reloaded(&app, |s| s.applied > before).await;

    // Reading the files is no change: nothing is attempted again until something changes (the
    // safety-net check is 30 s away). A watcher woken by its own reads reloads every 150 ms.
    let mut status = app.app.playbooks().watch_status();
    status.mark_unchanged();
    let again = tokio::time::timeout(Duration::from_secs(1), status.changed()).await;
    assert!(
        again.is_err(),
        "reloaded again with nothing changed: {:?} after {:?}",
        app.app.playbooks().status().last_attempt_at,
        applied.last_attempt_at
    );
    assert_eq!(next_run(&app).await.0, "beta");
}

#[tokio::test]
async fn a_broken_edit_keeps_the_last_good_set_and_reports_the_error_at_its_line_and_column() {
    let app =
        start(|dir| std::fs::write(dir.join("greeter.yaml"), playbook("alpha")).unwrap()).await;
    let file = app.app.playbooks().dir().join("greeter.yaml");
    // Line 6, column 3: a misspelt field.
    let broken = playbook("alpha").replacen("  topics:", "  topicz:", 1);
    std::fs::write(&file, broken).unwrap();
    let status = reloaded(&app, |s| s.refused > 0).await;
    let error = status.errors.first().expect("the problem is kept");
    assert_eq!((error.line, error.column), (6, 3), "{error}");
    assert!(error.to_string().contains("greeter.yaml:6:3"), "{error}");

    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("triaged_playbook_reloads_total{result=\"error\"}")),
        "{metrics}"
    );
    let (playbook, _) = next_run(&app).await;
    assert_eq!(playbook, "alpha", "the last good set still runs");

    // Fixing the file clears the error.
    std::fs::write(&file, self::playbook("gamma")).unwrap();
    let status = reloaded(&app, |s| s.errors.is_empty() && s.applied > 0).await;
    assert!(status.errors.is_empty());
    assert_eq!(next_run(&app).await.0, "gamma");
}

#[cfg(unix)]
#[tokio::test]
async fn a_configmap_style_data_symlink_swap_reloads_the_set() {
    use std::os::unix::fs::symlink;
    // What the kubelet writes: a timestamped directory, `..data` pointing at it, and each file a
    // symlink through `..data`.
    let app = start(|dir| {
        let version = dir.join("..2026_12_02_06_00_00.000000001");
        std::fs::create_dir(&version).unwrap();
        std::fs::write(version.join("greeter.yaml"), playbook("alpha")).unwrap();
        symlink("..2026_12_02_06_00_00.000000001", dir.join("..data")).unwrap();
        symlink("..data/greeter.yaml", dir.join("greeter.yaml")).unwrap();
    })
    .await;
    assert_eq!(next_run(&app).await.0, "alpha");

    let dir = app.app.playbooks().dir().to_path_buf();
    let before = app.app.playbooks().status().applied;
    let version = dir.join("..2026_12_02_06_05_00.000000002");
    std::fs::create_dir(&version).unwrap();
    std::fs::write(version.join("greeter.yaml"), playbook("beta")).unwrap();
    symlink("..2026_12_02_06_05_00.000000002", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    reloaded(&app, |s| s.applied > before).await;

    assert_eq!(next_run(&app).await.0, "beta");
}
