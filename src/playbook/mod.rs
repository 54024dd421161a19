//! Playbooks: the YAML files support leads write to say when triaged acts and what it does.
//!
//! Stage: between the queue's worker and the agent. The worker loads a [`PlaybookSet`] with
//! [`load_dir`] (an invalid set is refused as a whole, so the daemon keeps its last good one),
//! fills a [`MatchContext`] from the conversation and asks [`PlaybookSet::first_match`]. Everything
//! here is pure except reading files in `load` and reloading them in `live`/`watch`; this module
//! never talks to Intercom or a model and never imports the agent or tool stages.
//!
//! | file | what |
//! |---|---|
//! | `spec/` | the file format as written (serde + JSON Schema, descriptions for editors) |
//! | `compile` | checks a parsed file and builds the [`Playbook`] |
//! | `load` | reads files and directories, collects every [`Diagnostic`] |
//! | `live` | the running set, replaced whole on a valid reload ([`LivePlaybooks`]) |
//! | `watch` | what triggers a reload: file changes (ConfigMap `..data` swaps too), SIGHUP |
//! | `model` | the checked playbook the worker and agent use |
//! | `matching` | pure trigger matching |
//! | `template` | `{{contact.first_name \| default: "there"}}` parsing and rendering |
//! | `names` | known topics, tools ([`KNOWN_TOOLS`]) and channels |
//! | `schema` | the JSON Schema (`triaged playbook schema`) |
//! | `testing` | `triaged playbook test`: test cases run against the whole app (not pure; see there) |
//!
//! # Editor support
//! Put `# yaml-language-server: $schema=./playbook.schema.json` on a playbook's first line and
//! write the schema beside it with `triaged playbook schema > playbooks/playbook.schema.json`
//! (the shipped playbooks do); VS Code's YAML extension and other YAML language-server editors then
//! complete fields, show each field's description and flag unknown ones.
//!
//! # Time zones
//! `business_hours.timezone` takes IANA names (`Europe/Paris`); the tz database is compiled in
//! (jiff's bundled copy), so checks and matching agree on every machine and follow daylight
//! saving time. Fixed offsets are written `Etc/GMT-2` (note the inverted sign) or `UTC`.

mod compile;
mod diagnostic;
mod live;
mod load;
mod matching;
mod model;
mod names;
mod schema;
mod spec;
mod template;
pub mod testing;
pub mod watch;

pub use diagnostic::Diagnostic;
pub use live::{LivePlaybooks, ReloadStatus, Reloaded, version_of};
pub use load::{TEST_SUFFIXES, load_dir, load_paths, parse_str, playbook_files};
pub use matching::{ContactFacts, MatchContext, conditions_hold, matches, within};
pub use model::{
    Agent, Assignee, BusinessHours, Conditions, ConversationState, DEFAULT_WALL_TIME, Day, Mode,
    Playbook, Reads, Step, Target, Trigger,
};
pub use names::{Access, CHANNELS, KNOWN_TOOLS, TOPICS, tool_access};
pub use schema::schema;
pub use template::{MissingValue, Template, TemplateValues, VARIABLES, Variable};

/// A checked set of playbooks with unique names, ordered by priority (highest first), then name.
#[derive(Debug, Clone, Default)]
pub struct PlaybookSet {
    playbooks: Vec<Playbook>,
}

impl PlaybookSet {
    /// Orders `playbooks` by priority, then name. Names must already be unique ([`load_dir`]
    /// guarantees it).
    pub fn new(mut playbooks: Vec<Playbook>) -> Self {
        playbooks.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        Self { playbooks }
    }

    /// The playbook that handles the event: the first that matches in priority order.
    pub fn first_match(&self, ctx: &MatchContext) -> Option<&Playbook> {
        self.playbooks.iter().find(|p| matches(p, ctx))
    }

    /// The playbook with this name.
    pub fn get(&self, name: &str) -> Option<&Playbook> {
        self.playbooks.iter().find(|p| p.name == name)
    }

    /// What `triaged playbook check` warns about in any of them (they load all the same).
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.playbooks.iter().flat_map(|p| p.warnings.iter())
    }

    /// All playbooks, in matching order.
    pub fn iter(&self) -> impl Iterator<Item = &Playbook> {
        self.playbooks.iter()
    }

    pub fn len(&self) -> usize {
        self.playbooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.playbooks.is_empty()
    }
}
