-- The Intercom requests a run sent, as a JSON object of route → count
-- ({"GET /conversations/{id}": 1, "POST /conversations/{id}/reply": 1}); summed over the run's
-- attempts. NULL: recorded before this column existed.
ALTER TABLE runs ADD COLUMN intercom_requests TEXT;
