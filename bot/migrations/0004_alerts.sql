-- Alerts: who subscribes to what, each alert, one delivery row per recipient, and an audit log.
CREATE TABLE subscribers (
    id          INTEGER PRIMARY KEY,
    channel     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('leader', 'community')),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    name        TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL DEFAULT '',
    place       TEXT NOT NULL DEFAULT '',
    boroughs    TEXT NOT NULL DEFAULT '',  -- separated by ';', or 'all'
    quiet_start TEXT NOT NULL DEFAULT '22:00',  -- local time: reassurance and vigilance wait
    quiet_end   TEXT NOT NULL DEFAULT '07:00',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (channel, user_id)
);

CREATE TABLE alerts (
    id             INTEGER PRIMARY KEY,
    reference      TEXT NOT NULL UNIQUE,  -- e.g. A-7K3Q, for checking an alert is genuine
    kind           TEXT NOT NULL CHECK (kind IN ('reassurance', 'vigilance', 'urgent')),
    audience       TEXT NOT NULL CHECK (audience IN ('leaders', 'community', 'all')),
    areas          TEXT NOT NULL,  -- separated by ';', or 'all'
    text           TEXT NOT NULL,
    created_by     TEXT NOT NULL,  -- channel:user_id of the coordinator, or cli:<user>
    created_at     TEXT NOT NULL,
    send_at        TEXT NOT NULL,
    total          INTEGER NOT NULL,
    report_channel TEXT,  -- where to send the final report (the coordinator who sent it)
    report_user    TEXT,
    report_message TEXT,  -- the live progress message, where the channel can edit it
    reported_at    TEXT
);

-- The durable outbox: written with the alert in one transaction, claimed by the dispatcher.
CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY,
    alert_id        INTEGER NOT NULL REFERENCES alerts (id),
    channel         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',  -- pending, sending, sent, delivered, failed
    not_before      TEXT NOT NULL,  -- quiet hours and retries: not sent before this (UTC)
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_until     TEXT,           -- while sending: claimed until then; a crash frees it after
    reason          TEXT,           -- why it failed for good
    message_id      TEXT,           -- the platform's id, to match delivery reports
    sent_at         TEXT,
    acknowledged    TEXT,           -- received or help
    acknowledged_at TEXT,
    UNIQUE (alert_id, channel, user_id)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (channel, status, not_before, id);
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id, status);
CREATE INDEX alert_deliveries_message ON alert_deliveries (message_id);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT ''
);
