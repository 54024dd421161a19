//! What a chat completion costs: a price table per model, in US dollars per million tokens.
//!
//! The defaults are **estimates** copied from OpenAI's public price list (standard tier, late 2025);
//! providers change prices and bill in their own way (batch, priority, regional endpoints), so the
//! figures triaged shows are an estimate for watching trends and budgets, not an invoice. A YAML
//! file (`TRIAGED_LLM_PRICES`) overrides or adds models. Pure: no I/O.

use std::collections::BTreeMap;

pub use crate::config::ModelPrice as Price;

/// Tokens one completion reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Every prompt token, cached ones included (as OpenAI reports `prompt_tokens`).
    pub prompt: u32,
    /// Of `prompt`, the ones served from the cache.
    pub cached: u32,
    pub completion: u32,
}

/// The built-in estimates: (model, input, cached input, output) in USD per million tokens.
const DEFAULTS: &[(&str, f64, f64, f64)] = &[
    ("gpt-5", 1.25, 0.125, 10.0),
    ("gpt-5-mini", 0.25, 0.025, 2.0),
    ("gpt-5-nano", 0.05, 0.005, 0.40),
    ("gpt-4.1", 2.0, 0.50, 8.0),
    ("gpt-4.1-mini", 0.40, 0.10, 1.60),
    ("gpt-4.1-nano", 0.10, 0.025, 0.40),
    ("gpt-4o", 2.50, 1.25, 10.0),
    ("gpt-4o-mini", 0.15, 0.075, 0.60),
    ("o3", 2.0, 0.50, 8.0),
    ("o4-mini", 1.10, 0.275, 4.40),
];

/// Model name → price. Looks a model up by its exact name, else by the longest known prefix
/// (`gpt-4o-2024-08-06` is priced as `gpt-4o`).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl Default for PriceTable {
    fn default() -> Self {
        let prices = DEFAULTS
            .iter()
            .map(|&(model, input, cached, output)| {
                (
                    model.to_owned(),
                    Price {
                        input,
                        cached_input: Some(cached),
                        output,
                    },
                )
            })
            .collect();
        Self { prices }
    }
}

impl PriceTable {
    /// The defaults with `overrides` on top.
    pub fn with(overrides: BTreeMap<String, Price>) -> Self {
        let mut table = Self::default();
        table.prices.extend(overrides);
        table
    }

    /// The price of `model`, if known.
    pub fn price(&self, model: &str) -> Option<&Price> {
        if let Some(price) = self.prices.get(model) {
            return Some(price);
        }
        self.prices
            .iter()
            .filter(|(name, _)| {
                model.starts_with(name.as_str())
                    && model[name.len()..].starts_with(['-', ':', '@', '.'])
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| price)
    }

    /// The estimated cost in USD of `tokens` on `model`; `None` for a model with no price.
    pub fn cost(&self, model: &str, tokens: Tokens) -> Option<f64> {
        let price = self.price(model)?;
        let cached = tokens.cached.min(tokens.prompt);
        let fresh = f64::from(tokens.prompt - cached);
        let cached = f64::from(cached);
        let cached_price = price.cached_input.unwrap_or(price.input);
        Some(
            (fresh * price.input
                + cached * cached_price
                + f64::from(tokens.completion) * price.output)
                / 1_000_000.0,
        )
    }

    /// Every model and its price, for the docs and the console.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Price)> {
        self.prices.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dated_model_is_priced_as_its_family_and_cached_tokens_are_cheaper() {
        let table = PriceTable::default();
        let tokens = Tokens {
            prompt: 1_000_000,
            cached: 500_000,
            completion: 1_000_000,
        };
        let cost = table.cost("gpt-4o-2024-08-06", tokens).unwrap_or_default();
        assert!((cost - (1.25 + 0.625 + 10.0)).abs() < 1e-9, "{cost}");
        // `gpt-4o-mini` is its own model, not `gpt-4o`.
        let mini = table.cost("gpt-4o-mini", tokens).unwrap_or_default();
        assert!((mini - (0.075 + 0.0375 + 0.60)).abs() < 1e-9, "{mini}");
        assert_eq!(table.cost("my-local-llama", tokens), None);
    }

    #[test]
    fn a_file_overrides_a_default_and_adds_models() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "gpt-4.1-mini".to_owned(),
            Price {
                input: 1.0,
                cached_input: None,
                output: 2.0,
            },
        );
        let table = PriceTable::with(overrides);
        let tokens = Tokens {
            prompt: 2_000_000,
            cached: 1_000_000,
            completion: 1_000_000,
        };
        assert_eq!(table.cost("gpt-4.1-mini", tokens), Some(4.0));
        assert!(table.price("gpt-4.1").is_some());
    }
}
