//! `triaged playbook test`: runs playbook test cases (`*.test.yaml`) the way support leads run
//! them in CI, and says exactly which expectation broke.
//!
//! A test file names one playbook of its directory and lists cases: a customer message (in a demo
//! conversation or a new one), optionally a scripted model, and what must hold afterwards. Each
//! case runs the **whole daemon in-process** ([`crate::app::App`]) against the embedded sandbox, so
//! it tests what production does: matching, steps, guard, modes, fallback. Cases are independent
//! and sequential.
//!
//! Unlike the rest of `playbook` (pure), this submodule sits above every stage: it starts apps.
//! Nothing else in `playbook` imports it. It never touches the daemon's database or a real
//! Intercom workspace, and never calls a real LLM unless a case leaves out `model`.
//!
//! | file | what |
//! |---|---|
//! | `case` | the file format and its `file:line:col` checks |
//! | `run` | one case: app, message, deterministic wait, observations |
//! | `expect` | expectations against observations (pure) |
//! | `report` | printing |
//!
//! # Example
//! Case fields: `name`, `mode` (overrides the playbook's), `conversation` (a sandbox conversation;
//! none: a new one), `seed` (a sandbox workspace file, relative to the test file and kept in a
//! subdirectory: every `*.yaml` beside the playbooks is read as a playbook), `customer` (default:
//! the conversation's contact), `message`, `model` (scripted turns `tool`+`args`, `say`, with
//! `forever: true` to repeat one; omitted: the configured LLM from `TRIAGED_LLM_*`), `expect`
//! (`outcome`, `reason`, `tools_used`, `tools_not_used`, `tool_order`, `arguments`,
//! `steps_at_most`, `replies`, `state`, `notes_at_least`, `team`). Tool calls include the
//! playbook's own steps and fallback steps, in order.
//!
//! ```yaml
//! playbook: refund-request
//! cases:
//!   - name: acknowledges and snoozes
//!     mode: live
//!     conversation: "215000001"
//!     message: "Any update on my refund?"
//!     model:
//!       - tool: reply_to_conversation
//!         args: { conversation_id: "{{conversation_id}}", body: "… 3-5 business days …" }
//!       - say: "Done."
//!     expect:
//!       outcome: replied
//!       arguments:
//!         reply_to_conversation: { body: "3-5 business days" }
//!       state: snoozed
//! ```

pub mod case;
pub mod expect;
pub mod report;
pub mod run;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use super::{Diagnostic, TEST_SUFFIXES};

/// The test files under `path`: the file itself, or the `*.test.yaml` files directly in the
/// directory, sorted.
pub fn test_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let unreadable = |e: std::io::Error| Diagnostic {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read: {e}"),
    };
    if std::fs::metadata(path).map_err(unreadable)?.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(unreadable)? {
        let file = entry.map_err(unreadable)?.path();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if TEST_SUFFIXES.iter().any(|s| name.ends_with(s)) && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: "no playbook test files (*.test.yaml) here".to_owned(),
        });
    }
    Ok(files)
}

/// Runs every case of every test file under `paths`, printing the report (cases on stdout,
/// file problems as `file:line:col: message` on stderr). Returns whether everything passed.
pub async fn run_paths(paths: &[PathBuf]) -> bool {
    let report = collect(paths, None).await;
    eprint!("{}", report.problems);
    print!("{}", report.cases);
    report.passed
}

/// The console's "run the test cases" button: the cases of the test files under `paths` that test
/// `playbook` (all when `None`), as one text report and whether everything passed.
pub async fn run_report(paths: &[PathBuf], playbook: Option<&str>) -> (bool, String) {
    let report = collect(paths, playbook).await;
    (
        report.passed,
        format!("{}{}", report.problems, report.cases),
    )
}

struct Collected {
    passed: bool,
    cases: String,
    problems: String,
}

async fn collect(paths: &[PathBuf], only: Option<&str>) -> Collected {
    use std::fmt::Write;
    let (mut passed, mut failed, mut bad_files) = (0, 0, 0);
    let (mut out, mut problems) = (String::new(), String::new());
    let mut files = Vec::new();
    for path in paths {
        match test_files(path) {
            Ok(mut found) => files.append(&mut found),
            Err(d) => {
                let _ = writeln!(problems, "{d}");
                bad_files += 1;
            }
        }
    }
    for path in files {
        let file = match case::load(&path) {
            Ok(file) => file,
            Err(diagnostics) => {
                for d in diagnostics {
                    let _ = writeln!(problems, "{d}");
                }
                bad_files += 1;
                continue;
            }
        };
        if only.is_some_and(|name| name != file.playbook.name) {
            continue;
        }
        let _ = writeln!(out, "{} (playbook {})", path.display(), file.playbook.name);
        for case in &file.cases {
            let started = Instant::now();
            let result = run::run(&file, case)
                .await
                .map(|observed| {
                    let mismatches = expect::check(&case.expect, &observed);
                    (observed, mismatches)
                })
                .map_err(|e| format!("{e:#}"));
            match &result {
                Ok((_, m)) if m.is_empty() => passed += 1,
                _ => failed += 1,
            }
            out.push_str(&report::case(&case.name, started.elapsed(), &result));
        }
    }
    let _ = writeln!(out, "{}", report::summary(passed, failed, bad_files));
    Collected {
        passed: failed == 0 && bad_files == 0,
        cases: out,
        problems,
    }
}
