-- The conversation model: the bot's watermark per conversation, the snapshot each run worked on,
-- the first event of a coalescing chain, and leases with an owner and an epoch (a fencing token).

-- The newest part of the conversation the bot has seen and acted upon (set by each run from the
-- snapshot it worked on; `0` when that snapshot had no parts, only the first message). The bot acts
-- when a customer part newer than this exists. NULL: no run has recorded one yet.
ALTER TABLE conversations ADD COLUMN seen_part_id TEXT;

-- The newest part of the conversation when the run last decided what to write (kept from the
-- attempt that made its first customer-visible write, so a resumed run never claims to have
-- answered a message it saw only after replying).
ALTER TABLE runs ADD COLUMN snapshot_part_id TEXT;

-- For a queued event that other events were coalesced into: when the first event of that chain
-- was received (the non-stop typist bound counts from it). NULL: the event's own `received_at`.
ALTER TABLE webhook_events ADD COLUMN chain_started_at TEXT;

-- Leases now carry the process that holds them (`owner`) and an `epoch` that grows by one each
-- time the lease changes hands; every write of a run checks that its epoch is still current.
-- Rows are never deleted (a released lease has `expires_at = 0`), so an epoch is never reused.
-- Only in-flight state lives here: leases held at upgrade time are dropped (none are, the daemon
-- is stopped to migrate).
DROP TABLE conversation_leases;
CREATE TABLE conversation_leases (
    conversation_id TEXT    PRIMARY KEY,
    -- The process holding it (host, pid, start time); '' when released.
    owner           TEXT    NOT NULL,
    -- The job key of the run holding it; '' when released.
    holder          TEXT    NOT NULL,
    event_id        INTEGER NOT NULL,
    epoch           INTEGER NOT NULL,
    -- Unix milliseconds.
    acquired_at     INTEGER NOT NULL,
    renewed_at      INTEGER NOT NULL,
    -- 0 when released; a lease whose `expires_at` has passed may be taken by anyone.
    expires_at      INTEGER NOT NULL
);
