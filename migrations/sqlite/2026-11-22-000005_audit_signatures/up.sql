-- Checkpoints are signed (Ed25519, key outside the database) and copied to a witness;
-- entry hashes are keyed from here on (see src/audit/mod.rs). Entries and checkpoints
-- written before this migration do not verify under the new scheme: archive and
-- verify an existing log with the previous release before upgrading.
ALTER TABLE audit_checkpoints ADD COLUMN signature TEXT NOT NULL DEFAULT '';
