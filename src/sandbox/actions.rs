//! Conversation changes, shared by the REST routes and the control API: replies, notes, close,
//! open, snooze, assign, and customers starting or answering conversations. Each change appends a
//! part with the right `part_type`, author and state, and queues the notification(s) for it while
//! still holding the workspace lock, so notifications leave in the order changes happened.
//!
//! Never does I/O itself (the emitter delivers in the background).

use axum::http::StatusCode;
use serde_json::Value;

use super::{
    Shared,
    error::ApiError,
    lock,
    model::{Assignee, Author, Conversation, Part, Source, State, Workspace, to_html},
    render::{self, Parts},
    webhooks,
};

/// Who made a change: an app through the REST API (parts get that app's `app_package_code`: the
/// sandbox's own app, or a second one registered with its own token), or a person in the Inbox /
/// Messenger (null `app_package_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via<'a> {
    /// An app, by its package code.
    App(&'a str),
    Ui,
}

impl Via<'_> {
    /// The `app_package_code` parts made this way carry.
    fn package_code(self) -> Option<String> {
        match self {
            Self::App(code) => Some(code.to_owned()),
            Self::Ui => None,
        }
    }
}

/// What an admin does to a conversation (re-exported as `TeammateAction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAction {
    Reply {
        note: bool,
        body: String,
    },
    Close {
        body: Option<String>,
    },
    Open,
    Snooze {
        until: i64,
    },
    /// `team` says whether `assignee_id` is a team; `"0"` unassigns.
    Assign {
        team: bool,
        assignee_id: String,
        body: Option<String>,
    },
}

fn conversation_not_found() -> ApiError {
    ApiError::not_found("not_found", "Resource Not Found")
}

/// Applies an admin action; returns the conversation with only the new part (HTML bodies).
pub fn admin_action(
    shared: &Shared,
    conversation_id: &str,
    admin_id: &str,
    action: AdminAction,
    via: Via,
) -> Result<Value, ApiError> {
    let now = shared.clock.now();
    let mut ws = lock(&shared.ws);
    let admin = ws
        .admin(admin_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("admin_not_found", "Admin not found"))?;
    let author = ws.admin_author(&admin);
    if let AdminAction::Assign {
        team, assignee_id, ..
    } = &action
    {
        let known = assignee_id == "0"
            || if *team {
                ws.team(assignee_id).is_some()
            } else {
                ws.admin(assignee_id).is_some()
            };
        if !known {
            return Err(if *team {
                ApiError::not_found("team_not_found", "Team not found")
            } else {
                ApiError::not_found("admin_not_found", "Admin not found")
            });
        }
    }
    let part_id = ws.new_id();
    let conv = ws
        .conversation_mut(conversation_id)
        .ok_or_else(conversation_not_found)?;
    let (part_type, body, assigned_to, topics): (
        &str,
        Option<String>,
        Option<Assignee>,
        Vec<&str>,
    ) = match action {
        AdminAction::Reply { note: false, body } => {
            conv.waiting_since = None;
            let mut topics = vec!["conversation.admin.replied"];
            if admin.bot {
                topics.push("conversation.operator.replied");
            }
            ("comment", Some(body), None, topics)
        }
        AdminAction::Reply { note: true, body } => {
            ("note", Some(body), None, vec!["conversation.admin.noted"])
        }
        AdminAction::Close { body } => {
            conv.state = State::Closed;
            conv.snoozed_until = None;
            conv.waiting_since = None;
            ("close", body, None, vec!["conversation.admin.closed"])
        }
        AdminAction::Open => {
            conv.state = State::Open;
            conv.snoozed_until = None;
            ("open", None, None, vec!["conversation.admin.opened"])
        }
        AdminAction::Snooze { until } => {
            if until <= now {
                return Err(ApiError::invalid("snoozed_until must be in the future"));
            }
            conv.state = State::Snoozed;
            conv.snoozed_until = Some(until);
            ("snoozed", None, None, vec!["conversation.admin.snoozed"])
        }
        AdminAction::Assign {
            team,
            assignee_id,
            body,
        } => {
            let target = (assignee_id != "0").then(|| assignee_id.clone());
            let assigned = match (&target, team) {
                (None, _) => Assignee::Nobody,
                (Some(id), true) => Assignee::Team(id.clone()),
                (Some(id), false) => Assignee::Admin(id.clone()),
            };
            if team {
                conv.team_assignee_id = target;
            } else {
                conv.admin_assignee_id = target;
            }
            let part_type = if conv.state == State::Closed {
                conv.state = State::Open;
                "assign_and_reopen"
            } else {
                "assignment"
            };
            (
                part_type,
                body,
                Some(assigned),
                vec!["conversation.admin.assigned"],
            )
        }
    };
    if !conv.teammate_ids.contains(&admin.id) {
        conv.teammate_ids.push(admin.id.clone());
    }
    push_part(
        conv,
        Part {
            id: part_id.clone(),
            part_type: part_type.to_owned(),
            body: body.as_deref().map(to_html),
            created_at: now,
            author,
            assigned_to,
            state: conv.state,
            app_package_code: via.package_code(),
        },
    );
    Ok(finish(shared, &ws, conversation_id, &part_id, &topics, now))
}

