//! How `triaged playbook test` prints: one line per case (`passed`/`FAILED`), then for a failure
//! one line per broken expectation and the tool calls the run made, then `N passed, M failed`.
//! Formatting only; it never runs anything.

use std::{fmt::Write as _, time::Duration};

use super::{
    expect::Mismatch,
    run::{By, Observed},
};

/// A case's result line, and its details when it failed.
pub fn case(
    name: &str,
    took: Duration,
    result: &Result<(Observed, Vec<Mismatch>), String>,
) -> String {
    let secs = took.as_secs_f64();
    let mut out = String::new();
    match result {
        Ok((observed, mismatches)) if mismatches.is_empty() => {
            let _ = writeln!(out, "  passed  {name} ({secs:.1}s)");
            if observed.unused_turns > 0 {
                let _ = writeln!(
                    out,
                    "          note: {} scripted model turn(s) were never used",
                    observed.unused_turns
                );
            }
        }
        Ok((observed, mismatches)) => {
            let _ = writeln!(out, "  FAILED  {name} ({secs:.1}s)");
            for m in mismatches {
                let _ = writeln!(out, "          {m}");
            }
            details(&mut out, observed);
        }
        Err(error) => {
            let _ = writeln!(out, "  FAILED  {name} ({secs:.1}s)");
            let _ = writeln!(out, "          could not run: {error}");
        }
    }
    out
}

fn details(out: &mut String, observed: &Observed) {
    if let Some(run) = &observed.run {
        let _ = writeln!(
            out,
            "          run: {} {}{} on conversation {}",
            run.status,
            run.outcome.as_deref().unwrap_or("-"),
            run.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            observed.conversation_id
        );
        if let Some(error) = &run.last_error {
            let _ = writeln!(out, "          error: {error}");
        }
    } else {
        let _ = writeln!(
            out,
            "          no run on conversation {}",
            observed.conversation_id
        );
    }
    if observed.calls.is_empty() {
        let _ = writeln!(out, "          tool calls made: none");
        return;
    }
    let _ = writeln!(out, "          tool calls made:");
    for (i, call) in observed.calls.iter().enumerate() {
        let by = match call.by {
            By::Model => "model",
            By::Step => "step",
            By::Fallback => "fallback",
        };
        let mut args = call.args.to_string();
        if args.chars().count() > 160 {
            args = args.chars().take(157).collect::<String>() + "...";
        }
        let status = call
            .status
            .as_deref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "            {}. {by:<8} {} {args}{status}",
            i + 1,
            call.tool
        );
    }
}

/// The last line: `N passed, M failed` (and files that could not be read or checked).
pub fn summary(passed: usize, failed: usize, bad_files: usize) -> String {
    let mut line = format!("{passed} passed, {failed} failed");
    if bad_files > 0 {
        let _ = write!(
            line,
            ", {bad_files} test file{} with errors",
            if bad_files == 1 { "" } else { "s" }
        );
    }
    line
}
