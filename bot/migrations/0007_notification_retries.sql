-- Queued notices are retried with backoff for hours, not seconds, and claimed with a lease, so that
-- of several processes on one database exactly one sends each (a crashed one's claims come back).
ALTER TABLE notifications ADD COLUMN next_attempt_at TEXT;  -- not before this (NULL: as soon as possible)
ALTER TABLE notifications ADD COLUMN lease_until TEXT;      -- while status is 'sending'
ALTER TABLE notifications ADD COLUMN reason TEXT;           -- why the last attempt failed
DROP INDEX notifications_pending;
CREATE INDEX notifications_due ON notifications (status, next_attempt_at, id);
