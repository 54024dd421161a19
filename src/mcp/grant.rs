//! What a token may see and call: its scope, then its tags, then its tool list. Pure.
//!
//! The same [`Grant::allows`] decides both `tools/list` (what a client is shown) and `tools/call`
//! (what it may run), so a hidden tool called by name is refused exactly like one that does not
//! exist.

use crate::{
    store::tokens::{Token, TokenScope},
    tools::{ALL, Access, ToolName},
};

/// The verified token of one MCP request (put in the request's extensions by the gate).
#[derive(Debug, Clone)]
pub struct Grant {
    pub token: Token,
}

impl Grant {
    /// Whether this token may see and call `tool`.
    pub fn allows(&self, tool: ToolName) -> bool {
        let scope_ok = match self.token.scope {
            TokenScope::McpRead => tool.access() == Access::Read,
            TokenScope::McpWrite => true,
            TokenScope::Ui => false,
        };
        let tags_ok = self
            .token
            .tags
            .as_ref()
            .is_none_or(|tags| tool.tags().iter().any(|t| tags.iter().any(|g| g == t)));
        let tools_ok = self
            .token
            .tools
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == tool.as_str()));
        scope_ok && tags_ok && tools_ok
    }

    /// The tools this token may use, in the registry's order (deterministic, as 2026-07-28 asks).
    pub fn tools(&self) -> impl Iterator<Item = ToolName> + '_ {
        ALL.iter().copied().filter(|t| self.allows(*t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(scope: TokenScope, tags: Option<&[&str]>, tools: Option<&[&str]>) -> Grant {
        let list = |l: Option<&[&str]>| l.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
        let token = Token::example(scope, list(tags), list(tools));
        Grant { token }
    }

    fn names(g: &Grant) -> Vec<&'static str> {
        g.tools().map(ToolName::as_str).collect()
    }

    #[test]
    fn read_scope_sees_only_read_tools_and_write_scope_sees_all() {
        let read = grant(TokenScope::McpRead, None, None);
        assert_eq!(names(&read).len(), 11);
        assert!(read.tools().all(|t| t.access() == Access::Read));
        assert!(!read.allows(ToolName::ReplyToConversation));
        assert_eq!(names(&grant(TokenScope::McpWrite, None, None)).len(), 21);
        assert!(names(&grant(TokenScope::Ui, None, None)).is_empty());
    }

    #[test]
    fn tags_narrow_the_scope_and_tools_narrow_the_tags() {
        let conversations = grant(TokenScope::McpRead, Some(&["conversations"]), None);
        assert_eq!(
            names(&conversations),
            ["search_conversations", "get_conversation"]
        );
        let one = grant(
            TokenScope::McpWrite,
            Some(&["conversations"]),
            Some(&["get_conversation", "list_tags", "add_note"]),
        );
        // list_tags is not tagged `conversations`: the tag filter still applies.
        assert_eq!(names(&one), ["get_conversation", "add_note"]);
    }
}
