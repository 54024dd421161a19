//! The egress check on customer-visible text: a reply the model wrote may mention email
//! addresses, phone numbers and Intercom ids only when they came from what concerns this
//! customer — the triggering conversation, its contacts, their companies, the workspace
//! directories, the run's own writes (a ticket it filed) and the playbook's own text. Anything
//! else is another customer's data the model read (under `agent.reads: workspace`) or made up, and
//! the reply is refused with a message the model can read.
//!
//! Pure: [`Known`] is filled by the toolbox as the run reads; [`check`] looks at one reply. Words
//! are not compared (a reply is the model's own prose); only the tokens that identify a person or
//! a record are.

use std::{collections::HashSet, sync::LazyLock};

use regex::Regex;

use super::guard::Refusal;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .unwrap_or_else(|e| unreachable!("a fixed regex: {e}"))
});
/// 24 hex digits: Intercom's contact, company and article-style ids.
static HEX_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[0-9a-fA-F]{24}\b").unwrap_or_else(|e| unreachable!("a fixed regex: {e}"))
});
/// A run of digits, maybe with the separators of a phone number.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+?\(?\d[\d ().-]*\d").unwrap_or_else(|e| unreachable!("a fixed regex: {e}"))
});
/// A link: the ids in its path are pages (help-center articles), not people; its emails are
/// still checked.
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"https?://[^\s<>]+").unwrap_or_else(|e| unreachable!("a fixed regex: {e}"))
});
/// Dates and times are not ids: `2026-12-02`, `02/12/2026`, `12.02.26`.
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})$")
        .unwrap_or_else(|e| unreachable!("a fixed regex: {e}"))
});

/// Fewer digits than this are amounts, counts or short order numbers, not ids or phones.
const MIN_DIGITS: usize = 6;

/// What the run may quote back to the customer.
#[derive(Debug, Clone, Default)]
pub struct Known {
    emails: HashSet<String>,
    hex_ids: HashSet<String>,
    numbers: HashSet<String>,
}

impl Known {
    /// Everything that identifies someone or something in `text` becomes quotable.
    pub fn add(&mut self, text: &str) {
        let (emails, hex_ids, numbers) = tokens(text);
        self.emails.extend(emails);
        self.hex_ids.extend(hex_ids);
        self.numbers.extend(numbers);
    }

    /// One number is the other with or without a country code or a trunk `0`
    /// (`+44 20 7946 0958` is `020 7946 0958`).
    fn knows_number(&self, digits: &str) -> bool {
        let digits = digits.trim_start_matches('0');
        !digits.is_empty()
            && self
                .numbers
                .iter()
                .map(|k| k.trim_start_matches('0'))
                .any(|k| !k.is_empty() && (k.contains(digits) || digits.contains(k)))
    }
}

/// Email addresses (lowercased), 24-hex ids (lowercased) and digit runs of [`MIN_DIGITS`] or more
/// (digits only) in `text`, with emails taken out before ids and numbers are looked for.
fn tokens(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let emails: Vec<String> = EMAIL
        .find_iter(text)
        .map(|m| m.as_str().to_lowercase())
        .collect();
    let rest = EMAIL.replace_all(text, " ");
    let hex_ids: Vec<String> = HEX_ID
        .find_iter(&rest)
        .map(|m| m.as_str().to_lowercase())
        .collect();
    let rest = HEX_ID.replace_all(&rest, " ");
    let rest = URL.replace_all(&rest, " ");
    let numbers = NUMBER
        .find_iter(&rest)
        .filter(|m| !DATE.is_match(m.as_str().trim_matches(|c: char| !c.is_ascii_digit())))
        .map(|m| {
            m.as_str()
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|d| d.len() >= MIN_DIGITS)
        .collect();
    (emails, hex_ids, numbers)
}

/// Refuses `reply` when it names an email address, an id or a phone-like number `known` does not
/// hold.
pub fn check(reply: &str, known: &Known) -> Result<(), Refusal> {
    let (emails, hex_ids, numbers) = tokens(reply);
    let refuse = |label: &'static str, what: &str, value: &str| Refusal {
        label,
        message: format!(
            "refused: the reply contains {what} ({value}) that does not come from this \
             conversation, its contacts or their companies. A reply may only mention this \
             customer's own details: remove it and reply again (or leave a note for the team)."
        ),
    };
    if let Some(e) = emails.iter().find(|e| !known.emails.contains(*e)) {
        return Err(refuse("egress_email", "an email address", e));
    }
    if let Some(id) = hex_ids.iter().find(|id| !known.hex_ids.contains(*id)) {
        return Err(refuse("egress_id", "an id", id));
    }
    if let Some(n) = numbers.iter().find(|n| !known.knows_number(n)) {
        return Err(refuse("egress_number", "a phone number or id", n));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        let mut k = Known::default();
        k.add(
            "conversation 215000001\ncontact 6762f1261bb69f9f21930001 · Priya Sharma \
             <priya@crumb.example>\nHi, I was charged twice (order #A-5531, ref 48213377). \
             Call me on +44 20 7946 0958.",
        );
        k.add("article 910001 · How refunds work · https://intercom.help/acme/en/articles/910001");
        k
    }

    #[test]
    fn ordinary_replies_pass() {
        let k = known();
        for reply in [
            "Hi Priya, sorry about the double charge. The refund reaches you within 3-5 business days.",
            "See https://intercom.help/acme/en/articles/910001 for how refunds work.",
            "And https://intercom.help/acme/en/articles/910777-refund-timelines too.",
            "We refunded order #A-5531 (reference 48213377) of $29.00 on 2026-12-02 at 14:30.",
            "It arrives by (2026-12-09) or 09/12/2026.",
            "We will email you at Priya@Crumb.example and call 020 7946 0958 if needed.",
            "Your conversation 215000001 is with Billing now; 120 seats, 10 000 users.",
        ] {
            assert_eq!(check(reply, &k), Ok(()), "{reply}");
        }
    }

    #[test]
    fn another_customers_email_id_or_phone_is_refused() {
        let k = known();
        let label = |reply: &str| check(reply, &k).unwrap_err().label;
        assert_eq!(
            label("Daniel is at daniel@widgets.example."),
            "egress_email"
        );
        assert_eq!(
            label("Contact 6762f1261bb69f9f21930002 wrote too."),
            "egress_id"
        );
        assert_eq!(label("Call +1 (555) 010-2345."), "egress_number");
        assert_eq!(label("See conversation 215000002."), "egress_number");
        let err = check("mail daniel@widgets.example", &k).unwrap_err();
        assert!(
            err.message.contains("(daniel@widgets.example)"),
            "{}",
            err.message
        );
    }
}
