//! `triaged playbook test` run as the real binary: the shipped cases (`playbooks/*.test.yaml`)
//! pass, a wrong expectation fails with a readable diff, a malformed case file is reported at its
//! line and column. Each case runs an in-process daemon, sandbox and scripted model; no sleeps.

use std::process::Output;

const FIXTURES: &str = "tests/fixtures/playbook-tests";

/// Runs `triaged playbook test ARGS…` in the crate directory, with `TRIAGED_PLAYBOOKS` set to
/// `playbooks` when given, and no real LLM configured.
fn playbook_test(args: &[&str], playbooks: Option<&str>) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_triaged"));
    command
        .args(["playbook", "test"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("TRIAGED_PLAYBOOKS")
        .env_remove("TRIAGED_CONFIG")
        .env_remove("TRIAGED_LLM_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("RUST_LOG");
    if let Some(dir) = playbooks {
        command.env("TRIAGED_PLAYBOOKS", dir);
    }
    command.output().expect("run triaged")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_shipped_case_passes_and_is_listed_with_the_summary_line() {
    let out = playbook_test(&[], Some(concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks")));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    for case in [
        "acknowledges the refund, replies once and snoozes for three days",
        "a model that never stops fails on max_steps and the fallback assigns Billing",
        "a reproducible bug becomes a ticket, a reply naming it and a closed conversation",
        "a bug report without steps gets one reply asking for them",
        "a new generic question is handed to Support with a note",
    ] {
        assert!(
            text.contains(&format!("  passed  {case} (")),
            "{case:?} is listed as passed:\n{text}"
        );
    }
    let passed = text.lines().filter(|l| l.starts_with("  passed  ")).count();
    assert!(passed >= 5, "{text}");
    assert_eq!(
        text.lines().last(),
        Some(format!("{passed} passed, 0 failed").as_str())
    );
    assert!(
        stderr(&out).is_empty(),
        "the daemons' logs stay quiet: {}",
        stderr(&out)
    );
}

#[test]
fn a_wrong_expectation_fails_with_the_expectation_the_expected_and_the_actual_value() {
    let out = playbook_test(&[&format!("{FIXTURES}/wrong-expectations")], None);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("  passed  the reply is checked right ("),
        "{text}"
    );
    assert!(
        text.contains("  FAILED  the reply is checked wrong ("),
        "{text}"
    );
    assert!(
        text.contains("outcome: expected resolved, got replied\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "tool_order: expected [reply_to_conversation, get_conversation] in this order, got \
             [get_conversation, reply_to_conversation]\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("tool calls made:") && text.contains("model    reply_to_conversation"),
        "the calls the run made are listed: {text}"
    );
    assert!(
        !text.contains("replies:"),
        "expectations that held are not reported: {text}"
    );
    assert_eq!(text.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn a_malformed_case_file_is_reported_at_its_line_and_column_and_exits_1() {
    let out = playbook_test(&[&format!("{FIXTURES}/malformed/answer.test.yaml")], None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(
            "tests/fixtures/playbook-tests/malformed/answer.test.yaml:9:7: unknown field `outcom` \
             (did you mean `outcome`?)"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stdout(&out).lines().last(),
        Some("0 passed, 0 failed, 1 test file with errors")
    );
}

#[test]
fn a_case_file_naming_a_missing_playbook_or_an_unknown_tool_points_at_each() {
    let dir = tempfile::tempdir().expect("temp dir");
    let playbook = std::fs::read_to_string(format!(
        "{}/{FIXTURES}/malformed/answer.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture playbook");
    std::fs::write(dir.path().join("answer.yaml"), playbook).expect("write playbook");
    let file = dir.path().join("answer.test.yaml");
    std::fs::write(
        &file,
        "playbook: answr\ncases:\n  - name: x\n    conversation: \"215000001\"\n    message: hi\n    \
         model:\n      - tool: reply_to_conversatoin\n",
    )
    .expect("write case");

    let out = playbook_test(&[file.to_str().expect("utf-8 path")], None);

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let at = file.display().to_string();
    assert!(
        err.contains(&format!("{at}:1:11: no playbook named `answr`"))
            && err.contains("(did you mean `answer`?)"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{at}:7:9: unknown tool `reply_to_conversatoin` (did you mean `reply_to_conversation`?)"
        )),
        "{err}"
    );
}

#[test]
fn a_case_runs_on_its_own_seed_with_the_conversation_contact_as_the_customer() {
    let out = playbook_test(&[&format!("{FIXTURES}/seeded")], None);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("  passed  the seeded conversation gets one reply ("),
        "conversation 900001 exists only in the seed: {text}"
    );
    assert_eq!(text.lines().last(), Some("1 passed, 0 failed"));
}
