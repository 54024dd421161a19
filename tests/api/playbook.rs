//! `triaged playbook check|schema` run as the real binary on the shipped playbooks and on broken
//! fixtures (`tests/fixtures/playbooks/`). No network, no sleeps.

use std::{path::Path, process::Output};

const FIXTURES: &str = "tests/fixtures/playbooks";

/// Runs `triaged ARGS…` in the crate directory (so paths in messages are relative).
fn triaged(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("TRIAGED_PLAYBOOKS")
        .env_remove("TRIAGED_CONFIG")
        .output()
        .expect("run triaged")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_shipped_playbooks_pass_check_by_default_with_a_one_line_summary() {
    let out = triaged(&["playbook", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "3 playbooks OK: refund-request, bug-escalation, hand-off\n"
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn every_broken_file_is_reported_at_its_line_and_column_and_check_exits_1() {
    let out = triaged(&["playbook", "check", &format!("{FIXTURES}/broken")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let b = format!("{FIXTURES}/broken");
    let expected = [
        (
            "syntax.yaml:5:6: ",
            "YAML syntax error: illegal placement of ':' indicator",
        ),
        (
            "unknown-field.yaml:3:1: ",
            "unknown field `descripton` (did you mean `description`?); expected one of name, \
             description, priority, mode, trigger, steps, fallback",
        ),
        (
            "bad-regex.yaml:6:14: ",
            "invalid regular expression in `matches`",
        ),
        (
            "unknown-tool.yaml:8:15: ",
            "unknown tool `get_conversaton` (did you mean `get_conversation`?); tools: ",
        ),
        (
            "unknown-topic.yaml:6:7: ",
            "`conversation.closed` is not an Intercom webhook topic (Intercom never sends it); use \
             `conversation.admin.closed`",
        ),
        (
            "unknown-variable.yaml:6:12: ",
            "unknown template variable `contact.nmae` (did you mean `contact.name`?); valid \
             variables: `contact.name`, `contact.first_name`",
        ),
        (
            "bad-duration.yaml:6:13: ",
            "invalid duration `three days` in `snooze`",
        ),
        (
            "bad-timezone.yaml:7:17: ",
            "unknown time zone `Europe/Pariss`",
        ),
        ("empty-topics.yaml:4:11: ", "`topics` is empty"),
        (
            "yes-is-not-true.yaml:3:7: ",
            "unknown value `yes`, expected one of live, draft, shadow",
        ),
    ];
    for (place, message) in expected {
        let line = format!("{b}/{place}{message}");
        assert!(
            err.lines().any(|l| l.starts_with(&line)),
            "missing `{line}` in:\n{err}"
        );
    }
    // One line per problem, across every file (no stop at the first), plus the count.
    assert_eq!(err.lines().count(), expected.len() + 1, "{err}");
    assert!(err.ends_with("playbook check: 10 errors\n"), "{err}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_duplicate_playbook_name_is_reported_at_the_second_file() {
    let dir = format!("{FIXTURES}/duplicate-names");
    let out = triaged(&["playbook", "check", &dir]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!(
            "{dir}/second.yaml:2:7: duplicate playbook name `same-name`: already used by \
             {dir}/first.yaml\n"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn test_case_files_are_not_checked_as_playbooks() {
    let out = triaged(&["playbook", "check", &format!("{FIXTURES}/with-test-cases")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1 playbook OK: ok\n");
}

#[test]
fn the_playbook_directory_comes_from_triaged_playbooks_when_no_path_is_given() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(["playbook", "check"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TRIAGED_PLAYBOOKS", format!("{FIXTURES}/duplicate-names"))
        .output()
        .expect("run triaged");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("duplicate playbook name"));
}

/// The printed schema, compiled as a validator.
fn schema() -> (serde_json::Value, jsonschema::Validator) {
    let out = triaged(&["playbook", "schema"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    (schema, validator)
}

fn yaml_to_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read playbook");
    serde_saphyr::from_str(&text).expect("playbook YAML")
}

#[test]
fn the_schema_validates_every_shipped_playbook() {
    let (_, validator) = schema();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let files = triaged::playbook::playbook_files(&dir).expect("list playbooks");
    assert_eq!(files.len(), 3);
    for file in files {
        let doc = yaml_to_json(&file);
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}

#[test]
fn the_schema_rejects_an_unknown_field_an_unknown_tool_and_a_missing_trigger() {
    let (_, validator) = schema();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/refund-request.yaml");
    let good = yaml_to_json(&file);
    assert!(validator.is_valid(&good));

    let mut unknown_field = good.clone();
    unknown_field["descripton"] = "typo".into();
    assert!(!validator.is_valid(&unknown_field));

    let mut unknown_tool = good.clone();
    unknown_tool["steps"][1]["agent"]["tools"][0] = "get_conversaton".into();
    assert!(!validator.is_valid(&unknown_tool));

    let mut no_trigger = good;
    no_trigger.as_object_mut().unwrap().remove("trigger");
    assert!(!validator.is_valid(&no_trigger));
}

#[test]
fn the_schema_file_shipped_beside_the_playbooks_is_the_generated_one() {
    let (schema, _) = schema();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/playbook.schema.json");
    let shipped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read schema")).expect("JSON");
    assert!(
        shipped == schema,
        "playbooks/playbook.schema.json is stale: run `triaged playbook schema > \
         playbooks/playbook.schema.json`"
    );
}

#[test]
fn every_shipped_playbook_has_the_editor_schema_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    for file in triaged::playbook::playbook_files(&dir).expect("list playbooks") {
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(
            text.starts_with("# yaml-language-server: $schema=./playbook.schema.json\n"),
            "{}",
            file.display()
        );
    }
}

#[test]
fn the_shipped_playbooks_route_refunds_bugs_and_everything_else() {
    use triaged::playbook::{ContactFacts, ConversationState, MatchContext, load_dir};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let set = load_dir(&dir).expect("the shipped playbooks load");
    let event = |message: &str| MatchContext {
        topic: "conversation.user.created".into(),
        state: ConversationState::Open,
        message: message.into(),
        tags: vec![],
        admin_assignee_id: None,
        team_assignee_id: None,
        team_assignee_name: None,
        channel: "conversation".into(),
        contact: ContactFacts::default(),
        now: 1_795_768_200,
    };
    let pick = |ctx: &MatchContext| set.first_match(ctx).map(|p| p.name.clone());
    assert_eq!(
        pick(&event("Can I get my MONEY BACK?")).as_deref(),
        Some("refund-request")
    );
    assert_eq!(
        pick(&event("The export crashes with error 500")).as_deref(),
        Some("bug-escalation")
    );
    assert_eq!(
        pick(&event("How do I change my avatar?")).as_deref(),
        Some("hand-off")
    );
    let mut handled = event("refund please");
    handled.tags = vec!["refund-requested".into()];
    handled.team_assignee_id = Some("7".into());
    assert_eq!(
        pick(&handled),
        None,
        "already tagged and assigned: nobody acts"
    );
}
