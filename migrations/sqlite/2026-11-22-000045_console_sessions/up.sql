-- Sessions of the web console. The cookie carries a random session id; only its
-- SHA-256 is stored, so a copy of this table signs no one in. The actor's claims are
-- kept as the token mapping produced them; the CSRF token is bound to the session.

CREATE TABLE console_sessions (
    id_hash      TEXT PRIMARY KEY NOT NULL,
    claims       TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
