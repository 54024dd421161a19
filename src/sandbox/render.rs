//! Renders workspace objects as the Intercom 2.16 JSON shapes (`components/schemas` of the spec):
//! ids as strings, assignee ids as integers (0 when unassigned), nullable fields as `null`.
//!
//! Pure: reads the workspace, never changes it. Fields the schema marks non-nullable are omitted
//! rather than sent as `null`.

use serde_json::{Value, json};

use super::model::{
    APP_ID, Admin, Article, Assignee, Author, Company, Contact, Conversation, Part, Tag, Team,
    Ticket, TicketType, Visitor, Workspace,
};
use super::text::html_to_text;

/// Intercom returns at most this many parts, the newest, on a retrieved conversation.
pub const PART_CAP: usize = 500;

/// Which parts a rendered conversation carries.
#[derive(Debug, Clone, Copy)]
pub enum Parts<'a> {
    /// None at all (list and search items have no `conversation_parts`).
    Omit,
    /// The newest [`PART_CAP`] (retrieve).
    Capped,
    /// Every part (the control API's full state).
    All,
    /// Only the one just made (reply, manage, and notifications).
    Only(&'a str),
}

/// A body as HTML or as plain text.
fn body(html: &str, plaintext: bool) -> String {
    if plaintext {
        html_to_text(html)
    } else {
        html.to_owned()
    }
}

