-- Which kinds of alert a subscriber gets (urgent ones always), ';'-separated. Their quiet hours
-- (quiet_start, quiet_end) are set by them in the chat or by the leaders' CSV import.
ALTER TABLE subscribers ADD COLUMN kinds TEXT NOT NULL DEFAULT 'reassurance;vigilance;urgent';
