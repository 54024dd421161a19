//! Request bodies of the write operations, typed so that what goes on the wire is what the spec
//! wants (API_FACTS §3, §9): `admin_id` as a string, snooze as `message_type:"snoozed"` without
//! `type`, assignment with `type:"admin"|"team"` and `"0"` to unassign, untag's `{admin_id}`.
//! Constructors are the only way to build the manage bodies, so an invalid combination cannot be
//! sent.

use std::collections::BTreeMap;

use serde::Serialize;

use super::models::{TagId, TicketTypeId};
use crate::ids::{AdminId, ContactId, ConversationId, TeamId};

/// `"admin"`: the only `type` admin replies and closes accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminType {
    Admin,
}

/// Comment (customer-visible) or note (internal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    Comment,
    Note,
}

/// `POST /conversations/{id}/reply` as an admin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminReply {
    pub message_type: ReplyKind,
    #[serde(rename = "type")]
    pub kind: AdminType,
    pub admin_id: AdminId,
    /// Notes accept some HTML.
    pub body: String,
    /// At most 10 (spec `maxItems`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachment_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_notifications: Option<bool>,
}

impl AdminReply {
    /// A customer-visible reply.
    pub fn comment(admin_id: AdminId, body: impl Into<String>) -> Self {
        Self::new(ReplyKind::Comment, admin_id, body.into())
    }

    /// An internal note.
    pub fn note(admin_id: AdminId, body: impl Into<String>) -> Self {
        Self::new(ReplyKind::Note, admin_id, body.into())
    }

    fn new(message_type: ReplyKind, admin_id: AdminId, body: String) -> Self {
        Self {
            message_type,
            kind: AdminType::Admin,
            admin_id,
            body,
            attachment_urls: Vec::new(),
            skip_notifications: None,
        }
    }
}

/// Whom an assignment targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssigneeType {
    Admin,
    Team,
}

/// `POST /conversations/{id}/parts`: close, snooze, open or assign.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "message_type", rename_all = "snake_case")]
pub enum ManageConversation {
    Close {
        #[serde(rename = "type")]
        kind: AdminType,
        admin_id: AdminId,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// The wire value is `snoozed`, and this body has no `type`.
    Snoozed {
        admin_id: AdminId,
        /// Unix seconds at which the conversation reopens.
        snoozed_until: i64,
    },
    Open {
        admin_id: AdminId,
    },
    Assignment {
        #[serde(rename = "type")]
        kind: AssigneeType,
        admin_id: AdminId,
        /// An admin or team id; `"0"` unassigns.
        assignee_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
}

/// The `assignee_id` that means "nobody".
const UNASSIGNED: &str = "0";

impl ManageConversation {
    /// Close, optionally leaving a message.
    pub fn close(admin_id: AdminId, body: Option<String>) -> Self {
        Self::Close {
            kind: AdminType::Admin,
            admin_id,
            body,
        }
    }

    /// Snooze until `until` (Unix seconds).
    pub fn snooze(admin_id: AdminId, until: i64) -> Self {
        Self::Snoozed {
            admin_id,
            snoozed_until: until,
        }
    }

    /// Reopen.
    pub fn open(admin_id: AdminId) -> Self {
        Self::Open { admin_id }
    }

    /// Assign to an admin, or unassign the admin with `None`.
    pub fn assign_admin(
        admin_id: AdminId,
        assignee: Option<&AdminId>,
        body: Option<String>,
    ) -> Self {
        Self::Assignment {
            kind: AssigneeType::Admin,
            admin_id,
            assignee_id: assignee.map_or_else(|| UNASSIGNED.to_owned(), |a| a.0.clone()),
            body,
        }
    }

    /// Assign to a team, or unassign the team with `None`.
    pub fn assign_team(admin_id: AdminId, team: Option<&TeamId>, body: Option<String>) -> Self {
        Self::Assignment {
            kind: AssigneeType::Team,
            admin_id,
            assignee_id: team.map_or_else(|| UNASSIGNED.to_owned(), |t| t.0.clone()),
            body,
        }
    }

    /// The `message_type` label (for logs and spans).
    pub fn action(&self) -> &'static str {
        match self {
            Self::Close { .. } => "close",
            Self::Snoozed { .. } => "snoozed",
            Self::Open { .. } => "open",
            Self::Assignment { .. } => "assignment",
        }
    }
}

/// `POST /conversations/{id}/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachTag {
    pub id: TagId,
    pub admin_id: AdminId,
}

/// `DELETE /conversations/{id}/tags/{tag_id}`: the body a DELETE must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetachTag {
    pub admin_id: AdminId,
}

/// `POST /tags`: creates the tag, or returns the existing one (names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateTag {
    pub name: String,
}

/// How a ticket names its contact (only one is allowed today).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TicketContact {
    Id {
        id: ContactId,
    },
    ExternalId {
        external_id: String,
    },
    /// An unknown email creates a contact.
    Email {
        email: String,
    },
}

/// Who a new ticket is assigned to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TicketAssignment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_assignee_id: Option<AdminId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_assignee_id: Option<TeamId>,
}

