//! Typed ids shared by every stage. Intercom sends most ids as strings but some as numbers (the
//! spec's own examples disagree with its schemas, API_FACTS §10), so each id deserializes from
//! either and is kept as a string.

use serde::{Deserialize, Deserializer};

/// Deserializes a JSON string or number into a `String`.
pub fn string_or_number<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        I(i64),
        U(u64),
        F(f64),
    }
    Ok(match Raw::deserialize(de)? {
        Raw::S(s) => s,
        Raw::I(i) => i.to_string(),
        Raw::U(u) => u.to_string(),
        Raw::F(f) => f.to_string(),
    })
}

/// Like [`string_or_number`], for optional fields; `null` stays `None`.
pub fn opt_string_or_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "string_or_number")] String);
    Ok(Option::<Wrap>::deserialize(de)?.map(|w| w.0))
}

/// Declares a string id newtype that deserializes from a JSON string or number.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as Intercom spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                $crate::ids::string_or_number(de).map(Self)
            }
        }
    };
}
pub(crate) use string_id;

string_id!(
    /// An Intercom conversation id.
    ConversationId
);
string_id!(
    /// An Intercom admin (teammate or bot) id.
    AdminId
);
string_id!(
    /// An Intercom team id.
    TeamId
);
string_id!(
    /// An Intercom contact (user or lead) id.
    ContactId
);
string_id!(
    /// An Intercom notification id (`notif_…`).
    NotificationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_strings_and_numbers() {
        let a: ConversationId = serde_json::from_str("\"123\"").unwrap_or_else(|e| panic!("{e}"));
        let b: ConversationId = serde_json::from_str("123").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&b).ok().as_deref(), Some("\"123\""));
    }
}
