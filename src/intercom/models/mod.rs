//! Typed Intercom REST objects (API version 2.16), as the client hands them to the rest of triaged.
//!
//! Every model tolerates what the real API and the spec's own examples do: unknown fields are
//! ignored, ids arrive as numbers or strings, "unassigned" is `0` or `null` (both become `None`),
//! open-ended strings (`part_type`, author and source types) keep unknown values instead of
//! failing, and anything the spec marks nullable (and lists that may come back `null`) has a
//! default. These types must never reject a response only because Intercom added a value.

mod admin;
mod article;
mod company;
mod contact;
mod conversation;
mod ids;
mod lists;
mod tag;
mod ticket;

pub use admin::{Admin, AdminList, AdminWithApp, App, Team, TeamList};
pub use article::{Article, ArticleHighlight, ArticleSearch, ArticleSearchData};
pub use company::{Company, CompanyPlan, CompanyScrollPage};
pub use contact::{Contact, ContactList, Location, Visitor};
pub use conversation::{
    Attachment, Author, AuthorType, ContactRef, ContactRefs, Conversation, ConversationList,
    ConversationState, Part, PartList, PartType, Source, TeammateRef, Teammates,
};
pub use ids::{ArticleId, CompanyId, TagId, TicketId, TicketTypeId};
pub use lists::{Next, Pages, RefList, Reference};
pub use tag::{Tag, TagList};
pub use ticket::{
    Ticket, TicketState, TicketStateList, TicketType, TicketTypeAttribute, TicketTypeAttributes,
    TicketTypeList,
};

use serde::{Deserialize, Deserializer};

/// `null` (or a missing field, with `#[serde(default)]`) becomes `T::default()`.
pub(crate) fn null_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// An assignee id where `0`, `"0"`, `""` and `null` all mean "unassigned" (API_FACTS §0: 2.16
/// documents `0`, 2.15 documents `null`, and the API has been seen sending both).
pub(crate) fn unassigned<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    let raw = crate::ids::opt_string_or_number(de)?;
    Ok(raw
        .filter(|s| {
            let s = s.trim();
            !s.is_empty() && s != "0"
        })
        .map(T::from))
}

/// Optional string-or-number, kept as a string (`external_id`, `company_id`…).
pub(crate) fn opt_id<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    crate::ids::opt_string_or_number(de)
}
