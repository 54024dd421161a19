-- PostgreSQL twin of migrations/sqlite/0007: the console, LLM cost, playbook versions and
-- retention.

ALTER TABLE runs ADD COLUMN playbook_version TEXT;
ALTER TABLE runs ADD COLUMN model TEXT;
ALTER TABLE runs ADD COLUMN cached_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN pruned_at TEXT;

ALTER TABLE run_steps ADD COLUMN cached_tokens BIGINT;
ALTER TABLE run_steps ADD COLUMN cost_usd DOUBLE PRECISION;

ALTER TABLE webhook_events ADD COLUMN pruned_at TEXT;

CREATE INDEX runs_started ON runs (started_at);
CREATE INDEX runs_conversation ON runs (conversation_id);
CREATE INDEX runs_playbook ON runs (playbook, started_at);
CREATE INDEX webhook_events_received ON webhook_events (received_at);
CREATE INDEX actions_started ON actions (started_at);

CREATE TABLE ui_sessions (
    id_hash    TEXT PRIMARY KEY,
    token_name TEXT,
    subject    TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT triaged_now(),
    expires_at TEXT NOT NULL
);

CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
