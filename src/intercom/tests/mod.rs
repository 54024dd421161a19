//! Client tests without a network: the spec's own response examples and the shared example
//! payloads deserialize into the models, requests carry the right method, headers and body, and
//! the quirks (0-or-null unassigned, numeric ids, open-ended strings) are handled.

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    BuildError, IntercomClient, conversations::detach_tag_call, models::*, transport::Call,
};
use crate::{
    config::IntercomConfig,
    ids::{AdminId, ConversationId},
};

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/intercom/api.intercom.io.2.16.yaml"
);
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/intercom/examples");

/// The spec, parsed once for all tests (1.3 MB of YAML).
fn load_spec() -> &'static Value {
    static PARSED: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{SPEC}: {e}"))
    })
}

fn decode<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(value.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks that a JSON value decodes into one model.
type Decoder = fn(&Value) -> Result<(), String>;

/// Every operation the client covers, with the model its 200/201 answer decodes into.
fn covered() -> Vec<(&'static str, Decoder)> {
    vec![
        ("identifyAdmin", decode::<AdminWithApp>),
        ("listAdmins", decode::<AdminList>),
        ("listTeams", decode::<TeamList>),
        ("searchConversations", decode::<ConversationList>),
        ("listConversations", decode::<ConversationList>),
        ("retrieveConversation", decode::<Conversation>),
        ("replyConversation", decode::<Conversation>),
        ("manageConversation", decode::<Conversation>),
        ("attachTagToConversation", decode::<Tag>),
        ("detachTagFromConversation", decode::<Tag>),
        ("listTags", decode::<TagList>),
        ("createTag", decode::<Tag>),
        ("createTicket", decode::<Ticket>),
        ("listTicketTypes", decode::<TicketTypeList>),
        ("ShowContact", decode::<Contact>),
        ("SearchContacts", decode::<ContactList>),
        ("retrieveVisitorWithUserId", decode::<Visitor>),
        ("RetrieveACompanyById", decode::<Company>),
        ("scrollOverAllCompanies", decode::<CompanyScrollPage>),
        ("searchArticles", decode::<ArticleSearch>),
    ]
}

/// Resolves an example that is a `$ref` to `#/components/examples/…`.
fn resolve<'a>(spec: &'a Value, example: &'a Value) -> &'a Value {
    match example.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            spec.pointer(pointer)
                .unwrap_or_else(|| panic!("unresolved example {reference}"))
        }
        None => example,
    }
}

/// `(operationId, example name, value)` of every 200/201 JSON example of `operation`.
fn success_examples<'a>(spec: &'a Value, operation: &str) -> Vec<(String, &'a Value)> {
    let mut found = Vec::new();
    let paths = spec["paths"].as_object().into_iter().flatten();
    for (_, item) in paths {
        for (_, op) in item.as_object().into_iter().flatten() {
            if op.get("operationId").and_then(Value::as_str) != Some(operation) {
                continue;
            }
            for status in ["200", "201"] {
                let content = &op["responses"][status]["content"]["application/json"];
                for (name, example) in content["examples"].as_object().into_iter().flatten() {
                    let example = resolve(spec, example);
                    if let Some(value) = example.get("value") {
                        found.push((format!("{status} {name}"), value));
                    }
                }
                if let Some(value) = content.get("example") {
                    found.push((format!("{status} example"), value));
                }
            }
        }
    }
    found
}

