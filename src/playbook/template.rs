//! Templates in `note` and `reply` steps: text with `{{variable}}` and
//! `{{variable | default: "fallback"}}`.
//!
//! A tiny hand-written parser: the variable set is closed, so an unknown variable is a check-time
//! error, never a run-time surprise. Rendering is pure and never guesses: a variable with no value
//! and no default is an error (the caller runs the fallback) rather than a half-empty reply.
//! There is no escape for a literal `{{`.

use std::fmt;

/// A variable a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    /// The contact's full name.
    ContactName,
    /// The first word of the contact's name.
    ContactFirstName,
    ContactEmail,
    ConversationId,
    PlaybookName,
    /// The ticket the agent created; only in steps after an agent allowed `create_ticket`.
    TicketId,
    /// Why the run failed; only in `fallback`.
    FailureReason,
}

/// Every variable with its name, in the order error messages list them.
pub const VARIABLES: &[(&str, Variable)] = &[
    ("contact.name", Variable::ContactName),
    ("contact.first_name", Variable::ContactFirstName),
    ("contact.email", Variable::ContactEmail),
    ("conversation.id", Variable::ConversationId),
    ("playbook.name", Variable::PlaybookName),
    ("ticket.id", Variable::TicketId),
    ("failure.reason", Variable::FailureReason),
];

impl Variable {
    /// Whether its value comes from the contact (fetched only for templates that use one).
    pub fn is_contact(self) -> bool {
        matches!(
            self,
            Self::ContactName | Self::ContactFirstName | Self::ContactEmail
        )
    }

    /// The name written in templates, e.g. `contact.first_name`.
    pub fn name(self) -> &'static str {
        VARIABLES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(n, _)| n)
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var {
        variable: Variable,
        default: Option<String>,
    },
}

