//! Layering of a `--config FILE` (YAML keyed by environment variable names) under flags and
//! environment variables: each key becomes the default value of the argument reading that
//! variable, so flags and the environment still win. Unknown keys are errors.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    path::{Path, PathBuf},
};

use clap::{CommandFactory, FromArgMatches};

use super::ConfigError;

/// Parses the command line into `C` (the `triaged` command line), layering a `--config` file
/// under flags and environment variables.
pub fn parse_cli<C: CommandFactory + FromArgMatches>() -> Result<C, clap::Error> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut command = C::command();
    if let Some(path) = config_file_path(&args) {
        match load_file(&path) {
            Ok(values) => {
                let known = env_names(&command);
                if let Some(unknown) = values.keys().find(|k| !known.contains(k)) {
                    return Err(command.error(
                        clap::error::ErrorKind::InvalidValue,
                        format!("config file {}: unknown setting {unknown}", path.display()),
                    ));
                }
                command = with_file_defaults(command, &values);
            }
            Err(e) => {
                return Err(command.error(clap::error::ErrorKind::Io, e.to_string()));
            }
        }
    }
    let matches = command.try_get_matches_from_mut(args)?;
    C::from_arg_matches(&matches)
}

/// `--config FILE`, `--config=FILE`, or `TRIAGED_CONFIG`.
fn config_file_path(args: &[OsString]) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let arg = arg.to_string_lossy();
        if arg == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(value) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    std::env::var_os("TRIAGED_CONFIG").map(PathBuf::from)
}

/// Reads `KEY: value` pairs from a YAML file (values may be strings, numbers or booleans).
fn load_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let raw: BTreeMap<String, serde_json::Value> =
        serde_saphyr::from_str(&text).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    raw.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            serde_json::Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(ConfigError::File {
                path: path.display().to_string(),
                message: format!("{k}: expected a single value, found {other}"),
            }),
        })
        .collect()
}

fn env_names(command: &clap::Command) -> Vec<String> {
    let mut names: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    for sub in command.get_subcommands() {
        names.extend(env_names(sub));
    }
    names
}

pub(super) fn with_file_defaults(
    mut command: clap::Command,
    values: &BTreeMap<String, String>,
) -> clap::Command {
    let ids: Vec<(clap::Id, String)> = command
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_string_lossy().into_owned();
            values.get(&env).map(|v| (a.get_id().clone(), v.clone()))
        })
        .collect();
    for (id, value) in ids {
        // A secret from the file must not become a `[default: …]` that `--help` prints.
        command = command.mut_arg(id, |a| {
            let secret = a.is_hide_env_values_set();
            a.default_value(value).hide_default_value(secret)
        });
    }
    let subs: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        command = command.mut_subcommand(name, |s| with_file_defaults(s, values));
    }
    command
}
