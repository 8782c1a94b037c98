-- Every update a platform posts is written here before it is answered. A duplicate (the same
-- Telegram update_id or Twilio MessageSid: a platform retrying, or a replayed request) is answered
-- 200 and ignored; one still unhandled when the process died is handled when it starts again.
CREATE TABLE inbox (
    channel     TEXT NOT NULL,
    key         TEXT NOT NULL,  -- Telegram's update_id, Twilio's MessageSid
    received_at TEXT NOT NULL,
    payload     TEXT,           -- the update as posted, until it is handled (then NULL: it holds what people wrote)
    handled_at  TEXT,
    PRIMARY KEY (channel, key)
);
CREATE INDEX inbox_received ON inbox (received_at);
