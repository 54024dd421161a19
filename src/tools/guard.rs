//! The guard between the model and Intercom. Pure: every decision is a function of the run's
//! scope, what the run has written so far, and the call; nothing here talks to Intercom.
//!
//! - only tools the playbook allows;
//! - reads reach only the conversation that triggered the run, its contacts, their companies and
//!   the workspace directories, unless the scope says [`Reads::Workspace`] (a playbook's
//!   `agent.reads: workspace`, an MCP read token): whatever a run reads, a customer's message can
//!   ask the model to paste into its reply to that customer;
//! - writes only touch the conversation that triggered the run (tickets only for its contacts);
//! - write caps (e.g. at most one customer reply per run);
//! - names and ids of teams, admins, tags and ticket types must exist in the live workspace lists;
//!   an unknown one is answered with the valid choices.
//!
//! A refusal is text the model can read and act on, plus a short stable label for the record.

use std::collections::BTreeSet;

use super::{Access, ToolName};
pub use crate::playbook::Reads;

/// What a run may do.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The conversation that triggered the run.
    pub conversation_id: String,
    /// Its contacts (tickets may only be created for these; reads may reach them).
    pub contact_ids: Vec<String>,
    /// The companies of those contacts, as far as the run has learned them (the toolbox adds
    /// them when it reads a contact, and reads the contacts before it refuses a company).
    pub company_ids: Vec<String>,
    /// How far reads reach.
    pub reads: Reads,
    /// The playbook's tool allowlist.
    pub allowed: BTreeSet<ToolName>,
    /// Customer-visible replies this run may send (reply steps count too).
    pub max_replies: u32,
}

impl Scope {
    /// A run on `conversation_id` with these contacts, reads limited to them
    /// ([`Reads::Conversation`]), nothing allowed yet and no reply.
    pub fn conversation(conversation_id: &str, contact_ids: Vec<String>) -> Self {
        Self {
            conversation_id: conversation_id.to_owned(),
            contact_ids,
            company_ids: Vec::new(),
            reads: Reads::Conversation,
            allowed: BTreeSet::new(),
            max_replies: 0,
        }
    }

    /// Allows these tools.
    pub fn allowing(mut self, tools: impl IntoIterator<Item = ToolName>) -> Self {
        self.allowed = tools.into_iter().collect();
        self
    }

    /// At most `max` customer replies.
    pub fn replies(mut self, max: u32) -> Self {
        self.max_replies = max;
        self
    }

    /// Reads reach this far.
    pub fn reading(mut self, reads: Reads) -> Self {
        self.reads = reads;
        self
    }
}

/// What a read call reaches, for [`check_read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read<'a> {
    Conversation(&'a str),
    Contact(&'a str),
    Company(&'a str),
    /// A search over the whole workspace (`search_conversations`, `search_contacts`).
    Search(ToolName),
    /// Teams, admins, tags, ticket types, help-center articles: always in scope.
    Directory,
}

/// What the run has done so far.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub replies: u32,
    pub writes: u32,
}

/// A refused call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `not_allowed`, `other_conversation`, `other_contact`, `reply_cap`, `unknown_team`, …
    pub label: &'static str,
    /// For the model.
    pub message: String,
}

impl Refusal {
    fn new(label: &'static str, message: String) -> Self {
        Self { label, message }
    }
}

/// Checks the tool against the allowlist (the model's calls), then a write's target against the
/// scope and caps. `target` is the conversation the call names, `contact` the contact it names
/// (tickets).
pub fn check(
    scope: &Scope,
    tally: &Tally,
    tool: ToolName,
    target: Option<&str>,
    contact: Option<&str>,
) -> Result<(), Refusal> {
    allowed(scope, tool)?;
    check_target(scope, tally, tool, target, contact)
}

