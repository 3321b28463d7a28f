ALTER TABLE audit_checkpoints DROP COLUMN signature;