#[test]
fn every_success_example_of_every_covered_operation_deserializes() {
    let spec = load_spec();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (operation, decode) in covered() {
        let examples = success_examples(spec, operation);
        assert!(
            !examples.is_empty(),
            "{operation}: no 200/201 example found"
        );
        for (name, value) in examples {
            checked += 1;
            if let Err(e) = decode(value) {
                failures.push(format!("{operation} {name}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked >= 25, "only {checked} examples checked");
}

#[test]
fn spec_examples_keep_the_fields_the_agent_needs() {
    let spec = load_spec();
    let examples = success_examples(spec, "manageConversation");
    let (_, value) = examples
        .iter()
        .find(|(name, _)| name.contains("Snooze"))
        .unwrap_or_else(|| panic!("no snooze example"));
    let snoozed: Conversation =
        serde_json::from_value((*value).clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snoozed.snoozed_until, Some(1_734_541_187));
    let (_, value) = &success_examples(spec, "listTags")[0];
    let tags: TagList = serde_json::from_value((*value).clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tags.tags.len(), 1, "GET /tags puts its tags in `data`");
    let (_, value) = &success_examples(spec, "scrollOverAllCompanies")[0];
    let page: CompanyScrollPage =
        serde_json::from_value((*value).clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.data.len(), 1);
    assert!(page.scroll_param.is_some());
    let (_, value) = &success_examples(spec, "listTicketTypes")[0];
    let types: TicketTypeList =
        serde_json::from_value((*value).clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        types.data[0]
            .ticket_type_attributes
            .data
            .iter()
            .any(|a| a.name.as_deref() == Some("_default_title_"))
    );
    let (_, value) = &success_examples(spec, "identifyAdmin")[0];
    let me: AdminWithApp =
        serde_json::from_value((*value).clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(me.app.and_then(|a| a.region).as_deref(), Some("US"));
}

fn read_example(name: &str) -> Value {
    let path = format!("{EXAMPLES}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_file_in_the_examples_directory_deserializes_into_its_model() {
    let mut names: Vec<String> = std::fs::read_dir(EXAMPLES)
        .unwrap_or_else(|e| panic!("{EXAMPLES}: {e}"))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        let value = read_example(&name);
        let object = match value.get("type").and_then(Value::as_str) {
            Some("notification_event") => value["data"]["item"].clone(),
            _ => value.clone(),
        };
        let result = match object.get("type").and_then(Value::as_str) {
            Some("conversation") => decode::<Conversation>(&object),
            Some("company") => decode::<Company>(&object),
            Some("error.list") => serde_json::from_value::<super::ErrorList>(object.clone())
                .map_err(|e| e.to_string())
                .and_then(|l| {
                    if l.errors.is_empty() {
                        Err("no errors".into())
                    } else {
                        Ok(())
                    }
                }),
            other => Err(format!("no model for type {other:?}")),
        };
        assert!(result.is_ok(), "{name}: {result:?}");
    }
}

#[test]
fn the_retrieved_conversation_example_carries_parts_assignees_and_source() {
    let value = read_example("conversation_retrieve_200.spec-2.16.json");
    let c: Conversation = serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.id, ConversationId::from("503"));
    assert_eq!(c.state, Some(ConversationState::Closed));
    assert_eq!(c.admin_assignee_id, Some(AdminId::from("991267715")));
    assert_eq!(
        c.team_assignee_id.as_ref().map(|t| t.as_str()),
        Some("5017691")
    );
    assert_eq!(c.tags.tags.len(), 1);
    assert_eq!(c.contact_ids().count(), 1);
    let source = c.source.as_ref().unwrap_or_else(|| panic!("source"));
    assert_eq!(
        source.author.as_ref().map(|a| &a.kind),
        Some(&AuthorType::Admin)
    );
    let parts = c.parts();
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[0].id, "1", "numeric part ids become strings");
    assert_eq!(parts[0].part_type, PartType::Comment);
    assert_eq!(
        parts[1].part_type,
        PartType::Other("custom_action_started".into())
    );
    assert_eq!(
        parts[1].app_package_code.as_deref(),
        Some("test-integration")
    );
    assert_eq!(
        parts[2].author.as_ref().map(|a| &a.kind),
        Some(&AuthorType::Bot)
    );
}

#[test]
fn zero_null_and_missing_assignees_all_mean_unassigned() {
    for raw in [json!(0), json!(null), json!("0"), json!("")] {
        let c: Conversation = serde_json::from_value(
            json!({"id": 1, "admin_assignee_id": raw, "team_assignee_id": raw}),
        )
        .unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(c.admin_assignee_id, None, "{raw}");
        assert_eq!(c.team_assignee_id, None, "{raw}");
    }
    let c: Conversation = serde_json::from_value(json!({"id": "9", "admin_assignee_id": 42}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.admin_assignee_id, Some(AdminId::from("42")));
    assert_eq!(c.team_assignee_id, None);
    let c: Conversation = serde_json::from_value(json!({"id": "9", "teammates":
        {"type": "admin.list", "teammates": [{"type": "admin", "id": 814860}]}}))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.teammates.teammates[0].id, AdminId::from("814860"));
}

#[test]
fn nulls_and_unknown_values_do_not_break_a_conversation() {
    let c: Conversation = serde_json::from_value(json!({
        "id": 7,
        "state": "archived",
        "tags": null,
        "contacts": null,
        "custom_attributes": null,
        "brand_new_field": {"x": 1},
        "source": {"type": "carrier_pigeon", "delivered_as": "by_air", "attachments": null,
                   "author": {"type": "robot", "id": 5}},
        "conversation_parts": {"conversation_parts": [
            {"id": 3, "part_type": "language_detection_details", "body": null, "attachments": null,
             "assigned_to": {"type": "nobody_admin", "id": null}}
        ]}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.id.as_str(), "7");
    assert_eq!(c.state, Some(ConversationState::Other("archived".into())));
    let source = c.source.unwrap_or_default();
    assert_eq!(source.kind.as_deref(), Some("carrier_pigeon"));
    assert_eq!(
        source.author.map(|a| (a.kind, a.id)),
        Some((AuthorType::Other("robot".into()), Some("5".into())))
    );
    let part = &c.conversation_parts.unwrap_or_default().conversation_parts[0];
    assert_eq!(part.part_type.as_str(), "language_detection_details");
    assert_eq!(part.assigned_to.as_ref().and_then(|a| a.id.clone()), None);
    assert_eq!(
        part.assigned_to
            .as_ref()
            .and_then(|a| a.kind.clone())
            .as_deref(),
        Some("nobody_admin")
    );
}

mod requests;
