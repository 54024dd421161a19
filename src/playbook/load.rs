//! Reading playbook files: YAML → [`PlaybookSpec`] → [`Playbook`], and the whole directory into a
//! [`PlaybookSet`] with every diagnostic of every file.
//!
//! The only module here that touches the file system. It never keeps a half-valid set: either every
//! file is valid and names are unique, or the caller gets the full list of problems.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde_saphyr::{ExternalMessageSource, MessageFormatter, Options, UserMessageFormatter};

use super::{
    PlaybookSet,
    compile::compile,
    diagnostic::{Diagnostic, Pos, Report, friendly},
    model::Playbook,
    spec::PlaybookSpec,
};

/// Files ending with this are playbook test cases (for `triaged playbook test`), not playbooks.
pub const TEST_SUFFIXES: &[&str] = &[".test.yaml", ".test.yml"];

/// Parser options for files people write: `yes`/`no`/`on`/`off` are strings, not booleans;
/// duplicate keys and unknown YAML tags are errors.
fn options() -> Options {
    let mut options = Options::default();
    options.strict_booleans = true;
    options.reject_unsupported_tags = true;
    options.with_snippet = false;
    options
}

/// Parses and checks one playbook's text. `file` is only used in diagnostics.
pub fn parse_str(text: &str, file: &Path) -> Result<Playbook, Vec<Diagnostic>> {
    parse_with_name_pos(text, file).map(|(playbook, _)| playbook)
}

/// Like [`parse_str`], also returning where the `name` value is (for duplicate-name errors).
fn parse_with_name_pos(text: &str, file: &Path) -> Result<(Playbook, Pos), Vec<Diagnostic>> {
    let mut report = Report::new(file.to_path_buf());
    if text.trim().is_empty() {
        report.error(
            Pos { line: 1, column: 1 },
            "the file is empty: a playbook needs at least `name`, `trigger` and `steps`",
        );
        return Err(report.diagnostics);
    }
    let spec: PlaybookSpec = match serde_saphyr::from_str_with_options(text, options()) {
        Ok(spec) => spec,
        Err(e) => {
            let pos = e.location().map(Pos::from).unwrap_or_default();
            let inner = e.without_snippet();
            let message = friendly(&UserMessageFormatter.format_message(inner));
            let message = match inner {
                serde_saphyr::Error::ExternalMessage { source, .. }
                    if matches!(**source, ExternalMessageSource::Parser(_)) =>
                {
                    format!(
                        "YAML syntax error: {message} (the mistake may be on an earlier line: \
                         check indentation, quotes and closing brackets)"
                    )
                }
                _ => message,
            };
            report.error(pos, message);
            return Err(report.diagnostics);
        }
    };
    let name_pos = Pos::of(&spec.name);
    match compile(spec, file, &mut report) {
        Some(mut playbook) if report.diagnostics.is_empty() => {
            playbook.version = super::live::version_of(text);
            Ok((playbook, name_pos))
        }
        _ => Err(report.diagnostics),
    }
}

/// The text of a playbook or test file: a diagnostic when it cannot be read, or at the
/// `line:col` of its first byte that is not UTF-8.
pub fn read_text(file: &Path) -> Result<String, Diagnostic> {
    let bytes = std::fs::read(file).map_err(|e| Diagnostic {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read: {e}"),
    })?;
    super::diagnostic::decode_utf8(file, bytes)
}

/// The playbook files under `path`: the file itself, or the `*.yaml`/`*.yml` files directly in
/// the directory (test-case files excluded), sorted by name so results are deterministic.
pub fn playbook_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let unreadable = |e: std::io::Error| Diagnostic {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read: {e}"),
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let file = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        let is_test = TEST_SUFFIXES.iter().any(|s| name.ends_with(s));
        if is_yaml && !is_test && !name.starts_with('.') && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// Loads every playbook under `paths` (files or directories) into one set, or returns every
/// problem found in every file. Duplicate names are reported at the second file's `name`.
pub fn load_paths(paths: &[PathBuf]) -> Result<PlaybookSet, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut playbooks: Vec<Playbook> = Vec::new();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in paths {
        let files = match playbook_files(path) {
            Ok(files) => files,
            Err(d) => {
                diagnostics.push(d);
                continue;
            }
        };
        for file in files {
            let text = match read_text(&file) {
                Ok(text) => text,
                Err(d) => {
                    diagnostics.push(d);
                    continue;
                }
            };
            match parse_with_name_pos(&text, &file) {
                Ok((playbook, name_pos)) => match names.get(&playbook.name) {
                    Some(first) => diagnostics.push(Diagnostic {
                        file: file.clone(),
                        line: name_pos.line,
                        column: name_pos.column,
                        message: format!(
                            "duplicate playbook name `{}`: already used by {}",
                            playbook.name,
                            first.display()
                        ),
                    }),
                    None => {
                        names.insert(playbook.name.clone(), file.clone());
                        playbooks.push(playbook);
                    }
                },
                Err(mut ds) => diagnostics.append(&mut ds),
            }
        }
    }
    if diagnostics.is_empty() {
        Ok(PlaybookSet::new(playbooks))
    } else {
        Err(diagnostics)
    }
}

/// Loads the playbook directory the daemon is configured with.
pub fn load_dir(path: &Path) -> Result<PlaybookSet, Vec<Diagnostic>> {
    load_paths(&[path.to_path_buf()])
}
