//! Malformed requests get Intercom's own answer: a JSON `error.list` (400 `parameter_invalid`),
//! never the web framework's `text/plain` line; optional parameters are optional as the spec says.

use super::{Sim, assert_error};

#[tokio::test]
async fn a_query_string_that_does_not_parse_is_answered_with_an_intercom_error_list() {
    let sim = Sim::start().await;
    for path in [
        "/conversations?per_page=many",
        "/conversations?per_page=-1",
        "/companies/scroll?scroll_param=a&scroll_param=b",
        "/conversations/215000001?display_as=plaintext&display_as=html",
        "/articles/search?phrase=refund&help_center_id=first",
        "/articles/search?phrase=refund&highlight=maybe",
    ] {
        let answer = sim.get(path).await;
        assert_error(&answer, 400, "parameter_invalid");
        assert_eq!(answer.headers["content-type"], "application/json", "{path}");
        let message = answer.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            !message.is_empty() && !message.contains("Failed to deserialize"),
            "{path}: {message}"
        );
    }
}

#[tokio::test]
async fn a_path_id_that_is_not_text_is_answered_with_an_intercom_error_list() {
    let sim = Sim::start().await;
    let answer = sim.get("/conversations/%FF%FE").await;
    assert_eq!(answer.body["type"], "error.list", "{}", answer.body);
    assert!(matches!(answer.status, 400 | 404), "{}", answer.status);
    assert_eq!(answer.headers["content-type"], "application/json");
}

#[tokio::test]
async fn article_search_takes_every_parameter_the_spec_marks_optional() {
    let sim = Sim::start().await;
    let all = sim.get("/articles/search").await;
    assert_eq!(all.status, 200, "{}", all.body);
    let count = all.body["data"]["articles"].as_array().map_or(0, Vec::len);
    assert!(
        count >= 2,
        "every published article without a phrase: {}",
        all.body
    );
    assert_eq!(all.body["total_count"], count);
    let found = sim
        .get("/articles/search?phrase=refunds&state=published&help_center_id=1&highlight=true")
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(
        found.body["data"]["articles"][0]["title"],
        "How refunds work"
    );
}
