//! Executes tool calls for one run: unknown tool → readable error; arguments validated against the
//! tool's schema (serde on the typed input); the [`super::guard`]; then the read or the
//! write (through the mode and the idempotency record, see `writes`). Every result is text for a
//! model, capped in size.

mod directory;
mod drafts;
mod perform;
mod reads;
mod view;
mod writes;

pub(crate) use perform::{CLOCK_SLACK, started_second};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    ToolName,
    guard::{self, Refusal, Scope, Tally},
};
use crate::{
    ids::AdminId,
    intercom::{IntercomClient, IntercomError, directory_cache::DirectoryList},
    playbook::Mode,
    store::Db,
};

/// Largest tool result handed to the model, in bytes.
pub const RESULT_CAP: usize = 16 * 1024;

/// How a call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStatus {
    Ok,
    /// Unknown tool or bad arguments: the model can correct itself.
    Invalid,
    /// The guard said no (label recorded).
    Refused(&'static str),
    /// Intercom said no, or failed for good.
    Failed,
    /// Worth the whole run trying again later (rate-limit window spent, Intercom down, or the
    /// outcome of a write is unknown).
    Transient,
}

impl std::fmt::Display for CallStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Invalid => f.write_str("invalid call"),
            Self::Refused(label) => write!(f, "refused: {label}"),
            Self::Failed => f.write_str("failed"),
            Self::Transient => f.write_str("transient failure, worth retrying later"),
        }
    }
}

/// A tool result for the model.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub content: String,
    pub status: CallStatus,
}

/// What the run's writes did, for its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Replied,
    Noted,
    Closed,
    Snoozed { until: i64 },
    Opened,
    Assigned,
    Tagged,
    Untagged,
    TicketCreated { id: String, number: Option<String> },
    HandedOff,
}

/// A call that did not produce a normal result.
#[derive(Debug)]
enum Stop {
    Invalid(String),
    Refused(Refusal),
    Intercom(IntercomError),
    Internal(String),
}

impl From<Refusal> for Stop {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

impl From<IntercomError> for Stop {
    fn from(e: IntercomError) -> Self {
        Self::Intercom(e)
    }
}

impl From<crate::store::StoreError> for Stop {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// The tools of one run.
#[derive(Debug)]
pub struct Toolbox {
    client: IntercomClient,
    db: Db,
    bot: AdminId,
    run_id: i64,
    mode: Mode,
    scope: Scope,
    tally: Tally,
    lists: directory::Lists,
    drafts: Vec<String>,
    /// The internal writes a draft run performed (listed in its review note).
    performed: Vec<String>,
    effects: Vec<Effect>,
    timeline_cap: usize,
    /// Set while a playbook's own step runs (its tag names are the support lead's, not the model's).
    from_playbook: bool,
    /// The run's conversation lease: every live write first checks the run still holds it.
    fence: Option<crate::store::leases::Lease>,
    /// Keys of the replies earlier attempts of this run made (they count towards the reply cap).
    earlier_replies: std::collections::HashSet<String>,
    /// The scope's contacts whose companies are in `scope.company_ids` already.
    contacts_learned: std::collections::HashSet<String>,
    /// What a reply may quote: emails, ids and numbers of this customer's records (the egress
    /// check).
    known: crate::tools::egress::Known,
    /// The run's own conversation and contact, read once (see [`view`]).
    view: view::View,
    /// The domains a reply's URLs may link to (`TRIAGED_REPLY_LINK_DOMAINS`).
    reply_links: crate::tools::reply_html::ReplyLinks,
}

impl Toolbox {
    pub fn new(
        client: IntercomClient,
        db: Db,
        bot: AdminId,
        run_id: i64,
        mode: Mode,
        scope: Scope,
    ) -> Self {
        Self {
            client,
            db,
            bot,
            run_id,
            mode,
            scope,
            tally: Tally::default(),
            lists: directory::Lists::default(),
            drafts: Vec::new(),
            performed: Vec::new(),
            effects: Vec::new(),
            // A timeline over the result cap would be cut from its end (losing the newest
            // messages): it is capped to fit, keeping its start and its newest parts.
            timeline_cap: RESULT_CAP,
            from_playbook: false,
            fence: None,
            earlier_replies: Default::default(),
            contacts_learned: Default::default(),
            known: Default::default(),
            view: view::View::default(),
            reply_links: Default::default(),
        }
    }

