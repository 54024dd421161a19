//! Timeline size and completeness (issue acceptance): on the spec's example conversation and on a
//! generated 200-part conversation with full 2.16 part objects, the timeline a model reads is at
//! most a fifth of the raw JSON, yet keeps every part's author, time and text and every id a
//! follow-up call needs. Pure: no network.

use serde_json::{Value, json};
use triaged::{
    intercom::models::Conversation,
    tools::{
        html,
        timeline::{self, DEFAULT_CAP, Directory},
    },
};

fn spec_example() -> Vec<u8> {
    crate::helpers::example("conversation_retrieve_200.spec-2.16.json")
}

fn conversation(raw: &[u8]) -> Conversation {
    serde_json::from_slice(raw).expect("a 2.16 conversation")
}

/// Names the daemon resolves from `list_admins` / `list_teams`.
fn directory() -> Directory {
    let mut dir = Directory::default();
    for (id, name) in [
        ("991200001", "Triage Bot"),
        ("991200002", "Maya Chen"),
        ("991200003", "Tom Okafor"),
    ] {
        dir.admins.insert(id.to_owned(), name.to_owned());
    }
    for (id, name) in [("510001", "Support"), ("510002", "Billing")] {
        dir.teams.insert(id.to_owned(), name.to_owned());
    }
    dir
}

const CONTACT: &str = "6762f1261bb69f9f21930001";

fn user() -> Value {
    json!({"type": "user", "id": CONTACT, "name": "Priya Sharma", "email": "priya@crumb.example",
           "from_ai_agent": false, "is_ai_answer": false})
}

fn admin(id: &str, name: &str, email: &str) -> Value {
    json!({"type": "admin", "id": id, "name": name, "email": email,
           "from_ai_agent": false, "is_ai_answer": false})
}

fn fin() -> Value {
    json!({"type": "bot", "id": "991200009", "name": "Fin", "email": "operator+a86dr8yl@intercom.io",
           "from_ai_agent": true, "is_ai_answer": true})
}

/// What people write in a long billing thread (HTML as the REST API returns it).
const CUSTOMER: &[&str] = &[
    "<p>Hi, I was charged twice for my Starter subscription this month (order #A-{n}). Could I get a refund for the duplicate charge please?</p>",
    "<p>Thanks. The second charge was on the 3rd, same amount: $29.</p>",
    "<p>I checked my bank statement again and both charges are still there.</p><p>Reference numbers are 4471-{n} and 4472-{n}.</p>",
    "<p>Any update on this?</p>",
    "<p>Here is a screenshot of the statement.</p>",
    "<p>OK, thanks for looking into it!</p>",
    "<p>It also happened to my colleague <a href=\"mailto:tom@crumb.example\">Tom</a> &mdash; should he write separately?</p>",
];

const TEAM: &[&str] = &[
    "<p>Hi Priya, thanks for reaching out! I can see two charges on your account for order #A-{n}. Let me check with our billing team.</p>",
    "<p>Sorry for the wait. I have asked for a refund of the duplicate charge; it should reach your card in 5 to 10 business days.</p><p>See <a href=\"https://help.acme-demo.test/en/articles/910001-how-refunds-work\">How refunds work</a>.</p>",
    "<p>Could you send me the last four digits of the card that was charged?</p>",
    "<p>Thanks, got it. I&#39;ll keep this conversation open until the refund shows up.</p>",
];

const NOTES: &[&str] = &[
    "<p>Stripe shows two captures for invoice in_{n}; the second one came from the retry job. Refund approved by <b>Lena</b>.</p>",
    "<p>Checked: not a fraud case, same card, same IP.</p>",
];

fn text(template: &str, n: usize) -> String {
    template.replace("{n}", &format!("{}", 5500 + n))
}

/// What Gmail sends (Intercom keeps an email's HTML): `div`s and `<div><br></div>` spacers.
fn gmail(body: &str) -> String {
    let paragraphs = body.replace("</p><p>", "</div><div><br></div><div>");
    format!(
        "<div dir=\"ltr\">{}</div>",
        paragraphs.replace("<p>", "<div>").replace("</p>", "</div>")
    )
}

/// What the Inbox composer produces for teammates' replies and notes.
fn inbox(template: &str, n: usize) -> String {
    text(template, n).replace("<p>", "<p class=\"no-margin\">")
}

