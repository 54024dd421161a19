//! Settings of the console, LLM cost and retention (`triaged serve` and `triaged prune`).

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use clap::Args;

use serde::{Deserialize, Serialize};

use super::{ConfigError, parse_duration};

/// Prices of one model, US dollars per million tokens (`TRIAGED_LLM_PRICES` entries).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Prompt tokens not served from the provider's cache.
    pub input: f64,
    /// Prompt tokens served from the cache (defaults to `input` when the file leaves it out).
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Completion tokens.
    pub output: f64,
}

/// Console, cost and retention flags of `triaged serve`.
#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// How long raw webhook bodies, prompts, transcripts and write arguments are kept; run
    /// summaries, counts and costs stay. Pruned hourly and by `triaged prune`.
    #[arg(long, env = "TRIAGED_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub retention: Duration,
    /// Estimated LLM spend per UTC day (USD) after which agent steps take their fallback with
    /// reason `budget` (none: no limit).
    #[arg(long, env = "TRIAGED_LLM_DAILY_BUDGET")]
    pub llm_daily_budget: Option<f64>,
    /// A YAML file of LLM prices (`MODEL: {input: USD, cached_input: USD, output: USD}` per
    /// million tokens) that overrides or extends the built-in estimates.
    #[arg(long, env = "TRIAGED_LLM_PRICES")]
    pub llm_prices: Option<PathBuf>,
    /// A header set by an authenticating proxy (e.g. `X-Forwarded-Email`) that signs its value in
    /// to the console without a token. Off unless set: only set it when every request reaches
    /// triaged through that proxy.
    #[arg(long, env = "TRIAGED_UI_TRUSTED_HEADER")]
    pub ui_trusted_header: Option<String>,
    /// How long a console session lasts after login.
    #[arg(long, env = "TRIAGED_UI_SESSION_TTL", default_value = "12h", value_parser = parse_duration)]
    pub ui_session_ttl: Duration,
}

/// The validated console, cost and retention settings.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    pub retention: Duration,
    pub llm_daily_budget: Option<f64>,
    /// Prices from `TRIAGED_LLM_PRICES`, over the built-in estimates.
    pub prices: BTreeMap<String, ModelPrice>,
    pub ui_trusted_header: Option<axum::http::HeaderName>,
    pub ui_session_ttl: Duration,
}

impl ConsoleArgs {
    /// Validates the settings and reads the price file.
    pub fn into_config(self) -> Result<ConsoleConfig, ConfigError> {
        if self.retention < Duration::from_secs(3600) {
            return Err(ConfigError::Invalid {
                var: "TRIAGED_RETENTION",
                message: "must be at least 1h".to_owned(),
            });
        }
        if let Some(budget) = self.llm_daily_budget
            && !(budget.is_finite() && budget >= 0.0)
        {
            return Err(ConfigError::Invalid {
                var: "TRIAGED_LLM_DAILY_BUDGET",
                message: format!("{budget} is not an amount in USD (e.g. 25 or 2.50)"),
            });
        }
        let prices = match &self.llm_prices {
            None => BTreeMap::new(),
            Some(path) => read_prices(path)?,
        };
        let ui_trusted_header = match self.ui_trusted_header.filter(|h| !h.trim().is_empty()) {
            None => None,
            Some(name) => Some(axum::http::HeaderName::try_from(name.trim()).map_err(|e| {
                ConfigError::Invalid {
                    var: "TRIAGED_UI_TRUSTED_HEADER",
                    message: format!("{name:?} is not a header name: {e}"),
                }
            })?),
        };
        Ok(ConsoleConfig {
            retention: self.retention,
            llm_daily_budget: self.llm_daily_budget,
            prices,
            ui_trusted_header,
            ui_session_ttl: self.ui_session_ttl,
        })
    }
}

fn read_prices(path: &std::path::Path) -> Result<BTreeMap<String, ModelPrice>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        var: "TRIAGED_LLM_PRICES",
        message: format!("{}: {message}", path.display()),
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    serde_saphyr::from_str(&text).map_err(|e| invalid(e.to_string()))
}
