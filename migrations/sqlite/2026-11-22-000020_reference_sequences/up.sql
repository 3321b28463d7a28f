-- PostgreSQL moves reference numbers to per-year sequences in this migration. SQLite has
-- one writer, so its intakes run one at a time anyway: it keeps `reference_counters`.
SELECT 1;
