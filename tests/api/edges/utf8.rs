//! A playbook or test-case file that is not UTF-8 (saved in Latin-1, a stray byte from a copy and
//! paste) is reported at the `file:line:col` of its first bad byte, like every other mistake.

use std::process::Command;

fn triaged(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(args)
        .current_dir(dir)
        .env_remove("TRIAGED_PLAYBOOKS")
        .env_remove("TRIAGED_CONFIG")
        .env_remove("TRIAGED_LLM_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run triaged")
}

/// A playbook whose `contains:` was saved in Latin-1: `café` as `caf\xE9`.
const LATIN1_PLAYBOOK: &[u8] = b"name: latin\ntrigger:\n  topics: [conversation.user.created]\n  \
    conditions:\n    - contains: caf\xE9\nsteps:\n  - reply: Hello\n";

#[test]
fn a_playbook_that_is_not_utf8_is_reported_at_the_line_and_column_of_its_first_bad_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("latin.yaml"), LATIN1_PLAYBOOK).expect("write");
    let out = triaged(dir.path(), &["playbook", "check", "."]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .any(|l| l == "./latin.yaml:5:20: byte 0xE9 is not UTF-8 text: save the file as UTF-8"),
        "{err}"
    );
}

#[test]
fn a_test_case_file_that_is_not_utf8_is_reported_at_the_line_and_column_of_its_first_bad_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("latin.test.yaml"),
        b"playbook: latin\ncases:\n  - name: \xABquoted\xBB\n".as_slice(),
    )
    .expect("write");
    let out = triaged(dir.path(), &["playbook", "test", "latin.test.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("latin.test.yaml:3:11: byte 0xAB is not UTF-8 text: save the file as UTF-8"),
        "{err}"
    );
}
