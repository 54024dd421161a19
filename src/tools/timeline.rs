//! Conversations shaped for a model: a compact chronological timeline instead of tens of
//! kilobytes of JSON. A header (state, priority, assignees by name, tags, contact, waiting since),
//! then the source and every part in order: time, author kind and name (with id), part type, text
//! (HTML turned into plain text), attachments by name; assignments and state changes as one short
//! line. Ids stay visible for follow-up calls. Over the size cap, the start and the most recent
//! parts are kept around an explicit "N parts omitted" line. Pure.

use std::collections::HashMap;

use crate::intercom::models::{Attachment, Author, Contact, Conversation, Part, PartType};

/// Names for the ids in a conversation (from `list_admins` / `list_teams`, cached per run).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub admins: HashMap<String, String>,
    pub teams: HashMap<String, String>,
}

impl Directory {
    fn admin(&self, id: &str) -> String {
        match self.admins.get(id) {
            Some(name) => format!("{name} ({id})"),
            None => format!("admin {id}"),
        }
    }

    fn team(&self, id: &str) -> String {
        match self.teams.get(id) {
            Some(name) => format!("{name} ({id})"),
            None => format!("team {id}"),
        }
    }
}

/// Default size cap of a timeline, in bytes (≈ 8k tokens).
pub const DEFAULT_CAP: usize = 32 * 1024;

/// Longest text kept from one message before it is cut.
const MAX_PART_TEXT: usize = 4000;

/// An RFC 3339 UTC time for Unix seconds.
pub fn time(ts: Option<i64>) -> String {
    ts.and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| "?".to_owned())
}

/// The conversation as a timeline of at most `cap` bytes (the header and source always stay).
pub fn render(
    conv: &Conversation,
    dir: &Directory,
    contact: Option<&Contact>,
    cap: usize,
) -> String {
    let mut head = header(conv, dir, contact);
    if let Some(source) = &conv.source {
        let body = source
            .body
            .as_deref()
            .map(super::html::to_text)
            .unwrap_or_default();
        head.push_str(&format!(
            "{} · source {} · {} · {}{}:\n{}{}\n",
            time(conv.created_at),
            source.id.as_deref().unwrap_or("?"),
            source
                .author
                .as_ref()
                .map(|a| author(a, dir))
                .unwrap_or_else(|| "unknown".into()),
            source.kind.as_deref().unwrap_or("conversation"),
            source
                .subject
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| format!(" «{}»", super::html::to_text(s)))
                .unwrap_or_default(),
            indent(&cut(&body)),
            attachments(&source.attachments),
        ));
    }
    let parts: Vec<String> = conv.parts().iter().map(|p| part(p, dir)).collect();
    let total_parts = conv
        .conversation_parts
        .as_ref()
        .and_then(|l| l.total_count)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(parts.len());
    if total_parts > parts.len() {
        head.push_str(&format!(
            "({} older parts are not available: Intercom returns the newest {})\n",
            total_parts - parts.len(),
            parts.len()
        ));
    }
    let used: usize = parts.iter().map(String::len).sum();
    if head.len() + used <= cap {
        return head + &parts.concat();
    }
    // Keep the first parts (a quarter of the budget) and the most recent ones (the rest).
    let budget = cap.saturating_sub(head.len() + 80);
    let mut first = 0;
    let mut taken = 0;
    while first < parts.len() && taken + parts[first].len() <= budget / 4 {
        taken += parts[first].len();
        first += 1;
    }
    let mut last = parts.len();
    while last > first && taken + parts[last - 1].len() <= budget {
        taken += parts[last - 1].len();
        last -= 1;
    }
    let mut out = head;
    out.push_str(&parts[..first].concat());
    out.push_str(&format!(
        "… {} parts omitted (#{} to #{} of {}) …\n",
        last - first,
        first + 1,
        last,
        parts.len()
    ));
    out.push_str(&parts[last..].concat());
    out
}

