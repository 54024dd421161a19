-- Every notification Intercom sent us, kept byte-for-byte, and every run the workers made of it.
-- Timestamps are RFC 3339 UTC text with milliseconds, made by SQLite itself.

CREATE TABLE webhook_events (
    id                INTEGER PRIMARY KEY,
    -- Intercom's notification id (`notif_…`), or `sha1:<hex>` of the body when it could not be parsed.
    -- Unique: a redelivery finds the row and enqueues nothing.
    dedupe_key        TEXT    NOT NULL UNIQUE,
    notification_id   TEXT,
    topic             TEXT,
    app_id            TEXT,
    conversation_id   TEXT,
    -- Intercom's own `created_at` (Unix seconds), for ordering.
    created_at        INTEGER,
    delivery_attempts INTEGER,
    received_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- queued | processed | failed | ignored (ping) | unparsed
    status            TEXT    NOT NULL,
    parse_error       TEXT,
    -- The idempotency key of the job that currently carries this event (NULL when none).
    job_key           TEXT,
    processed_at      TEXT,
    raw_body          BLOB    NOT NULL
);

CREATE INDEX webhook_events_status ON webhook_events (status);
CREATE INDEX webhook_events_conversation ON webhook_events (conversation_id);

CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES webhook_events (id),
    conversation_id TEXT,
    topic           TEXT,
    playbook        TEXT,
    -- running | retrying | succeeded | failed | skipped
    status          TEXT    NOT NULL,
    -- no_playbook | resolved | replied | handed_off | escalated | no_action | skipped | failed
    outcome         TEXT,
    -- why it failed or was skipped, for people and scripts (`max_steps`, `llm_unavailable`, …)
    reason          TEXT,
    last_error      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 1,
    started_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at     TEXT,
    duration_ms     INTEGER
);

CREATE INDEX runs_event ON runs (event_id);
CREATE INDEX runs_status ON runs (status);
