DROP TABLE retention_decisions;
DROP INDEX cases_by_review;
ALTER TABLE cases DROP COLUMN erased_at;
ALTER TABLE cases DROP COLUMN legal_hold;
ALTER TABLE cases DROP COLUMN review_due_at;
ALTER TABLE cases DROP COLUMN needs_recorded;
ALTER TABLE cases DROP COLUMN gender;
ALTER TABLE cases DROP COLUMN age_band;