/// An id as the integer the schema wants (assignees, team ids); 0 when absent or not numeric.
pub fn int_id(id: Option<&str>) -> i64 {
    id.and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn author(a: &Author) -> Value {
    json!({"type": a.kind, "id": a.id, "name": a.name, "email": a.email})
}

/// One conversation part.
pub fn part(p: &Part, plaintext: bool) -> Value {
    let assigned_to = match &p.assigned_to {
        None => Value::Null,
        Some(Assignee::Admin(id)) => json!({"type": "admin", "id": id}),
        Some(Assignee::Team(id)) => json!({"type": "team", "id": id}),
        Some(Assignee::Nobody) => json!({"type": "nobody_admin", "id": null}),
    };
    json!({
        "type": "conversation_part",
        "id": p.id,
        "part_type": p.part_type,
        "body": p.body.as_deref().map(|b| body(b, plaintext)),
        "created_at": p.created_at,
        "updated_at": p.created_at,
        "notified_at": p.created_at,
        "assigned_to": assigned_to,
        "author": author(&p.author),
        "attachments": [],
        "external_id": null,
        "redacted": false,
        "email_message_metadata": null,
        "metadata": {},
        "state": p.state.as_str(),
        "tags": [],
        "app_package_code": p.app_package_code,
    })
}

/// A conversation.
pub fn conversation(ws: &Workspace, c: &Conversation, parts: Parts<'_>, plaintext: bool) -> Value {
    let tags: Vec<Value> = c
        .tags
        .iter()
        .filter_map(|t| {
            ws.tag(&t.tag_id).map(|tag| {
                json!({"type": "tag", "id": tag.id, "name": tag.name, "applied_at": t.applied_at,
                       "applied_by": {"type": "admin", "id": t.applied_by}})
            })
        })
        .collect();
    let contacts: Vec<Value> = c
        .contact_ids
        .iter()
        .map(|id| {
            let external = ws.contact(id).and_then(|c| c.external_id.clone());
            json!({"type": "contact", "id": id, "external_id": external})
        })
        .collect();
    let linked: Vec<Value> = c
        .linked_ticket_ids
        .iter()
        .map(|id| {
            let category = ws
                .tickets
                .iter()
                .find(|t| &t.id == id)
                .and_then(|t| ws.ticket_type(&t.ticket_type_id))
                .map(|t| t.category.clone());
            json!({"type": "ticket", "id": id, "category": category})
        })
        .collect();
    let teammates: Vec<Value> = c
        .teammate_ids
        .iter()
        .map(|id| json!({"type": "admin", "id": id}))
        .collect();
    let mut out = json!({
        "type": "conversation",
        "id": c.id,
        "title": c.title,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "waiting_since": c.waiting_since,
        "snoozed_until": c.snoozed_until,
        "open": c.state != super::model::State::Closed,
        "state": c.state.as_str(),
        "read": c.read,
        "priority": "none",
        "admin_assignee_id": int_id(c.admin_assignee_id.as_deref()),
        "team_assignee_id": int_id(c.team_assignee_id.as_deref()),
        "company": null,
        "tags": {"type": "tag.list", "tags": tags},
        "conversation_rating": null,
        "source": {
            "type": "conversation",
            "id": c.source.id,
            "delivered_as": c.source.delivered_as,
            "subject": c.source.subject,
            "body": body(&c.source.body, plaintext),
            "author": author(&c.source.author),
            "attachments": [],
            "url": null,
            "redacted": false,
        },
        "contacts": {"type": "contact.list", "contacts": contacts},
        "teammates": {"type": "admin.list", "teammates": teammates},
        "custom_attributes": {},
        "first_contact_reply": c.first_contact_reply_at.map(|at| json!({"created_at": at, "type": "conversation", "url": null})),
        "sla_applied": null,
        "statistics": null,
        "linked_objects": {"type": "list", "data": linked, "total_count": c.linked_ticket_ids.len(), "has_more": false},
        "ai_agent_participated": false,
        "ai_agent": null,
    });
    let selected: Option<Vec<&Part>> = match parts {
        Parts::Omit => None,
        Parts::All => Some(c.parts.iter().collect()),
        Parts::Capped => Some(
            c.parts
                .iter()
                .skip(c.parts.len().saturating_sub(PART_CAP))
                .collect(),
        ),
        Parts::Only(id) => Some(c.parts.iter().filter(|p| p.id == id).collect()),
    };
    if let (Some(selected), Some(map)) = (selected, out.as_object_mut()) {
        let list: Vec<Value> = selected.iter().map(|p| part(p, plaintext)).collect();
        let total = list.len();
        map.insert(
            "conversation_parts".to_owned(),
            json!({"type": "conversation_part.list", "conversation_parts": list, "total_count": total}),
        );
    }
    out
}

/// An admin as `GET /admins` lists it.
pub fn admin(a: &Admin) -> Value {
    let team_ids: Vec<i64> = a.team_ids.iter().map(|t| int_id(Some(t))).collect();
    json!({
        "type": "admin", "id": a.id, "name": a.name, "email": a.email, "job_title": a.job_title,
        "away_mode_enabled": a.away, "away_mode_reassign": false, "away_status_reason_id": null,
        "has_inbox_seat": true, "team_ids": team_ids, "avatar": null, "team_priority_level": null,
    })
}

/// The bot admin with its app, as `GET /me` answers.
pub fn admin_with_app(ws: &Workspace, a: &Admin) -> Value {
    let team_ids: Vec<i64> = a.team_ids.iter().map(|t| int_id(Some(t))).collect();
    json!({
        "type": "admin", "id": a.id, "name": a.name, "email": a.email, "job_title": a.job_title,
        "away_mode_enabled": a.away, "away_mode_reassign": false, "has_inbox_seat": true,
        "team_ids": team_ids, "avatar": {"type": "avatar", "image_url": null}, "email_verified": true,
        "app": {"type": "app", "id_code": APP_ID, "name": ws.app_name, "region": "US",
                "timezone": "Etc/UTC", "created_at": 1_700_000_000, "identity_verification": false},
    })
}

/// A team.
pub fn team(t: &Team) -> Value {
    let admin_ids: Vec<i64> = t.admin_ids.iter().map(|a| int_id(Some(a))).collect();
    json!({"type": "team", "id": t.id, "name": t.name, "admin_ids": admin_ids,
           "admin_priority_level": null, "assignment_limit": null, "distribution_method": null})
}

/// A tag.
pub fn tag(t: &Tag) -> Value {
    json!({"type": "tag", "id": t.id, "name": t.name})
}

/// A contact.
pub fn contact(ws: &Workspace, c: &Contact) -> Value {
    let companies: Vec<Value> = c
        .company_ids
        .iter()
        .map(|id| json!({"type": "company", "id": id, "url": format!("/companies/{id}")}))
        .collect();
    let tags: Vec<Value> = c
        .tag_ids
        .iter()
        .filter_map(|id| ws.tag(id))
        .map(|t| json!({"type": "tag", "id": t.id, "url": format!("/tags/{}", t.id)}))
        .collect();
    let domain = c
        .email
        .split_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default();
    json!({
        "type": "contact", "id": c.id, "external_id": c.external_id, "workspace_id": APP_ID,
        "role": c.role, "email": c.email, "email_domain": domain, "phone": c.phone, "name": c.name,
        "owner_id": null, "has_hard_bounced": false, "marked_email_as_spam": false,
        "unsubscribed_from_emails": false, "created_at": c.created_at, "updated_at": c.created_at,
        "signed_up_at": if c.role == "user" { Some(c.created_at) } else { None },
        "last_seen_at": null, "last_replied_at": null, "last_contacted_at": null,
        "last_email_opened_at": null, "last_email_clicked_at": null, "language_override": null,
        "browser": null, "browser_version": null, "browser_language": null, "os": null,
        "custom_attributes": c.custom_attributes, "avatar": null,
        "tags": {"type": "list", "data": tags, "url": format!("/contacts/{}/tags", c.id),
                 "total_count": c.tag_ids.len(), "has_more": false},
        "notes": {"type": "list", "data": [], "url": format!("/contacts/{}/notes", c.id),
                  "total_count": 0, "has_more": false},
        "companies": {"type": "list", "data": companies, "url": format!("/contacts/{}/companies", c.id),
                      "total_count": c.company_ids.len(), "has_more": false},
        "location": {"type": "location", "country": null, "region": null, "city": null},
        "social_profiles": {"type": "list", "data": []},
    })
}

/// A visitor.
pub fn visitor(v: &Visitor) -> Value {
    json!({
        "type": "visitor", "id": v.id, "user_id": v.user_id, "anonymous": true, "email": v.email,
        "phone": null, "name": v.name, "pseudonym": format!("Visitor {}", &v.user_id),
        "app_id": APP_ID, "created_at": v.created_at, "updated_at": v.created_at,
        "session_count": 1, "owner_id": null, "unsubscribed_from_emails": false,
        "marked_email_as_spam": false, "has_hard_bounced": false,
        "companies": {"type": "company.list", "companies": []},
        "tags": {"type": "tag.list", "tags": []}, "custom_attributes": {},
        "referrer": null, "do_not_track": null,
    })
}

/// A company.
pub fn company(ws: &Workspace, c: &Company) -> Value {
    let users = ws
        .contacts
        .iter()
        .filter(|p| p.company_ids.contains(&c.id))
        .count();
    let plan = c.plan.as_ref().map(
        |name| json!({"type": "plan", "id": format!("plan-{}", name.to_lowercase()), "name": name}),
    );
    let mut out = json!({
        "type": "company", "id": c.id, "name": c.name, "app_id": APP_ID, "company_id": c.company_id,
        "remote_created_at": c.created_at, "created_at": c.created_at, "updated_at": c.created_at,
        "last_request_at": c.created_at, "size": c.size, "website": c.website, "industry": c.industry,
        "monthly_spend": c.monthly_spend, "session_count": 0, "user_count": users,
        "custom_attributes": c.custom_attributes,
        "tags": {"type": "tag.list", "tags": []},
        "segments": {"type": "segment.list", "segments": []},
    });
    if let (Some(plan), Some(map)) = (plan, out.as_object_mut()) {
        map.insert("plan".to_owned(), plan);
    }
    out
}

/// A ticket type with its attributes and states.
pub fn ticket_type(t: &TicketType) -> Value {
    let ticket_type_id = int_id(Some(&t.id));
    let attributes: Vec<Value> = t
        .attributes
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "type": "ticket_type_attribute", "id": a.id, "workspace_id": APP_ID, "name": a.name,
                "description": a.description, "data_type": a.data_type, "input_options": {},
                "order": i, "required_to_create": a.required_to_create,
                "required_to_create_for_contacts": false, "visible_on_create": true,
                "visible_to_contacts": true, "default": a.default, "ticket_type_id": ticket_type_id,
                "archived": false, "created_at": t.created_at, "updated_at": t.created_at,
            })
        })
        .collect();
    let states: Vec<Value> = TICKET_STATES.iter().map(ticket_state).collect();
    json!({
        "type": "ticket_type", "id": t.id, "category": t.category, "name": t.name,
        "description": t.description, "icon": t.icon, "workspace_id": APP_ID,
        "ticket_type_attributes": {"type": "list", "ticket_type_attributes": attributes},
        "ticket_states": {"type": "list", "data": states},
        "archived": false, "created_at": t.created_at, "updated_at": t.created_at,
    })
}

