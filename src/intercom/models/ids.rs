//! Id newtypes the client needs beyond [`crate::ids`]: tags, tickets, ticket types, companies,
//! articles. Like those, each deserializes from a JSON string or number and is kept as a string.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

macro_rules! client_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as Intercom spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                crate::ids::string_or_number(de).map(Self)
            }
        }
    };
}

client_id!(
    /// An Intercom tag id.
    TagId
);
client_id!(
    /// A ticket's internal `id` (not the `ticket_id` shown in the Inbox, API_FACTS §9.11).
    TicketId
);
client_id!(
    /// A ticket type id.
    TicketTypeId
);
client_id!(
    /// Intercom's own company `id` (not the workspace's `company_id`).
    CompanyId
);
client_id!(
    /// A help-center article id.
    ArticleId
);
