//! Conversations shaped for a model: a compact chronological timeline instead of tens of
//! kilobytes of JSON (at most a fifth of it, tested). A header (state, priority, assignees by name
//! and id, tags, contact, waiting since), a `people:` line naming every author once with their
//! kind and id, then the source and every part in order, one line each: RFC 3339 time, `#` part
//! id, author label (first name), part type (omitted for plain comments), text (HTML turned into
//! plain text) and attachments by name; assignments show their assignee; internal notes are
//! marked [`NOTE_LABEL`], explained once in the header. Ids stay visible for follow-up calls.
//! Over the size cap, the start and the most recent parts are kept around an explicit "N parts
//! omitted" line (the newest part always: never a cut tail). Pure.

use std::collections::HashMap;

mod people;

use people::People;

use crate::intercom::models::{Attachment, Contact, Conversation, Part, PartType};

/// Names for the ids in a conversation (from `list_admins` / `list_teams`, cached per run).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub admins: HashMap<String, String>,
    pub teams: HashMap<String, String>,
}

impl Directory {
    /// `Maya Chen (991200002)`, or the bare id when the name is unknown.
    fn admin(&self, id: &str) -> String {
        match self.admins.get(id) {
            Some(name) => format!("{name} ({id})"),
            None => id.to_owned(),
        }
    }

    /// `Billing (510002)`, or the bare id when the name is unknown.
    fn team(&self, id: &str) -> String {
        match self.teams.get(id) {
            Some(name) => format!("{name} ({id})"),
            None => id.to_owned(),
        }
    }
}

/// Default size cap of a timeline, in bytes (≈ 8k tokens).
pub const DEFAULT_CAP: usize = 32 * 1024;

/// How an internal note is marked in a timeline: the model reads it, the customer must never.
/// Short, as a thread may hold many notes; the header's [`NOTE_LEGEND`] says what it means.
pub const NOTE_LABEL: &str = "[internal note]";

/// The header line of a timeline that holds internal notes.
pub const NOTE_LEGEND: &str =
    "parts marked [internal note] are for the team only: never quote them to the customer\n";

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
    let people = People::of(conv, dir);
    let mut head = header(conv, dir, contact);
    head.push_str(&people.line());
    if conv.parts().iter().any(|p| p.part_type == PartType::Note) {
        head.push_str(NOTE_LEGEND);
    }
    head.push_str("timeline, oldest first:\n");
    if let Some(source) = &conv.source {
        let body = source
            .body
            .as_deref()
            .map(super::html::to_text)
            .unwrap_or_default();
        head.push_str(&format!(
            "{} source {} {}{}{}{}{}\n",
            time(conv.created_at),
            source.id.as_deref().unwrap_or("?"),
            source
                .author
                .as_ref()
                .map(|a| people.label(a, dir))
                .unwrap_or_else(|| "unknown".into()),
            source
                .kind
                .as_deref()
                .filter(|k| *k != "conversation")
                .map(|k| format!(" ({k})"))
                .unwrap_or_default(),
            source
                .subject
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| format!(" «{}»", super::html::to_text(s)))
                .unwrap_or_default(),
            text_block(&cut(&body)),
            attachments(&source.attachments),
        ));
    }
    let parts: Vec<String> = conv.parts().iter().map(|p| part(p, dir, &people)).collect();
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
    fit(head, &parts, cap)
}

/// The head and as many parts as fit in `cap` bytes: every part when they all fit; otherwise the
/// newest part always, the first parts (a quarter of the budget), then the most recent parts
/// backwards from the newest, around an explicit "N parts omitted" line. Never cuts the tail: the
/// newest messages are the ones that matter. A newest part too long for the budget is shortened
/// from its middle, keeping its start (time, id, author) and its end.
fn fit(head: String, parts: &[String], cap: usize) -> String {
    let used: usize = parts.iter().map(String::len).sum();
    if head.len() + used <= cap {
        return head + &parts.concat();
    }
    let Some((newest, older)) = parts.split_last() else {
        return head;
    };
    let budget = cap.saturating_sub(head.len() + OMITTED_LINE);
    let newest = shorten(newest, budget);
    let budget = budget.saturating_sub(newest.len());
    let mut first = 0;
    let mut taken = 0;
    while first < older.len() && taken + older[first].len() <= budget / 4 {
        taken += older[first].len();
        first += 1;
    }
    let mut last = older.len();
    while last > first && taken + older[last - 1].len() <= budget {
        taken += older[last - 1].len();
        last -= 1;
    }
    let mut out = head;
    out.push_str(&older[..first].concat());
    if last > first {
        out.push_str(&format!(
            "… {} parts omitted (positions {} to {} of {}) …\n",
            last - first,
            first + 1,
            last,
            parts.len()
        ));
    }
    out.push_str(&older[last..].concat());
    out.push_str(&newest);
    out
}

/// Room kept for the "N parts omitted" line.
const OMITTED_LINE: usize = 80;

