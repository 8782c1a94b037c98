-- An alert's progress, kept as it changes instead of counted again from every delivery: one row per
-- alert and channel, which the triggers below keep equal to a count of its alert_deliveries, in
-- the same transaction as each insert, change of status or answer, and delete, whoever makes it
-- (the dispatcher, a withdrawal, a delivery report, a resend, /forget). `pending` counts the
-- deliveries queued and those being sent; `failed` every status that is none of the others.
CREATE TABLE alert_counts (
    alert_id     INTEGER NOT NULL REFERENCES alerts (id),
    channel      TEXT NOT NULL,
    total        INTEGER NOT NULL DEFAULT 0,
    pending      INTEGER NOT NULL DEFAULT 0,
    sent         INTEGER NOT NULL DEFAULT 0,
    delivered    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    cancelled    INTEGER NOT NULL DEFAULT 0,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    need_help    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (alert_id, channel)
) WITHOUT ROWID;

INSERT INTO alert_counts (alert_id, channel, total, pending, sent, delivered, failed, cancelled, acknowledged,
                          need_help)
SELECT alert_id, channel, count(*), sum(status IN ('pending', 'sending')), sum(status = 'sent'),
       sum(status = 'delivered'),
       sum(status NOT IN ('pending', 'sending', 'sent', 'delivered', 'cancelled')), sum(status = 'cancelled'),
       sum(acknowledged IS NOT NULL), sum(acknowledged IS 'help')
FROM alert_deliveries GROUP BY alert_id, channel;

-- In the triggers, CASE rather than IN (…): SQLite builds an IN list again at each row a trigger
-- runs for, which made recording a batch twice as slow.
CREATE TRIGGER alert_counts_insert AFTER INSERT ON alert_deliveries BEGIN
    INSERT INTO alert_counts (alert_id, channel, total, pending, sent, delivered, failed, cancelled, acknowledged,
                              need_help)
    VALUES (new.alert_id, new.channel, 1, CASE new.status WHEN 'pending' THEN 1 WHEN 'sending' THEN 1 ELSE 0 END,
            new.status = 'sent', new.status = 'delivered',
            CASE new.status WHEN 'pending' THEN 0 WHEN 'sending' THEN 0 WHEN 'sent' THEN 0 WHEN 'delivered' THEN 0
                            WHEN 'cancelled' THEN 0 ELSE 1 END,
            new.status = 'cancelled', new.acknowledged IS NOT NULL, new.acknowledged IS 'help')
    ON CONFLICT (alert_id, channel) DO UPDATE SET
        total = total + 1, pending = pending + excluded.pending, sent = sent + excluded.sent,
        delivered = delivered + excluded.delivered, failed = failed + excluded.failed,
        cancelled = cancelled + excluded.cancelled, acknowledged = acknowledged + excluded.acknowledged,
        need_help = need_help + excluded.need_help;
END;

-- Claiming (pending → sending), a lease running out and a retry (sending → pending) change no count:
-- the WHEN leaves those rows alone.
CREATE TRIGGER alert_counts_update AFTER UPDATE OF status, acknowledged ON alert_deliveries
WHEN (CASE old.status WHEN 'sending' THEN 'pending' ELSE old.status END)
     IS NOT (CASE new.status WHEN 'sending' THEN 'pending' ELSE new.status END)
  OR old.acknowledged IS NOT new.acknowledged
BEGIN
    UPDATE alert_counts SET
        pending = pending + (CASE new.status WHEN 'pending' THEN 1 WHEN 'sending' THEN 1 ELSE 0 END)
                          - (CASE old.status WHEN 'pending' THEN 1 WHEN 'sending' THEN 1 ELSE 0 END),
        sent = sent + (new.status = 'sent') - (old.status = 'sent'),
        delivered = delivered + (new.status = 'delivered') - (old.status = 'delivered'),
        failed = failed
            + (CASE new.status WHEN 'pending' THEN 0 WHEN 'sending' THEN 0 WHEN 'sent' THEN 0 WHEN 'delivered' THEN 0
                               WHEN 'cancelled' THEN 0 ELSE 1 END)
            - (CASE old.status WHEN 'pending' THEN 0 WHEN 'sending' THEN 0 WHEN 'sent' THEN 0 WHEN 'delivered' THEN 0
                               WHEN 'cancelled' THEN 0 ELSE 1 END),
        cancelled = cancelled + (new.status = 'cancelled') - (old.status = 'cancelled'),
        acknowledged = acknowledged + (new.acknowledged IS NOT NULL) - (old.acknowledged IS NOT NULL),
        need_help = need_help + (new.acknowledged IS 'help') - (old.acknowledged IS 'help')
    WHERE alert_id = new.alert_id AND channel = new.channel;
END;

CREATE TRIGGER alert_counts_delete AFTER DELETE ON alert_deliveries BEGIN
    UPDATE alert_counts SET
        total = total - 1,
        pending = pending - (CASE old.status WHEN 'pending' THEN 1 WHEN 'sending' THEN 1 ELSE 0 END),
        sent = sent - (old.status = 'sent'),
        delivered = delivered - (old.status = 'delivered'),
        failed = failed - (CASE old.status WHEN 'pending' THEN 0 WHEN 'sending' THEN 0 WHEN 'sent' THEN 0
                                           WHEN 'delivered' THEN 0 WHEN 'cancelled' THEN 0 ELSE 1 END),
        cancelled = cancelled - (old.status = 'cancelled'),
        acknowledged = acknowledged - (old.acknowledged IS NOT NULL),
        need_help = need_help - (old.acknowledged IS 'help')
    WHERE alert_id = old.alert_id AND channel = old.channel;
END;

-- The reasons of an alert's failures, read from the index alone; and the claims whose lease may
-- have run out, without reading the deliveries that are not being sent.
DROP INDEX alert_deliveries_alert;
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id, status, reason);
CREATE INDEX alert_deliveries_leased ON alert_deliveries (lease_until) WHERE status = 'sending';
