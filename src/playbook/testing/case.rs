//! The test-case file format (`playbooks/*.test.yaml`) as written, and its checks.
//!
//! Strict like playbooks: unknown fields, unknown values, unknown tool names, bad regexes and bad
//! placeholders are [`Diagnostic`]s at `file:line:col`. Reading the file and its playbook directory
//! is the only I/O; nothing here runs a case.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use serde_saphyr::{MessageFormatter, Options, Spanned, UserMessageFormatter};

use crate::{
    llm::scripted::{ScriptedTurn, Turn, check_placeholders},
    playbook::{
        Diagnostic, KNOWN_TOOLS, Mode, Playbook,
        diagnostic::{Pos, Report, did_you_mean, friendly},
        load_dir,
        names::tool_access,
    },
};

/// A test file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    playbook: Spanned<String>,
    cases: Spanned<Vec<Spanned<CaseSpec>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    name: Spanned<String>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    conversation: Option<String>,
    #[serde(default)]
    seed: Option<Spanned<String>>,
    #[serde(default)]
    customer: Option<String>,
    message: String,
    #[serde(default)]
    model: Option<Vec<Spanned<TurnSpec>>>,
    #[serde(default)]
    expect: ExpectSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnSpec {
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    args: Option<serde_json::Value>,
    #[serde(default)]
    say: Option<String>,
    #[serde(default)]
    forever: bool,
}

/// A run's outcome, as `triaged runs list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutcomeSpec {
    Resolved,
    Replied,
    HandedOff,
    Escalated,
    NoAction,
    Failed,
    Skipped,
    NoPlaybook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StateSpec {
    Open,
    Closed,
    Snoozed,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectSpec {
    #[serde(default)]
    outcome: Option<OutcomeSpec>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    tools_used: Vec<Spanned<String>>,
    #[serde(default)]
    tools_not_used: Vec<Spanned<String>>,
    #[serde(default)]
    tool_order: Vec<Spanned<String>>,
    #[serde(default)]
    arguments:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    steps_at_most: Option<u32>,
    #[serde(default)]
    replies: Option<u32>,
    #[serde(default)]
    state: Option<StateSpec>,
    #[serde(default)]
    notes_at_least: Option<u32>,
    #[serde(default)]
    team: Option<String>,
}

/// A checked test file.
#[derive(Debug, Clone)]
pub struct CaseFile {
    pub path: PathBuf,
    /// The playbook under test, from the test file's directory.
    pub playbook: Playbook,
    pub cases: Vec<Case>,
}

/// One checked case.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// Overrides the playbook's mode.
    pub mode: Option<Mode>,
    /// `None`: the customer starts a new conversation.
    pub conversation: Option<String>,
    /// A sandbox workspace file instead of the demo workspace.
    pub seed: Option<PathBuf>,
    /// `None`: the conversation's contact.
    pub customer: Option<String>,
    pub message: String,
    /// `None`: the configured real LLM.
    pub model: Option<Vec<ScriptedTurn>>,
    pub expect: Expect,
}

/// What must hold after the run.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub tools_used: Vec<String>,
    pub tools_not_used: Vec<String>,
    pub tool_order: Vec<String>,
    /// `(tool, argument, pattern)`.
    pub arguments: Vec<(String, String, Pattern)>,
    pub steps_at_most: Option<u32>,
    pub replies: Option<u32>,
    pub state: Option<String>,
    pub notes_at_least: Option<u32>,
    pub team: Option<String>,
}

/// An argument match: a substring, or a regex written `/…/`.
#[derive(Debug, Clone)]
pub enum Pattern {
    Contains(String),
    Regex(regex::Regex),
}

impl Pattern {
    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Self::Contains(s) => text.contains(s.as_str()),
            Self::Regex(r) => r.is_match(text),
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Contains(s) => write!(f, "to contain {s:?}"),
            Self::Regex(r) => write!(f, "to match /{r}/"),
        }
    }
}

