-- Security training sessions, registrations for them, and messages the bot owes people.
CREATE TABLE training_sessions (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    provider    TEXT NOT NULL DEFAULT '',
    venue       TEXT NOT NULL,
    address     TEXT NOT NULL,
    borough     TEXT NOT NULL,
    starts_at   TEXT NOT NULL,  -- UTC, ISO 8601
    ends_at     TEXT NOT NULL,  -- UTC, ISO 8601
    capacity    INTEGER NOT NULL CHECK (capacity >= 1),
    description TEXT NOT NULL DEFAULT '',
    topics      TEXT NOT NULL DEFAULT '',  -- separated by ';'
    status      TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX training_sessions_starts_at ON training_sessions (starts_at);

CREATE TABLE registrations (
    id             INTEGER PRIMARY KEY,
    session_id     INTEGER NOT NULL REFERENCES training_sessions (id),
    channel        TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    name           TEXT NOT NULL,
    organisation   TEXT NOT NULL,
    role           TEXT NOT NULL,
    seats          INTEGER NOT NULL CHECK (seats BETWEEN 1 AND 5),
    accessibility  TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL
                   CHECK (status IN ('confirmed', 'waiting', 'offered', 'cancelled', 'attended')),
    offered_until  TEXT,           -- while offered: the seat passes on after this (UTC)
    calendar_token TEXT NOT NULL UNIQUE,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
-- One active registration per person per session: the backstop behind the seat transaction.
CREATE UNIQUE INDEX registrations_one_active
    ON registrations (session_id, channel, user_id) WHERE status != 'cancelled';
CREATE INDEX registrations_session ON registrations (session_id, status);
CREATE INDEX registrations_user ON registrations (channel, user_id);

-- Messages the bot owes people (offers, reminders, cancellations), sent by `safetybot run`.
-- `key` makes each one unique, so a reminder is queued (and so sent) once only.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    channel    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    body       TEXT NOT NULL,  -- JSON: the reply's text and choices
    status     TEXT NOT NULL DEFAULT 'pending',  -- pending, sent, or why it was not
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    sent_at    TEXT
);
CREATE INDEX notifications_pending ON notifications (status, id);
