-- Need-to-know: the version non-police roles see, and the area of each notification.

-- Counts only the actions every role that sees the case may see, so that the ETag a
-- chair, panel member or auditor holds does not reveal police-only actions.
ALTER TABLE cases ADD COLUMN shared_version BIGINT NOT NULL DEFAULT 1;
UPDATE cases SET shared_version = (
    SELECT COUNT(*) FROM case_events
    WHERE case_events.case_id = cases.id AND NOT case_events.police_only
);

-- The area whose admins may see and re-send a notification.
ALTER TABLE notifications ADD COLUMN area TEXT NOT NULL DEFAULT '';
UPDATE notifications SET area = (SELECT cases.area FROM cases WHERE cases.id = notifications.case_id)
    WHERE case_id IS NOT NULL;
CREATE INDEX notifications_by_area ON notifications (area, id);