/// The allowlist alone (a playbook's own steps are allowed by the playbook itself).
pub fn allowed(scope: &Scope, tool: ToolName) -> Result<(), Refusal> {
    if !scope.allowed.contains(&tool) {
        let allowed: Vec<&str> = scope.allowed.iter().map(|t| t.as_str()).collect();
        return Err(Refusal::new(
            "not_allowed",
            format!(
                "refused: `{}` is not allowed in this playbook. Allowed tools: {}.",
                tool.as_str(),
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// A write's target against the scope, and the caps; reads pass.
pub fn check_target(
    scope: &Scope,
    tally: &Tally,
    tool: ToolName,
    target: Option<&str>,
    contact: Option<&str>,
) -> Result<(), Refusal> {
    if tool.access() == Access::Read {
        return Ok(());
    }
    if let Some(target) = target
        && target != scope.conversation_id
    {
        return Err(Refusal::new(
            "other_conversation",
            format!(
                "refused: this run may only change conversation {} (the one that triggered it), \
                 not {target}.",
                scope.conversation_id
            ),
        ));
    }
    if let Some(contact) = contact
        && !scope.contact_ids.iter().any(|c| c == contact)
    {
        return Err(Refusal::new(
            "other_contact",
            format!(
                "refused: tickets may only be created for this conversation's contact ({}), not {contact}.",
                scope.contact_ids.join(", ")
            ),
        ));
    }
    if tool == ToolName::ReplyToConversation && tally.replies >= scope.max_replies {
        return Err(Refusal::new(
            "reply_cap",
            format!(
                "refused: this run may send at most {} customer repl{} and has sent {}. \
                 Add an internal note instead if something is left to say.",
                scope.max_replies,
                if scope.max_replies == 1 { "y" } else { "ies" },
                tally.replies
            ),
        ));
    }
    Ok(())
}

/// Whether a read reaches only what concerns the run's conversation (its contacts, their
/// companies, the workspace directories), whatever [`Scope::reads`] says. Under
/// [`Reads::Workspace`] a read outside is allowed, but what it returned is not the customer's own.
pub fn read_in_scope(scope: &Scope, read: Read<'_>) -> bool {
    match read {
        Read::Conversation(id) => id.trim() == scope.conversation_id,
        Read::Contact(id) => scope.contact_ids.iter().any(|c| c == id.trim()),
        Read::Company(id) => scope.company_ids.iter().any(|c| c == id.trim()),
        Read::Search(_) => false,
        Read::Directory => true,
    }
}

/// A read against the scope: under [`Reads::Conversation`] anything outside
/// [`read_in_scope`] is refused, in words that say what the run may read.
pub fn check_read(scope: &Scope, read: Read<'_>) -> Result<(), Refusal> {
    if scope.reads == Reads::Workspace || read_in_scope(scope, read) {
        return Ok(());
    }
    let conversation = &scope.conversation_id;
    let (label, what, ids, id) = match read {
        Read::Conversation(id) => (
            "read_other_conversation",
            "conversation",
            format!("{conversation}, the one that triggered it"),
            id,
        ),
        Read::Contact(id) => (
            "read_other_contact",
            "the contacts of this conversation",
            or_none(&scope.contact_ids),
            id,
        ),
        Read::Company(id) => (
            "read_other_company",
            "the companies of this conversation's contacts",
            or_none(&scope.company_ids),
            id,
        ),
        Read::Search(tool) => {
            return Err(Refusal::new(
                "read_workspace",
                format!(
                    "refused: `{}` searches the whole workspace; this run may only read \
                     conversation {conversation}, its contacts and their companies (and the \
                     teams, admins, tags, ticket types and help-center articles).",
                    tool.as_str()
                ),
            ));
        }
        // Always in scope (above).
        Read::Directory => return Ok(()),
    };
    Err(Refusal::new(
        label,
        format!(
            "refused: this run may only read {what} ({ids}), not {}.",
            id.trim()
        ),
    ))
}

fn or_none(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(", ")
    }
}

/// Finds `given` (an id or an exact, case-insensitive name) among `choices` (`(id, name)`),
/// returning the id; an unknown one is refused with the valid choices listed.
pub fn resolve<'a>(
    kind: &'static str,
    label: &'static str,
    given: &str,
    choices: &'a [(String, String)],
) -> Result<&'a str, Refusal> {
    let given = given.trim();
    if let Some((id, _)) = choices.iter().find(|(id, _)| id == given) {
        return Ok(id);
    }
    if let Some((id, _)) = choices
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(given))
    {
        return Ok(id);
    }
    let valid: Vec<String> = choices
        .iter()
        .map(|(id, name)| format!("{name} ({id})"))
        .collect();
    Err(Refusal::new(
        label,
        format!(
            "unknown {kind} `{given}`. Valid {kind}s: {}.",
            if valid.is_empty() {
                "none".to_owned()
            } else {
                valid.join(", ")
            }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::conversation("215", vec!["c1".into()])
            .allowing([
                ToolName::GetConversation,
                ToolName::ReplyToConversation,
                ToolName::CreateTicket,
            ])
            .replies(1)
    }

    #[test]
    fn tools_outside_the_allowlist_are_refused_with_the_allowed_ones() {
        let err = check(
            &scope(),
            &Tally::default(),
            ToolName::CloseConversation,
            Some("215"),
            None,
        )
        .unwrap_err();
        assert_eq!(err.label, "not_allowed");
        assert!(
            err.message
                .contains("get_conversation, reply_to_conversation, create_ticket")
        );
    }

    #[test]
    fn writes_only_touch_the_triggering_conversation_and_its_contacts() {
        let s = scope();
        let t = Tally::default();
        assert!(check(&s, &t, ToolName::ReplyToConversation, Some("215"), None).is_ok());
        assert_eq!(
            check(&s, &t, ToolName::ReplyToConversation, Some("999"), None)
                .unwrap_err()
                .label,
            "other_conversation"
        );
        assert!(check(&s, &t, ToolName::CreateTicket, Some("215"), Some("c1")).is_ok());
        assert_eq!(
            check(&s, &t, ToolName::CreateTicket, Some("215"), Some("c2"))
                .unwrap_err()
                .label,
            "other_contact"
        );
    }

    #[test]
    fn reads_reach_the_conversation_its_contacts_their_companies_and_the_directories() {
        let mut s = scope();
        s.company_ids = vec!["co1".into()];
        for read in [
            Read::Conversation("215"),
            Read::Contact("c1"),
            Read::Company("co1"),
            Read::Directory,
        ] {
            assert_eq!(check_read(&s, read), Ok(()), "{read:?}");
        }
        let label = |read| check_read(&s, read).unwrap_err().label;
        assert_eq!(label(Read::Conversation("216")), "read_other_conversation");
        assert_eq!(label(Read::Contact("c2")), "read_other_contact");
        assert_eq!(label(Read::Company("co2")), "read_other_company");
        assert_eq!(
            label(Read::Search(ToolName::SearchContacts)),
            "read_workspace"
        );
        assert_eq!(
            check_read(&s, Read::Contact("c2")).unwrap_err().message,
            "refused: this run may only read the contacts of this conversation (c1), not c2."
        );
        // The opt-in: everything passes, but only the conversation's own records are in scope.
        let w = s.clone().reading(Reads::Workspace);
        assert_eq!(check_read(&w, Read::Contact("c2")), Ok(()));
        assert!(!read_in_scope(&w, Read::Contact("c2")));
        assert!(read_in_scope(&w, Read::Contact("c1")));
    }

    #[test]
    fn a_second_reply_past_the_cap_is_refused() {
        let tally = Tally {
            replies: 1,
            writes: 1,
        };
        let err = check(
            &scope(),
            &tally,
            ToolName::ReplyToConversation,
            Some("215"),
            None,
        )
        .unwrap_err();
        assert_eq!(err.label, "reply_cap");
        assert!(err.message.contains("at most 1 customer reply"));
    }

    #[test]
    fn names_resolve_case_insensitively_and_unknown_ones_list_the_choices() {
        let teams = vec![
            ("12".to_owned(), "Billing".to_owned()),
            ("13".to_owned(), "Engineering".to_owned()),
        ];
        assert_eq!(resolve("team", "unknown_team", "billing", &teams), Ok("12"));
        assert_eq!(resolve("team", "unknown_team", "13", &teams), Ok("13"));
        let err = resolve("team", "unknown_team", "Sales", &teams).unwrap_err();
        assert_eq!(err.label, "unknown_team");
        assert_eq!(
            err.message,
            "unknown team `Sales`. Valid teams: Billing (12), Engineering (13)."
        );
    }
}
