//! The notification envelope Intercom posts (API_FACTS §1.3). Tolerant of unknown fields; `data.item`
//! stays open-ended JSON here because its shape depends on the topic and is parsed by later stages.
//! The notification id is kept exactly as sent (never through a float) and is never empty.

use serde::{Deserialize, Deserializer, de::Error as _};
use serde_json::{Value, value::RawValue};

use crate::ids::{NotificationId, opt_string_or_number};

/// A webhook topic name, such as `conversation.user.replied`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct Topic(pub String);

impl Topic {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `ping` is sent periodically by Intercom and on demand; it needs no run.
    pub fn is_ping(&self) -> bool {
        self.0 == "ping"
    }
}

/// `{"type":"notification_event","id":"notif_…","topic":…,"data":{"item":{…}}, …}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    /// The id as sent: a string's content, or a number's digits (`1e3` stays `1e3`).
    #[serde(deserialize_with = "exact_id")]
    pub id: NotificationId,
    pub topic: Topic,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub delivery_attempts: Option<i64>,
    #[serde(default)]
    pub first_sent_at: Option<i64>,
    pub data: NotificationData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotificationData {
    pub item: Value,
}

/// The fields of `data.item` ingest looks at.
#[derive(Debug, Deserialize)]
struct ItemHead {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    id: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    conversation_id: Option<String>,
}

/// Reads the id from its JSON text: a number is not converted (a 30-digit id through an `f64`
/// would collapse distinct notifications into one), and an empty id is refused — it cannot tell
/// two notifications apart, so the body is stored `unparsed` instead of deduplicated on it.
fn exact_id<'de, D: Deserializer<'de>>(de: D) -> Result<NotificationId, D::Error> {
    let raw = Box::<RawValue>::deserialize(de)?;
    let text = raw.get();
    let id = match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).map_err(D::Error::custom)?,
        Some(b'-' | b'0'..=b'9') => text.to_owned(),
        _ => {
            return Err(D::Error::custom(format!(
                "the notification id must be a string or a number, not {text}"
            )));
        }
    };
    if id.trim().is_empty() {
        return Err(D::Error::custom("the notification id is empty"));
    }
    Ok(NotificationId(id))
}

impl Notification {
    /// Parses a body; the error text says which envelope field is missing or wrong.
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The conversation the notification is about, when it is about one.
    pub fn conversation_id(&self) -> Option<String> {
        let head = ItemHead::deserialize(&self.data.item).ok()?;
        match head.kind.as_deref() {
            Some("conversation") => head.id,
            _ => head.conversation_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/intercom/examples/");

    fn example(name: &str) -> Vec<u8> {
        std::fs::read(format!("{EXAMPLES}{name}"))
            .unwrap_or_else(|e| panic!("{EXAMPLES}{name} (shared/ must sit beside the repo): {e}"))
    }

    #[test]
    fn parses_the_documented_envelope_and_assembled_conversation_payloads() {
        let body = example("webhook_conversation_user_replied.assembled.json");
        let n = Notification::parse(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.topic.as_str(), "conversation.user.replied");
        assert!(n.id.as_str().starts_with("notif_"));
        assert!(n.conversation_id().is_some());

        let body = example("webhook_envelope_company_created.docs.json");
        let n = Notification::parse(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.topic.as_str(), "company.created");
        assert_eq!(n.conversation_id(), None);
    }

    #[test]
    fn numeric_ids_keep_their_digits_and_empty_ids_are_refused() {
        let with_id = |id: &str| {
            format!(r#"{{"id":{id},"topic":"ping","data":{{"item":{{}}}}}}"#).into_bytes()
        };
        let parsed = Notification::parse(&with_id("123456789012345678901234567890"));
        assert_eq!(
            parsed.map(|n| n.id.0).ok().as_deref(),
            Some("123456789012345678901234567890")
        );
        for bad in [r#""""#, r#"" ""#, "null", "{}", "true"] {
            let error = Notification::parse(&with_id(bad))
                .err()
                .map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .unwrap_or_default()
                    .contains("notification id"),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn a_body_without_the_envelope_fields_is_an_error() {
        assert!(Notification::parse(br#"{"hello":"world"}"#).is_err());
        assert!(Notification::parse(b"not json").is_err());
    }
}