/// A contact replies (the conversation's first contact when `contact_id` is none). A reply to a
/// closed conversation reopens it with an `open` part carrying the text.
pub fn contact_reply(
    shared: &Shared,
    conversation_id: &str,
    contact_id: Option<&str>,
    body: &str,
    via: Via,
) -> Result<Value, ApiError> {
    let now = shared.clock.now();
    let mut ws = lock(&shared.ws);
    let contact_id = match contact_id {
        Some(id) => id.to_owned(),
        None => ws
            .conversation(conversation_id)
            .and_then(|c| c.contact_ids.first().cloned())
            .ok_or_else(conversation_not_found)?,
    };
    let author = contact_author(&ws, &contact_id)?;
    let part_id = ws.new_id();
    let conv = ws
        .conversation_mut(conversation_id)
        .ok_or_else(conversation_not_found)?;
    if !conv.contact_ids.contains(&contact_id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "action_forbidden",
            "the contact is not part of this conversation",
        ));
    }
    let part_type = if conv.state == State::Closed {
        "open"
    } else {
        "comment"
    };
    conv.state = State::Open;
    conv.snoozed_until = None;
    conv.waiting_since = Some(conv.waiting_since.unwrap_or(now));
    push_part(
        conv,
        Part {
            id: part_id.clone(),
            part_type: part_type.to_owned(),
            body: Some(to_html(body)),
            created_at: now,
            author,
            assigned_to: None,
            state: State::Open,
            app_package_code: via.package_code(),
        },
    );
    Ok(finish(
        shared,
        &ws,
        conversation_id,
        &part_id,
        &["conversation.user.replied"],
        now,
    ))
}

/// A contact starts a conversation in the Messenger; returns its id.
pub fn start_conversation(
    shared: &Shared,
    contact_id: &str,
    body: &str,
) -> Result<String, ApiError> {
    let now = shared.clock.now();
    let mut ws = lock(&shared.ws);
    let author = contact_author(&ws, contact_id)?;
    let id = ws.new_id();
    let source_id = ws.new_id();
    ws.conversations.push(Conversation {
        id: id.clone(),
        title: None,
        created_at: now,
        updated_at: now,
        waiting_since: Some(now),
        snoozed_until: None,
        state: State::Open,
        read: false,
        admin_assignee_id: None,
        team_assignee_id: None,
        tags: Vec::new(),
        source: Source {
            id: source_id,
            delivered_as: "customer_initiated".to_owned(),
            subject: String::new(),
            body: to_html(body),
            author,
        },
        contact_ids: vec![contact_id.to_owned()],
        teammate_ids: Vec::new(),
        parts: Vec::new(),
        linked_ticket_ids: Vec::new(),
        first_contact_reply_at: Some(now),
    });
    finish(shared, &ws, &id, "", &["conversation.user.created"], now);
    Ok(id)
}

fn contact_author(ws: &Workspace, contact_id: &str) -> Result<Author, ApiError> {
    let contact = ws
        .contact(contact_id)
        .ok_or_else(|| ApiError::not_found("not_found", "User Not Found"))?;
    if contact.merged_into.is_some() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "contact_merged",
            "Contact was merged",
        ));
    }
    Ok(Workspace::contact_author(contact))
}

fn push_part(conv: &mut Conversation, part: Part) {
    conv.updated_at = part.created_at;
    conv.parts.push(part);
}

/// Queues the notifications for the new part and renders the REST answer.
fn finish(
    shared: &Shared,
    ws: &Workspace,
    conversation_id: &str,
    part_id: &str,
    topics: &[&str],
    now: i64,
) -> Value {
    let Some(conv) = ws.conversation(conversation_id) else {
        return Value::Null;
    };
    let mut targets = lock(&shared.webhook_urls);
    let (urls, sent) = &mut *targets;
    if !urls.is_empty() {
        let item = render::conversation(ws, conv, Parts::Only(part_id), true);
        let mut stats = lock(&shared.stats);
        for topic in topics {
            *stats
                .webhooks_by_topic
                .entry((*topic).to_owned())
                .or_default() += 1;
            let url = urls[*sent % urls.len()].clone();
            *sent += 1;
            shared
                .emitter
                .send(url, topic, &webhooks::envelope(topic, item.clone(), now));
        }
    }
    drop(targets);
    render::conversation(ws, conv, Parts::Only(part_id), false)
}
