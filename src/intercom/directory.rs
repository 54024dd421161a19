//! Workspace directory operations: the current admin, admins, teams, tags, ticket types, and
//! ticket creation.

use reqwest::Method;

use super::{
    IntercomClient, IntercomError,
    models::{AdminList, AdminWithApp, Tag, TagList, TeamList, Ticket, TicketTypeList},
    requests::{CreateTag, CreateTicket},
    transport::{Call, CallKind},
};

impl IntercomClient {
    /// `GET /me`: the admin owning the token, with its workspace and region.
    #[tracing::instrument(skip_all)]
    pub async fn me(&self) -> Result<AdminWithApp, IntercomError> {
        self.execute(Call::get("/me".to_owned())).await
    }

    /// `GET /admins`.
    #[tracing::instrument(skip_all)]
    pub async fn list_admins(&self) -> Result<AdminList, IntercomError> {
        self.execute(Call::get("/admins".to_owned())).await
    }

    /// `GET /teams`.
    #[tracing::instrument(skip_all)]
    pub async fn list_teams(&self) -> Result<TeamList, IntercomError> {
        self.execute(Call::get("/teams".to_owned())).await
    }

    /// `GET /tags`.
    #[tracing::instrument(skip_all)]
    pub async fn list_tags(&self) -> Result<TagList, IntercomError> {
        self.execute(Call::get("/tags".to_owned())).await
    }

    /// `POST /tags {name}`: returns the tag of that name (names are case-insensitive), creating
    /// it if needed. Idempotent, so it is retried like a read after an ambiguous failure.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn create_or_find_tag(&self, name: &str) -> Result<Tag, IntercomError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(IntercomError::InvalidRequest(
                "a tag name cannot be empty".to_owned(),
            ));
        }
        let body = CreateTag {
            name: name.to_owned(),
        };
        let call = Call::with_body(Method::POST, "/tags".to_owned(), CallKind::Read, &body)?;
        self.execute(call).await
    }

    /// `GET /ticket_types`.
    #[tracing::instrument(skip_all)]
    pub async fn list_ticket_types(&self) -> Result<TicketTypeList, IntercomError> {
        self.execute(Call::get("/ticket_types".to_owned())).await
    }

    /// `POST /tickets`. Exactly one contact is accepted (the API allows no more today).
    #[tracing::instrument(skip_all, fields(ticket_type_id = %ticket.ticket_type_id))]
    pub async fn create_ticket(&self, ticket: &CreateTicket) -> Result<Ticket, IntercomError> {
        if ticket.contacts.len() != 1 {
            return Err(IntercomError::InvalidRequest(format!(
                "a ticket needs exactly one contact, got {}",
                ticket.contacts.len()
            )));
        }
        let call = Call::with_body(Method::POST, "/tickets".to_owned(), CallKind::Write, ticket)?;
        self.execute(call).await
    }
}
