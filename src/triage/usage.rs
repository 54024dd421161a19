//! What a run's model calls cost: the usage recorded on the run (and counted in metrics), and the
//! daily LLM budget that sends agent steps to their fallback once it is spent.

use super::Triage;
use crate::{agent::Usage, runner::RunError, store::Db};

impl Triage {
    /// Why agent steps must take their fallback today (the daily budget is spent), if they must.
    pub(super) async fn over_budget(&self) -> Result<Option<String>, RunError> {
        let Some(budget) = self.llm_daily_budget else {
            return Ok(None);
        };
        let spent = self.db.llm_spent_today().await?;
        Ok((spent >= budget).then(|| {
            format!(
                "the LLM budget for today is spent (estimated ${spent:.4} of \
                 TRIAGED_LLM_DAILY_BUDGET ${budget:.2}); it resets at midnight UTC"
            )
        }))
    }
}

/// Writes what the run used and counts it in `triaged_llm_tokens_total`.
pub(super) async fn record_usage(
    db: &Db,
    run_id: i64,
    playbook: &crate::playbook::Playbook,
    usage: &Usage,
) -> Result<(), RunError> {
    let model = usage.model.as_deref();
    db.record_usage(
        run_id,
        &crate::store::usage::RunUsage {
            playbook: &playbook.name,
            version: &playbook.version,
            mode: mode_name(playbook.mode),
            model,
            prompt_tokens: usage.prompt,
            cached_tokens: usage.cached,
            completion_tokens: usage.completion,
            cost_usd: usage.cost_usd,
        },
    )
    .await?;
    if let Some(model) = model {
        for (kind, n) in [
            ("prompt", usage.prompt - usage.cached.min(usage.prompt)),
            ("cached", usage.cached),
            ("completion", usage.completion),
        ] {
            metrics::counter!("triaged_llm_tokens_total", "model" => model.to_owned(),
                "playbook" => playbook.name.clone(), "kind" => kind)
            .increment(u64::from(n));
        }
        metrics::counter!("triaged_llm_cost_microusd_total", "model" => model.to_owned())
            .increment((usage.cost_usd * 1_000_000.0) as u64);
    }
    Ok(())
}

fn mode_name(mode: crate::playbook::Mode) -> &'static str {
    match mode {
        crate::playbook::Mode::Live => "live",
        crate::playbook::Mode::Draft => "draft",
        crate::playbook::Mode::Shadow => "shadow",
    }
}
