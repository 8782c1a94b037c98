-- How each person can be reached on their platform, for messages the bot sends first.
-- A row exists only once something needs remembering; /forget deletes it.
CREATE TABLE contacts (
    channel          TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    last_inbound_at  TEXT,  -- their last message (WhatsApp: free-form replies for 24 hours after)
    window_closed_at TEXT,  -- WhatsApp said the 24-hour window is closed (error 63016)
    opted_out_at     TEXT,  -- they sent STOP: no proactive messages until START
    blocked_at       TEXT,  -- they blocked the bot (Telegram 403)
    PRIMARY KEY (channel, user_id)
);

-- Messages the bot sent through a platform's API, and what became of them.
CREATE TABLE outgoing_messages (
    id          TEXT PRIMARY KEY,  -- the platform's id (Twilio MessageSid)
    channel     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,     -- reply, message or template
    status      TEXT NOT NULL,
    error_code  INTEGER,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX outgoing_messages_user ON outgoing_messages (channel, user_id);

-- Texts held back because only a template could be sent; delivered when the person replies.
CREATE TABLE held_messages (
    id         INTEGER PRIMARY KEY,
    channel    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX held_messages_user ON held_messages (channel, user_id);
