//! The egress check on customer-visible text: a reply the model wrote may mention email
//! addresses, phone numbers and Intercom ids only when they came from what concerns this
//! customer — the triggering conversation, its contacts, their companies, the workspace
//! directories, the run's own writes (a ticket it filed) and the playbook's own text. Anything
//! else is another customer's data the model read (under `agent.reads: workspace`) or made up, and
//! the reply is refused with a message the model can read.
//!
//! Two more rules. A reply may not reproduce a teammate's **internal note** of the conversation:
//! [`NOTE_WORDS`] words in a row of one of its sentences (or the whole of a shorter sentence)
//! refuse it
//! (`egress_note`), and what a note alone mentions (an email, a number) is not quotable either.
//! Numbers inside **links** are pages (help-center articles), not people, but only on the allowed
//! link domains ([`ReplyLinks`], the help center by default): elsewhere a link's numbers are
//! checked like any other.
//!
//! Pure: [`Known`] is filled by the toolbox as the run reads; [`check`] looks at one reply. Words
//! are compared only with internal notes (a reply is otherwise the model's own prose); elsewhere
//! only the tokens that identify a person or a record are.

mod quotes;

use std::{collections::HashSet, sync::LazyLock};

use regex::Regex;

use super::{guard::Refusal, reply_html::ReplyLinks};

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
/// A link: on an allowed domain, the ids in its path are pages (help-center articles), not
/// people; its emails are still checked.
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

/// A reply repeating this many words of an internal note in a row quotes it. Eight: the model's
/// own wording shares runs of up to six or seven words with a note about the same request
/// ("a refund of the duplicate charge on order"), a quote shares more.
pub const NOTE_WORDS: usize = 8;

/// Note sentences shorter than this many words are not compared ("VIP", "refund approved"): too
/// short to tell a quote from a coincidence. From this length up to [`NOTE_WORDS`], the whole
/// sentence repeated is a quote.
const MIN_NOTE_WORDS: usize = 5;

/// What the run may quote back to the customer.
#[derive(Debug, Clone, Default)]
pub struct Known {
    emails: HashSet<String>,
    hex_ids: HashSet<String>,
    numbers: HashSet<String>,
    /// Teammates' internal notes of the conversation.
    notes: quotes::Runs,
    /// What the run read outside its scope (under `agent.reads: workspace`): text and values.
    foreign_text: quotes::Runs,
    foreign_values: quotes::Values,
    /// Everything quotable, as words: a note or foreign record repeating it reveals nothing.
    scope: quotes::Scope,
}

impl Known {
    /// Everything that identifies someone or something in `text` becomes quotable (the numbers
    /// in its links too: a link the customer gave may be quoted back).
    pub fn add(&mut self, text: &str) {
        self.scope.add(text);
        let (emails, hex_ids, numbers) = tokens(text, &ReplyLinks::none());
        self.emails.extend(emails);
        self.hex_ids.extend(hex_ids);
        self.numbers.extend(numbers);
    }

    /// A teammate's internal note: a reply may not repeat it (see [`NOTE_WORDS`]). What it
    /// mentions is not made quotable.
    pub fn add_note(&mut self, text: &str) {
        self.notes.add(text);
    }

