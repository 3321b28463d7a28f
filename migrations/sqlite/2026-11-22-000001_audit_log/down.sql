DROP TABLE audit_checkpoints;
DROP TABLE audit_log;
DROP TABLE audit_chains;