    /// Text a reply may quote from (the playbook's own instructions).
    pub fn know_text(&mut self, text: &str) {
        self.known.add(text);
    }

    /// Hands the toolbox a contact the run has read already (the triage reads the conversation's
    /// contact): its companies join the read scope without another call.
    pub fn learn_contact(&mut self, contact: &crate::intercom::models::Contact) {
        let id = contact.id.to_string();
        if !self.scope.contact_ids.contains(&id) {
            return;
        }
        for company in &contact.companies.data {
            let Some(id) = company.id.as_deref() else {
                continue;
            };
            // This customer's own company: a reply may name it (egress check).
            self.known.add(&format!(
                "company {id} {}",
                company.name.as_deref().unwrap_or("")
            ));
            if !self.scope.company_ids.iter().any(|c| c == id) {
                self.scope.company_ids.push(id.to_owned());
            }
        }
        self.contacts_learned.insert(id);
    }

    /// The domains a reply's URLs may link to; any other URL stays text.
    pub fn reply_links(&mut self, links: crate::tools::reply_html::ReplyLinks) {
        self.reply_links = links;
    }

    /// Fences every live write with the run's lease: a run that lost it writes nothing.
    pub fn fence(&mut self, lease: crate::store::leases::Lease) {
        self.fence = Some(lease);
    }

    /// Resumes a run: the replies its earlier attempts made (their action keys) count towards the
    /// reply cap, and repeating one of them is a no-op rather than a second reply.
    pub fn resume(&mut self, earlier_replies: Vec<String>) {
        self.tally.replies = u32::try_from(earlier_replies.len()).unwrap_or(u32::MAX);
        self.earlier_replies = earlier_replies.into_iter().collect();
    }

    /// What the run's writes did so far.
    pub fn effects(&self) -> &[Effect] {
        &self.effects
    }

