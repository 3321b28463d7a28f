DROP INDEX notifications_by_area;
ALTER TABLE notifications DROP COLUMN area;
ALTER TABLE cases DROP COLUMN shared_version;
