ALTER TABLE cases DROP COLUMN exited_at;
ALTER TABLE cases DROP COLUMN consent;
ALTER TABLE cases DROP COLUMN support_plan;
DROP TABLE case_notes;
DROP TABLE agenda_items;
DROP TABLE meetings;
DROP TABLE panel_members;
DROP TABLE panels;