    /// A record the run read outside its scope (another customer's contact, company or
    /// conversation, a workspace search): a reply may not repeat its `text` (as a note) nor name
    /// any of its `values` (names, companies, domains, titles, plans). Its emails, ids and
    /// numbers stay unquotable as they are.
    pub fn add_foreign<'a>(&mut self, text: &str, values: impl IntoIterator<Item = &'a str>) {
        self.foreign_text.add(text);
        for value in values {
            self.foreign_values.add(value);
        }
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
/// (digits only) in `text`, with emails taken out before ids and numbers are looked for, and the
/// links to `skip_links`' domains before numbers are.
fn tokens(text: &str, skip_links: &ReplyLinks) -> (Vec<String>, Vec<String>, Vec<String>) {
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
    let rest = URL.replace_all(&rest, |link: &regex::Captures<'_>| {
        if skip_links.allows(&link[0]) {
            " ".to_owned()
        } else {
            link[0].to_owned()
        }
    });
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

/// Refuses `reply` when it repeats an internal note, or names an email address, an id or a
/// phone-like number `known` does not hold (the numbers in links to `links`' domains aside).
pub fn check(reply: &str, known: &Known, links: &ReplyLinks) -> Result<(), Refusal> {
    let words = quotes::words(reply);
    let scope = known.scope.as_str();
    if let Some(run) = known.notes.find(&words, scope) {
        return Err(Refusal {
            label: "egress_note",
            message: format!(
                "refused: the reply repeats an internal note of this conversation («{run}»). \
                 Internal notes are for the team only: never quote them to the customer. Reply \
                 in your own words without what the note says (or leave a note for the team)."
            ),
        });
    }
    let (emails, hex_ids, numbers) = tokens(reply, links);
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
    let foreign = known
        .foreign_values
        .find(&words, scope)
        .or_else(|| known.foreign_text.find(&words, scope));
    if let Some(value) = foreign {
        return Err(Refusal {
            label: "egress_other_record",
            message: format!(
                "refused: the reply contains «{value}», which comes from a record outside this \
                 conversation (another customer's contact, company or conversation). A reply may \
                 only mention this customer's own details: remove it and reply again (or leave a \
                 note for the team)."
            ),
        });
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
            assert_eq!(check(reply, &k, &ReplyLinks::default()), Ok(()), "{reply}");
        }
    }

    #[test]
    fn another_customers_email_id_or_phone_is_refused() {
        let k = known();
        let label = |reply: &str| check(reply, &k, &ReplyLinks::default()).unwrap_err().label;
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
        let err = check("mail daniel@widgets.example", &k, &ReplyLinks::default()).unwrap_err();
        assert!(
            err.message.contains("(daniel@widgets.example)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_reply_repeating_an_internal_note_is_refused_and_a_few_shared_words_are_not() {
        let mut k = known();
        k.add_note(
            "Suspected fraud: this card was flagged by the bank twice last month. Do not refund \
             before Lena has checked the chargeback history.",
        );
        k.add_note("Do not refund, VIP account.");
        k.add_note("VIP");
        let refused = |reply: &str| check(reply, &k, &ReplyLinks::default()).map_err(|e| e.label);
        assert_eq!(
            refused("Sorry: THIS card was flagged by the bank, twice last month!"),
            Err("egress_note")
        );
        assert_eq!(
            refused("Note: do not refund; VIP account."),
            Err("egress_note"),
            "a short note repeated whole"
        );
        for ordinary in [
            "If the bank charged you twice last month, do not worry: we refund duplicate charges.",
            "You were charged by the bank twice last month, do not worry.",
            "We do not refund VIP upgrades, but your account is fine.",
            "Hi Priya, you are a VIP to us.",
        ] {
            assert_eq!(refused(ordinary), Ok(()), "{ordinary}");
        }
    }

    #[test]
    fn what_only_a_note_mentions_is_not_quotable() {
        let mut k = known();
        k.add_note("Her other account is priya.old@mail.example, phone +1 555 010 9999.");
        let label = |reply: &str| check(reply, &k, &ReplyLinks::default()).unwrap_err().label;
        assert_eq!(label("Is priya.old@mail.example yours?"), "egress_email");
        assert_eq!(label("We will call +1 555 010 9999."), "egress_number");
    }

    #[test]
    fn numbers_in_links_are_skipped_only_on_the_allowed_domains() {
        let k = known();
        let links = ReplyLinks::new(["intercom.help", "shop.example"]);
        let check = |reply: &str| check(reply, &k, &links).map_err(|e| e.label);
        for ordinary in [
            "https://intercom.help/acme/en/articles/910777-refund-timelines",
            "https://help.shop.example/orders/99887766 and https://shop.example/o/12345678",
        ] {
            assert_eq!(check(ordinary), Ok(()), "{ordinary}");
        }
        for leak in [
            "https://tracker.example/conversations/215000002",
            "https://intercom.help.evil.example/u/5550102345",
        ] {
            assert_eq!(check(leak), Err("egress_number"), "{leak}");
        }
        // Credentials in the authority: the host is evil.example (and the "user" an email).
        assert!(check("https://intercom.help@evil.example/u/5550102345").is_err());
        let mut k = known();
        k.add("The customer wrote: see https://tracker.example/orders/77665544");
        assert_eq!(
            super::check(
                "Your order https://tracker.example/orders/77665544",
                &k,
                &links
            ),
            Ok(()),
            "a link the customer gave may be quoted back"
        );
    }

    #[test]
    fn names_and_text_of_a_record_read_outside_the_scope_are_refused() {
        let mut k = known();
        k.add("The customer wrote: is Widgets Ltd a customer of yours?");
        k.add_foreign(
            "Our team gets a 500 error on the checkout page every time, it's reproducible.",
            [
                "Daniel Novak",
                "widgets.example",
                "Enterprise",
                "Widgets Ltd",
                "u-1002",
                "Al",
            ],
        );
        let check = |reply: &str| check(reply, &k, &ReplyLinks::default()).map_err(|e| e.label);
        for leak in [
            "Daniel NOVAK is on it.",
            "They are on the enterprise plan.",
            "See widgets.example.",
            "Ref U-1002.",
            "They said: our team gets a 500 error on the checkout page.",
        ] {
            assert_eq!(check(leak), Err("egress_other_record"), "{leak}");
        }
        for ordinary in [
            "Widgets Ltd is not something I can tell you about.",
            "Hi Priya, Daniela from Billing will help; enterprises too.",
            "Al the best, the team.",
            "Our team will fix the checkout for you.",
        ] {
            assert_eq!(check(ordinary), Ok(()), "{ordinary}");
        }
    }
}
