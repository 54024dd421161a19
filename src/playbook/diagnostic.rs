//! Diagnostics: one error in a playbook file, pointing at `file:line:col`.
//!
//! Every problem `triaged playbook check` finds (and the daemon refuses to load) becomes one
//! [`Diagnostic`]. This module only formats and suggests; it never reads files (it decodes the bytes a caller
//! read, so a file that is not UTF-8 still gets a position).

use std::{
    fmt,
    path::{Path, PathBuf},
};

use serde_saphyr::{Location, Spanned};

/// One problem in a playbook file. `Display` is `file:line:col: message`, the shape editors and
/// CI logs turn into links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The playbook file, as given (relative paths stay relative).
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file (e.g. it cannot be read).
    pub line: u64,
    /// 1-based column (characters, not bytes); 0 when unknown.
    pub column: u64,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // A problem with the file or directory itself has no position.
            return write!(f, "{}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// The text of a file read as `bytes`, or a diagnostic at the `line:col` of its first byte that
/// is not UTF-8 (the column counts the characters before it on its line, as editors do).
pub fn decode_utf8(file: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let valid = &bytes[..at];
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        // The prefix is valid UTF-8 by construction, so this never loses a character.
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        Diagnostic {
            file: file.to_path_buf(),
            line: line as u64,
            column: column as u64,
            message: format!(
                "byte 0x{:02X} is not UTF-8 text: save the file as UTF-8",
                bytes[at]
            ),
        }
    })
}

/// A position in a YAML file (1-based line and column), taken from a parsed node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    /// Where a spanned value was written.
    pub fn of<T>(spanned: &Spanned<T>) -> Self {
        Self::from(spanned.referenced)
    }
}

impl From<Location> for Pos {
    fn from(l: Location) -> Self {
        Self {
            line: l.line(),
            column: l.column(),
        }
    }
}

/// Collects the diagnostics of one file: errors (the file is refused) and warnings (it loads).
#[derive(Debug)]
pub struct Report {
    file: PathBuf,
    /// Errors.
    pub diagnostics: Vec<Diagnostic>,
    /// Warnings: the playbook loads, but does something its author should know about. Each
    /// message starts with `warning: `.
    pub warnings: Vec<Diagnostic>,
}

impl Report {
    pub fn new(file: PathBuf) -> Self {
        Self {
            file,
            diagnostics: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records one warning at `pos` (`warning: ` is prefixed).
    pub fn warn(&mut self, pos: Pos, message: impl AsRef<str>) {
        self.warnings.push(Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            message: format!("warning: {}", message.as_ref()),
        });
    }

    /// Records one error at `pos`.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        });
    }
}

/// `" (did you mean `x`?)"` when one of `candidates` is close to `wrong`, else `""`.
pub fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let best = candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(wrong, c), c))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((distance, c)) if distance <= (wrong.len() / 3).max(2) => {
            format!(" (did you mean `{c}`?)")
        }
        _ => String::new(),
    }
}

/// `a, b, c` with each name in backticks.
pub fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rewords a YAML/serde error for a support lead: "value" instead of "variant", "a whole number"
/// instead of "i32", and a "did you mean" for a misspelt field or value.
pub fn friendly(message: &str) -> String {
    let message = message
        .replace('\n', " ")
        .replace("unknown variant", "unknown value");
    if message == "expected end of mapping after enum variant value" {
        return "only one key is allowed here: write each step as its own `- ` item, and give an \
                assignee only one of `team`, `team_id`, `admin_id`"
            .to_owned();
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("missing required field {field} in this section");
    }
    for (ty, words) in [
        ("i32", "a whole number"),
        ("u32", "a whole number (0 or more)"),
        ("i64", "a whole number"),
        ("u64", "a whole number (0 or more)"),
        ("f64", "a number"),
    ] {
        if message == format!("invalid {ty}") {
            return format!("expected {words}");
        }
    }
    for kind in ["unknown field `", "unknown value `"] {
        let Some(rest) = message.strip_prefix(kind) else {
            continue;
        };
        let Some((wrong, tail)) = rest.split_once('`') else {
            continue;
        };
        let Some(expected) = tail.strip_prefix(", expected one of ") else {
            continue;
        };
        let candidates: Vec<&str> = expected.split(", ").map(|c| c.trim_matches('`')).collect();
        let hint = did_you_mean(wrong, candidates.iter().copied());
        if !hint.is_empty() {
            return format!("{kind}{wrong}`{hint}; expected one of {expected}");
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_reported_at_the_line_and_column_of_its_first_bad_byte() {
        let bytes = b"name: caf\xc3\xa9\ntriggers:\n  - topic: x\xff\n".to_vec();
        let d = decode_utf8(Path::new("p.yaml"), bytes).err();
        assert_eq!(
            d.map(|d| d.to_string()).as_deref(),
            Some("p.yaml:3:13: byte 0xFF is not UTF-8 text: save the file as UTF-8")
        );
        let ok = decode_utf8(Path::new("p.yaml"), "name: café\n".as_bytes().to_vec());
        assert_eq!(ok.ok().as_deref(), Some("name: café\n"));
    }

    #[test]
    fn a_diagnostic_displays_as_file_line_column_message() {
        let d = Diagnostic {
            file: PathBuf::from("playbooks/a.yaml"),
            line: 3,
            column: 7,
            message: "boom".into(),
        };
        assert_eq!(d.to_string(), "playbooks/a.yaml:3:7: boom");
    }

    #[test]
    fn a_close_name_is_suggested_and_a_far_one_is_not() {
        assert_eq!(
            did_you_mean("add_nte", ["add_note", "close_conversation"]),
            " (did you mean `add_note`?)"
        );
        assert_eq!(did_you_mean("banana", ["add_note"]), "");
    }

    #[test]
    fn serde_messages_are_reworded_for_people_who_do_not_write_rust() {
        assert_eq!(
            friendly("unknown field `descripton`, expected one of name, description"),
            "unknown field `descripton` (did you mean `description`?); expected one of name, description"
        );
        assert_eq!(
            friendly("unknown variant `yes`, expected one of live, draft, shadow"),
            "unknown value `yes`, expected one of live, draft, shadow"
        );
        assert_eq!(friendly("invalid i32"), "expected a whole number");
        assert_eq!(
            friendly("missing field `steps`"),
            "missing required field `steps` in this section"
        );
    }
}
