//! The write tools. Each goes through [`Toolbox::perform`]: the guard has already passed; the mode
//! decides (`draft` collects a description for one review note, `shadow` only records); in `live`
//! the write is recorded `started` under its idempotency key before the call and `done` after.
//! A key found `done` returns the recorded result without calling Intercom again; one found
//! `started` (or a call whose response was lost) is first reconciled by reading the conversation:
//! a part by the bot with the same text, or the state already reached, means the write landed.

use serde_json::{Value, json};

use super::{
    Effect, Stop, Toolbox,
    perform::{Done, Landed},
};
use crate::{
    ids::{AdminId, ContactId, TeamId},
    intercom::{
        directory_cache::DirectoryList,
        models::{Conversation, TagId, TicketTypeId},
        requests::{AdminReply, CreateTicket, ManageConversation, TicketContact},
    },
    playbook::Mode,
    store::actions,
    tools::{ToolName, guard, inputs},
};

/// The longest snooze a model may set.
const MAX_SNOOZE_SECS: i64 = 90 * 24 * 3600;

impl Toolbox {
    pub(super) async fn reply(&mut self, tool: ToolName, args: Value) -> Result<String, Stop> {
        let input: inputs::Message = super::parse(tool, args)?;
        let body = input.body.trim().to_owned();
        let canonical = json!({"conversation_id": input.conversation_id, "body": body});
        if self
            .earlier_replies
            .remove(&actions::key(self.run_id, tool.as_str(), &canonical))
        {
            // An earlier attempt of this run made this very reply: already counted, and repeated
            // below as a no-op.
            self.tally.replies = self.tally.replies.saturating_sub(1);
        }
        self.guard(tool, &input.conversation_id, None)?;
        if body.is_empty() {
            return Err(Stop::Invalid("the reply `body` is empty".to_owned()));
        }
        if !self.from_playbook {
            // The model's reply, live or drafted: nothing of another customer in it. A `reply`
            // step is the support lead's own template.
            crate::tools::egress::check(&body, &self.known, &self.reply_links)?;
        }
        let describe = format!("reply to the customer:\n«{body}»");
        // Text, not HTML: the model's markup is escaped, only allowed links are links.
        let html = crate::tools::reply_html::to_html(&body, &self.reply_links);
        let done = self
            .perform(
                tool,
                &input.conversation_id,
                canonical,
                describe,
                Landed::Part(crate::tools::html::to_text(&html)),
                |client, bot, conv| async move {
                    let c = client.reply(&conv, &AdminReply::comment(bot, html)).await?;
                    Ok(new_part(&c))
                },
            )
            .await?;
        self.tally.replies += 1;
        self.effects.push(Effect::Replied);
        Ok(done.text)
    }

    pub(super) async fn note(&mut self, tool: ToolName, args: Value) -> Result<String, Stop> {
        let input: inputs::Message = super::parse(tool, args)?;
        self.guard(tool, &input.conversation_id, None)?;
        let body = input.body.trim().to_owned();
        if body.is_empty() {
            return Err(Stop::Invalid("the note `body` is empty".to_owned()));
        }
        let done = self.post_note(&input.conversation_id, body).await?;
        self.effects.push(Effect::Noted);
        Ok(done.text)
    }

    async fn post_note(&mut self, conversation: &str, body: String) -> Result<Done, Stop> {
        self.perform(
            ToolName::AddNote,
            conversation,
            json!({"conversation_id": conversation, "body": body}),
            format!("internal note:\n«{body}»"),
            Landed::Part(body.clone()),
            |client, bot, conv| async move {
                let c = client.reply(&conv, &AdminReply::note(bot, body)).await?;
                Ok(new_part(&c))
            },
        )
        .await
    }

