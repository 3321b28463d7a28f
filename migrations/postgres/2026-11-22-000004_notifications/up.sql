-- Notifications: an outbox written in the same transaction as the action it reports,
-- and the directory of team mailboxes. Rows hold a reference and a link, never the
-- subject's personal details.

CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    case_id         TEXT,
    recipient       TEXT NOT NULL,
    context         TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until   TIMESTAMP,
    last_error      TEXT,
    dedupe_key      TEXT UNIQUE,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX notifications_by_status ON notifications (status, next_attempt_at);

CREATE TABLE directory (
    id         TEXT PRIMARY KEY,
    area       TEXT NOT NULL,
    role       TEXT NOT NULL,
    mailbox    TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (area, role, mailbox)
);

-- The officer who referred a case to Channel: told of the panel's decisions.
ALTER TABLE cases ADD COLUMN officer_email TEXT;