fn header(conv: &Conversation, dir: &Directory, contact: Option<&Contact>) -> String {
    let state = conv.state.as_ref().map(state_name).unwrap_or("unknown");
    let team = conv.team_assignee_id.as_ref().map(|t| dir.team(t.as_str()));
    let admin = conv
        .admin_assignee_id
        .as_ref()
        .map(|a| dir.admin(a.as_str()));
    let tags: Vec<String> = conv
        .tags
        .tags
        .iter()
        .map(|t| format!("{} ({})", t.name.as_deref().unwrap_or("?"), t.id))
        .collect();
    let mut out = format!(
        "conversation {} · {state} · priority {} · team {} · admin {} · tags: {}\n",
        conv.id,
        conv.priority.as_deref().unwrap_or("none"),
        team.unwrap_or_else(|| "unassigned".into()),
        admin.unwrap_or_else(|| "unassigned".into()),
        if tags.is_empty() {
            "none".into()
        } else {
            tags.join(", ")
        },
    );
    let ids: Vec<&str> = conv.contact_ids().map(|c| c.as_str()).collect();
    match contact {
        Some(c) => out.push_str(&format!(
            "contact {} · {} <{}> · {}\n",
            c.id,
            c.name.as_deref().unwrap_or("(no name)"),
            c.email.as_deref().unwrap_or("no email"),
            c.role.as_deref().unwrap_or("contact"),
        )),
        None => out.push_str(&format!("contacts: {}\n", ids.join(", "))),
    }
    out.push_str(&format!(
        "created {} · updated {} · waiting since {}{}\n",
        time(conv.created_at),
        time(conv.updated_at),
        conv.waiting_since
            .map(|t| time(Some(t)))
            .unwrap_or_else(|| "-".into()),
        conv.snoozed_until
            .map(|t| format!(" · snoozed until {}", time(Some(t))))
            .unwrap_or_default(),
    ));
    if let Some(title) = conv.title.as_deref().filter(|t| !t.is_empty()) {
        out.push_str(&format!("title: {title}\n"));
    }
    out.push_str("timeline, oldest first:\n");
    out
}

fn state_name(state: &crate::intercom::models::ConversationState) -> &str {
    use crate::intercom::models::ConversationState as S;
    match state {
        S::Open => "open",
        S::Closed => "closed",
        S::Snoozed => "snoozed",
        S::Other(s) => s,
    }
}

fn author(a: &Author, dir: &Directory) -> String {
    let kind = format!("{:?}", a.kind).to_lowercase();
    let kind = match &a.kind {
        crate::intercom::models::AuthorType::Other(s) => s.clone(),
        _ => kind,
    };
    let id = a.id.as_deref().unwrap_or("?");
    let name = a
        .name
        .clone()
        .or_else(|| dir.admins.get(id).cloned())
        .unwrap_or_default();
    let email = a
        .email
        .as_deref()
        .map(|e| format!(" <{e}>"))
        .unwrap_or_default();
    format!("{kind} {name}{email} ({id})").replace("  ", " ")
}

fn part(p: &Part, dir: &Directory) -> String {
    let who = p
        .author
        .as_ref()
        .map(|a| author(a, dir))
        .unwrap_or_else(|| "unknown".into());
    let text = p
        .body
        .as_deref()
        .map(super::html::to_text)
        .unwrap_or_default();
    let kind = p.part_type.as_str();
    let mut line = format!("{} · part {} · {who} · {kind}", time(p.created_at), p.id);
    if matches!(
        p.part_type,
        PartType::Assignment | PartType::AssignAndReopen
    ) || p.assigned_to.is_some()
    {
        let to = match &p.assigned_to {
            Some(r) => match (r.kind.as_deref(), r.id.as_deref()) {
                (Some("team"), Some(id)) => format!("team {}", dir.team(id)),
                (Some("nobody_admin"), _) | (_, None) => "nobody".to_owned(),
                (_, Some(id)) => dir.admin(id),
            },
            None => "?".to_owned(),
        };
        line.push_str(&format!(" → {to}"));
    }
    if p.redacted == Some(true) {
        line.push_str(" (redacted)");
    }
    if text.is_empty() && p.attachments.is_empty() {
        line.push('\n');
        return line;
    }
    line.push_str(":\n");
    line.push_str(&indent(&cut(&text)));
    line.push_str(&attachments(&p.attachments));
    line.push('\n');
    line
}

fn attachments(list: &[Attachment]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = list
        .iter()
        .map(|a| a.name.as_deref().unwrap_or("file"))
        .collect();
    format!("\n  [attachments: {}]", names.join(", "))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_PART_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_PART_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more characters)", &text[..end], text.len() - end)
}

/// One line per conversation of a list or search result.
pub fn list_line(conv: &Conversation, dir: &Directory) -> String {
    let state = conv.state.as_ref().map(state_name).unwrap_or("unknown");
    let snippet = conv
        .source
        .as_ref()
        .and_then(|s| s.body.as_deref())
        .map(super::html::to_text)
        .unwrap_or_default()
        .replace('\n', " ");
    let snippet: String = snippet.chars().take(120).collect();
    format!(
        "conversation {} · {state} · updated {} · team {} · contacts {} · «{snippet}»",
        conv.id,
        time(conv.updated_at),
        conv.team_assignee_id
            .as_ref()
            .map(|t| dir.team(t.as_str()))
            .unwrap_or_else(|| "unassigned".into()),
        conv.contact_ids()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(","),
    )
}
