//! `triaged serve` refuses settings that parse but cannot work, as the real binary: one line naming
//! the variable and the allowed range, exit 2, and nothing created or bound.

use super::read_commands::{files_in, run, stderr, triaged};

#[test]
fn serve_refuses_out_of_range_settings_with_one_line_naming_the_variable_and_the_range() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (var, value, expected) in [
        (
            "TRIAGED_WORKERS",
            "99999999999",
            "TRIAGED_WORKERS: 99999999999 is out of range (allowed: 0 to 256)",
        ),
        (
            "TRIAGED_MAX_BODY_BYTES",
            "0",
            "TRIAGED_MAX_BODY_BYTES: 0 is out of range (allowed: 4096 to 67108864)",
        ),
        (
            "TRIAGED_POLL_INTERVAL",
            "0s",
            "TRIAGED_POLL_INTERVAL: 0s is out of range (allowed: 1ms to 1m)",
        ),
        (
            "TRIAGED_HEARTBEAT",
            "100ms",
            "TRIAGED_HEARTBEAT: 100ms is out of range (allowed: 1s to 10m)",
        ),
        (
            "TRIAGED_LEASE_TTL",
            "3d",
            "TRIAGED_LEASE_TTL: 3days is out of range (allowed: 1s to 1h)",
        ),
        (
            "TRIAGED_MAX_ATTEMPTS",
            "0",
            "TRIAGED_MAX_ATTEMPTS: 0 is out of range (allowed: 1 to 1000)",
        ),
        (
            "TRIAGED_RETRY_FOR",
            "30d",
            "TRIAGED_RETRY_FOR: 30days is out of range (allowed: 0s to 7days)",
        ),
    ] {
        let out = run(triaged(
            dir.path(),
            &["serve", "--sandbox"],
            &[
                (var, value),
                // Padded durations are read as their trimmed value, not refused.
                ("TRIAGED_DEBOUNCE", " 2s "),
                ("TRIAGED_LISTEN", "127.0.0.1:0"),
                ("SANDBOX_LISTEN", "127.0.0.1:0"),
            ],
        ));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {err}");
        assert_eq!(
            err.trim_end(),
            format!("triaged: {expected}"),
            "{var}={value}"
        );
        assert!(out.stdout.is_empty(), "{var}={value}");
        assert_eq!(files_in(dir.path()), Vec::<String>::new(), "{var}={value}");
    }
}

#[test]
fn a_duration_with_stray_spaces_is_trimmed_and_one_with_a_stray_word_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(triaged(
        dir.path(),
        &["serve", "--sandbox"],
        &[("TRIAGED_DEBOUNCE", "15s please")],
    ));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("15s please") && err.contains("use e.g. 250ms"),
        "{err}"
    );
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}
