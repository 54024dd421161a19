//! Seed data: the readable YAML a workspace starts from (the shipped `demo_workspace.yaml`, or a
//! file the user gives), parsed strictly and checked for dangling references.
//!
//! Pure: it turns text into a [`Workspace`]; it never reads the clock (the caller passes `now`).

mod format;

use format::{SeedConversation, SeedFile};

use super::model::{
    Admin, Article, Author, Company, Contact, Conversation, Part, Source, State, Tag, Team,
    TicketAttribute, TicketType, Visitor, Workspace, to_html,
};

/// The shipped demo workspace.
pub const DEMO_YAML: &str = include_str!("../demo_workspace.yaml");

/// Why a seed was refused; names the offending item.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("seed YAML: {0}")]
    Yaml(String),
    #[error("seed: {0}")]
    Invalid(String),
}

/// Parses a seed and builds the workspace as it stands at `now` (Unix seconds).
pub fn load(yaml: &str, now: i64) -> Result<Workspace, SeedError> {
    let seed: SeedFile =
        serde_saphyr::from_str_with_options(yaml, serde_saphyr::options! { strict_booleans: true })
            .map_err(|e| SeedError::Yaml(e.to_string()))?;
    let ago = |minutes: i64| now - minutes * 60;
    let mut ws = Workspace {
        app_name: seed.app_name,
        next_id: 100_000,
        ..Workspace::default()
    };
    for a in seed.admins {
        numeric("admin", &a.id)?;
        ws.admins.push(Admin {
            id: a.id,
            name: a.name,
            email: a.email,
            job_title: a.job_title,
            bot: a.bot,
            away: a.away,
            team_ids: a.team_ids,
        });
    }
    if ws.admins.iter().filter(|a| a.bot).count() != 1 {
        return Err(invalid(
            "exactly one admin must have `bot: true` (the one /me returns)",
        ));
    }
    for t in seed.teams {
        numeric("team", &t.id)?;
        ws.teams.push(Team {
            id: t.id,
            name: t.name,
            admin_ids: t.admin_ids,
        });
    }
    for c in seed.companies {
        ws.companies.push(Company {
            id: c.id,
            company_id: c.company_id,
            name: c.name,
            plan: c.plan,
            size: c.size,
            website: c.website,
            industry: c.industry,
            monthly_spend: c.monthly_spend,
            custom_attributes: c.custom_attributes,
            created_at: ago(300_000),
        });
    }
    for t in seed.tags {
        numeric("tag", &t.id)?;
        ws.tags.push(Tag {
            id: t.id,
            name: t.name,
        });
    }
    for c in seed.contacts {
        if c.role != "user" && c.role != "lead" {
            return Err(invalid(format!(
                "contact {}: role must be user or lead",
                c.id
            )));
        }
        for company in &c.companies {
            if ws.company(company).is_none() {
                return Err(invalid(format!(
                    "contact {}: unknown company {company}",
                    c.id
                )));
            }
        }
        ws.contacts.push(Contact {
            id: c.id,
            external_id: c.external_id,
            role: c.role,
            email: c.email,
            name: c.name,
            phone: c.phone,
            custom_attributes: c.custom_attributes,
            company_ids: c.companies,
            tag_ids: c.tags,
            created_at: ago(c.minutes_ago),
            merged_into: c.merged_into,
        });
    }
    for v in seed.visitors {
        ws.visitors.push(Visitor {
            id: v.id,
            user_id: v.user_id,
            name: v.name,
            email: v.email,
            created_at: ago(v.minutes_ago),
        });
    }
    for t in seed.ticket_types {
        numeric("ticket type", &t.id)?;
        ws.ticket_types.push(TicketType {
            id: t.id,
            name: t.name,
            description: t.description,
            icon: t.icon,
            category: t.category,
            attributes: t
                .attributes
                .into_iter()
                .map(|a| TicketAttribute {
                    id: a.id,
                    name: a.name,
                    description: a.description,
                    data_type: a.data_type,
                    required_to_create: a.required_to_create,
                    default: a.default,
                })
                .collect(),
            created_at: ago(400_000),
        });
    }
    for a in seed.articles {
        ws.articles.push(Article {
            id: a.id,
            title: a.title,
            description: a.description,
            body: to_html(&a.body),
            author_id: a.author,
            created_at: ago(100_000),
        });
    }
    for c in seed.conversations {
        let conversation = conversation(&mut ws, c, now)?;
        ws.conversations.push(conversation);
    }
    Ok(ws)
}

