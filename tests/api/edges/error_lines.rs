//! Error lines are written for the person reading them: each cause once, no Rust `Debug` text, no
//! JSON Schema pasted onto the line, and no ANSI colours in logs that are not going to a terminal.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::read_commands::{run, stderr, triaged};
use crate::helpers::PATIENCE;

// SQLite only: a file that is not a database.
#[test]
fn a_database_error_is_one_line_that_states_its_cause_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("notes.db"),
        "shopping list, not a database\n",
    )
    .expect("write");
    let out = run(triaged(
        dir.path(),
        &["events", "list"],
        &[("TRIAGED_DATABASE_URL", "sqlite://notes.db")],
    ));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("triaged: TRIAGED_DATABASE_URL: "), "{err}");
    assert_eq!(err.matches("file is not a database").count(), 1, "{err}");
}

#[tokio::test]
async fn text_logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(["serve", "--sandbox"])
        .current_dir(dir.path())
        .env_remove("TRIAGED_CONFIG")
        .env_remove("NO_COLOR")
        .env("TRIAGED_LOG_FORMAT", "text")
        .env("TRIAGED_LISTEN", "127.0.0.1:0")
        .env("SANDBOX_LISTEN", "127.0.0.1:0")
        .env("TRIAGED_PLAYBOOKS", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn triaged");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.contains("triaged is listening");
            seen.push(line);
            if done {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `triaged is listening` line in {seen:#?}"));
    let _ = child.kill().await;
    assert!(
        seen.last()
            .is_some_and(|l| l.contains("triaged is listening")),
        "{seen:#?}"
    );
    for line in &seen {
        assert!(
            !line.contains('\u{1b}'),
            "colour codes in a piped log: {line:?}"
        );
    }
}
