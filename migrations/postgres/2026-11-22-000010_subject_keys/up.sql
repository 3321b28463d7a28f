-- Personal data at rest: one data key per subject, wrapped by a master key kept
-- outside the database (see src/store/vault.rs). A destroyed key keeps its row, with
-- no wrapped key, and the time it was destroyed.
CREATE TABLE subject_keys (
    id            TEXT PRIMARY KEY NOT NULL,
    wrapped_key   TEXT,
    master_key_id TEXT,
    created_at    TIMESTAMP NOT NULL,
    destroyed_at  TIMESTAMP
);
CREATE INDEX subject_keys_by_master ON subject_keys (master_key_id);

-- The key a case's personal columns are sealed under (shared by linked cases).
ALTER TABLE cases ADD COLUMN subject_key_id TEXT REFERENCES subject_keys (id);
CREATE INDEX cases_by_subject_key_id ON cases (subject_key_id);