    pub(super) async fn manage(&mut self, tool: ToolName, args: Value) -> Result<String, Stop> {
        let (conversation, action, canonical, describe, landed, effect) = match tool {
            ToolName::CloseConversation | ToolName::OpenConversation => {
                let input: inputs::ConversationRef = super::parse(tool, args)?;
                let closing = tool == ToolName::CloseConversation;
                let action = if closing {
                    ManageConversation::close(self.bot.clone(), None)
                } else {
                    ManageConversation::open(self.bot.clone())
                };
                (
                    input.conversation_id.clone(),
                    action,
                    json!({"conversation_id": input.conversation_id}),
                    if closing {
                        "close the conversation"
                    } else {
                        "reopen the conversation"
                    }
                    .to_owned(),
                    Landed::State(if closing { "closed" } else { "open" }),
                    if closing {
                        Effect::Closed
                    } else {
                        Effect::Opened
                    },
                )
            }
            ToolName::SnoozeConversation => {
                let input: inputs::Snooze = super::parse(tool, args)?;
                let until = snooze_until(&input)?;
                (
                    input.conversation_id.clone(),
                    ManageConversation::snooze(self.bot.clone(), until),
                    // The key names what was asked (a duration is not turned into `now + d`),
                    // so a retried snooze finds its first attempt.
                    json!({"conversation_id": input.conversation_id,
                           "until": input.until, "duration": input.duration.as_deref().map(str::trim)}),
                    format!(
                        "snooze the conversation until {}",
                        crate::tools::timeline::time(Some(until))
                    ),
                    Landed::State("snoozed"),
                    Effect::Snoozed { until },
                )
            }
            _ => {
                let input: inputs::Assign = super::parse(tool, args)?;
                let (action, who) = match (input.team.as_deref(), input.admin.as_deref()) {
                    (Some(team), None) => {
                        let id = self
                            .resolve(DirectoryList::Teams, "team", "unknown_team", team)
                            .await?;
                        let name = self.name_of_team(&id);
                        (
                            ManageConversation::assign_team(
                                self.bot.clone(),
                                Some(&TeamId::from(id.as_str())),
                                None,
                            ),
                            format!("team {name} ({id})"),
                        )
                    }
                    (None, Some(admin)) => {
                        let id = self
                            .resolve(DirectoryList::Admins, "teammate", "unknown_admin", admin)
                            .await?;
                        (
                            ManageConversation::assign_admin(
                                self.bot.clone(),
                                Some(&AdminId::from(id.as_str())),
                                None,
                            ),
                            format!("teammate {id}"),
                        )
                    }
                    _ => {
                        return Err(Stop::Invalid(
                            "give exactly one of `team` or `admin`".to_owned(),
                        ));
                    }
                };
                (
                    input.conversation_id.clone(),
                    action,
                    json!({"conversation_id": input.conversation_id, "assignee": who}),
                    format!("assign the conversation to {who}"),
                    Landed::Unknowable,
                    Effect::Assigned,
                )
            }
        };
        self.guard(tool, &conversation, None)?;
        let done = self
            .perform(
                tool,
                &conversation,
                canonical,
                describe,
                landed,
                |client, _, conv| async move {
                    client.manage_conversation(&conv, &action).await?;
                    Ok(Done {
                        reference: None,
                        text: String::new(),
                    })
                },
            )
            .await?;
        self.effects.push(effect);
        Ok(done.text)
    }

    pub(super) async fn tag(&mut self, tool: ToolName, args: Value) -> Result<String, Stop> {
        let input: inputs::TagRef = super::parse(tool, args)?;
        self.guard(tool, &input.conversation_id, None)?;
        let id = if self.from_playbook {
            // A tag named in the playbook itself is created on first use (live mode only); no
            // refresh first: creating finds an existing tag of that name too.
            let tags = self.list(DirectoryList::Tags).await?;
            match guard::resolve("tag", "unknown_tag", &input.tag, &tags) {
                Ok(id) => id.to_owned(),
                Err(_) if self.mode_for(tool) == Mode::Live => {
                    let tag = self.client.create_or_find_tag(input.tag.trim()).await?;
                    self.tags_changed().await;
                    tag.id.to_string()
                }
                Err(_) => input.tag.trim().to_owned(),
            }
        } else {
            self.resolve(DirectoryList::Tags, "tag", "unknown_tag", &input.tag)
                .await?
        };
        let adding = tool == ToolName::TagConversation;
        let done = self
            .perform(
                tool,
                &input.conversation_id,
                json!({"conversation_id": input.conversation_id, "tag": id}),
                format!(
                    "{} tag {} ({id})",
                    if adding { "add" } else { "remove" },
                    input.tag
                ),
                Landed::Unknowable,
                |client, bot, conv| async move {
                    let tag = TagId::from(id.as_str());
                    if adding {
                        client.attach_tag(&conv, &tag, &bot).await?;
                    } else {
                        client.detach_tag(&conv, &tag, &bot).await?;
                    }
                    Ok(Done {
                        reference: Some(id),
                        text: String::new(),
                    })
                },
            )
            .await?;
        if self.mode_for(tool) == Mode::Live
            && let Some(id) = done.reference.as_deref()
        {
            let name = self
                .name_in(DirectoryList::Tags, id)
                .unwrap_or_else(|| input.tag.trim().to_owned());
            self.view.tagged(id, &name, adding);
        }
        self.effects.push(if adding {
            Effect::Tagged
        } else {
            Effect::Untagged
        });
        Ok(done.text)
    }

