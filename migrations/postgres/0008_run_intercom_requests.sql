-- PostgreSQL twin of migrations/sqlite/0008: the Intercom requests a run sent, as a JSON object of
-- route → count, summed over the run's attempts. NULL: recorded before this column existed.
ALTER TABLE runs ADD COLUMN intercom_requests TEXT;