fn options() -> Options {
    let mut options = Options::default();
    options.strict_booleans = true;
    options.reject_unsupported_tags = true;
    options.with_snippet = false;
    options
}

/// Reads and checks one test file, with the playbook it names (from the same directory).
pub fn load(path: &Path) -> Result<CaseFile, Vec<Diagnostic>> {
    let mut report = Report::new(path.to_path_buf());
    let text = crate::playbook::load::read_text(path).map_err(|d| vec![d])?;
    let spec: FileSpec = match serde_saphyr::from_str_with_options(&text, options()) {
        Ok(spec) => spec,
        Err(e) => {
            let pos = e.location().map(Pos::from).unwrap_or_default();
            let message = friendly(&UserMessageFormatter.format_message(e.without_snippet()));
            report.error(pos, message);
            return Err(report.diagnostics);
        }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let set = load_dir(&dir)?;
    let playbook = match set.get(&spec.playbook.value) {
        Some(p) => Some(p.clone()),
        None => {
            let hint = did_you_mean(&spec.playbook.value, set.iter().map(|p| p.name.as_str()));
            report.error(
                Pos::of(&spec.playbook),
                format!(
                    "no playbook named `{}` in {}{hint}",
                    spec.playbook.value,
                    dir.display()
                ),
            );
            None
        }
    };
    if spec.cases.value.is_empty() {
        report.error(Pos::of(&spec.cases), "`cases` is empty: write at least one");
    }
    let mut names = BTreeSet::new();
    let cases: Vec<Case> = spec
        .cases
        .value
        .into_iter()
        .filter_map(|c| case(c, &dir, &mut names, &mut report))
        .collect();
    match playbook {
        Some(playbook) if report.diagnostics.is_empty() => Ok(CaseFile {
            path: path.to_path_buf(),
            playbook,
            cases,
        }),
        _ => Err(report.diagnostics),
    }
}

fn case(
    spec: Spanned<CaseSpec>,
    dir: &Path,
    names: &mut BTreeSet<String>,
    report: &mut Report,
) -> Option<Case> {
    let at = Pos::of(&spec);
    let spec = spec.value;
    let before = report.diagnostics.len();
    if spec.name.value.trim().is_empty() {
        report.error(Pos::of(&spec.name), "a case needs a `name`");
    } else if !names.insert(spec.name.value.clone()) {
        report.error(
            Pos::of(&spec.name),
            format!("duplicate case name `{}`", spec.name.value),
        );
    }
    if spec.conversation.is_none() && spec.customer.is_none() {
        report.error(
            at,
            "a case without `conversation` starts a new one: give the `customer` (contact id) \
             who writes it",
        );
    }
    let seed = spec.seed.as_ref().map(|s| {
        let file = dir.join(&s.value);
        if !file.is_file() {
            report.error(
                Pos::of(s),
                format!("seed file {} does not exist", file.display()),
            );
        }
        file
    });
    let model = spec.model.map(|turns| {
        turns
            .into_iter()
            .filter_map(|t| turn(t, report))
            .collect::<Vec<_>>()
    });
    let expect = expect(spec.expect, at, report);
    (report.diagnostics.len() == before).then(|| Case {
        name: spec.name.value,
        mode: spec.mode,
        conversation: spec.conversation,
        seed,
        customer: spec.customer,
        message: spec.message,
        model,
        expect,
    })
}

fn turn(spec: Spanned<TurnSpec>, report: &mut Report) -> Option<ScriptedTurn> {
    let at = Pos::of(&spec);
    let spec = spec.value;
    let turn = match (spec.tool, spec.say) {
        (Some(name), None) => {
            if tool_access(&name).is_none() {
                let hint = did_you_mean(&name, KNOWN_TOOLS.iter().map(|(n, _)| *n));
                report.error(at, format!("unknown tool `{name}`{hint}"));
                return None;
            }
            let args = spec
                .args
                .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
            if !args.is_object() {
                report.error(
                    at,
                    "`args` must be a mapping, e.g. `{ conversation_id: \"1\" }`",
                );
                return None;
            }
            if let Err(e) = placeholders_in(&args) {
                report.error(at, e);
                return None;
            }
            Turn::Tool { name, args }
        }
        (None, Some(text)) => {
            if spec.args.is_some() {
                report.error(at, "`args` goes with `tool`, not with `say`");
                return None;
            }
            if let Err(e) = check_placeholders(&text) {
                report.error(at, e);
                return None;
            }
            Turn::Say(text)
        }
        _ => {
            report.error(
                at,
                "a model turn is either `tool:` (with `args:`) or `say:`, exactly one of them",
            );
            return None;
        }
    };
    Some(ScriptedTurn {
        turn,
        forever: spec.forever,
    })
}

fn placeholders_in(value: &serde_json::Value) -> Result<(), String> {
    match value {
        serde_json::Value::String(s) => check_placeholders(s),
        serde_json::Value::Array(items) => items.iter().try_for_each(placeholders_in),
        serde_json::Value::Object(map) => map.values().try_for_each(placeholders_in),
        _ => Ok(()),
    }
}

fn tool_names(names: Vec<Spanned<String>>, report: &mut Report) -> Vec<String> {
    names
        .into_iter()
        .map(|n| {
            if tool_access(&n.value).is_none() {
                let hint = did_you_mean(&n.value, KNOWN_TOOLS.iter().map(|(n, _)| *n));
                report.error(Pos::of(&n), format!("unknown tool `{}`{hint}", n.value));
            }
            n.value
        })
        .collect()
}

fn expect(spec: ExpectSpec, at: Pos, report: &mut Report) -> Expect {
    let mut arguments = Vec::new();
    for (tool, fields) in spec.arguments {
        for (field, pattern) in fields {
            let pos = Pos::of(&pattern);
            if tool_access(&tool).is_none() {
                let hint = did_you_mean(&tool, KNOWN_TOOLS.iter().map(|(n, _)| *n));
                report.error(pos, format!("`arguments`: unknown tool `{tool}`{hint}"));
                continue;
            }
            let text = pattern.value;
            let pattern = match text.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
                Some(re) if text.len() >= 2 => match regex::Regex::new(re) {
                    Ok(re) => Pattern::Regex(re),
                    Err(e) => {
                        report.error(pos, format!("invalid regex /{re}/: {e}"));
                        continue;
                    }
                },
                _ => Pattern::Contains(text),
            };
            arguments.push((tool.clone(), field, pattern));
        }
    }
    let outcome = spec.outcome.map(|o| {
        match o {
            OutcomeSpec::Resolved => "resolved",
            OutcomeSpec::Replied => "replied",
            OutcomeSpec::HandedOff => "handed_off",
            OutcomeSpec::Escalated => "escalated",
            OutcomeSpec::NoAction => "no_action",
            OutcomeSpec::Failed => "failed",
            OutcomeSpec::Skipped => "skipped",
            OutcomeSpec::NoPlaybook => "no_playbook",
        }
        .to_owned()
    });
    if spec.reason.is_some()
        && !matches!(
            spec.outcome,
            None | Some(OutcomeSpec::Failed | OutcomeSpec::Skipped)
        )
    {
        report.error(
            at,
            "`reason` only goes with `outcome: failed` or `outcome: skipped`",
        );
    }
    Expect {
        outcome,
        reason: spec.reason,
        tools_used: tool_names(spec.tools_used, report),
        tools_not_used: tool_names(spec.tools_not_used, report),
        tool_order: tool_names(spec.tool_order, report),
        arguments,
        steps_at_most: spec.steps_at_most,
        replies: spec.replies,
        state: spec.state.map(|s| {
            match s {
                StateSpec::Open => "open",
                StateSpec::Closed => "closed",
                StateSpec::Snoozed => "snoozed",
            }
            .to_owned()
        }),
        notes_at_least: spec.notes_at_least,
        team: spec.team,
    }
}
