//! `triaged bench pipeline` on the real binary: the figures it prints come from real runs.

use std::process::Command;

#[test]
fn the_pipeline_benchmark_runs_every_message_and_counts_intercom_and_model_traffic_per_run() {
    let output = Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args([
            "bench",
            "pipeline",
            "--messages",
            "3",
            "--conversations",
            "3",
            "--rate",
            "50",
            "--live",
            "--playbooks",
            concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks"),
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run triaged bench pipeline");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{stdout}"))
            .to_owned()
    };
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
