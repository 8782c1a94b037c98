-- A session's calendar entries carry a SEQUENCE (RFC 5545) that goes up each time it moves (time,
-- venue or address) or is cancelled, so a calendar app updates the event people already have
-- instead of adding a second one. `moved_at` is when it last moved: a reminder whose time had
-- passed by then is not sent (the notice of the change told them).
ALTER TABLE training_sessions ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE training_sessions ADD COLUMN moved_at TEXT;
