-- The console, LLM cost, playbook versions and retention (issue 13).

-- The content hash of the playbook a run used (runs in flight keep the version they started with).
ALTER TABLE runs ADD COLUMN playbook_version TEXT;
-- The model the run's agent step used, its cached prompt tokens and its estimated cost (USD, from
-- the price table at the time of the run).
ALTER TABLE runs ADD COLUMN model TEXT;
ALTER TABLE runs ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
-- When retention deleted the run's trail (its summary, counts and cost stay).
ALTER TABLE runs ADD COLUMN pruned_at TEXT;

ALTER TABLE run_steps ADD COLUMN cached_tokens INTEGER;
ALTER TABLE run_steps ADD COLUMN cost_usd REAL;

-- When retention deleted the event's raw body (its row, topic and status stay).
ALTER TABLE webhook_events ADD COLUMN pruned_at TEXT;

CREATE INDEX runs_started ON runs (started_at);
CREATE INDEX runs_conversation ON runs (conversation_id);
CREATE INDEX runs_playbook ON runs (playbook, started_at);
CREATE INDEX webhook_events_received ON webhook_events (received_at);
CREATE INDEX actions_started ON actions (started_at);

-- Console sessions: a `ui` token exchanged at the login page for a cookie. Only hashes are kept.
CREATE TABLE ui_sessions (
    -- SHA-256 (hex) of the session cookie's value.
    id_hash    TEXT PRIMARY KEY,
    -- The token that opened the session (its name in the token store); NULL when a trusted
    -- proxy header identified the user.
    token_name TEXT,
    -- Who is signed in (the token's name, or the proxy header's value), for the page header.
    subject    TEXT NOT NULL,
    -- The CSRF token every form of this session carries.
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at TEXT NOT NULL
);

CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
