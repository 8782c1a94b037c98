-- A second approver (ALERT_APPROVALS=2): an alert waits, with no deliveries yet, until another
-- coordinator approves it (its recipients are found then) or refuses it. NULL: none was needed.
ALTER TABLE alerts ADD COLUMN approval TEXT;  -- 'awaiting', 'approved' or 'refused'
ALTER TABLE alerts ADD COLUMN decided_by TEXT;
ALTER TABLE alerts ADD COLUMN decided_at TEXT;
ALTER TABLE alerts ADD COLUMN channels TEXT;  -- the channels it goes on, as composed (';'-separated)
