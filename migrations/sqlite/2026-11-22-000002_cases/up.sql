-- Cases: one row per referral, its current state and version; events are its history.
CREATE TABLE cases (
    id                     TEXT PRIMARY KEY NOT NULL,
    reference              TEXT NOT NULL UNIQUE,
    area                   TEXT NOT NULL,
    state                  TEXT NOT NULL,
    version                BIGINT NOT NULL,
    referrer_sub           TEXT NOT NULL,
    submitted_at           TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL,
    due_kind               TEXT,
    due_at                 TIMESTAMP,
    outcome                TEXT,
    referred_to_channel_at TIMESTAMP,
    subject_key            TEXT,
    referral               TEXT NOT NULL,
    deconfliction          TEXT,
    immediate_risk         BOOLEAN NOT NULL,
    sector                 TEXT NOT NULL,
    type_of_concern        TEXT
);
CREATE INDEX cases_by_area_state ON cases (area, state, submitted_at);
CREATE INDEX cases_by_referrer ON cases (referrer_sub, submitted_at);
CREATE INDEX cases_by_subject ON cases (subject_key);
CREATE INDEX cases_by_due ON cases (due_at);

-- Repeat referrals about the same person, linked both ways.
CREATE TABLE case_links (
    case_id        TEXT NOT NULL REFERENCES cases (id),
    linked_case_id TEXT NOT NULL REFERENCES cases (id),
    reason         TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, linked_case_id)
);

-- The case's history: every action, who, when, from and to which state, why.
CREATE TABLE case_events (
    id           TEXT PRIMARY KEY NOT NULL,
    case_id      TEXT NOT NULL REFERENCES cases (id),
    seq          BIGINT NOT NULL,
    action       TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT NOT NULL,
    actor_sub    TEXT NOT NULL,
    actor_roles  TEXT NOT NULL,
    occurred_at  TIMESTAMP NOT NULL,
    request_id   TEXT,
    reason_code  TEXT,
    rationale    TEXT,
    details      TEXT NOT NULL,
    police_only  BOOLEAN NOT NULL,
    UNIQUE (case_id, seq)
);

-- Referrals to other services (signposting, and later the panel's).
CREATE TABLE onward_referrals (
    id           TEXT PRIMARY KEY NOT NULL,
    case_id      TEXT NOT NULL REFERENCES cases (id),
    service_type TEXT NOT NULL,
    organisation TEXT NOT NULL,
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL,
    note         TEXT,
    created_at   TIMESTAMP NOT NULL,
    resolved_at  TIMESTAMP
);
CREATE INDEX onward_referrals_by_case ON onward_referrals (case_id);

-- Idempotency-Key of POST /v1/referrals: a retry returns the stored answer.
CREATE TABLE idempotency_keys (
    actor_sub    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    case_id      TEXT NOT NULL REFERENCES cases (id),
    response     TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (actor_sub, key)
);

-- The last reference number issued each year (PRV-<year>-<number>).
CREATE TABLE reference_counters (
    year BIGINT PRIMARY KEY NOT NULL,
    last BIGINT NOT NULL
);
