-- Where each user is in a conversation: the state and the choices last offered.
CREATE TABLE dialog_state (
    channel    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    state      TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (channel, user_id)
);
CREATE INDEX dialog_state_updated_at ON dialog_state (updated_at);

-- Questions the bot could not answer confidently, for content editors. No user id, by design.
CREATE TABLE unanswered (
    id          INTEGER PRIMARY KEY,
    text        TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    suggestions TEXT NOT NULL DEFAULT '',
    asked_at    TEXT NOT NULL
);
CREATE INDEX unanswered_asked_at ON unanswered (asked_at);