/// `POST /tickets`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateTicket {
    pub ticket_type_id: TicketTypeId,
    /// Exactly one today (the API rejects more).
    pub contacts: Vec<TicketContact>,
    /// `_default_title_`, `_default_description_` and any type-specific attributes.
    pub ticket_attributes: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_to_link_id: Option<ConversationId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment: Option<TicketAssignment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_notifications: Option<bool>,
}

impl CreateTicket {
    /// A ticket for one contact with a title and a description.
    pub fn new(
        ticket_type_id: TicketTypeId,
        contact: TicketContact,
        title: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        let mut ticket_attributes = BTreeMap::new();
        ticket_attributes.insert("_default_title_".to_owned(), title.into().into());
        ticket_attributes.insert(
            "_default_description_".to_owned(),
            description.into().into(),
        );
        Self {
            ticket_type_id,
            contacts: vec![contact],
            ticket_attributes,
            conversation_to_link_id: None,
            assignment: None,
            skip_notifications: None,
        }
    }

    /// Links the ticket to a conversation.
    pub fn linked_to(mut self, conversation: ConversationId) -> Self {
        self.conversation_to_link_id = Some(conversation);
        self
    }

    /// Assigns the ticket on creation.
    pub fn assigned(mut self, assignment: TicketAssignment) -> Self {
        self.assignment = Some(assignment);
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wire<T: Serialize>(body: &T) -> serde_json::Value {
        serde_json::to_value(body).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn snooze_is_message_type_snoozed_with_no_type_field() {
        let body = ManageConversation::snooze(AdminId::from("991267710"), 1_734_541_187);
        assert_eq!(
            wire(&body),
            json!({"message_type": "snoozed", "admin_id": "991267710", "snoozed_until": 1734541187})
        );
    }

    #[test]
    fn close_and_open_match_the_spec_bodies() {
        let admin = AdminId::from("1");
        assert_eq!(
            wire(&ManageConversation::close(
                admin.clone(),
                Some("Goodbye :)".into())
            )),
            json!({"message_type": "close", "type": "admin", "admin_id": "1", "body": "Goodbye :)"})
        );
        assert_eq!(
            wire(&ManageConversation::close(admin.clone(), None)),
            json!({"message_type": "close", "type": "admin", "admin_id": "1"})
        );
        assert_eq!(
            wire(&ManageConversation::open(admin)),
            json!({"message_type": "open", "admin_id": "1"})
        );
    }

    #[test]
    fn assignment_names_admin_or_team_and_none_unassigns_with_zero() {
        let me = AdminId::from("7");
        assert_eq!(
            wire(&ManageConversation::assign_admin(
                me.clone(),
                Some(&AdminId::from("42")),
                None
            )),
            json!({"message_type": "assignment", "type": "admin", "admin_id": "7", "assignee_id": "42"})
        );
        assert_eq!(
            wire(&ManageConversation::assign_team(
                me.clone(),
                Some(&TeamId::from("5017691")),
                Some("over to you".into())
            )),
            json!({"message_type": "assignment", "type": "team", "admin_id": "7", "assignee_id": "5017691", "body": "over to you"})
        );
        assert_eq!(
            wire(&ManageConversation::assign_team(me, None, None))["assignee_id"],
            json!("0")
        );
    }

    #[test]
    fn replies_send_admin_id_as_a_string_and_omit_empty_extras() {
        assert_eq!(
            wire(&AdminReply::note(
                AdminId::from("3156780"),
                "<b>internal</b>"
            )),
            json!({"message_type": "note", "type": "admin", "admin_id": "3156780", "body": "<b>internal</b>"})
        );
        assert_eq!(
            wire(&AdminReply::comment(AdminId::from("1"), "Hi"))["message_type"],
            json!("comment")
        );
    }

    #[test]
    fn tag_bodies_carry_the_ids_the_spec_requires() {
        assert_eq!(
            wire(&AttachTag {
                id: TagId::from("86"),
                admin_id: AdminId::from("456")
            }),
            json!({"id": "86", "admin_id": "456"})
        );
        assert_eq!(
            wire(&DetachTag {
                admin_id: AdminId::from("456")
            }),
            json!({"admin_id": "456"})
        );
    }

    #[test]
    fn a_ticket_has_one_contact_default_title_and_description_and_a_link() {
        let body = CreateTicket::new(
            TicketTypeId::from("67"),
            TicketContact::Id {
                id: ContactId::from("6762f0d0"),
            },
            "Refund",
            "Charged twice",
        )
        .linked_to(ConversationId::from("503"))
        .assigned(TicketAssignment {
            admin_assignee_id: None,
            team_assignee_id: Some(TeamId::from("9")),
        });
        assert_eq!(
            wire(&body),
            json!({
                "ticket_type_id": "67",
                "contacts": [{"id": "6762f0d0"}],
                "ticket_attributes": {"_default_title_": "Refund", "_default_description_": "Charged twice"},
                "conversation_to_link_id": "503",
                "assignment": {"team_assignee_id": "9"}
            })
        );
        assert_eq!(
            wire(&TicketContact::Email {
                email: "a@b.c".into()
            }),
            json!({"email": "a@b.c"})
        );
    }
}
