-- An alert's text in other languages, as a JSON object {"bn": "...", "ar": "..."}: each recipient
-- gets the text in the language they chose, else the English `text`.
ALTER TABLE alerts ADD COLUMN translations TEXT NOT NULL DEFAULT '{}';
