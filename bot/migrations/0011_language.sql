-- The language each person chose (ISO 639-1: en, bn, ur, ar, tr, so, pl, pa), so the bot writes to
-- them in it, and alerts and reminders reach them in it. NULL: not chosen yet (English, with the
-- choice offered). Shown by /mydata and deleted by /forget with the rest of the row.
ALTER TABLE contacts ADD COLUMN language TEXT;