/// A value a template needed but did not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template variable `{{{{{0}}}}}` has no value and no `default:`")]
pub struct MissingValue(pub &'static str);

/// The values available when a template is rendered; `None` = not known for this run.
#[derive(Debug, Clone, Default)]
pub struct TemplateValues {
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub conversation_id: Option<String>,
    pub playbook_name: Option<String>,
    pub ticket_id: Option<String>,
    pub failure_reason: Option<String>,
}

impl TemplateValues {
    /// The values known when `playbook` starts on a conversation: contact, conversation and
    /// playbook. The runner adds `ticket_id` and `failure_reason` as they become known.
    pub fn for_run(
        ctx: &super::MatchContext,
        conversation_id: &str,
        playbook: &super::Playbook,
    ) -> Self {
        Self {
            contact_name: ctx.contact.name.clone(),
            contact_email: ctx.contact.email.clone(),
            conversation_id: Some(conversation_id.to_owned()),
            playbook_name: Some(playbook.name.clone()),
            ticket_id: None,
            failure_reason: None,
        }
    }

    /// These values with the contact's name and email (a contact fetched when a template
    /// needed it).
    pub fn with_contact(&self, name: Option<String>, email: Option<String>) -> Self {
        Self {
            contact_name: name,
            contact_email: email,
            ..self.clone()
        }
    }

    /// The value of `variable`; blank values count as missing.
    pub fn get(&self, variable: Variable) -> Option<String> {
        let value = match variable {
            Variable::ContactName => self.contact_name.clone(),
            Variable::ContactFirstName => self
                .contact_name
                .as_deref()
                .and_then(|n| n.split_whitespace().next())
                .map(str::to_owned),
            Variable::ContactEmail => self.contact_email.clone(),
            Variable::ConversationId => self.conversation_id.clone(),
            Variable::PlaybookName => self.playbook_name.clone(),
            Variable::TicketId => self.ticket_id.clone(),
            Variable::FailureReason => self.failure_reason.clone(),
        };
        value.filter(|v| !v.trim().is_empty())
    }
}

impl Template {
    /// Parses `src`; the error says what is wrong in words a support lead can act on.
    pub fn parse(src: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = src;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err("`{{` without a closing `}}`".to_owned());
            };
            parts.push(parse_placeholder(&after[..close])?);
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err("`}}` without an opening `{{`".to_owned());
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// The variables used, in order.
    pub fn variables(&self) -> impl Iterator<Item = Variable> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { variable, .. } => Some(*variable),
            Part::Text(_) => None,
        })
    }

    /// Fills in the variables.
    pub fn render(&self, values: &TemplateValues) -> Result<String, MissingValue> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var { variable, default } => match (values.get(*variable), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => return Err(MissingValue(variable.name())),
                },
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Text(t) => f.write_str(t)?,
                Part::Var {
                    variable,
                    default: None,
                } => write!(f, "{{{{{}}}}}", variable.name())?,
                Part::Var {
                    variable,
                    default: Some(d),
                } => {
                    let quote = if d.contains('"') { '\'' } else { '"' };
                    write!(
                        f,
                        "{{{{{} | default: {quote}{d}{quote}}}}}",
                        variable.name()
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// `contact.first_name | default: "there"` (the text between the braces).
fn parse_placeholder(inner: &str) -> Result<Part, String> {
    let (name, filter) = match inner.split_once('|') {
        Some((name, filter)) => (name.trim(), Some(filter.trim())),
        None => (inner.trim(), None),
    };
    let Some(variable) = VARIABLES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v) else {
        return Err(format!(
            "unknown template variable `{name}`{}; valid variables: {}",
            super::diagnostic::did_you_mean(name, VARIABLES.iter().map(|(n, _)| *n)),
            super::diagnostic::list(VARIABLES.iter().map(|(n, _)| *n))
        ));
    };
    let default = match filter {
        None => None,
        Some(filter) => Some(parse_default(name, filter)?),
    };
    Ok(Part::Var { variable, default })
}

/// `default: "there"` or `default: 'there'`.
fn parse_default(name: &str, filter: &str) -> Result<String, String> {
    let usage = format!("write `{{{{{name} | default: \"text\"}}}}`");
    let Some(arg) = filter.strip_prefix("default") else {
        let word = filter.split(':').next().unwrap_or(filter).trim();
        return Err(format!(
            "unknown template filter `{word}`; the only filter is `default`: {usage}"
        ));
    };
    let Some(arg) = arg.trim_start().strip_prefix(':') else {
        return Err(format!("`default` needs a value: {usage}"));
    };
    let arg = arg.trim();
    for quote in ['"', '\''] {
        if let Some(text) = arg.strip_prefix(quote).and_then(|a| a.strip_suffix(quote)) {
            return Ok(text.to_owned());
        }
    }
    Err(format!("the `default` value must be quoted: {usage}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> TemplateValues {
        TemplateValues {
            contact_name: Some("Ada Lovelace".into()),
            conversation_id: Some("123".into()),
            ..TemplateValues::default()
        }
    }

    #[test]
    fn variables_are_filled_in_and_text_is_kept() {
        let t = Template::parse("Hi {{contact.first_name}}, re #{{ conversation.id }}.").unwrap();
        assert_eq!(t.render(&values()).unwrap(), "Hi Ada, re #123.");
    }

    #[test]
    fn a_default_stands_in_for_a_missing_value() {
        let t = Template::parse("Hi {{contact.email | default: \"there\"}}!").unwrap();
        assert_eq!(t.render(&values()).unwrap(), "Hi there!");
        let t = Template::parse("Hi {{contact.email | default: 'you'}}!").unwrap();
        assert_eq!(t.render(&values()).unwrap(), "Hi you!");
    }

    #[test]
    fn a_missing_value_without_default_is_an_error_not_an_empty_string() {
        let t = Template::parse("Ticket {{ticket.id}}").unwrap();
        assert_eq!(t.render(&values()), Err(MissingValue("ticket.id")));
    }

    #[test]
    fn an_unknown_variable_is_rejected_with_a_suggestion_and_the_valid_list() {
        let err = Template::parse("Hi {{contact.nmae}}").unwrap_err();
        assert!(
            err.contains("unknown template variable `contact.nmae`"),
            "{err}"
        );
        assert!(err.contains("did you mean `contact.name`"), "{err}");
        assert!(err.contains("`contact.first_name`"), "{err}");
    }

    #[test]
    fn malformed_placeholders_are_rejected() {
        for bad in [
            "Hi {{contact.name",
            "Hi contact.name}}",
            "{{contact.name | upper}}",
            "{{contact.name | default: there}}",
            "{{contact.name | default}}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_template_displays_as_it_was_written() {
        let src = "Hi {{contact.first_name | default: \"there\"}}, {{conversation.id}}";
        assert_eq!(Template::parse(src).unwrap().to_string(), src);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn part() -> impl Strategy<Value = Part> {
            prop_oneof![
                "[^{}]{1,12}".prop_map(Part::Text),
                (0..VARIABLES.len(), proptest::option::of("[^{}\"']{0,8}")).prop_map(
                    |(i, default)| Part::Var {
                        variable: VARIABLES[i].1,
                        default,
                    }
                ),
            ]
        }

        fn template() -> impl Strategy<Value = Template> {
            proptest::collection::vec(part(), 0..6).prop_map(|parts| {
                // Adjacent texts would parse back as one; merge them as the parser would.
                let mut merged: Vec<Part> = Vec::new();
                for p in parts {
                    match (merged.last_mut(), p) {
                        (Some(Part::Text(a)), Part::Text(b)) => a.push_str(&b),
                        (_, p) => merged.push(p),
                    }
                }
                Template { parts: merged }
            })
        }

        proptest! {
            #[test]
            fn any_text_parses_or_is_rejected_without_panicking(src in "\\PC{0,40}") {
                let _ = Template::parse(&src);
            }

            #[test]
            fn a_template_parses_back_from_how_it_displays(t in template()) {
                prop_assert_eq!(Template::parse(&t.to_string()), Ok(t));
            }

            #[test]
            fn rendering_with_every_value_known_never_fails(t in template(), name in "[a-z]{1,8} [a-z]{1,8}") {
                let values = TemplateValues {
                    contact_name: Some(name),
                    contact_email: Some("a@b.c".into()),
                    conversation_id: Some("1".into()),
                    playbook_name: Some("p".into()),
                    ticket_id: Some("2".into()),
                    failure_reason: Some("r".into()),
                };
                prop_assert!(t.render(&values).is_ok());
            }
        }
    }
}
