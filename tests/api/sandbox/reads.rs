//! Reads: identity, errors, paging, search, retrieve, contacts, companies, scroll, articles.

use super::*;

#[tokio::test]
async fn me_returns_the_bot_admin_and_admins_and_teams_list_the_workspace() {
    let sim = Sim::start().await;
    let me = sim.get("/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], sim.sandbox.bot_admin_id());
    assert_eq!(me.body["app"]["id_code"], "sandbox1");
    let admins = sim.get("/admins").await;
    assert_eq!(admins.body["type"], "admin.list");
    assert!(admins.body["admins"].as_array().unwrap().len() >= 3);
    let maya = sim.get(&format!("/admins/{MAYA}")).await;
    assert_eq!(maya.body["name"], "Maya Chen");
    assert_error(&sim.get("/admins/1").await, 404, "admin_not_found");
    let teams = sim.get("/teams").await;
    assert_eq!(teams.body["type"], "team.list");
    assert_eq!(teams.body["teams"][0]["admin_ids"][0], 991200002);
}

#[tokio::test]
async fn requests_without_the_token_get_401_and_unknown_versions_400() {
    let sim = Sim::start().await;
    let resp = sim
        .client
        .get(format!("{}/me", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("x-ratelimit-remaining"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "unauthorized");
    assert_eq!(body["errors"][0]["message"], "Access Token Invalid");
    let wrong = sim
        .client
        .get(format!("{}/me", sim.base))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let bad_version = sim
        .client
        .get(format!("{}/me", sim.base))
        .bearer_auth(&sim.token)
        .header("intercom-version", "9.9")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_version.status(), 400);
    let old = sim
        .client
        .get(format!("{}/me", sim.base))
        .bearer_auth(&sim.token)
        .header("intercom-version", "2.14")
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 200, "older versions are tolerated");
}

#[tokio::test]
async fn unknown_resources_and_paths_answer_404_error_lists() {
    let sim = Sim::start().await;
    assert_error(&sim.get("/conversations/999").await, 404, "not_found");
    assert_error(&sim.get("/no/such/path").await, 404, "not_found");
    assert_error(&sim.get("/tickets/999").await, 404, "ticket_not_found");
    assert_error(&sim.get("/companies/nope").await, 404, "company_not_found");
    assert_error(&sim.get("/visitors?user_id=nobody").await, 404, "not_found");
    assert_error(
        &sim.post(
            "/conversations/999/reply",
            json!({"type": "admin", "admin_id": MAYA, "message_type": "comment", "body": "x"}),
        )
        .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn listing_conversations_pages_with_starting_after_until_no_next() {
    let sim = Sim::start().await;
    let mut seen = Vec::new();
    let mut path = "/conversations?per_page=3".to_owned();
    loop {
        let page = sim.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body["type"], "conversation.list");
        assert_eq!(page.body["total_count"], 4);
        for c in page.body["conversations"].as_array().unwrap() {
            assert!(
                c.get("conversation_parts").is_none(),
                "list items carry no parts"
            );
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        match page.body["pages"]["next"]["starting_after"].as_str() {
            Some(cursor) => path = format!("/conversations?per_page=3&starting_after={cursor}"),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4);
    assert_error(
        &sim.get("/conversations?starting_after=bogus").await,
        400,
        "client_error",
    );
}

#[tokio::test]
async fn search_matches_body_words_state_tags_and_groups_and_pages_in_the_body() {
    let sim = Sim::start().await;
    let ids = |a: &Answer| -> Vec<String> {
        a.body["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let refund = sim
        .post(
            "/conversations/search",
            json!({"query": {"field": "source.body", "operator": "~", "value": "refund"}}),
        )
        .await;
    assert_eq!(ids(&refund), [REFUND_CONVERSATION]);
    let phrase = sim
        .post(
            "/conversations/search",
            json!({"query": {"field": "source.body", "operator": "~", "value": "checkout page"}}),
        )
        .await;
    assert!(
        ids(&phrase).is_empty(),
        "source.body matches single words only"
    );
    let closed = sim
        .post(
            "/conversations/search",
            json!({"query": {"operator": "AND", "value": [
        {"field": "state", "operator": "=", "value": "closed"},
        {"field": "team_assignee_id", "operator": "=", "value": SUPPORT_TEAM}]}}),
        )
        .await;
    assert_eq!(ids(&closed), [CLOSED_CONVERSATION]);
    let vip_or_open = sim
        .post(
            "/conversations/search",
            json!({"query": {"operator": "OR", "value": [
        {"field": "tag_ids", "operator": "IN", "value": ["710003"]},
        {"field": "open", "operator": "=", "value": false}]}}),
        )
        .await;
    assert_eq!(ids(&vip_or_open).len(), 2);
    let first = sim.post("/conversations/search", json!({"query": {"field": "open", "operator": "=", "value": true}, "pagination": {"per_page": 2}})).await;
    assert_eq!(first.body["total_count"], 3);
    let cursor = first.body["pages"]["next"]["starting_after"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = sim.post("/conversations/search", json!({"query": {"field": "open", "operator": "=", "value": true}, "pagination": {"per_page": 2, "starting_after": cursor}})).await;
    assert_eq!(ids(&second).len(), 1);
    assert!(second.body["pages"].get("next").is_none());
    assert_error(
        &sim.post("/conversations/search", json!({"pagination": {}}))
            .await,
        400,
        "parameter_not_found",
    );
    assert_error(
        &sim.post(
            "/conversations/search",
            json!({"query": {"field": "nope", "operator": "=", "value": 1}}),
        )
        .await,
        400,
        "parameter_invalid",
    );
}

#[tokio::test]
async fn retrieve_serves_html_by_default_and_plain_text_on_request() {
    let sim = Sim::start().await;
    let html = sim
        .get(&format!("/conversations/{CHECKOUT_CONVERSATION}"))
        .await;
    assert!(
        html.body["source"]["body"]
            .as_str()
            .unwrap()
            .starts_with("<p>Our team gets a 500 error")
    );
    let plain = sim
        .get(&format!(
            "/conversations/{CHECKOUT_CONVERSATION}?display_as=plaintext"
        ))
        .await;
    let body = plain.body["source"]["body"].as_str().unwrap();
    assert!(
        body.starts_with("Our team gets a 500 error") && !body.contains("<p>"),
        "{body}"
    );
    let refund = sim
        .get(&format!("/conversations/{REFUND_CONVERSATION}"))
        .await;
    assert_eq!(parts(&refund.body).len(), 1);
    assert_eq!(parts(&refund.body)[0]["author"]["type"], "user");
}

#[tokio::test]
async fn retrieve_caps_parts_at_the_500_newest() {
    let sim = Sim::start().await;
    for i in 0..505 {
        sim.sandbox
            .teammate_replies(CHECKOUT_CONVERSATION, TOM, &format!("reply {i}"))
            .await
            .unwrap();
    }
    let got = sim
        .get(&format!("/conversations/{CHECKOUT_CONVERSATION}"))
        .await;
    let list = parts(&got.body);
    assert_eq!(list.len(), 500);
    assert_eq!(
        list[0]["body"], "<p>reply 5</p>",
        "the oldest five are left out"
    );
    assert_eq!(list[499]["body"], "<p>reply 504</p>");
    let full = sim.sandbox.conversation(CHECKOUT_CONVERSATION).unwrap();
    assert_eq!(parts(&full).len(), 505, "the control view keeps every part");
}

#[tokio::test]
async fn a_merged_contact_answers_410_with_a_canonical_link_and_search_skips_it() {
    let sim = Sim::start().await;
    let gone = sim.get(&format!("/contacts/{MERGED_AIKO}")).await;
    assert_error(&gone, 410, "contact_merged");
    assert_eq!(
        gone.headers["link"],
        format!("</contacts/{AIKO}>; rel=\"canonical\"").as_str()
    );
    let aiko = sim.get(&format!("/contacts/{AIKO}")).await;
    assert_eq!(aiko.body["custom_attributes"]["plan"], "Pro");
    let pro = sim
        .post(
            "/contacts/search",
            json!({"query": {"field": "custom_attributes.plan", "operator": "=", "value": "Pro"}}),
        )
        .await;
    assert_eq!(pro.body["total_count"], 1);
    assert_eq!(pro.body["data"][0]["id"], AIKO);
    let by_name = sim
        .post(
            "/contacts/search",
            json!({"query": {"field": "name", "operator": "~", "value": "aiko"}}),
        )
        .await;
    assert_eq!(
        by_name.body["total_count"], 1,
        "the merged duplicate is left out"
    );
    let bad_sort = sim.post("/contacts/search", json!({"query": {"field": "role", "operator": "=", "value": "user"}, "sort": {"field": "name", "order": "desc"}})).await;
    assert_error(&bad_sort, 400, "invalid_sort_order");
}

#[tokio::test]
async fn visitors_are_found_by_user_id_and_companies_by_id() {
    let sim = Sim::start().await;
    let v = sim.get("/visitors?user_id=visitor-7f3a9c").await;
    assert_eq!(v.body["type"], "visitor");
    assert_error(&sim.get("/visitors").await, 400, "parameter_not_found");
    let c = sim.get("/companies/6a1f00000000000000000001").await;
    assert_eq!(c.body["plan"]["name"], "Enterprise");
    assert_eq!(c.body["user_count"], 1);
}

#[tokio::test]
async fn the_company_scroll_allows_one_open_scroll_expires_unused_and_ends_empty() {
    let sim = Sim::start_with(|c| c.scroll_expiry = Duration::from_secs(60)).await;
    sim.sandbox.set_scroll_page_size(2);
    let first = sim.get("/companies/scroll").await;
    assert_eq!(first.body["data"].as_array().unwrap().len(), 2);
    let param = first.body["scroll_param"].as_str().unwrap().to_owned();
    assert_error(&sim.get("/companies/scroll").await, 400, "scroll_exists");
    let second = sim
        .get(&format!("/companies/scroll?scroll_param={param}"))
        .await;
    assert_eq!(second.body["data"].as_array().unwrap().len(), 1);
    let end = sim
        .get(&format!("/companies/scroll?scroll_param={param}"))
        .await;
    assert_eq!(end.body["data"], json!([]), "the end is an empty page");
    assert_error(
        &sim.get(&format!("/companies/scroll?scroll_param={param}"))
            .await,
        400,
        "parameter_invalid",
    );
    let fresh = sim.get("/companies/scroll").await;
    let param = fresh.body["scroll_param"].as_str().unwrap().to_owned();
    sim.sandbox.advance_clock(Duration::from_secs(61));
    assert_error(
        &sim.get(&format!("/companies/scroll?scroll_param={param}"))
            .await,
        400,
        "parameter_invalid",
    );
    assert_eq!(
        sim.get("/companies/scroll").await.status,
        200,
        "an expired scroll frees the slot"
    );
}

#[tokio::test]
async fn article_search_finds_the_refund_article() {
    let sim = Sim::start().await;
    let found = sim
        .get("/articles/search?phrase=how%20do%20refunds%20work")
        .await;
    assert_eq!(found.status, 200);
    assert_eq!(
        found.body["data"]["articles"][0]["title"],
        "How refunds work"
    );
}

#[tokio::test]
async fn a_seed_file_replaces_the_demo_workspace_and_a_bad_one_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workspace.yaml");
    let demo = include_str!("../../../src/sandbox/demo_workspace.yaml");
    std::fs::write(
        &path,
        demo.replace("app_name: Acme Demo", "app_name: Rehearsal Co"),
    )
    .unwrap();
    let file = path.clone();
    let sim = Sim::start_with(move |c| c.seed = Seed::File(file)).await;
    assert_eq!(sim.get("/me").await.body["app"]["name"], "Rehearsal Co");
    std::fs::write(&path, demo.replace("bot: true", "bot: yes")).unwrap();
    let mut config = SandboxConfig::demo(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.seed = Seed::File(path);
    let err = Sandbox::start(config).await.unwrap_err();
    assert!(format!("{err:#}").contains("seed YAML"), "{err:#}");
}

#[tokio::test]
async fn contact_search_sorts_by_a_field_in_either_order_and_pages() {
    let sim = Sim::start().await;
    let query = json!({"field": "role", "operator": "=", "value": "user"});
    let names = |a: &Answer| -> Vec<String> {
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let up = sim
        .post(
            "/contacts/search",
            json!({"query": query, "sort": {"field": "name", "order": "ascending"}}),
        )
        .await;
    assert_eq!(names(&up), ["Aiko Tanaka", "Daniel Novak", "Priya Sharma"]);
    let down = sim.post("/contacts/search", json!({"query": query, "sort": {"field": "custom_attributes.seats", "order": "descending"}})).await;
    assert_eq!(
        names(&down),
        ["Daniel Novak", "Aiko Tanaka", "Priya Sharma"],
        "120 > 12 > 3 as numbers"
    );
    let page = sim
        .post(
            "/contacts/search",
            json!({"query": query, "pagination": {"per_page": 2}}),
        )
        .await;
    assert_eq!(page.body["data"].as_array().unwrap().len(), 2);
    assert!(page.body["pages"]["next"]["starting_after"].is_string());
}
