//! Id newtypes the client needs beyond [`crate::ids`]: tags, tickets, ticket types, companies,
//! articles. Like those, each deserializes from a JSON string or number and is kept as a string.

use crate::ids::string_id;

string_id!(
    /// An Intercom tag id.
    TagId
);
string_id!(
    /// A ticket's internal `id` (not the `ticket_id` shown in the Inbox, API_FACTS §9.11).
    TicketId
);
string_id!(
    /// A ticket type id.
    TicketTypeId
);
string_id!(
    /// Intercom's own company `id` (not the workspace's `company_id`).
    CompanyId
);
string_id!(
    /// A help-center article id.
    ArticleId
);
