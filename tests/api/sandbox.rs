//! The Intercom sandbox over real HTTP: endpoints, errors, paging, state transitions, rate limits,
//! faults, scroll expiry and signed notifications.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use triaged::{
    ingest::signature,
    sandbox::{APP_PACKAGE_CODE, Faults, Sandbox, SandboxConfig},
};

/// Demo ids (see `src/sandbox/demo_workspace.yaml`).
pub const REFUND_CONVERSATION: &str = "215000001";
pub const CHECKOUT_CONVERSATION: &str = "215000002";
pub const CLOSED_CONVERSATION: &str = "215000003";
pub const PRIYA: &str = "6762f1261bb69f9f21930001";
pub const AIKO: &str = "6762f1261bb69f9f21930004";
pub const MERGED_AIKO: &str = "6762f1261bb69f9f21930005";
pub const MAYA: &str = "991200002";
pub const TOM: &str = "991200003";
pub const SUPPORT_TEAM: &str = "510001";
pub const BUG_TYPE: &str = "810001";
pub const SECRET: &str = "sandbox-test-secret";

/// A running sandbox and a client for it.
pub struct Sim {
    pub sandbox: Sandbox,
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

/// An answer: status, headers, JSON body (`Null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Sim {
    pub async fn start() -> Sim {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(change: impl FnOnce(&mut SandboxConfig)) -> Sim {
        triaged::install_crypto_provider();
        let mut config = SandboxConfig::demo(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.client_secret = SECRET.to_owned();
        change(&mut config);
        let token = config.access_token.clone();
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        let base = sandbox.base_url();
        Sim {
            sandbox,
            client: reqwest::Client::new(),
            base,
            token,
        }
    }

    /// Sends a REST request with the bearer token and `Intercom-Version: 2.16`.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("intercom-version", "2.16")
            .header("accept", "application/json");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    /// A control-API call (no auth).
    pub async fn control(&self, method: Method, path: &str, body: Value) -> Answer {
        let resp = self
            .client
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("control request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// Asserts an Intercom `error.list` with `code`.
pub fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["type"], "error.list", "{}", a.body);
    assert_eq!(a.body["errors"][0]["code"], code, "{}", a.body);
    assert!(a.body["request_id"].is_string());
}

/// One received notification.
#[derive(Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("notification JSON")
    }
}

/// A tiny webhook receiver on 127.0.0.1:0; returns its URL and what it received.
pub async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    async fn hook(
        State(got): State<Arc<Mutex<Vec<Received>>>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        got.lock().unwrap().push(Received { headers, body });
        "ok"
    }
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

fn parts(conversation: &Value) -> &Vec<Value> {
    conversation["conversation_parts"]["conversation_parts"]
        .as_array()
        .expect("parts")
}

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
async fn admin_replies_and_notes_append_parts_marked_with_the_app_and_return_only_the_new_part() {
    let sim = Sim::start().await;
    let path = format!("/conversations/{REFUND_CONVERSATION}/reply");
    let reply = sim.post(&path, json!({"type": "admin", "admin_id": MAYA, "message_type": "comment", "body": "Refund issued!"})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let new = parts(&reply.body);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["part_type"], "comment");
    assert_eq!(new[0]["body"], "<p>Refund issued!</p>");
    assert_eq!(new[0]["author"]["id"], MAYA);
    assert_eq!(new[0]["author"]["type"], "admin");
    assert_eq!(new[0]["app_package_code"], APP_PACKAGE_CODE);
    assert!(new[0]["id"].is_string());
    assert_eq!(
        reply.body["waiting_since"],
        Value::Null,
        "an admin reply stops the wait"
    );
    let note = sim.post(&path, json!({"type": "admin", "admin_id": 991200003_u64, "message_type": "note", "body": "<p>checked <b>Stripe</b></p>"})).await;
    assert_eq!(parts(&note.body)[0]["part_type"], "note");
    assert_eq!(parts(&note.body)[0]["body"], "<p>checked <b>Stripe</b></p>");
    let full = sim
        .get(&format!("/conversations/{REFUND_CONVERSATION}"))
        .await;
    assert_eq!(parts(&full.body).len(), 3);
    assert_error(
        &sim.post(
            &path,
            json!({"type": "admin", "admin_id": MAYA, "message_type": "shout", "body": "x"}),
        )
        .await,
        400,
        "parameter_invalid",
    );
    assert_error(
        &sim.post(
            &path,
            json!({"type": "admin", "admin_id": "1", "message_type": "comment", "body": "x"}),
        )
        .await,
        404,
        "admin_not_found",
    );
    assert_error(
        &sim.post(
            &path,
            json!({"type": "admin", "admin_id": MAYA, "message_type": "comment"}),
        )
        .await,
        400,
        "parameter_not_found",
    );
}

#[tokio::test]
async fn manage_closes_snoozes_opens_and_assigns_with_the_right_part_types() {
    let sim = Sim::start().await;
    let path = format!("/conversations/{CHECKOUT_CONVERSATION}/parts");
    let close = sim
        .post(
            &path,
            json!({"message_type": "close", "type": "admin", "admin_id": MAYA, "body": "Fixed"}),
        )
        .await;
    assert_eq!(close.body["state"], "closed");
    assert_eq!(close.body["open"], false);
    assert_eq!(parts(&close.body)[0]["part_type"], "close");
    assert_eq!(parts(&close.body)[0]["state"], "closed");
    let assign = sim.post(&path, json!({"message_type": "assignment", "type": "team", "admin_id": MAYA, "assignee_id": SUPPORT_TEAM})).await;
    assert_eq!(assign.body["team_assignee_id"], 510001);
    assert_eq!(
        assign.body["state"], "open",
        "assigning a closed conversation reopens it"
    );
    assert_eq!(parts(&assign.body)[0]["part_type"], "assign_and_reopen");
    assert_eq!(
        parts(&assign.body)[0]["assigned_to"],
        json!({"type": "team", "id": SUPPORT_TEAM})
    );
    let admin = sim.post(&path, json!({"message_type": "assignment", "type": "admin", "admin_id": MAYA, "assignee_id": TOM})).await;
    assert_eq!(admin.body["admin_assignee_id"], 991200003);
    assert_eq!(parts(&admin.body)[0]["part_type"], "assignment");
    let until = chrono_now() + 3600;
    let snooze = sim
        .post(
            &path,
            json!({"message_type": "snoozed", "admin_id": MAYA, "snoozed_until": until}),
        )
        .await;
    assert_eq!(snooze.body["state"], "snoozed");
    assert_eq!(snooze.body["snoozed_until"], until);
    assert_eq!(parts(&snooze.body)[0]["part_type"], "snoozed");
    let open = sim
        .post(&path, json!({"message_type": "open", "admin_id": MAYA}))
        .await;
    assert_eq!(open.body["state"], "open");
    assert_eq!(open.body["snoozed_until"], Value::Null);
    assert_eq!(parts(&open.body)[0]["part_type"], "open");
    let unassign = sim.post(&path, json!({"message_type": "assignment", "type": "admin", "admin_id": MAYA, "assignee_id": "0"})).await;
    assert_eq!(unassign.body["admin_assignee_id"], 0);
    assert_eq!(unassign.body["team_assignee_id"], 510001, "the team stays");
    assert_eq!(
        parts(&unassign.body)[0]["assigned_to"],
        json!({"type": "nobody_admin", "id": null})
    );
    assert_error(
        &sim.post(
            &path,
            json!({"message_type": "snooze", "admin_id": MAYA, "snoozed_until": until}),
        )
        .await,
        400,
        "parameter_invalid",
    );
    assert_error(
        &sim.post(&path, json!({"message_type": "snoozed", "admin_id": MAYA}))
            .await,
        400,
        "parameter_not_found",
    );
    assert_error(&sim.post(&path, json!({"message_type": "assignment", "type": "team", "admin_id": MAYA, "assignee_id": "42"})).await, 404, "team_not_found");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_contact_reply_to_a_closed_conversation_reopens_it_with_an_open_part() {
    let sim = Sim::start().await;
    let reply = sim
        .post(&format!("/conversations/{CLOSED_CONVERSATION}/reply"), json!({"type": "user", "message_type": "comment", "intercom_user_id": AIKO, "body": "One more question"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["state"], "open");
    let part = &parts(&reply.body)[0];
    assert_eq!(part["part_type"], "open");
    assert_eq!(part["body"], "<p>One more question</p>");
    assert_eq!(part["author"]["id"], AIKO);
    assert!(reply.body["waiting_since"].is_i64());
    let again = sim.post(&format!("/conversations/{CLOSED_CONVERSATION}/reply"), json!({"type": "user", "message_type": "comment", "email": "aiko@northwind.example", "body": "Hello?"})).await;
    assert_eq!(parts(&again.body)[0]["part_type"], "comment");
}

#[tokio::test]
async fn tags_attach_and_detach_with_a_delete_body() {
    let sim = Sim::start().await;
    let created = sim
        .post("/tags", json!({"name": "Needs-Engineering"}))
        .await;
    let tag_id = created.body["id"].as_str().unwrap().to_owned();
    let same = sim
        .post("/tags", json!({"name": "needs-engineering"}))
        .await;
    assert_eq!(
        same.body["id"],
        tag_id.as_str(),
        "names are case-insensitive"
    );
    let list = sim.get("/tags").await;
    assert!(
        list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == tag_id.as_str())
    );
    let attach = sim
        .post(
            &format!("/conversations/{CHECKOUT_CONVERSATION}/tags"),
            json!({"id": tag_id, "admin_id": MAYA}),
        )
        .await;
    assert_eq!(
        attach.body,
        json!({"type": "tag", "id": tag_id, "name": "Needs-Engineering"})
    );
    let conv = sim
        .get(&format!("/conversations/{CHECKOUT_CONVERSATION}"))
        .await;
    assert!(
        conv.body["tags"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == tag_id.as_str())
    );
    let untag_path = format!("/conversations/{CHECKOUT_CONVERSATION}/tags/{tag_id}");
    let no_body = sim.call(Method::DELETE, &untag_path, None).await;
    assert_error(&no_body, 400, "parameter_invalid");
    let detach = sim
        .call(Method::DELETE, &untag_path, Some(json!({"admin_id": MAYA})))
        .await;
    assert_eq!(detach.status, 200, "{}", detach.body);
    assert_eq!(detach.body["id"], tag_id.as_str());
    let again = sim
        .call(Method::DELETE, &untag_path, Some(json!({"admin_id": MAYA})))
        .await;
    assert_error(&again, 404, "tag_not_found");
    assert_error(
        &sim.post(
            &format!("/conversations/{CHECKOUT_CONVERSATION}/tags"),
            json!({"id": "1", "admin_id": MAYA}),
        )
        .await,
        404,
        "tag_not_found",
    );
}

#[tokio::test]
async fn an_engineering_bug_ticket_is_created_linked_to_its_conversation_and_fetched() {
    let sim = Sim::start().await;
    let types = sim.get("/ticket_types").await;
    let bug = types.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Engineering bug")
        .unwrap()
        .clone();
    assert!(
        bug["ticket_type_attributes"]["ticket_type_attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "steps_to_reproduce")
    );
    let created = sim
        .post("/tickets", json!({"ticket_type_id": BUG_TYPE, "contacts": [{"id": "6762f1261bb69f9f21930002"}],
            "ticket_attributes": {"_default_title_": "Checkout 500 with invoices", "_default_description_": "Reproducible", "steps_to_reproduce": "1) cart 2) invoice"},
            "conversation_to_link_id": CHECKOUT_CONVERSATION}))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["type"], "ticket");
    assert_eq!(
        created.body["ticket_attributes"]["_default_title_"],
        "Checkout 500 with invoices"
    );
    assert_eq!(
        created.body["linked_objects"]["data"][0]["id"],
        CHECKOUT_CONVERSATION
    );
    assert_ne!(
        created.body["id"], created.body["ticket_id"],
        "the internal id is not the ticket number"
    );
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        sim.get(&format!("/tickets/{id}")).await.body["ticket_type"]["id"],
        BUG_TYPE
    );
    let conv = sim
        .get(&format!("/conversations/{CHECKOUT_CONVERSATION}"))
        .await;
    assert_eq!(
        conv.body["linked_objects"]["data"][0],
        json!({"type": "ticket", "id": id, "category": "Back-office"})
    );
    let no_title = sim.post("/tickets", json!({"ticket_type_id": BUG_TYPE, "contacts": [{"id": PRIYA}], "ticket_attributes": {}})).await;
    assert_error(&no_title, 400, "parameter_invalid");
    let two = sim.post("/tickets", json!({"ticket_type_id": BUG_TYPE, "contacts": [{"id": PRIYA}, {"id": AIKO}], "ticket_attributes": {"_default_title_": "x"}})).await;
    assert_error(&two, 400, "parameter_invalid");
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
    assert_error(
        &sim.get("/articles/search").await,
        400,
        "parameter_not_found",
    );
}

#[tokio::test]
async fn rate_limit_headers_count_down_and_a_spent_budget_answers_429_until_the_window_refills() {
    // A long window so the test never straddles a window boundary; the clock moves it on.
    let sim = Sim::start_with(|c| {
        c.rate_limit = 3;
        c.rate_window = Duration::from_secs(3600);
    })
    .await;
    let first = sim.get("/me").await;
    assert_eq!(first.headers["x-ratelimit-limit"], "3");
    assert_eq!(first.headers["x-ratelimit-remaining"], "2");
    let reset: i64 = first.headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        reset > chrono_now() - 1 && reset <= chrono_now() + 3601,
        "reset {reset} is a Unix time within the window"
    );
    sim.get("/me").await;
    sim.get("/teams").await;
    let throttled = sim.get("/me").await;
    assert_error(&throttled, 429, "rate_limit_exceeded");
    assert_eq!(throttled.headers["x-ratelimit-remaining"], "0");
    let stats = sim.sandbox.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.throttled, 1);
    assert_eq!(
        stats.per_endpoint.get("GET /me"),
        Some(&2),
        "a throttled request reaches no endpoint"
    );
    sim.sandbox.advance_clock(Duration::from_secs(3600));
    assert_eq!(
        sim.get("/me").await.status,
        200,
        "the next window refills the budget"
    );
}

