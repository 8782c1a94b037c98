-- Urgent first: each delivery carries its alert's priority (0 urgent, 1 vigilance, 2 reassurance),
-- and the dispatcher claims by priority, then due time, from an index in that order: an urgent
-- alert queued behind a big reassurance broadcast goes next, and a claim reads only the rows it
-- takes, however many deliveries are waiting.
ALTER TABLE alert_deliveries ADD COLUMN priority INTEGER NOT NULL DEFAULT 2;
UPDATE alert_deliveries SET priority = CASE (SELECT kind FROM alerts WHERE alerts.id = alert_deliveries.alert_id)
    WHEN 'urgent' THEN 0 WHEN 'vigilance' THEN 1 ELSE 2 END;
DROP INDEX alert_deliveries_due;
CREATE INDEX alert_deliveries_due ON alert_deliveries (channel, status, priority, not_before, id);
