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

fn client() -> IntercomClient {
    IntercomClient::builder(
        "https://api.eu.intercom.io/",
        SecretString::from("tok-secret"),
    )
    .build()
    .unwrap_or_else(|e| panic!("{e}"))
}

fn header<'a>(request: &'a reqwest::Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn untag_is_a_delete_that_carries_its_json_body_and_every_pinned_header() {
    let call = detach_tag_call(
        &ConversationId::from("123"),
        &TagId::from("89"),
        &AdminId::from("456"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let request = client()
        .build_request(&call)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request.method(), reqwest::Method::DELETE);
    assert_eq!(
        request.url().as_str(),
        "https://api.eu.intercom.io/conversations/123/tags/89"
    );
    let body = request
        .body()
        .and_then(|b| b.as_bytes())
        .unwrap_or_default();
    assert_eq!(body, br#"{"admin_id":"456"}"#);
    assert_eq!(header(&request, "authorization"), Some("Bearer tok-secret"));
    assert_eq!(header(&request, "intercom-version"), Some("2.16"));
    assert_eq!(header(&request, "accept"), Some("application/json"));
    assert_eq!(header(&request, "content-type"), Some("application/json"));
}

#[test]
fn query_parameters_are_encoded_and_the_token_never_shows_in_debug_output() {
    let c = client();
    let call = Call::get("/visitors".to_owned()).query("user_id", "a b&c");
    let request = c.build_request(&call).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request.url().query(), Some("user_id=a+b%26c"));
    assert!(!format!("{c:?}").contains("tok-secret"));
    assert!(!format!("{request:?}").contains("tok-secret"));
}

#[test]
fn a_client_from_config_needs_a_token_and_an_http_url() {
    let config = |url: &str, token: Option<&str>| IntercomConfig {
        base_url: url.to_owned(),
        access_token: token.map(SecretString::from),
        admin_id: Some(" 42 ".to_owned()),
    };
    assert!(matches!(
        IntercomClient::from_config(&config("https://api.intercom.io", None)).build(),
        Err(BuildError::MissingToken)
    ));
    assert!(matches!(
        IntercomClient::from_config(&config("api.intercom.io", Some("t"))).build(),
        Err(BuildError::BadBaseUrl(_))
    ));
    let client = IntercomClient::from_config(&config("http://127.0.0.1:8090", Some("t")))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(client.admin_id(), Some(&AdminId::from("42")));
    assert_eq!(client.base_url(), "http://127.0.0.1:8090");
    assert_eq!(client.stats(), super::Stats::default());
}

#[tokio::test]
async fn clones_share_one_limiter_and_a_wait_over_the_bound_is_retry_later_at_once() {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use super::{IntercomError, ratelimit::RateHeaders};

    let a = IntercomClient::builder("http://127.0.0.1:9", SecretString::from("t"))
        .max_wait(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let b = a.clone();
    let now = SystemTime::now();
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // One slot left in a window that resets in two minutes, seen by clone `a`.
    a.with_shared(|s| {
        s.limiter.on_response(
            now,
            RateHeaders {
                limit: Some(166),
                remaining: Some(1),
                reset: Some(now_secs + 120),
                date: None,
            },
        );
    });
    // Clone `b` takes the last slot, then must not wait two minutes for the next.
    assert_eq!(b.acquire().await, Ok(()));
    let started = Instant::now();
    let err = a.acquire().await.err();
    assert!(
        matches!(err, Some(IntercomError::RetryLater { after }) if after > Duration::from_secs(30) && after <= Duration::from_secs(120)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "it slept");
    assert!(err.is_some_and(|e| e.is_transient()));
    assert_eq!(b.stats().waits, 0);
}

#[test]
fn manage_posts_to_parts_and_retrieve_can_ask_for_plain_text() {
    use super::{
        conversations::{manage_call, retrieve_call},
        requests::ManageConversation,
        transport::CallKind,
    };

    let c = client();
    let call = manage_call(
        &ConversationId::from("532"),
        &ManageConversation::snooze(AdminId::from("1"), 1_734_541_187),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(call.kind, CallKind::Write);
    let request = c.build_request(&call).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request.method(), reqwest::Method::POST);
    assert_eq!(request.url().path(), "/conversations/532/parts");
    let body: Value = serde_json::from_slice(
        request
            .body()
            .and_then(|b| b.as_bytes())
            .unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["message_type"], "snoozed");
    assert!(body.get("type").is_none());

    let call = retrieve_call(&ConversationId::from("503"), true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(call.kind, CallKind::Read);
    let request = c.build_request(&call).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        request.url().as_str(),
        "https://api.eu.intercom.io/conversations/503?display_as=plaintext"
    );
    assert!(retrieve_call(&ConversationId::from("5/../../me"), false).is_err());
}

#[tokio::test]
async fn an_oversized_search_is_refused_before_anything_is_sent() {
    use super::{
        IntercomError,
        search::{SearchQuery, SearchRequest},
    };

    // Port 9 (discard) is never contacted: the query is refused first.
    let c = IntercomClient::builder("http://127.0.0.1:9", SecretString::from("t"))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let query = SearchQuery::or((0..16).map(|i| SearchQuery::eq("id", i.to_string())));
    let err = c
        .search_conversations(&SearchRequest::new(query))
        .await
        .err();
    assert!(
        matches!(&err, Some(IntercomError::InvalidRequest(m)) if m.contains("at most 15")),
        "{err:?}"
    );
    assert_eq!(c.stats().requests, 0);
}

#[test]
fn every_error_example_of_every_covered_operation_maps_to_the_kind_of_its_status() {
    use super::{IntercomError, error_from_response};

    let spec = load_spec();
    let mut checked = 0;
    for (operation, _) in covered() {
        for (_, item) in spec["paths"].as_object().into_iter().flatten() {
            for (_, op) in item.as_object().into_iter().flatten() {
                if op.get("operationId").and_then(Value::as_str) != Some(operation) {
                    continue;
                }
                for (status, response) in op["responses"].as_object().into_iter().flatten() {
                    let Ok(status) = status.parse::<u16>() else {
                        continue;
                    };
                    if status < 400 {
                        continue;
                    }
                    let examples = &response["content"]["application/json"]["examples"];
                    for (name, example) in examples.as_object().into_iter().flatten() {
                        let body = resolve(spec, example)["value"].to_string();
                        let link = (status == 410).then_some("</contacts/x>; rel=\"canonical\"");
                        let err = error_from_response(status, link, body.as_bytes());
                        let expected = match status {
                            401 => matches!(err, IntercomError::Unauthorized { .. }),
                            403 => matches!(err, IntercomError::Forbidden { .. }),
                            404 => matches!(err, IntercomError::NotFound { .. }),
                            410 => {
                                matches!(err, IntercomError::ContactMerged { canonical: Some(_) })
                            }
                            429 => err == IntercomError::RateLimited,
                            500..=599 => matches!(err, IntercomError::Server { .. }),
                            _ => matches!(err, IntercomError::Invalid { .. }),
                        };
                        assert!(expected, "{operation} {status} {name}: {err:?}");
                        assert!(
                            !err.to_string().contains("http_error"),
                            "{operation} {status} {name}: the code was lost: {err}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} error examples");
}
