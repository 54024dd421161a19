//! `triaged bench pipeline` on the real binary: the figures it prints come from real runs, on a
//! temporary SQLite file and on an empty PostgreSQL database shared by replicas.

use std::process::Command;

#[test]
fn the_pipeline_benchmark_runs_every_message_and_counts_intercom_and_model_traffic_per_run() {
    let (ok, stdout, stderr) =
        pipeline(&["--messages", "3", "--conversations", "3", "--rate", "50"]);
    assert!(ok, "{stdout}\n{stderr}");
    let line = |prefix: &str| line(&stdout, prefix);
    assert!(line("runs:").starts_with("runs: 3  failed: 0"), "{stdout}");
    assert!(
        line("messages:").starts_with("messages: 3 at 50/s  "),
        "{stdout}"
    );
    // The shipped refund playbook, live: every customer got the stand-in's one reply.
    assert_eq!(line("outcomes:"), "outcomes: replied × 3", "{stdout}");
    assert_eq!(
        line("  POST /conversations/{id}/reply:"),
        "  POST /conversations/{id}/reply: 1.00 per run"
    );
    // get_conversation, the reply, the closing summary.
    assert!(
        line("model:").starts_with("model: 3.00 requests per run"),
        "{stdout}"
    );
}

/// The line of `stdout` that starts with `prefix`.
fn line(stdout: &str, prefix: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{stdout}"))
        .to_owned()
}

/// `triaged bench pipeline --live ARGS…` on the shipped playbooks with a clean environment:
/// whether it succeeded, its stdout and its stderr.
fn pipeline(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(["bench", "pipeline", "--live", "--playbooks"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run triaged bench pipeline");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_pipeline_benchmark_runs_on_an_empty_postgres_database_with_replicas_and_leaves_it_empty()
 {
    let pg = crate::postgres::TestPg::new().await;
    let tiny = ["--messages", "4", "--conversations", "4", "--rate", "50"];
    for replicas in ["2", "1"] {
        let mut args = tiny.to_vec();
        args.extend(["--database-url", &pg.url, "--replicas", replicas]);
        let (ok, stdout, stderr) = pipeline(&args);
        assert!(ok, "--replicas {replicas}\n{stdout}\n{stderr}");
        let line = |prefix: &str| line(&stdout, prefix);
        assert!(line("runs:").starts_with("runs: 4  failed: 0"), "{stdout}");
        assert_eq!(line("outcomes:"), "outcomes: replied × 4", "{stdout}");
        let expected = if replicas == "1" {
            "database: PostgreSQL, 1 replica".to_owned()
        } else {
            format!("database: PostgreSQL, {replicas} replicas (webhooks spread in turn)")
        };
        assert_eq!(line("database:"), expected);
        // The second round found the database empty again: the first dropped what it made.
        let mut conn = pg.connect().await;
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(tables, 0, "left behind after --replicas {replicas}");
    }

    // A database with anything in it is somebody's: refused, and left as it was.
    let mut conn = pg.connect().await;
    sqlx::query("CREATE TABLE customers (id BIGINT)")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut args = tiny.to_vec();
    args.extend(["--database-url", &pg.url]);
    let (ok, stdout, stderr) = pipeline(&args);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("is not empty (it holds public.customers)"),
        "{stderr}"
    );
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'customers'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(kept, 1);

    // Replicas need PostgreSQL; a SQLite URL is not what --database-url takes.
    let (ok, _, stderr) = pipeline(&["--replicas", "3"]);
    assert!(
        !ok && stderr.contains("--replicas 3 needs --database-url postgres://"),
        "{stderr}"
    );
    let (ok, _, stderr) = pipeline(&["--database-url", "sqlite://x.db"]);
    assert!(
        !ok && stderr.contains("--database-url takes a postgres:// URL"),
        "{stderr}"
    );
}

/// `triaged bench webhooks ARGS…` with a clean environment: its exit code, stdout and stderr.
async fn webhooks(args: &[&str]) -> (Option<i32>, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(["bench", "webhooks"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .await
        .expect("run triaged bench webhooks");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_webhook_benchmark_says_what_the_daemon_answered_and_takes_the_webhook_url_itself() {
    let app = crate::helpers::spawn_app().await;
    // The wrong secret: every notification refused, and the figures say with what.
    let (code, stdout, stderr) =
        webhooks(&["--url", &app.base, "--secret", "wrong", "--count", "3"]).await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("failed: 3 (401 Unauthorized × 3)"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("401 Unauthorized"), "{stderr}");

    // The receiver's own URL, as Intercom's settings show it, is taken as it is.
    let full = format!("{}/webhooks/intercom", app.base);
    let (code, stdout, stderr) = webhooks(&[
        "--url",
        &full,
        "--secret",
        crate::helpers::SECRET,
        "--count",
        "3",
    ])
    .await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("accepted (200): 3  failed: 0"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(
        app.app.db().list_events(None, 10).await.unwrap().len(),
        3,
        "the three notifications are stored"
    );
}
