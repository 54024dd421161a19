//! The authors of a conversation and the short labels its timeline lines carry.

use super::Directory;
use crate::intercom::models::{Author, Conversation};

/// Every author of a conversation, named once in the header (`Maya = Maya Chen (admin 12)`) so
/// each line carries only a short label: the first name when no other author shares it, else the
/// full name, else the name with the id.
pub(super) struct People {
    /// `(kind, id, name)` in order of first appearance.
    list: Vec<(String, String, Option<String>)>,
}

impl People {
    pub(super) fn of(conv: &Conversation, dir: &Directory) -> Self {
        let authors = conv
            .source
            .as_ref()
            .and_then(|s| s.author.as_ref())
            .into_iter()
            .chain(conv.parts().iter().filter_map(|p| p.author.as_ref()));
        let mut list: Vec<(String, String, Option<String>)> = Vec::new();
        for a in authors {
            let (kind, id, name) = (kind(a), a.id.clone().unwrap_or_default(), name(a, dir));
            if !list
                .iter()
                .any(|(k, i, n)| *k == kind && *i == id && *n == name)
            {
                list.push((kind, id, name));
            }
        }
        Self { list }
    }

    /// Whether another author (another id) has a name for which `same` holds.
    fn shared(&self, id: &str, same: impl Fn(&str) -> bool) -> bool {
        self.list
            .iter()
            .any(|(_, i, n)| i != id && n.as_deref().is_some_and(&same))
    }

    fn short(&self, id: &str, name: &str) -> String {
        let first = name.split_whitespace().next().unwrap_or(name);
        if !self.shared(id, |n| n.split_whitespace().next() == Some(first)) {
            first.to_owned()
        } else if !self.shared(id, |n| n == name) {
            name.to_owned()
        } else {
            format!("{name} ({id})")
        }
    }

    /// The `people:` header line (only authors with a name need one).
    pub(super) fn line(&self) -> String {
        let named: Vec<String> = self
            .list
            .iter()
            .filter_map(|(kind, id, name)| {
                let name = name.as_ref()?;
                let short = self.short(id, name);
                // `Name (id)` labels need no alias: the name is already in them.
                Some(if short.starts_with(name.as_str()) {
                    format!("{name} ({kind} {id})")
                } else {
                    format!("{short} = {name} ({kind} {id})")
                })
            })
            .collect();
        if named.is_empty() {
            return String::new();
        }
        format!("people: {}\n", named.join(", "))
    }

    /// How a line names its author: its short label, or `kind id` when it has no name.
    pub(super) fn label(&self, a: &Author, dir: &Directory) -> String {
        let id = a.id.as_deref().unwrap_or("?");
        match name(a, dir) {
            Some(n) => self.short(id, &n),
            None => format!("{} {id}", kind(a)),
        }
    }
}

fn kind(a: &Author) -> String {
    match &a.kind {
        crate::intercom::models::AuthorType::Other(s) => s.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn name(a: &Author, dir: &Directory) -> Option<String> {
    a.name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| a.id.as_deref().and_then(|id| dir.admins.get(id).cloned()))
}
