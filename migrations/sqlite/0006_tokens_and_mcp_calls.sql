-- Access tokens (MCP clients, the web console) and the audit of every MCP tool call.
-- A token's secret is never stored: only the SHA-256 of the whole presented string (hex).

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    -- mcp:read | mcp:write | ui
    scope        TEXT    NOT NULL CHECK (scope IN ('mcp:read', 'mcp:write', 'ui')),
    -- JSON arrays narrowing the tools (MCP scopes); NULL = no narrowing.
    tags         TEXT,
    tools        TEXT,
    -- hex SHA-256 of the token (`triaged_tok_…`).
    secret_hash  TEXT    NOT NULL UNIQUE,
    -- hex SHA-256 of the second credential (`triaged_key_…`) a path-token request must also carry.
    api_key_hash TEXT,
    -- MCP tool calls per minute this token may make; NULL = the server's TRIAGED_MCP_RATE_LIMIT.
    rate_limit   INTEGER,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);

-- One row per MCP `tools/call`, written before the call (status `pending`) and finished after it.
CREATE TABLE mcp_calls (
    id               INTEGER PRIMARY KEY,
    token_id         INTEGER NOT NULL REFERENCES tokens (id),
    token_name       TEXT    NOT NULL,
    tool             TEXT    NOT NULL,
    -- JSON object, as the client sent it.
    arguments        TEXT    NOT NULL,
    -- pending | ok | refused | error
    status           TEXT    NOT NULL,
    -- A short stable label for refusals and errors (`not_allowed`, `rate_limited`, `intercom`, …).
    reason           TEXT,
    -- The text the client got (capped), so a retry within the window gets the same answer.
    result           TEXT,
    -- The run a write was made under (its writes are that run's rows in `actions`).
    run_id           INTEGER REFERENCES runs (id),
    -- For writes: hash of token + tool + arguments; a retry within the window finds the first call.
    dedupe_key       TEXT,
    -- The earlier call whose result a retry returned.
    replay_of        INTEGER REFERENCES mcp_calls (id),
    protocol_version TEXT,
    client           TEXT,
    duration_ms      INTEGER,
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at      TEXT
);

CREATE INDEX mcp_calls_token ON mcp_calls (token_name, id);
CREATE INDEX mcp_calls_dedupe ON mcp_calls (dedupe_key, created_at);