/// One full 2.16 `conversation_part`, every field the spec lists.
#[allow(clippy::too_many_arguments)]
fn part(
    id: usize,
    at: i64,
    part_type: &str,
    body: Option<String>,
    author: Value,
    assigned_to: Value,
    attachments: Value,
    email: bool,
) -> Value {
    let email_metadata = if email {
        json!({
            "subject": "Re: Duplicate charge on my Starter plan",
            "email_address_headers": [
                {"type": "from", "email_address": "priya@crumb.example", "name": "Priya Sharma"},
                {"type": "to", "email_address": "support@acme-demo.test", "name": "Acme Support"},
                {"type": "cc", "email_address": "accounts@crumb.example", "name": null}
            ],
            "message_id": format!("<CADKw7xr{id:06}Sn8v3mP8K8Q8yZ6@mail.gmail.com>")
        })
    } else {
        Value::Null
    };
    json!({
        "type": "conversation_part",
        "id": format!("{}", 31_000_000_000usize + id * 7),
        "part_type": part_type,
        "body": body,
        "created_at": at,
        "updated_at": at + 2,
        "notified_at": at + 2,
        "assigned_to": assigned_to,
        "author": author,
        "attachments": attachments,
        "external_id": null,
        "redacted": false,
        "email_message_metadata": email_metadata,
        "metadata": null,
        "state": "open",
        "tags": [],
        "event_details": null,
        "app_package_code": null
    })
}