/// `line` in at most `max` bytes (but never less than its first 200): its start and its end
/// around `… (N characters omitted) …`.
fn shorten(line: &str, max: usize) -> String {
    let max = max.max(200);
    if line.len() <= max {
        return line.to_owned();
    }
    let keep = max - 48;
    let mut start = keep / 2;
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = line.len() - (keep - keep / 2);
    while !line.is_char_boundary(end) {
        end += 1;
    }
    format!(
        "{}… ({} characters omitted) …{}",
        &line[..start],
        end - start,
        &line[end..]
    )
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
        "conversation {} · {state}{} · team {} · admin {} · tags: {}\n",
        conv.id,
        conv.priority
            .as_deref()
            .filter(|p| !matches!(*p, "none" | "not_priority"))
            .map(|p| format!(" · priority {p}"))
            .unwrap_or_default(),
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
    out.push_str(&format!("created {}", time(conv.created_at)));
    if conv.updated_at.is_some() && conv.updated_at != conv.created_at {
        out.push_str(&format!(" · updated {}", time(conv.updated_at)));
    }
    if let Some(t) = conv.waiting_since {
        out.push_str(&format!(" · waiting since {}", time(Some(t))));
    }
    if let Some(t) = conv.snoozed_until {
        out.push_str(&format!(" · snoozed until {}", time(Some(t))));
    }
    out.push('\n');
    if let Some(title) = conv.title.as_deref().filter(|t| !t.is_empty()) {
        out.push_str(&format!("title: {title}\n"));
    }
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

fn part(p: &Part, dir: &Directory, people: &People) -> String {
    let who = p
        .author
        .as_ref()
        .map(|a| people.label(a, dir))
        .unwrap_or_else(|| "unknown".into());
    let text = p
        .body
        .as_deref()
        .map(super::html::to_text)
        .unwrap_or_default();
    let mut line = format!("{} #{} {who}", time(p.created_at), p.id);
    if p.part_type == PartType::Note {
        line.push(' ');
        line.push_str(NOTE_LABEL);
    } else if p.part_type != PartType::Comment {
        line.push(' ');
        line.push_str(p.part_type.as_str());
    }
    if matches!(
        p.part_type,
        PartType::Assignment | PartType::AssignAndReopen
    ) || p.assigned_to.is_some()
    {
        let to = match &p.assigned_to {
            Some(r) => match (r.kind.as_deref(), r.id.as_deref()) {
                (Some("team"), Some(id)) => format!("team {}", dir.team(id)),
                (Some("nobody_admin"), _) | (_, None) => "nobody".to_owned(),
                (Some("admin") | None, Some(id)) => format!("admin {}", dir.admin(id)),
                (Some(kind), Some(id)) => format!("{kind} {id}"),
            },
            None => "?".to_owned(),
        };
        line.push_str(&format!(" → {to}"));
    }
    if p.redacted == Some(true) {
        line.push_str(" (redacted)");
    }
    line.push_str(&text_block(&cut(&text)));
    line.push_str(&attachments(&p.attachments));
    line.push('\n');
    line
}

/// `: first line` then the other lines indented by two spaces (nothing for an empty text).
fn text_block(text: &str) -> String {
    let mut lines = text.lines();
    let Some(first) = lines.next() else {
        return String::new();
    };
    let mut out = format!(": {first}");
    for l in lines {
        out.push('\n');
        if !l.is_empty() {
            out.push_str("  ");
            out.push_str(l);
        }
    }
    out
}

fn attachments(list: &[Attachment]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = list
        .iter()
        .map(|a| a.name.as_deref().unwrap_or("file"))
        .collect();
    format!(" [attachments: {}]", names.join(", "))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(authors: &[(&str, &str, &str)]) -> Conversation {
        let parts: Vec<serde_json::Value> = authors
            .iter()
            .enumerate()
            .map(|(i, (kind, id, name))| {
                serde_json::json!({
                    "type": "conversation_part", "id": format!("{}", 100 + i), "part_type": "comment",
                    "body": format!("<p>message {i}</p>"), "created_at": 1_734_537_511 + i as i64,
                    "author": {"type": kind, "id": id, "name": name}
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "type": "conversation", "id": "7", "state": "open",
            "conversation_parts": {"type": "conversation_part.list", "conversation_parts": parts}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn authors_get_first_names_unless_another_author_shares_them() {
        let c = conversation(&[
            ("user", "u1", "Priya Sharma"),
            ("admin", "11", "Tom Okafor"),
            ("admin", "12", "Tom Baker"),
            ("admin", "13", "Operator"),
            ("admin", "14", "Operator"),
        ]);
        let out = render(&c, &Directory::default(), None, DEFAULT_CAP);
        assert!(
            out.contains(
                "people: Priya = Priya Sharma (user u1), Tom Okafor (admin 11), Tom Baker (admin 12), \
             Operator (admin 13), Operator (admin 14)\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("2024-12-18T15:58:31Z #100 Priya: message 0\n"),
            "{out}"
        );
        assert!(out.contains(" #101 Tom Okafor: message 1\n"), "{out}");
        assert!(out.contains(" #103 Operator (13): message 3\n"), "{out}");
        assert!(out.contains(" #104 Operator (14): message 4\n"), "{out}");
    }

    #[test]
    fn assignments_name_the_assignee_and_unknown_ids_stay_bare() {
        let mut c = conversation(&[("admin", "11", "Maya Chen")]);
        c.team_assignee_id = Some("510002".into());
        if let Some(list) = c.conversation_parts.as_mut() {
            list.conversation_parts[0].part_type = PartType::Assignment;
            list.conversation_parts[0].body = None;
            list.conversation_parts[0].assigned_to =
                serde_json::from_value(serde_json::json!({"type": "team", "id": "510002"})).ok();
        }
        let out = render(&c, &Directory::default(), None, DEFAULT_CAP);
        assert!(out.contains(" · team 510002 · admin unassigned"), "{out}");
        assert!(
            out.contains(" #100 Maya assignment → team 510002\n"),
            "{out}"
        );
    }
}