/// The ticket states every type has: `(id, category, label)`.
const TICKET_STATES: [(&str, &str, &str); 4] = [
    ("8300001", "submitted", "Submitted"),
    ("8300002", "in_progress", "In progress"),
    ("8300003", "waiting_on_customer", "Waiting on customer"),
    ("8300004", "resolved", "Resolved"),
];

fn ticket_state(s: &(&str, &str, &str)) -> Value {
    json!({"type": "ticket_state", "id": s.0, "category": s.1, "internal_label": s.2, "external_label": s.2})
}

/// A ticket.
pub fn ticket(ws: &Workspace, t: &Ticket) -> Value {
    let tt = ws.ticket_type(&t.ticket_type_id);
    let contacts: Vec<Value> = t
        .contact_ids
        .iter()
        .map(|id| {
            let external = ws.contact(id).and_then(|c| c.external_id.clone());
            json!({"type": "contact", "id": id, "external_id": external})
        })
        .collect();
    let linked: Vec<Value> = t
        .linked_conversation_ids
        .iter()
        .map(|id| json!({"type": "conversation", "id": id, "category": null}))
        .collect();
    json!({
        "type": "ticket", "id": t.id, "ticket_id": t.ticket_id,
        "category": tt.map_or("Customer".to_owned(), |tt| tt.category.clone()),
        "ticket_attributes": t.attributes,
        "ticket_state": ticket_state(&TICKET_STATES[0]),
        "ticket_type": tt.map(ticket_type),
        "contacts": {"type": "contact.list", "contacts": contacts},
        "admin_assignee_id": 0, "team_assignee_id": 0,
        "created_at": t.created_at, "updated_at": t.created_at, "open": true,
        "linked_objects": {"type": "list", "data": linked, "total_count": t.linked_conversation_ids.len(), "has_more": false},
        "ticket_parts": {"type": "ticket_part.list", "ticket_parts": [], "total_count": 0},
        "is_shared": false, "previous_ticket_state_id": null,
    })
}

/// An article.
pub fn article(a: &Article) -> Value {
    json!({
        "type": "article", "id": a.id, "workspace_id": APP_ID, "title": a.title,
        "description": a.description, "body": a.body, "author_id": int_id(Some(&a.author_id)),
        "state": "published", "created_at": a.created_at, "updated_at": a.created_at,
        "url": format!("https://help.acme-demo.test/articles/{}", a.id),
        "parent_ids": [], "default_locale": "en",
    })
}