/// A 200-part billing thread over a few weeks: customer messages (some by email, some with
/// screenshots), teammates' replies and notes, assignments, snoozes and reopenings, a Fin answer.
pub fn generated(parts: usize) -> Vec<u8> {
    let start: i64 = 1_734_537_511;
    let maya = || admin("991200002", "Maya Chen", "maya@acme-demo.test");
    let tom = || admin("991200003", "Tom Okafor", "tom@acme-demo.test");
    let mut list = Vec::with_capacity(parts);
    for i in 0..parts {
        let at = start + (i as i64) * 1_837 + ((i * i) % 97) as i64;
        let none = Value::Null;
        let no_files = json!([]);
        let p = match i % 10 {
            0 | 3 | 6 => {
                let files = if i % 30 == 6 {
                    json!([{
                        "type": "upload",
                        "name": format!("statement-{i}.png"),
                        "url": format!("https://downloads.intercomcdn.com/i/o/a86dr8yl/{}/4f1c0b9a7e2d3c5b6a8f9e0d1c2b3a4f/statement-{i}.png?expires=1735142311&signature=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08&req=dSEvEsx%2FnIVfWPMW1HO4zT8v", 1_190_000_000 + i),
                        "content_type": "image/png",
                        "filesize": 184_233 + i,
                        "width": 1284,
                        "height": 2778
                    }])
                } else {
                    json!([])
                };
                let by_email = i % 3 == 0;
                let body = text(CUSTOMER[i % CUSTOMER.len()], i);
                part(
                    i,
                    at,
                    "comment",
                    Some(if by_email { gmail(&body) } else { body }),
                    user(),
                    none,
                    files,
                    by_email,
                )
            }
            1 | 4 | 7 => part(
                i,
                at,
                "comment",
                Some(inbox(TEAM[i % TEAM.len()], i)),
                if i % 2 == 0 { maya() } else { tom() },
                none,
                no_files,
                false,
            ),
            2 => part(
                i,
                at,
                "note",
                Some(inbox(NOTES[i % NOTES.len()], i)),
                tom(),
                none,
                no_files,
                false,
            ),
            5 => part(
                i,
                at,
                if i % 20 == 5 {
                    "assignment"
                } else {
                    "assign_and_reopen"
                },
                None,
                maya(),
                json!({"type": "team", "id": if i % 20 == 5 { "510002" } else { "510001" }}),
                no_files,
                false,
            ),
            8 => part(
                i,
                at,
                if i % 20 == 8 { "snoozed" } else { "open" },
                None,
                tom(),
                none,
                no_files,
                false,
            ),
            _ if i % 20 == 19 => {
                // A workflow's custom action (as in the spec's example), body null.
                let mut p = part(
                    i,
                    at,
                    if i % 40 == 19 {
                        "custom_action_started"
                    } else {
                        "custom_action_finished"
                    },
                    None,
                    tom(),
                    none,
                    no_files,
                    false,
                );
                p["event_details"] = json!({"action": {"name": "Stripe: look up charges", "result": "success"}});
                p["app_package_code"] = json!("stripe-integration");
                p
            }
            _ => part(
                i,
                at,
                "comment",
                Some(
                    "<p>Duplicate charges are refunded within 30 days. Refunds reach your card in 5 to 10 business days.</p>"
                        .to_owned(),
                ),
                fin(),
                none,
                no_files,
                false,
            ),
        };
        list.push(p);
    }
    let last = start + (parts as i64) * 1_837;
    serde_json::to_vec(&json!({
        "type": "conversation",
        "id": "215000777",
        "title": "Duplicate charge on my Starter plan",
        "created_at": start - 120,
        "updated_at": last,
        "waiting_since": last - 60,
        "snoozed_until": null,
        "source": {
            "type": "email",
            "id": "403918777",
            "delivered_as": "customer_initiated",
            "subject": "Duplicate charge on my Starter plan",
            "body": "<p>Hello,</p><p>I was charged twice for my Starter subscription this month. Please refund the duplicate.</p><p>Priya</p>",
            "author": user(),
            "attachments": [],
            "url": null,
            "redacted": false
        },
        "contacts": {"type": "contact.list", "contacts": [
            {"type": "contact", "id": CONTACT, "external_id": "u-1001"}
        ]},
        "first_contact_reply": {"created_at": start - 120, "type": "email", "url": null},
        "admin_assignee_id": 991200002,
        "team_assignee_id": 510002,
        "open": true,
        "state": "open",
        "read": true,
        "tags": {"type": "tag.list", "tags": [
            {"type": "tag", "id": "710001", "name": "refund", "applied_at": start, "applied_by": {"type": "admin", "id": "991200002"}}
        ]},
        "priority": "not_priority",
        "sla_applied": null,
        "statistics": {
            "type": "conversation_statistics",
            "time_to_assignment": 0, "time_to_admin_reply": 4100, "time_to_first_close": null,
            "time_to_last_close": null, "median_time_to_reply": 3600,
            "first_contact_reply_at": start - 120, "first_assignment_at": start,
            "first_admin_reply_at": start + 1837, "first_close_at": null, "last_assignment_at": start,
            "last_assignment_admin_reply_at": start + 1837, "last_contact_reply_at": last - 60,
            "last_admin_reply_at": last - 1837, "last_close_at": null, "last_closed_by_id": null,
            "count_reopens": 9, "count_assignments": 10, "count_conversation_parts": parts
        },
        "conversation_rating": null,
        "teammates": {"type": "admin.list", "teammates": [
            {"type": "admin", "id": "991200002"}, {"type": "admin", "id": "991200003"}
        ]},
        "custom_attributes": {"Order number": "A-5531", "Channel": "email"},
        "topics": {"type": "topic.list", "topics": [], "total_count": 0},
        "ticket": null,
        "linked_objects": {"type": "list", "data": [], "total_count": 0, "has_more": false},
        "ai_agent": null,
        "ai_agent_participated": true,
        "conversation_parts": {
            "type": "conversation_part.list",
            "conversation_parts": list,
            "total_count": parts
        }
    }))
    .expect("json")
}

