-- A notification only coordinators may read (a leader's request, a call for help: they name
-- people) is checked again as it is sent, so someone removed since does not get it.
ALTER TABLE notifications ADD COLUMN coordinators_only INTEGER NOT NULL DEFAULT 0;