#[tokio::test]
async fn an_error_share_of_one_answers_500_and_latency_delays_answers() {
    let sim = Sim::start().await;
    sim.sandbox.set_faults(Faults {
        error_share: 1.0,
        ..Faults::default()
    });
    assert_error(&sim.get("/me").await, 500, "server_error");
    assert_eq!(sim.sandbox.stats().injected_errors, 1);
    sim.sandbox.set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(sim.get("/me").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let set = sim
        .control(Method::PUT, "/_sandbox/faults", json!({"error_share": 2.0}))
        .await;
    assert_eq!(set.status, 400);
}

#[tokio::test]
async fn drop_after_write_applies_the_write_but_the_client_sees_no_response() {
    let sim = Sim::start().await;
    sim.sandbox.set_faults(Faults {
        drop_after_write: 1,
        ..Faults::default()
    });
    assert_eq!(sim.get("/me").await.status, 200, "reads are not dropped");
    let result = sim
        .client
        .post(format!("{}/conversations/{REFUND_CONVERSATION}/reply", sim.base))
        .bearer_auth(&sim.token)
        .json(&json!({"type": "admin", "admin_id": MAYA, "message_type": "comment", "body": "lost answer"}))
        .send()
        .await;
    let failed = match result {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a lost response");
    let state = sim.sandbox.conversation(REFUND_CONVERSATION).unwrap();
    assert_eq!(
        parts(&state).last().unwrap()["body"],
        "<p>lost answer</p>",
        "the write happened"
    );
    assert_eq!(sim.sandbox.stats().dropped_responses, 1);
    let next = sim
        .post(
            &format!("/conversations/{REFUND_CONVERSATION}/reply"),
            json!({"type": "admin", "admin_id": MAYA, "message_type": "note", "body": "n"}),
        )
        .await;
    assert_eq!(next.status, 200, "only the next N writes are dropped");
}

fn verify(r: &Received) {
    let header = r.headers.get(signature::HEADER).map(|v| v.as_bytes());
    assert_eq!(
        signature::verify(&[SecretString::from(SECRET)], header, &r.body),
        Ok(())
    );
}

#[tokio::test]
async fn control_api_changes_emit_signed_notifications_with_real_topics_and_plain_text() {
    let (url, got) = receiver().await;
    let sim = Sim::start_with(|c| c.webhook_url = Some(url)).await;
    let started = sim
        .control(
            Method::POST,
            "/_sandbox/customer/conversations",
            json!({"contact_id": PRIYA, "body": "My <b>invoice</b> is wrong"}),
        )
        .await;
    let id = started.body["conversation_id"].as_str().unwrap().to_owned();
    for (action, body) in [
        (
            "reply",
            json!({"admin_id": MAYA, "body": "Looking into it"}),
        ),
        ("note", json!({"admin_id": MAYA, "body": "check billing"})),
        ("assign", json!({"admin_id": MAYA, "assignee_id": TOM})),
        (
            "snooze",
            json!({"admin_id": MAYA, "snoozed_until": chrono_now() + 600}),
        ),
        ("open", json!({"admin_id": MAYA})),
        ("close", json!({"admin_id": MAYA})),
    ] {
        let a = sim
            .control(
                Method::POST,
                &format!("/_sandbox/teammate/conversations/{id}/{action}"),
                body,
            )
            .await;
        assert_eq!(a.status, 200, "{action}: {}", a.body);
    }
    sim.sandbox
        .customer_says(Some(&id), PRIYA, "Still wrong")
        .await
        .unwrap();
    sim.sandbox.flush_webhooks().await;
    let got = got.lock().unwrap().clone();
    let topics: Vec<String> = got
        .iter()
        .map(|r| r.json()["topic"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        topics,
        [
            "conversation.user.created",
            "conversation.admin.replied",
            "conversation.admin.noted",
            "conversation.admin.assigned",
            "conversation.admin.snoozed",
            "conversation.admin.opened",
            "conversation.admin.closed",
            "conversation.user.replied",
        ]
    );
    for r in &got {
        verify(r);
        let n = r.json();
        assert_eq!(n["type"], "notification_event");
        assert!(n["id"].as_str().unwrap().starts_with("notif_"));
        assert_eq!(n["app_id"], "sandbox1");
        assert_eq!(n["delivery_attempts"], 1);
        assert!(n["created_at"].is_i64() && n["first_sent_at"].is_i64());
        assert_eq!(n["data"]["type"], "notification_event_data");
        assert_eq!(n["data"]["item"]["id"], id.as_str());
    }
    let created = got[0].json();
    assert_eq!(
        created["data"]["item"]["source"]["body"], "My <b>invoice</b> is wrong",
        "escaped text comes back as typed"
    );
    assert_eq!(
        created["data"]["item"]["conversation_parts"]["total_count"],
        0
    );
    let replied = got[1].json();
    let item_parts = &replied["data"]["item"]["conversation_parts"];
    assert_eq!(item_parts["total_count"], 1, "only the new part");
    assert_eq!(
        item_parts["conversation_parts"][0]["body"], "Looking into it",
        "plain text in webhooks"
    );
    assert_eq!(
        item_parts["conversation_parts"][0]["app_package_code"],
        Value::Null,
        "a human in the UI"
    );
    let reopened = got[7].json();
    assert_eq!(
        reopened["data"]["item"]["conversation_parts"]["conversation_parts"][0]["part_type"],
        "open"
    );
    assert_eq!(sim.sandbox.stats().webhooks_delivered, 8);
}

#[tokio::test]
async fn a_bot_reply_through_rest_is_notified_on_both_admin_and_operator_topics() {
    let (url, got) = receiver().await;
    let sim = Sim::start().await;
    sim.sandbox.set_webhook_url(Some(url));
    let bot = sim.sandbox.bot_admin_id();
    let reply = sim.post(&format!("/conversations/{REFUND_CONVERSATION}/reply"), json!({"type": "admin", "admin_id": bot, "message_type": "comment", "body": "Refund on its way"})).await;
    assert_eq!(parts(&reply.body)[0]["author"]["type"], "bot");
    let close = sim
        .post(
            &format!("/conversations/{REFUND_CONVERSATION}/parts"),
            json!({"message_type": "close", "type": "admin", "admin_id": bot}),
        )
        .await;
    assert_eq!(close.status, 200);
    sim.sandbox.flush_webhooks().await;
    let got = got.lock().unwrap().clone();
    let notes: Vec<Value> = got.iter().map(Received::json).collect();
    let topics: Vec<&str> = notes.iter().map(|n| n["topic"].as_str().unwrap()).collect();
    assert_eq!(
        topics,
        [
            "conversation.admin.replied",
            "conversation.operator.replied",
            "conversation.admin.closed"
        ]
    );
    let part = |n: &Value| n["data"]["item"]["conversation_parts"]["conversation_parts"][0].clone();
    assert_eq!(
        part(&notes[0])["id"],
        part(&notes[1])["id"],
        "the same part on both topics"
    );
    assert_ne!(notes[0]["id"], notes[1]["id"], "two notifications");
    assert_eq!(part(&notes[0])["app_package_code"], APP_PACKAGE_CODE);
    got.iter().for_each(verify);
}

#[tokio::test]
async fn the_control_api_reads_full_state_and_stats() {
    let sim = Sim::start().await;
    let id = sim
        .sandbox
        .customer_says(None, PRIYA, "hello")
        .await
        .unwrap();
    sim.get("/me").await;
    let state = sim
        .control(
            Method::GET,
            &format!("/_sandbox/conversations/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(state.body["source"]["body"], "<p>hello</p>");
    let stats = sim
        .control(Method::GET, "/_sandbox/stats", Value::Null)
        .await;
    assert_eq!(
        stats.body["requests"], 1,
        "control calls are not REST requests"
    );
    assert_eq!(stats.body["per_endpoint"]["GET /me"], 1);
    let bad = sim
        .control(
            Method::POST,
            "/_sandbox/customer/conversations",
            json!({"contact_id": MERGED_AIKO, "body": "x"}),
        )
        .await;
    assert_eq!(bad.status, 410);
}
