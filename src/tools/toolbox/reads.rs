//! The read tools (the workspace lists are in [`super::directory`]).

use std::collections::BTreeMap;

use super::{Stop, Toolbox};
use crate::{
    intercom::{
        models::{CompanyId, Contact},
        search::{Operator, SearchQuery, SearchRequest},
    },
    tools::{
        ToolName,
        guard::{self, Read},
        inputs, timeline,
    },
};

fn limit(n: Option<u32>) -> u32 {
    n.unwrap_or(10).clamp(1, 20)
}

/// Compact `key: value` lines for a model, skipping empty values.
fn fields(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}: {v}"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn attributes(map: &BTreeMap<String, serde_json::Value>) -> Option<String> {
    (!map.is_empty()).then(|| {
        map.iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

impl Toolbox {
    pub(super) async fn search_conversations(
        &mut self,
        input: inputs::SearchConversations,
    ) -> Result<String, Stop> {
        self.may_read(Read::Search(ToolName::SearchConversations))?;
        let mut filters = Vec::new();
        if let Some(text) = input
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            for word in text.split_whitespace().take(5) {
                filters.push(SearchQuery::filter("source.body", Operator::Contains, word));
            }
        }
        if let Some(state) = input.state.as_deref() {
            if !matches!(state, "open" | "closed" | "snoozed") {
                return Err(Stop::Invalid(format!(
                    "state must be open, closed or snoozed, not `{state}`"
                )));
            }
            filters.push(SearchQuery::eq("state", state));
        }
        if let Some(contact) = input.contact_id.as_deref() {
            filters.push(SearchQuery::eq("contact_ids", contact));
        }
        let query = match filters.len() {
            0 => {
                return Err(Stop::Invalid(
                    "give at least one of `text`, `state`, `contact_id`".to_owned(),
                ));
            }
            1 => filters.remove(0),
            _ => SearchQuery::and(filters),
        };
        let request = SearchRequest::new(query).page(Some(limit(input.limit)), None);
        let list = self.client.search_conversations(&request).await?;
        let dir = self.directory_inner().await?;
        let mut out: Vec<String> = list
            .conversations
            .iter()
            .map(|c| timeline::list_line(c, &dir))
            .collect();
        if out.is_empty() {
            return Ok("no conversation matches".to_owned());
        }
        let titles: Vec<&str> = list
            .conversations
            .iter()
            .filter_map(|c| c.title.as_deref())
            .collect();
        self.known.add_foreign(&out.join("\n"), titles);
        if let Some(total) = list.total_count
            && total > out.len() as i64
        {
            out.push(format!(
                "({total} match in all; narrow the search to see others)"
            ));
        }
        Ok(out.join("\n"))
    }

    pub(super) async fn get_conversation(&mut self, id: &str) -> Result<String, Stop> {
        self.may_read(Read::Conversation(id))?;
        let text = self.conversation_for_model(id.trim()).await?;
        if id.trim() == self.scope.conversation_id && self.view_has_conversation() {
            let directory = self.directory().await;
            self.learn_own_conversation(&directory);
        } else if guard::read_in_scope(&self.scope, Read::Conversation(id)) {
            self.known.add(&text);
        }
        Ok(text)
    }

    pub(super) async fn get_contact(&mut self, input: inputs::GetContact) -> Result<String, Stop> {
        self.may_read(Read::Contact(&input.contact_id))?;
        let contact = self.contact_for_model(input.contact_id.trim()).await?;
        self.learn_contact(&contact);
        let text = contact_text(&contact);
        if guard::read_in_scope(&self.scope, Read::Contact(&input.contact_id)) {
            self.known.add(&text);
        } else {
            self.known.add_foreign(&text, contact_values(&contact));
        }
        Ok(text)
    }

    pub(super) async fn search_contacts(
        &mut self,
        input: inputs::SearchContacts,
    ) -> Result<String, Stop> {
        self.may_read(Read::Search(ToolName::SearchContacts))?;
        let query = match (input.email.as_deref(), input.name.as_deref()) {
            (Some(email), _) => SearchQuery::eq("email", email),
            (None, Some(name)) => SearchQuery::filter("name", Operator::StartsWith, name),
            (None, None) => return Err(Stop::Invalid("give `email` or `name`".to_owned())),
        };
        let request = SearchRequest::new(query).page(Some(limit(input.limit)), None);
        let list = self.client.search_contacts(&request).await?;
        if list.data.is_empty() {
            return Ok("no contact matches".to_owned());
        }
        let text = list
            .data
            .iter()
            .map(|c| {
                format!(
                    "contact {} · {} <{}> · {}",
                    c.id,
                    c.name.as_deref().unwrap_or("(no name)"),
                    c.email.as_deref().unwrap_or("no email"),
                    c.role.as_deref().unwrap_or("contact")
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        for c in &list.data {
            self.known.add_foreign("", contact_values(c));
        }
        Ok(text)
    }

    pub(super) async fn get_visitor(&mut self, input: inputs::GetVisitor) -> Result<String, Stop> {
        let v = self.client.retrieve_visitor(&input.user_id).await?;
        // A visitor is only known by its `user_id` until it is fetched: the check comes after,
        // and a refusal names what the model asked for, nothing of what came back.
        if guard::check_read(&self.scope, Read::Contact(&v.id)).is_err() {
            return Err(Stop::Refused(guard::Refusal {
                label: "read_other_contact",
                message: format!(
                    "refused: this run may only read the contacts of conversation {}, and \
                     visitor {} is not one of them.",
                    self.scope.conversation_id,
                    input.user_id.trim()
                ),
            }));
        }
        let in_scope = guard::read_in_scope(&self.scope, Read::Contact(&v.id));
        let text = fields(&[
            ("visitor", Some(v.id.clone())),
            ("user_id", v.user_id.clone()),
            ("name", v.name.clone()),
            ("email", v.email.clone()),
            ("pseudonym", v.pseudonym.clone()),
            ("anonymous", v.anonymous.map(|a| a.to_string())),
            ("created", v.created_at.map(|t| timeline::time(Some(t)))),
            ("custom attributes", attributes(&v.custom_attributes)),
        ]);
        if in_scope {
            self.known.add(&text);
        }
        Ok(text)
    }

    pub(super) async fn get_company(&mut self, input: inputs::GetCompany) -> Result<String, Stop> {
        if !guard::read_in_scope(&self.scope, Read::Company(&input.company_id)) {
            self.learn_companies().await?;
        }
        self.may_read(Read::Company(&input.company_id))?;
        let c = self
            .client
            .retrieve_company(&CompanyId::from(input.company_id.trim()))
            .await?;
        let text = fields(&[
            ("company", Some(c.id.to_string())),
            ("name", c.name.clone()),
            ("company_id", c.company_id.clone()),
            ("plan", c.plan.name.clone()),
            ("website", c.website.clone()),
            ("industry", c.industry.clone()),
            ("size", c.size.map(|s| s.to_string())),
            ("monthly spend", c.monthly_spend.map(|s| s.to_string())),
            ("users", c.user_count.map(|s| s.to_string())),
            ("custom attributes", attributes(&c.custom_attributes)),
        ]);
        if guard::read_in_scope(&self.scope, Read::Company(&input.company_id)) {
            self.known.add(&text);
        } else {
            let website = c.website.as_deref().map(domain);
            let values = [
                c.name.as_deref(),
                c.company_id.as_deref(),
                website,
                c.plan.name.as_deref(),
                c.industry.as_deref(),
            ];
            self.known.add_foreign(&text, values.into_iter().flatten());
        }
        Ok(text)
    }

    pub(super) async fn search_articles(
        &mut self,
        input: inputs::SearchArticles,
    ) -> Result<String, Stop> {
        let found = self.client.search_articles(&input.query).await?;
        if found.data.articles.is_empty() {
            return Ok("no article matches".to_owned());
        }
        Ok(found
            .data
            .articles
            .iter()
            .take(5)
            .map(|a| {
                let body = a
                    .body
                    .as_deref()
                    .map(crate::tools::html::to_text)
                    .unwrap_or_default();
                let excerpt: String = body.chars().take(600).collect();
                format!(
                    "article {} · {} · {}\n  {}\n  {}",
                    a.id,
                    a.title.as_deref().unwrap_or("(untitled)"),
                    a.url.as_deref().unwrap_or("no url"),
                    a.description.as_deref().unwrap_or(""),
                    excerpt.replace('\n', "\n  ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

impl Toolbox {
    /// The guard's word on a read.
    fn may_read(&self, read: Read<'_>) -> Result<(), Stop> {
        guard::check_read(&self.scope, read).map_err(Stop::Refused)
    }

    /// Reads the scope's contacts not read yet, so their companies join the scope.
    async fn learn_companies(&mut self) -> Result<(), Stop> {
        let unread: Vec<String> = self
            .scope
            .contact_ids
            .iter()
            .filter(|c| !self.contacts_learned.contains(*c))
            .cloned()
            .collect();
        for id in unread {
            // The run's own contact is fetched once (see `view`); any other through Intercom.
            let contact = self.contact_for_model(&id).await?;
            self.learn_contact(&contact);
        }
        Ok(())
    }
}

/// What names another customer in their contact: a reply may not repeat it (egress check).
fn contact_values(c: &Contact) -> impl Iterator<Item = &str> {
    let companies = c.companies.data.iter().filter_map(|r| r.name.as_deref());
    [
        c.name.as_deref(),
        c.external_id.as_deref(),
        c.email
            .as_deref()
            .and_then(|e| e.split_once('@'))
            .map(|(_, d)| d),
    ]
    .into_iter()
    .flatten()
    .chain(companies)
}

/// `widgets.example` for `https://www.widgets.example/about`.
fn domain(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    host.strip_prefix("www.").unwrap_or(host)
}

fn contact_text(c: &Contact) -> String {
    let companies: Vec<String> = c
        .companies
        .data
        .iter()
        .map(|r| {
            format!(
                "{} ({})",
                r.name.as_deref().unwrap_or("company"),
                r.id.as_deref().unwrap_or("?")
            )
        })
        .collect();
    let tags: Vec<String> = c
        .tags
        .data
        .iter()
        .map(|r| r.name.clone().or_else(|| r.id.clone()).unwrap_or_default())
        .collect();
    fields(&[
        ("contact", Some(c.id.to_string())),
        ("name", c.name.clone()),
        ("email", c.email.clone()),
        ("role", c.role.clone()),
        ("phone", c.phone.clone()),
        ("external_id", c.external_id.clone()),
        ("custom attributes", attributes(&c.custom_attributes)),
        (
            "companies",
            (!companies.is_empty()).then(|| companies.join(", ")),
        ),
        ("tags", (!tags.is_empty()).then(|| tags.join(", "))),
        ("signed up", c.signed_up_at.map(|t| timeline::time(Some(t)))),
        ("last seen", c.last_seen_at.map(|t| timeline::time(Some(t)))),
    ])
}
