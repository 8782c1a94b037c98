-- A correction or an all clear follows an alert: it goes to exactly the people who received the
-- original, carries the original's reference, and CHECK on that reference says it was corrected.
ALTER TABLE alerts ADD COLUMN follows INTEGER REFERENCES alerts (id);
ALTER TABLE alerts ADD COLUMN follow_up TEXT;  -- 'correction' or 'all-clear'
CREATE INDEX alerts_follows ON alerts (follows) WHERE follows IS NOT NULL;