/// Asserts every part's author, time and text, and every id a follow-up call needs, are in `out`.
fn assert_complete(raw: &[u8], out: &str) {
    let c = conversation(raw);
    let dir = directory();
    assert!(out.contains(&format!("conversation {}", c.id)), "{out}");
    for id in c.contact_ids() {
        assert!(out.contains(id.as_str()), "contact {id} missing");
    }
    for id in [
        c.admin_assignee_id.as_ref().map(|a| a.to_string()),
        c.team_assignee_id.as_ref().map(|t| t.to_string()),
    ]
    .into_iter()
    .flatten()
    {
        assert!(out.contains(&id), "assignee {id} missing");
    }
    let people = out
        .lines()
        .find(|l| l.starts_with("people: "))
        .expect("a people line");
    for p in c.parts() {
        // `TIME #ID author…`: the time and the part id open the part's line.
        let start = format!("{} #{} ", timeline::time(p.created_at), p.id);
        let line = out
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("part {} missing: `{start}`", p.id));
        assert!(
            timeline::time(p.created_at).ends_with('Z') && timeline::time(p.created_at).len() == 20,
            "RFC 3339"
        );
        // The line names its author by a label the `people:` line resolves to the full name and id.
        let author = p.author.as_ref().expect("author");
        let id = author.id.as_deref().expect("author id");
        let name = author
            .name
            .clone()
            .or_else(|| dir.admins.get(id).cloned())
            .expect("author name");
        let label = line[start.len()..].split([':', ' ']).next().expect("label");
        assert!(
            name.starts_with(label),
            "author of {} missing: {line}",
            p.id
        );
        let entry = if label == name {
            format!("{name} ({}", kind(author))
        } else {
            format!("{label} = {name} ({}", kind(author))
        };
        assert!(
            people.contains(&format!("{entry} {id})")),
            "`{entry} {id})` not in {people}"
        );
        if let Some(to) = p.assigned_to.as_ref().and_then(|r| r.id.clone()) {
            assert!(line.contains(&to), "assignee of {} missing: {line}", p.id);
        }
        for text_line in p
            .body
            .as_deref()
            .map(html::to_text)
            .unwrap_or_default()
            .lines()
        {
            assert!(
                out.contains(text_line),
                "text of part {} missing: {text_line}",
                p.id
            );
        }
        for a in &p.attachments {
            assert!(out.contains(a.name.as_deref().unwrap_or("file")));
        }
    }
}

fn kind(a: &triaged::intercom::models::Author) -> String {
    format!("{:?}", a.kind).to_lowercase()
}

fn ratio(raw: &[u8], cap: usize) -> (String, f64) {
    let out = timeline::render(&conversation(raw), &directory(), None, cap);
    let r = out.len() as f64 / raw.len() as f64;
    (out, r)
}

#[test]
fn the_spec_example_timeline_is_a_fifth_of_the_json_and_keeps_every_author_time_text_and_id() {
    // As Intercom sends it: compact JSON (the example file is pretty-printed).
    let pretty = spec_example();
    let raw = serde_json::to_vec(&serde_json::from_slice::<Value>(&pretty).unwrap()).unwrap();
    let (out, r) = ratio(&raw, DEFAULT_CAP);
    eprintln!(
        "spec example: timeline {} bytes / raw JSON {} bytes (compact; {} pretty) = {r:.3}\n{out}",
        out.len(),
        raw.len(),
        pretty.len()
    );
    assert!(r <= 0.2, "ratio {r:.3}");
    assert_complete(&raw, &out);
}

#[test]
fn a_200_part_conversation_timeline_is_a_fifth_of_the_json_and_keeps_every_part() {
    let raw = generated(200);
    let (out, r) = ratio(&raw, DEFAULT_CAP);
    eprintln!(
        "200 parts: timeline {} bytes / raw JSON {} bytes = {r:.3}",
        out.len(),
        raw.len()
    );
    eprintln!("{}", out.lines().take(14).collect::<Vec<_>>().join("\n"));
    assert!(r <= 0.2, "ratio {r:.3}");
    assert!(!out.contains("omitted"), "200 parts fit under the cap");
    assert_complete(&raw, &out);
}

#[test]
fn a_conversation_over_the_cap_keeps_its_first_and_latest_parts_around_an_omitted_line() {
    let raw = generated(500);
    let c = conversation(&raw);
    let out = timeline::render(&c, &directory(), None, DEFAULT_CAP);
    assert!(out.len() <= DEFAULT_CAP, "{} bytes", out.len());
    let parts = c.parts();
    let first = &parts[0].id;
    let latest = &parts[parts.len() - 1].id;
    assert!(out.contains(&format!(" #{first} ")), "first part kept");
    assert!(out.contains(&format!(" #{latest} ")), "latest part kept");
    let omitted = out
        .lines()
        .find(|l| l.contains("parts omitted"))
        .expect("an explicit omitted line");
    assert!(
        omitted.ends_with(&format!("of {}) …", parts.len())),
        "{omitted}"
    );
    // The header with the ids stays, and the omitted parts are really gone.
    assert!(out.starts_with("conversation 215000777 · open"));
    assert!(!out.contains(&format!(" #{} ", parts[250].id)));
}
