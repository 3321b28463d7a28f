DROP INDEX console_sessions_by_expiry;
DROP TABLE console_sessions;
