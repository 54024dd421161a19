//! One MCP `tools/call`, from the grant to the audit row: the token's filter (a hidden tool is
//! unknown), its rate limit (no Intercom call when spent), then the tool through the same
//! [`Toolbox`] the agent uses — argument validation, the guard, name resolution, the exactly-once
//! `actions` record, result caps. A write is first claimed in `mcp_calls`: the same call (token,
//! tool, arguments) retried within [`crate::store::mcp_calls::RETRY_WINDOW_SECONDS`] gets the first call's result back.
//!
//! Reads may look at the whole workspace ([`Reads::Workspace`]): an MCP token is a teammate's
//! (or their assistant's), issued on purpose with its own scope (`mcp-read`/`mcp-write`, tags, a
//! tool list), not a run started by a customer's message, so the agent's per-conversation read
//! scope does not apply; what a token may call is its grant. A write may only touch the
//! conversation its arguments name, and acts as the configured bot admin, never as anyone the
//! arguments say.

use std::{collections::BTreeSet, time::Instant};

use rmcp::{
    ErrorData,
    model::{CallToolResult, ContentBlock},
};
use serde_json::{Value, json};

use super::{McpState, grant::Grant};
use crate::{
    ids::ConversationId,
    playbook::Mode,
    store::mcp_calls::{CallEnd, CallStatus, Claim, NewCall},
    tools::{
        Access, ToolName,
        cli::{finish_run, start_run},
        guard::{Reads, Scope},
        toolbox::{self, ToolOutput, Toolbox},
    },
};

/// Who called, for the audit row.
#[derive(Debug, Clone, Default)]
pub struct CallMeta {
    pub protocol_version: Option<String>,
    pub client: Option<String>,
}

/// A finished call: what the client gets and what the audit records.
struct Outcome {
    result: CallToolResult,
    status: CallStatus,
    reason: Option<&'static str>,
    text: String,
    run_id: Option<i64>,
}

fn internal(e: impl std::fmt::Display) -> ErrorData {
    tracing::error!(error = %e, "MCP call failed internally");
    ErrorData::internal_error("internal error", None)
}

/// A successful result: the text for the model, and the same text as `structuredContent`.
fn success(text: &str) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text.to_owned())]);
    result.structured_content = Some(json!({ "text": text }));
    result
}

/// A tool error the model can read (`isError: true`), with a stable reason.
fn failure(text: &str, reason: &str, extra: Option<(&str, Value)>) -> CallToolResult {
    let mut structured = json!({ "error": text, "reason": reason });
    if let Some((key, value)) = extra {
        structured[key] = value;
    }
    let mut result = CallToolResult::error(vec![ContentBlock::text(text.to_owned())]);
    result.structured_content = Some(structured);
    result
}

/// The toolbox's answer as an MCP result and an audit status.
fn outcome(output: ToolOutput, run_id: Option<i64>) -> Outcome {
    let (status, reason) = match output.status {
        toolbox::CallStatus::Ok => (CallStatus::Ok, None),
        toolbox::CallStatus::Invalid => (CallStatus::Refused, Some("invalid_arguments")),
        toolbox::CallStatus::Refused(label) => (CallStatus::Refused, Some(label)),
        toolbox::CallStatus::Failed => (CallStatus::Error, Some("intercom")),
        toolbox::CallStatus::Transient => (CallStatus::Error, Some("intercom_unavailable")),
    };
    let result = match reason {
        None => success(&output.content),
        Some(reason) => failure(&output.content, reason, None),
    };
    Outcome {
        result,
        status,
        reason,
        text: output.content,
        run_id,
    }
}

impl McpState {
    /// Runs `name` for `grant`. A tool the grant does not allow is a protocol error "unknown
    /// tool", exactly like a name that is no tool at all; everything else is a tool result.
    pub(super) async fn call(
        &self,
        grant: &Grant,
        name: &str,
        arguments: Value,
        meta: &CallMeta,
    ) -> Result<CallToolResult, ErrorData> {
        let started = Instant::now();
        let new = NewCall {
            token_id: grant.token.id,
            token_name: &grant.token.name,
            tool: name,
            arguments: &arguments,
            protocol_version: meta.protocol_version.as_deref(),
            client: meta.client.as_deref(),
        };
        let Some(tool) = ToolName::parse(name).filter(|t| grant.allows(*t)) else {
            let text = format!("unknown tool `{name}`");
            self.refuse(&new, "unknown", &started, "unknown_tool", &text)
                .await?;
            return Err(ErrorData::invalid_params(text, None));
        };
        let per_minute = grant.token.rate_limit.unwrap_or(self.settings.rate_limit);
        if let Err(wait) = self.limits.take(grant.token.id, per_minute, Instant::now()) {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let text = format!(
                "rate limited: this token may make {per_minute} tool calls a minute; retry in \
                 {secs}s"
            );
            self.refuse(&new, name, &started, "rate_limited", &text)
                .await?;
            return Ok(failure(
                &text,
                "rate_limited",
                Some(("retry_after_seconds", json!(secs))),
            ));
        }
        let (id, done) = match tool.access() {
            Access::Read => {
                let id = self.db.begin_mcp_call(&new).await.map_err(internal)?;
                (id, outcome(self.read(grant, tool, &arguments).await, None))
            }
            Access::Write => match self.db.claim_mcp_write(&new).await.map_err(internal)? {
                Claim::Fresh(id) => (id, self.write(grant, tool, &arguments).await?),
                Claim::Replay { first, result, .. } => {
                    tracing::info!(
                        tool = name,
                        first,
                        "MCP write retried: first result returned"
                    );
                    metrics::counter!("triaged_mcp_calls_total", "tool" => name.to_owned(), "status" => "ok")
                        .increment(1);
                    return Ok(success(&result));
                }
                Claim::InFlight { first } => {
                    let text = format!(
                        "the same call (#{first}) is still running; retry in a few seconds to get \
                         its result"
                    );
                    self.refuse(&new, name, &started, "in_flight", &text)
                        .await?;
                    return Ok(failure(
                        &text,
                        "in_flight",
                        Some(("retry_after_seconds", json!(5))),
                    ));
                }
            },
        };
        self.finish(
            id,
            name,
            &started,
            done.status,
            done.reason,
            &done.text,
            done.run_id,
        )
        .await?;
        Ok(done.result)
    }

