//! Requests the client builds (method, path, headers, body) and its errors, without a network.

use super::*;

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
    assert_eq!(client.stats(), crate::intercom::Stats::default());
}

#[tokio::test]
async fn clones_share_one_limiter_and_a_wait_over_the_bound_is_retry_later_at_once() {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use crate::intercom::{IntercomError, ratelimit::RateHeaders};

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
    use crate::intercom::{
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
    use crate::intercom::{
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
    use crate::intercom::{IntercomError, error_from_response};

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
