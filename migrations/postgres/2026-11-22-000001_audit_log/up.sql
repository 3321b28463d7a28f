-- The audit log: append-only, hash-chained per stream (see src/audit/mod.rs for why).
-- It never holds personal data, so it can outlive the cases it describes.

CREATE TABLE audit_chains (
    chain_key        TEXT PRIMARY KEY,
    head_seq         BIGINT NOT NULL,
    head_hash        TEXT NOT NULL,
    checkpointed_seq BIGINT NOT NULL DEFAULT 0,
    updated_at       TIMESTAMP NOT NULL
);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    chain_key   TEXT NOT NULL REFERENCES audit_chains (chain_key),
    seq         BIGINT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    request_id  TEXT,
    actor_sub   TEXT NOT NULL,
    actor_roles TEXT NOT NULL,
    area        TEXT NOT NULL,
    action      TEXT NOT NULL,
    case_id     TEXT,
    outcome     TEXT NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (chain_key, seq)
);
CREATE INDEX audit_log_by_time ON audit_log (occurred_at, id);
CREATE INDEX audit_log_by_case ON audit_log (case_id, occurred_at);
CREATE INDEX audit_log_by_actor ON audit_log (actor_sub, occurred_at);

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    heads      TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
