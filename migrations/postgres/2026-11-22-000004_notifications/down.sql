ALTER TABLE cases DROP COLUMN officer_email;
DROP TABLE directory;
DROP TABLE notifications;
