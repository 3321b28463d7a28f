DROP INDEX cases_by_subject_key_id;
ALTER TABLE cases DROP COLUMN subject_key_id;
DROP TABLE subject_keys;
