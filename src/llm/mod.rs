//! Stage: **llm** — chat completions against any OpenAI-compatible API (async-openai).
//!
//! One retry layer owns LLM retries: async-openai's own, which retries 429, 5xx and connection
//! failures honouring `Retry-After` (3 retries, capped exponential back-off otherwise). This module
//! adds a request timeout, classifies what is left into [`LlmError`], and reports token usage. It
//! never executes tools and never sees Intercom.

pub mod pricing;
pub mod scripted;

use std::time::Duration;

use async_openai::{
    Client,
    config::OpenAIConfig,
    error::OpenAIError,
    types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse},
};
use secrecy::ExposeSecret;

use crate::config::LlmConfig;

/// How long one chat-completion request may take before it counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a chat completion failed, after the retries.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// No key configured: agent steps take their fallback.
    #[error("no LLM is configured (set TRIAGED_LLM_API_KEY)")]
    NotConfigured,
    /// Unreachable, timed out, overloaded or failing (after retries).
    #[error("the LLM is unavailable: {0}")]
    Unavailable(String),
    /// The API refused the request (bad model name, bad key, context too long…).
    #[error("the LLM refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// The API answered something that is not a chat completion.
    #[error("the LLM answered something unreadable: {0}")]
    BadResponse(String),
}

impl LlmError {
    /// A short stable label (run reasons, metrics).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotConfigured | Self::Unavailable(_) => "llm_unavailable",
            Self::Rejected { .. } => "llm_rejected",
            Self::BadResponse(_) => "llm_bad_response",
        }
    }
}

/// A configured chat-completions client.
#[derive(Debug, Clone)]
pub struct Llm {
    client: Client<OpenAIConfig>,
    default_model: String,
    base_url: String,
    prices: pricing::PriceTable,
}

impl Llm {
    /// The client for `config`, or `None` when no API key is configured.
    pub fn from_config(config: &LlmConfig, timeout: Duration) -> Result<Option<Self>, LlmError> {
        let Some(key) = config.api_key.as_ref() else {
            return Ok(None);
        };
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LlmError::Unavailable(e.to_string()))?;
        let openai = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(key.expose_secret());
        Ok(Some(Self {
            client: Client::with_config(openai).with_http_client(http),
            default_model: config.model.clone(),
            base_url: config.base_url.clone(),
            prices: pricing::PriceTable::default(),
        }))
    }

    /// Uses `prices` (the built-in estimates with `TRIAGED_LLM_PRICES` on top) for [`Self::cost`].
    pub fn with_prices(mut self, prices: pricing::PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// The estimated cost (USD) of `tokens` on `model`; `None` for a model with no price.
    pub fn cost(&self, model: &str, tokens: pricing::Tokens) -> Option<f64> {
        self.prices.cost(model, tokens)
    }

    /// The model used when a playbook names none.
    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    /// The API base URL (for logs; carries no secret).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// One chat completion.
    pub async fn chat(
        &self,
        request: CreateChatCompletionRequest,
    ) -> Result<CreateChatCompletionResponse, LlmError> {
        self.client.chat().create(request).await.map_err(classify)
    }
}

fn classify(error: OpenAIError) -> LlmError {
    match error {
        OpenAIError::ApiError(response) => {
            let status = response.status_code.as_u16();
            if status == 429 || status >= 500 {
                LlmError::Unavailable(format!("{status}: {}", response.api_error.message))
            } else {
                LlmError::Rejected {
                    status,
                    message: response.api_error.message,
                }
            }
        }
        OpenAIError::Reqwest(e) => LlmError::Unavailable(e.to_string()),
        OpenAIError::JSONDeserialize(e, _) => LlmError::BadResponse(e.to_string()),
        other => LlmError::BadResponse(other.to_string()),
    }
}
