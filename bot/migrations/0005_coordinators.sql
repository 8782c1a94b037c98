-- Coordinators: who may act as one (approve leaders, send alerts, manage sessions).
-- Bootstrapped from the COORDINATORS setting (each person only if never added or removed before),
-- then managed with `safetybot coordinators add|remove|list`. A removed coordinator keeps a row
-- with `removed_at`, so restarting with COORDINATORS unchanged does not bring them back.
CREATE TABLE coordinators (
    channel    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    added_at   TEXT NOT NULL,
    removed_at TEXT,
    PRIMARY KEY (channel, user_id)
);
