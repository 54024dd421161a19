//! The playbook file as written: the types YAML is deserialized into and the JSON Schema is
//! generated from (so the two can never drift).
//!
//! Every struct denies unknown fields. Values that need checking after parsing are
//! [`Spanned`] so the error can point at their line and column. These types are the support
//! lead's interface: every field's doc comment becomes its description in editors. Nothing here
//! validates or runs; see `compile` for that.

mod steps;
mod trigger;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

pub use steps::{AgentSpec, AssignTarget, Reads, StepSpec};
pub use trigger::{AssigneeSpec, BusinessHoursSpec, ConditionsSpec, Day, StateSpec, TriggerSpec};

/// A triage playbook: when to act (`trigger`) and what to do (`steps`, `fallback`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "triaged playbook")]
pub struct PlaybookSpec {
    /// Unique name of this playbook across the playbook directory, in lowercase-kebab-case
    /// (e.g. `refund-request`). Shown in the audit trail.
    #[schemars(with = "String", regex(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"))]
    pub name: Spanned<String>,
    /// What this playbook is for, in a sentence, for the people who maintain it.
    #[serde(default)]
    pub description: String,
    /// Higher runs first: when several playbooks match an event, the one with the highest
    /// priority wins (ties: the name that sorts first). Default 0; a catch-all uses a negative one.
    #[serde(default)]
    pub priority: i32,
    /// What writes do. `draft` (the default) turns customer-visible replies and state changes
    /// into one internal note for a teammate to review; `live` does them; `shadow` writes nothing
    /// and only records. New playbooks start in `draft` so nothing reaches a customer until
    /// someone has read what the bot would have said.
    #[serde(default)]
    pub mode: Mode,
    /// When this playbook applies: webhook topics and conditions on the conversation.
    pub trigger: TriggerSpec,
    /// What to do, in order: deterministic actions before and/or after at most one `agent` step.
    #[schemars(with = "Vec<StepSpec>")]
    pub steps: Spanned<Vec<Spanned<StepSpec>>>,
    /// What to do when a step or the agent fails (error, budget hit, model unavailable), e.g. an
    /// internal note and an assignment to a human team. Required when `steps` has an `agent`.
    #[serde(default)]
    #[schemars(with = "Vec<StepSpec>")]
    pub fallback: Vec<Spanned<StepSpec>>,
}

/// What a playbook's writes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Do the writes: replies reach the customer.
    Live,
    /// Turn customer-visible replies and state changes into one internal note for review.
    #[default]
    Draft,
    /// Write nothing to Intercom; only record what would have happened.
    Shadow,
}
