DROP INDEX audit_log_by_area_time;
DROP INDEX audit_log_by_area_action;
DROP INDEX audit_log_by_area_actor;
DROP INDEX audit_log_by_case;
CREATE INDEX audit_log_by_case ON audit_log (case_id, occurred_at);
DROP INDEX audit_log_by_actor;
CREATE INDEX audit_log_by_actor ON audit_log (actor_sub, occurred_at);
