-- One run per conversation at a time, debounce and coalescing.

-- How many jobs were ever enqueued for the event; the current job's key is `evt:<id>:<job_seq>`.
-- A job whose key is no longer the event's `job_key` is stale and does nothing (a fencing token).
ALTER TABLE webhook_events ADD COLUMN job_seq INTEGER NOT NULL DEFAULT 0;
-- For events with status `coalesced`: the newer event whose run covered this one.
ALTER TABLE webhook_events ADD COLUMN coalesced_into INTEGER REFERENCES webhook_events (id);

-- The run currently working on a conversation. A lease expires so that a dead holder cannot block
-- the conversation forever; the holder is the job key, so the same job resumed after a crash takes
-- its own lease back at once.
CREATE TABLE conversation_leases (
    conversation_id TEXT    PRIMARY KEY,
    holder          TEXT    NOT NULL,
    event_id        INTEGER NOT NULL,
    -- Unix milliseconds.
    acquired_at     INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);

CREATE INDEX webhook_events_conversation_status ON webhook_events (conversation_id, status);
