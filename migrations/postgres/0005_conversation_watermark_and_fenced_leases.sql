-- PostgreSQL twin of migrations/sqlite/0005: the conversation model (watermark, snapshots, chain
-- starts) and leases with an owner and an epoch (a fencing token).

ALTER TABLE conversations ADD COLUMN seen_part_id TEXT;
ALTER TABLE runs ADD COLUMN snapshot_part_id TEXT;
ALTER TABLE webhook_events ADD COLUMN chain_started_at TEXT;

DROP TABLE conversation_leases;
CREATE TABLE conversation_leases (
    conversation_id TEXT   PRIMARY KEY,
    owner           TEXT   NOT NULL,
    holder          TEXT   NOT NULL,
    event_id        BIGINT NOT NULL,
    epoch           BIGINT NOT NULL,
    -- Unix milliseconds.
    acquired_at     BIGINT NOT NULL,
    renewed_at      BIGINT NOT NULL,
    -- 0 when released.
    expires_at      BIGINT NOT NULL
);
