-- Withdrawing an alert: when and by whom. Its deliveries not yet sent become 'cancelled' (counts
-- kept); CHECK then says it was withdrawn.
ALTER TABLE alerts ADD COLUMN cancelled_at TEXT;
ALTER TABLE alerts ADD COLUMN cancelled_by TEXT;
