-- Guarantees the database keeps by itself, so that several processes (replicas on PostgreSQL, or
-- a process resumed after a stop) cannot break them between a check and a write:
--
-- 1. One open run per event. An event whose attempts were taken up twice at once could otherwise
--    get two `running` runs. Any such duplicates an older version left are closed first (the
--    newest stays open and is resumed by the next attempt).
UPDATE runs
   SET status = 'failed', outcome = 'failed', reason = 'superseded',
       last_error = 'a second open run of the same event; closed by migration 0009',
       finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
 WHERE status IN ('running', 'retrying')
   AND id NOT IN (SELECT MAX(id) FROM runs WHERE status IN ('running', 'retrying') GROUP BY event_id);

CREATE UNIQUE INDEX runs_one_open_per_event ON runs (event_id) WHERE status IN ('running', 'retrying');

-- 2. A write to Intercom is claimed by one run attempt: the lease (owner and epoch) it ran under.
--    A claim is taken only while that lease is held, and a later epoch's claim takes precedence;
--    an attempt whose claim was taken over, or whose write is already done, does not send.
--    NULL: recorded before this column existed, or by a write outside a leased run.
ALTER TABLE actions ADD COLUMN claimed_by TEXT;
ALTER TABLE actions ADD COLUMN claim_epoch INTEGER;
