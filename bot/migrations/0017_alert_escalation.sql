-- Escalation: an alert may set how long leaders have to acknowledge it (seconds); then those who
-- haven't get one reminder and coordinators the places of worship not yet reached (escalated_at).
ALTER TABLE alerts ADD COLUMN escalate_after INTEGER;
ALTER TABLE alerts ADD COLUMN escalated_at TEXT;
-- A call for help (Need help) that a coordinator took on ("I'm on it"): who, and when.
ALTER TABLE alert_deliveries ADD COLUMN help_taken_by TEXT;
ALTER TABLE alert_deliveries ADD COLUMN help_taken_at TEXT;
