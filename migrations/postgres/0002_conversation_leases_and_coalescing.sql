-- PostgreSQL twin of migrations/sqlite/0002: one run per conversation at a time, debounce and
-- coalescing.

ALTER TABLE webhook_events ADD COLUMN job_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_events ADD COLUMN coalesced_into BIGINT REFERENCES webhook_events (id);

-- Replaced by 0005 (kept so both backends share their version numbers).
CREATE TABLE conversation_leases (
    conversation_id TEXT   PRIMARY KEY,
    holder          TEXT   NOT NULL,
    event_id        BIGINT NOT NULL,
    acquired_at     BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);

CREATE INDEX webhook_events_conversation_status ON webhook_events (conversation_id, status);