    pub(super) async fn create_ticket(
        &mut self,
        tool: ToolName,
        args: Value,
    ) -> Result<String, Stop> {
        let input: inputs::CreateTicket = super::parse(tool, args)?;
        let contact = input
            .contact_id
            .clone()
            .or_else(|| self.scope.contact_ids.first().cloned())
            .ok_or_else(|| Stop::Invalid("the conversation has no contact".to_owned()))?;
        self.guard(tool, &input.conversation_id, Some(&contact))?;
        let type_id = self
            .resolve(
                DirectoryList::TicketTypes,
                "ticket type",
                "unknown_ticket_type",
                &input.ticket_type,
            )
            .await?;
        let (title, description) = (
            input.title.trim().to_owned(),
            input.description.trim().to_owned(),
        );
        if title.is_empty() {
            return Err(Stop::Invalid("the ticket `title` is empty".to_owned()));
        }
        let done = self
            .perform(
                tool,
                &input.conversation_id,
                json!({"conversation_id": input.conversation_id, "ticket_type": type_id,
                       "contact_id": contact, "title": title, "description": description}),
                format!(
                    "create a ticket of type {} for contact {contact}:\ntitle «{title}»\ndescription «{description}»",
                    input.ticket_type
                ),
                Landed::Unknowable,
                |client, _, conv| async move {
                    let ticket = client
                        .create_ticket(
                            &CreateTicket::new(
                                TicketTypeId::from(type_id.as_str()),
                                TicketContact::Id { id: ContactId::from(contact) },
                                title,
                                description,
                            )
                            .linked_to(conv),
                        )
                        .await?;
                    let number = ticket.ticket_id.clone().unwrap_or_else(|| ticket.id.to_string());
                    Ok(Done {
                        reference: Some(format!("{}#{}", ticket.id, number)),
                        text: format!(
                            "Created ticket #{number} (id {}), linked to the conversation. \
                             Tell the customer its number.",
                            ticket.id
                        ),
                    })
                },
            )
            .await?;
        let (id, number) = match done.reference.as_deref().and_then(|r| r.split_once('#')) {
            Some((id, number)) => (id.to_owned(), Some(number.to_owned())),
            None => (String::new(), None),
        };
        self.effects.push(Effect::TicketCreated { id, number });
        Ok(done.text)
    }

    pub(super) async fn hand_off(&mut self, tool: ToolName, args: Value) -> Result<String, Stop> {
        let input: inputs::HandOff = super::parse(tool, args)?;
        self.guard(tool, &input.conversation_id, None)?;
        let team = self
            .resolve(DirectoryList::Teams, "team", "unknown_team", &input.team)
            .await?;
        let name = self.name_of_team(&team);
        let reason = input.reason.trim().to_owned();
        self.post_note(
            &input.conversation_id,
            format!("Handed over by triaged to {name}: {reason}"),
        )
        .await?;
        let action = ManageConversation::assign_team(
            self.bot.clone(),
            Some(&TeamId::from(team.as_str())),
            None,
        );
        self.perform(
            ToolName::AssignConversation,
            &input.conversation_id,
            json!({"conversation_id": input.conversation_id, "assignee": format!("team {team}")}),
            format!("assign the conversation to team {name} ({team})"),
            Landed::Unknowable,
            |client, _, conv| async move {
                client.manage_conversation(&conv, &action).await?;
                Ok(Done {
                    reference: None,
                    text: String::new(),
                })
            },
        )
        .await?;
        if self.mode_for(tool) == Mode::Live {
            self.db.hand_off(&input.conversation_id, &reason).await?;
        }
        self.effects.push(Effect::HandedOff);
        Ok(format!(
            "Handed off to {name}: a note with the reason was added and the conversation assigned. \
             Do not reply further."
        ))
    }

    fn guard(&self, tool: ToolName, conversation: &str, contact: Option<&str>) -> Result<(), Stop> {
        // The allowlist was checked on the model's call; a playbook step is allowed by the playbook.
        guard::check_target(&self.scope, &self.tally, tool, Some(conversation), contact)?;
        Ok(())
    }
}

/// The part a reply or manage call made (the response carries only the new part).
pub(super) fn new_part(c: &Conversation) -> Done {
    let id = c.parts().last().map(|p| p.id.clone());
    Done {
        text: match &id {
            Some(id) => format!("Done (part {id})."),
            None => "Done.".to_owned(),
        },
        reference: id,
    }
}

fn snooze_until(input: &inputs::Snooze) -> Result<i64, Stop> {
    let now = jiff::Timestamp::now().as_second();
    let until = match (input.until, input.duration.as_deref()) {
        (Some(until), None) => until,
        (None, Some(d)) => {
            let d = humantime::parse_duration(d.trim()).map_err(|e| {
                Stop::Invalid(format!(
                    "`duration` {d:?} is not a duration like 3d or 12h ({e})"
                ))
            })?;
            now + i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
        }
        _ => {
            return Err(Stop::Invalid(
                "give exactly one of `duration` (e.g. 3d) or `until` (Unix seconds)".to_owned(),
            ));
        }
    };
    if until <= now || until > now + MAX_SNOOZE_SECS {
        return Err(Stop::Invalid(
            "a snooze must end in the future and within 90 days".to_owned(),
        ));
    }
    Ok(until)
}
