-- The audit trail of a run (every LLM request and response, every tool call and result) and the
-- idempotency record of every write made to Intercom.

CREATE TABLE run_steps (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    -- Position within the run (1, 2, …).
    seq        INTEGER NOT NULL,
    -- llm_request | llm_response | tool_call | tool_result | guard_refusal | step | fallback | note
    kind       TEXT    NOT NULL,
    -- The tool or step name, when there is one.
    name       TEXT,
    -- JSON: the request, the response, the arguments, the result.
    payload    TEXT    NOT NULL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    duration_ms INTEGER,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (run_id, seq)
);

CREATE TABLE actions (
    id              INTEGER PRIMARY KEY,
    -- run + step + tool + arguments, hashed: the same write retried finds its row.
    idempotency_key TEXT    NOT NULL UNIQUE,
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    conversation_id TEXT,
    tool            TEXT    NOT NULL,
    arguments       TEXT    NOT NULL,
    -- live | draft | shadow
    mode            TEXT    NOT NULL,
    -- started (recorded before the call) | done | failed | skipped (shadow)
    status          TEXT    NOT NULL,
    -- What the write made (conversation part id, ticket id), once done.
    result_ref      TEXT,
    result          TEXT,
    error           TEXT,
    started_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at     TEXT
);

CREATE INDEX actions_run ON actions (run_id);
CREATE INDEX actions_conversation ON actions (conversation_id);

ALTER TABLE runs ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN mode TEXT;