fn conversation(
    ws: &mut Workspace,
    c: SeedConversation,
    now: i64,
) -> Result<Conversation, SeedError> {
    numeric("conversation", &c.id)?;
    let ago = |minutes: i64| now - minutes * 60;
    let contact = ws.contact(&c.contact).ok_or_else(|| {
        invalid(format!(
            "conversation {}: unknown contact {}",
            c.id, c.contact
        ))
    })?;
    let contact_author = Workspace::contact_author(contact);
    let state = match c.state.as_deref() {
        None | Some("open") => State::Open,
        Some("closed") => State::Closed,
        Some("snoozed") => State::Snoozed,
        Some(other) => return Err(invalid(format!("conversation {}: state {other}", c.id))),
    };
    for (what, id) in [("admin", &c.admin_assignee), ("team", &c.team_assignee)] {
        if let Some(id) = id {
            let known = if what == "admin" {
                ws.admin(id).is_some()
            } else {
                ws.team(id).is_some()
            };
            if !known {
                return Err(invalid(format!(
                    "conversation {}: unknown {what} {id}",
                    c.id
                )));
            }
        }
    }
    let mut parts = Vec::new();
    let mut teammates = Vec::new();
    let mut last_contact_at = Some(ago(c.minutes_ago));
    for p in c.parts {
        let author: Author = match (&p.contact, &p.admin) {
            (Some(id), None) => {
                let contact = ws.contact(id).ok_or_else(|| {
                    invalid(format!("conversation {}: unknown contact {id}", c.id))
                })?;
                last_contact_at = Some(ago(p.minutes_ago));
                Workspace::contact_author(contact)
            }
            (None, Some(id)) => {
                let admin = ws
                    .admin(id)
                    .ok_or_else(|| invalid(format!("conversation {}: unknown admin {id}", c.id)))?;
                if !teammates.contains(id) {
                    teammates.push(id.clone());
                }
                last_contact_at = None;
                ws.admin_author(admin)
            }
            _ => {
                return Err(invalid(format!(
                    "conversation {}: each part needs exactly one of contact, admin",
                    c.id
                )));
            }
        };
        let part_type = p.part_type.unwrap_or_else(|| "comment".to_owned());
        let part_state = match part_type.as_str() {
            "close" => State::Closed,
            "snoozed" => State::Snoozed,
            _ => State::Open,
        };
        parts.push(Part {
            id: ws.new_id(),
            part_type,
            body: p.body.as_deref().map(to_html),
            created_at: ago(p.minutes_ago),
            author,
            assigned_to: None,
            state: part_state,
            app_package_code: None,
        });
    }
    let updated_at = parts.last().map_or(ago(c.minutes_ago), |p| p.created_at);
    let source_id = ws.new_id();
    let tags = c
        .tags
        .iter()
        .map(|id| {
            ws.tag(id)
                .map(|_| super::model::AppliedTag {
                    tag_id: id.clone(),
                    applied_at: ago(c.minutes_ago),
                    applied_by: c.admin_assignee.clone().unwrap_or_default(),
                })
                .ok_or_else(|| invalid(format!("conversation {}: unknown tag {id}", c.id)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Conversation {
        id: c.id,
        title: c.title,
        created_at: ago(c.minutes_ago),
        updated_at,
        waiting_since: if state == State::Open {
            last_contact_at
        } else {
            None
        },
        snoozed_until: None,
        state,
        read: false,
        admin_assignee_id: c.admin_assignee,
        team_assignee_id: c.team_assignee,
        tags,
        source: Source {
            id: source_id,
            delivered_as: "customer_initiated".to_owned(),
            subject: c.subject,
            body: to_html(&c.body),
            author: contact_author,
        },
        contact_ids: vec![c.contact],
        teammate_ids: teammates,
        parts,
        linked_ticket_ids: Vec::new(),
        first_contact_reply_at: Some(ago(c.minutes_ago)),
    })
}

fn numeric(what: &str, id: &str) -> Result<(), SeedError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} id {id:?} must be a numeric string"
        )))
    }
}

fn invalid(message: impl Into<String>) -> SeedError {
    SeedError::Invalid(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_seed_loads_with_a_refund_and_a_checkout_500() {
        let ws = load(DEMO_YAML, 1_800_000_000).unwrap_or_else(|e| panic!("{e}"));
        assert!(ws.bot().is_some());
        let bodies: Vec<&str> = ws
            .conversations
            .iter()
            .map(|c| c.source.body.as_str())
            .collect();
        assert!(bodies.iter().any(|b| b.contains("refund")));
        assert!(
            bodies
                .iter()
                .any(|b| b.contains("500 error on the checkout page") && b.contains("Steps"))
        );
        assert!(ws.ticket_types.iter().any(|t| t.name == "Engineering bug"));
    }

    #[test]
    fn a_dangling_reference_names_the_item() {
        let yaml = DEMO_YAML.replace("contact: \"6762f1261bb69f9f21930003\"", "contact: \"nope\"");
        let err = load(&yaml, 0)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown contact nope"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let yaml = DEMO_YAML.replace("app_name: Acme Demo", "app_name: Acme Demo\ncolour: red");
        assert!(matches!(load(&yaml, 0), Err(SeedError::Yaml(_))));
    }
}
