-- Retention reviews and erasure.

-- Statistical fields kept when a case's personal data is erased, filled at intake.
ALTER TABLE cases ADD COLUMN age_band TEXT;
ALTER TABLE cases ADD COLUMN gender TEXT;
ALTER TABLE cases ADD COLUMN needs_recorded BOOLEAN NOT NULL DEFAULT FALSE;

-- When the case is next reviewed for retention (set once it is terminal or exited),
-- whether a legal hold blocks its erasure, and when its personal data was erased.
ALTER TABLE cases ADD COLUMN review_due_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN erased_at TIMESTAMP;
CREATE INDEX cases_by_review ON cases (review_due_at, id);

-- Every retention decision: retain (with a reason code, a justification and the next
-- review), hold, release, erase.
CREATE TABLE retention_decisions (
    id             TEXT PRIMARY KEY NOT NULL,
    case_id        TEXT NOT NULL REFERENCES cases (id),
    decision       TEXT NOT NULL,
    reason_code    TEXT,
    justification  TEXT,
    next_review_at TIMESTAMP,
    decided_by     TEXT NOT NULL,
    decided_at     TIMESTAMP NOT NULL,
    request_id     TEXT
);
CREATE INDEX retention_decisions_by_case ON retention_decisions (case_id, decided_at);
