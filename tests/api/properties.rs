//! Properties over generated inputs (issue 10 Build 8), next to the fuzz targets in `fuzz/`:
//! the guard never lets a write leave its scope, the rate limiter never sends more than a window
//! allows, and HTML-to-text never panics and decodes every entity.

use std::{
    collections::BTreeSet,
    time::{Duration, SystemTime},
};

use proptest::prelude::*;
use triaged::{
    intercom::ratelimit::{Decision, RateHeaders, RateLimiter},
    tools::{
        Access, ToolName,
        guard::{self, Read, Reads, Scope, Tally},
        html, reply_html,
    },
};

fn tool() -> impl Strategy<Value = ToolName> {
    (0..triaged::tools::ALL.len()).prop_map(|i| triaged::tools::ALL[i])
}

/// Ids drawn from a small pool, so targets often (but not always) hit the scope.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("215".to_owned()),
        Just("216".to_owned()),
        "[0-9]{1,4}",
        ""
    ]
}

fn scope() -> impl Strategy<Value = Scope> {
    (
        id(),
        proptest::collection::vec(id(), 0..3),
        proptest::collection::btree_set(tool(), 0..8),
        0u32..3,
    )
        .prop_map(|(conversation_id, contact_ids, allowed, max_replies)| {
            Scope::conversation(&conversation_id, contact_ids)
                .allowing(allowed.into_iter().collect::<BTreeSet<_>>())
                .replies(max_replies)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_guard_never_allows_a_write_outside_the_scope(
        scope in scope(),
        replies in 0u32..4,
        tool in tool(),
        target in proptest::option::of(id()),
        contact in proptest::option::of(id()),
    ) {
        let tally = Tally { replies, writes: 0 };
        let verdict = guard::check(&scope, &tally, tool, target.as_deref(), contact.as_deref());
        if verdict.is_ok() {
            prop_assert!(scope.allowed.contains(&tool), "{tool:?} is not in the allowlist");
            if tool.access() != Access::Read {
                prop_assert!(target.as_deref().is_none_or(|t| t == scope.conversation_id));
                prop_assert!(contact.as_deref().is_none_or(|c| scope.contact_ids.iter().any(|s| s == c)));
                if tool == ToolName::ReplyToConversation {
                    prop_assert!(replies < scope.max_replies);
                }
            }
        } else {
            let refusal = verdict.unwrap_err();
            prop_assert!(!refusal.message.is_empty() && !refusal.label.is_empty());
        }
    }

    /// Whatever a model asks to read: under the default scope only the run's conversation, its
    /// contacts, their companies and the directories are let through (ids as the model may pad
    /// them with spaces), never a workspace search; under `reads: workspace` everything is; and a
    /// refusal always says what was refused, in words the model can read.
    #[test]
    fn the_guard_never_allows_a_read_outside_the_scope(
        scope in scope(),
        companies in proptest::collection::vec(id(), 0..3),
        workspace in any::<bool>(),
        kind in 0u8..5,
        asked in id(),
        pad in prop_oneof![Just(""), Just(" "), Just("\t")],
        search in prop_oneof![Just(ToolName::SearchConversations), Just(ToolName::SearchContacts)],
    ) {
        let mut scope = scope.reading(if workspace { Reads::Workspace } else { Reads::Conversation });
        scope.company_ids = companies;
        let padded = format!("{pad}{asked}{pad}");
        let read = match kind {
            0 => Read::Conversation(&padded),
            1 => Read::Contact(&padded),
            2 => Read::Company(&padded),
            3 => Read::Search(search),
            _ => Read::Directory,
        };
        let in_scope = match kind {
            0 => asked == scope.conversation_id,
            1 => scope.contact_ids.contains(&asked),
            2 => scope.company_ids.contains(&asked),
            3 => false,
            _ => true,
        };
        match guard::check_read(&scope, read) {
            Ok(()) => prop_assert!(workspace || in_scope, "{read:?} let through outside {scope:?}"),
            Err(refusal) => {
                prop_assert!(!workspace && !in_scope, "{read:?} refused inside {scope:?}");
                prop_assert!(refusal.label.starts_with("read_"), "{}", refusal.label);
                prop_assert!(refusal.message.starts_with("refused: "), "{}", refusal.message);
                if kind < 3 {
                    prop_assert!(refusal.message.contains(asked.trim()), "{}", refusal.message);
                }
            }
        }
        prop_assert_eq!(guard::read_in_scope(&scope, read), in_scope);
    }

    /// A workspace limit of `limit` per 10 s window; batches of up to 4 concurrent requests ask
    /// the limiter, those it lets go reach the "server", which answers with the headers Intercom
    /// sends. Never more than `limit` requests land in one window (no 429).
    #[test]
    fn the_rate_limiter_never_sends_more_than_a_window_allows(
        limit in 4u64..40,
        steps in proptest::collection::vec((0u64..4000, 1usize..5), 1..200),
    ) {
        let start = 1_767_000_000_000u64; // ms, a window boundary
        let mut limiter = RateLimiter::new();
        let mut now_ms = start;
        let mut window = now_ms / 10_000;
        let mut used = 0u64;
        let mut sent = 0u64;
        for (advance, batch) in steps {
            now_ms += advance;
            if now_ms / 10_000 != window {
                window = now_ms / 10_000;
                used = 0;
            }
            let now = SystemTime::UNIX_EPOCH + Duration::from_millis(now_ms);
            let going = (0..batch)
                .filter(|_| limiter.before_send(now) == Decision::Go)
                .count();
            for _ in 0..going {
                used += 1;
                sent += 1;
                prop_assert!(used <= limit, "{used} requests in a window of {limit}");
                limiter.on_response(now, RateHeaders {
                    limit: Some(limit),
                    remaining: Some(limit - used),
                    reset: Some((window + 1) * 10),
                    date: Some(now_ms / 1000),
                });
            }
        }
        prop_assert!(sent > 0);
    }

    #[test]
    fn html_to_text_never_panics_on_any_text(text in "\\PC{0,200}") {
        let _ = html::to_text(&text);
        let _ = html::to_text(&reply_html::to_html(&text, &reply_html::ReplyLinks::default()));
    }

    #[test]
    fn every_character_reference_decodes_to_its_character(c in any::<char>()) {
        prop_assume!(!c.is_whitespace() && !c.is_control() && c != '\u{0}');
        let decimal = html::to_text(&format!("<p>&#{};</p>", c as u32));
        let hex = html::to_text(&format!("<p>&#x{:X};</p>", c as u32));
        prop_assert_eq!(&decimal, &c.to_string());
        prop_assert_eq!(&hex, &c.to_string());
    }

    /// Whatever a model writes on one line, the customer reads back exactly that text: escaped
    /// markup and named entities decode to what was typed.
    #[test]
    fn a_reply_reads_back_as_the_text_the_model_wrote(text in "[a-zA-Z0-9<>&\"'/=;#éü€— ]{1,60}") {
        let text = text.trim().to_owned();
        prop_assume!(!text.is_empty());
        let sent = reply_html::to_html(&text, &reply_html::ReplyLinks::none());
        prop_assert_eq!(html::to_text(&sent), text);
    }
}

#[test]
fn named_entities_beyond_the_basic_six_are_decoded() {
    for (entity, text) in [
        ("&eacute;", "é"),
        ("&mdash;", "—"),
        ("&hellip;", "…"),
        ("&rsquo;", "’"),
        ("&euro;", "€"),
        ("&copy;", "©"),
        ("&Omega;", "Ω"),
    ] {
        assert_eq!(
            html::to_text(&format!("<p>x{entity}y</p>")),
            format!("x{text}y")
        );
    }
}