    /// The scope the guard enforces.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Calls `name` with the JSON `arguments` the model sent.
    pub async fn call(&mut self, name: &str, arguments: &str) -> ToolOutput {
        let Some(tool) = ToolName::parse(name) else {
            let allowed: Vec<&str> = self.scope.allowed.iter().map(|t| t.as_str()).collect();
            return output(
                CallStatus::Invalid,
                format!(
                    "error: there is no tool `{name}`. Available tools: {}.",
                    allowed.join(", ")
                ),
            );
        };
        if let Err(refusal) = guard::allowed(&self.scope, tool) {
            return output(CallStatus::Refused(refusal.label), refusal.message);
        }
        let arguments = if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        };
        let args: Value = match serde_json::from_str(arguments) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return output(
                    CallStatus::Invalid,
                    format!("error: the arguments of `{name}` must be a JSON object."),
                );
            }
            Err(e) => {
                return output(
                    CallStatus::Invalid,
                    format!("error: the arguments of `{name}` are not valid JSON ({e})."),
                );
            }
        };
        match self.dispatch(tool, args).await {
            Ok(text) => {
                // Directories and the run's own writes (a ticket it filed) are quotable.
                if tool.access() == super::Access::Write
                    || matches!(
                        tool,
                        ToolName::ListTicketTypes
                            | ToolName::ListTeams
                            | ToolName::ListAdmins
                            | ToolName::ListTags
                            | ToolName::SearchArticles
                    )
                {
                    self.known.add(&text);
                }
                output(CallStatus::Ok, cap(text))
            }
            Err(Stop::Invalid(message)) => output(CallStatus::Invalid, format!("error: {message}")),
            Err(Stop::Refused(r)) => output(CallStatus::Refused(r.label), r.message),
            Err(Stop::Intercom(e))
                if e.is_transient() || matches!(e, IntercomError::UnknownOutcome { .. }) =>
            {
                output(CallStatus::Transient, format!("error: {e}"))
            }
            Err(Stop::Intercom(e)) => output(CallStatus::Failed, format!("error: {e}")),
            Err(Stop::Internal(e)) => {
                tracing::error!(error = %e, tool = name, "tool failed internally");
                output(
                    CallStatus::Transient,
                    "error: internal error; the run will be retried".to_owned(),
                )
            }
        }
    }

    /// Runs a playbook's deterministic step: the playbook itself allows it, so the allowlist (which
    /// is the agent's) does not apply; the target checks, caps, mode and idempotency do.
    pub async fn step(&mut self, tool: ToolName, args: Value) -> ToolOutput {
        self.from_playbook = true;
        let result = self.dispatch(tool, args).await;
        self.from_playbook = false;
        match result {
            Ok(text) => output(CallStatus::Ok, text),
            Err(Stop::Invalid(m)) => output(CallStatus::Invalid, m),
            Err(Stop::Refused(r)) => output(CallStatus::Refused(r.label), r.message),
            Err(Stop::Intercom(e))
                if e.is_transient() || matches!(e, IntercomError::UnknownOutcome { .. }) =>
            {
                output(CallStatus::Transient, e.to_string())
            }
            Err(Stop::Intercom(e)) => output(CallStatus::Failed, e.to_string()),
            Err(Stop::Internal(e)) => output(CallStatus::Transient, e),
        }
    }

    async fn dispatch(&mut self, tool: ToolName, args: Value) -> Result<String, Stop> {
        use super::inputs as i;
        match tool {
            ToolName::SearchConversations => self.search_conversations(parse(tool, args)?).await,
            ToolName::GetConversation => {
                let input: i::ConversationRef = parse(tool, args)?;
                self.get_conversation(&input.conversation_id).await
            }
            ToolName::GetContact => self.get_contact(parse(tool, args)?).await,
            ToolName::SearchContacts => self.search_contacts(parse(tool, args)?).await,
            ToolName::GetVisitor => self.get_visitor(parse(tool, args)?).await,
            ToolName::GetCompany => self.get_company(parse(tool, args)?).await,
            ToolName::ListTicketTypes => {
                let _: i::NoArguments = parse(tool, args)?;
                Ok(lines(&self.list(DirectoryList::TicketTypes).await?))
            }
            ToolName::ListTeams => {
                let _: i::NoArguments = parse(tool, args)?;
                Ok(lines(&self.list(DirectoryList::Teams).await?))
            }
            ToolName::ListAdmins => {
                let _: i::NoArguments = parse(tool, args)?;
                Ok(lines(&self.list(DirectoryList::Admins).await?))
            }
            ToolName::ListTags => {
                let _: i::NoArguments = parse(tool, args)?;
                Ok(lines(&self.list(DirectoryList::Tags).await?))
            }
            ToolName::SearchArticles => self.search_articles(parse(tool, args)?).await,
            ToolName::ReplyToConversation => self.reply(tool, args).await,
            ToolName::AddNote => self.note(tool, args).await,
            ToolName::CloseConversation
            | ToolName::OpenConversation
            | ToolName::SnoozeConversation
            | ToolName::AssignConversation => self.manage(tool, args).await,
            ToolName::TagConversation | ToolName::UntagConversation => self.tag(tool, args).await,
            ToolName::CreateTicket => self.create_ticket(tool, args).await,
            ToolName::HandOff => self.hand_off(tool, args).await,
        }
    }
}

/// Deserializes a tool's arguments into its typed input; the error is for the model.
fn parse<T: DeserializeOwned>(tool: ToolName, args: Value) -> Result<T, Stop> {
    serde_json::from_value(args).map_err(|e| {
        Stop::Invalid(format!(
            "invalid arguments for `{}`: {e}. Expected {}",
            tool.as_str(),
            super::schema_summary(&tool.input_schema())
        ))
    })
}

fn output(status: CallStatus, content: String) -> ToolOutput {
    ToolOutput { content, status }
}

fn lines(items: &[(String, String)]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(|(id, name)| format!("{name} (id {id})"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Cuts a result over [`RESULT_CAP`] with a hint to narrow the query.
fn cap(mut text: String) -> String {
    if text.len() <= RESULT_CAP {
        return text;
    }
    let mut end = RESULT_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    text.push_str(&format!(
        "\n… result cut ({cut} more bytes). Narrow the query (fewer results, a more specific search)."
    ));
    text
}