    /// Records a call refused before it ran (`tool`: its metrics label).
    async fn refuse(
        &self,
        new: &NewCall<'_>,
        tool: &str,
        started: &Instant,
        reason: &str,
        text: &str,
    ) -> Result<(), ErrorData> {
        let id = self.db.begin_mcp_call(new).await.map_err(internal)?;
        self.finish(
            id,
            tool,
            started,
            CallStatus::Refused,
            Some(reason),
            text,
            None,
        )
        .await
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one audit row's fields, named at the call"
    )]
    async fn finish(
        &self,
        id: i64,
        tool: &str,
        started: &Instant,
        status: CallStatus,
        reason: Option<&str>,
        text: &str,
        run_id: Option<i64>,
    ) -> Result<(), ErrorData> {
        metrics::counter!("triaged_mcp_calls_total", "tool" => tool.to_owned(), "status" => status.as_str())
            .increment(1);
        let end = CallEnd {
            status,
            reason,
            result: text,
            run_id,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        self.db.finish_mcp_call(id, &end).await.map_err(internal)
    }

    /// The tools a toolbox for this grant allows (what it lists on an unknown name).
    fn allowed(grant: &Grant) -> BTreeSet<ToolName> {
        grant.tools().collect()
    }

    /// A read: the whole workspace is in scope; nothing is recorded in `actions`, so the toolbox
    /// needs no run (run 0 is never written).
    async fn read(&self, grant: &Grant, tool: ToolName, arguments: &Value) -> ToolOutput {
        // A teammate's token, not a customer's run: its reads reach the workspace (what a
        // token may call is its grant: scope, tags, tool list).
        let scope = Scope::conversation("", Vec::new())
            .reading(Reads::Workspace)
            .allowing(Self::allowed(grant));
        let mut toolbox = Toolbox::new(
            self.intercom.clone(),
            self.db.clone(),
            self.bot.clone(),
            0,
            Mode::Live,
            scope,
        );
        toolbox.call(tool.as_str(), &arguments.to_string()).await
    }

    /// A write, under its own run (source `mcp`): the guard lets it touch only the conversation
    /// its arguments name (tickets only for that conversation's contacts), at most one reply.
    async fn write(
        &self,
        grant: &Grant,
        tool: ToolName,
        arguments: &Value,
    ) -> Result<Outcome, ErrorData> {
        let started = Instant::now();
        let conversation = arguments
            .get("conversation_id")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let mut contact_ids = Vec::new();
        if tool == ToolName::CreateTicket
            && let Some(id) = conversation
        {
            match self
                .intercom
                .retrieve_conversation(&ConversationId::from(id), false)
                .await
            {
                Ok(c) => contact_ids = c.contact_ids().map(|c| c.to_string()).collect(),
                Err(e) => {
                    return Ok(outcome(
                        ToolOutput {
                            content: format!("error: cannot read conversation {id}: {e}"),
                            status: toolbox::CallStatus::Failed,
                        },
                        None,
                    ));
                }
            }
        }
        let run_id = start_run(&self.db, "mcp", tool, &arguments.to_string(), conversation)
            .await
            .map_err(internal)?;
        let scope = Scope::conversation(conversation.unwrap_or_default(), contact_ids)
            .reading(Reads::Workspace)
            .allowing(Self::allowed(grant))
            .replies(1);
        let mut toolbox = Toolbox::new(
            self.intercom.clone(),
            self.db.clone(),
            self.bot.clone(),
            run_id,
            Mode::Live,
            scope,
        );
        toolbox.reply_links(self.settings.reply_links.clone());
        let output = toolbox.call(tool.as_str(), &arguments.to_string()).await;
        finish_run(&self.db, run_id, "mcp", &output, started.elapsed())
            .await
            .map_err(internal)?;
        Ok(outcome(output, Some(run_id)))
    }
}
