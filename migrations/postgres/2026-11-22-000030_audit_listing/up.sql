-- Indexes that match the shapes of audit listing (src/store/audit.rs `list`): an area
-- auditor's listing seeks its area, then a filter, then walks time either way, so a
-- page reads only the entries it shows. Each ends with id, the tiebreak of equal
-- times, so that keyset pagination stays exact and never sorts.
CREATE INDEX audit_log_by_area_time ON audit_log (area, occurred_at, id);
CREATE INDEX audit_log_by_area_action ON audit_log (area, action, occurred_at, id);
CREATE INDEX audit_log_by_area_actor ON audit_log (area, actor_sub, occurred_at, id);
DROP INDEX audit_log_by_case;
CREATE INDEX audit_log_by_case ON audit_log (case_id, occurred_at, id);
DROP INDEX audit_log_by_actor;
CREATE INDEX audit_log_by_actor ON audit_log (actor_sub, occurred_at, id);
