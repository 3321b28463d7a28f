-- The Channel panel: panels and their members, meetings and their agendas, notes.

CREATE TABLE panels (
    id         TEXT PRIMARY KEY,
    area       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX panels_by_area ON panels (area);

CREATE TABLE panel_members (
    id         TEXT PRIMARY KEY,
    panel_id   TEXT NOT NULL REFERENCES panels (id),
    name       TEXT NOT NULL,
    agency     TEXT NOT NULL,
    email      TEXT NOT NULL,
    panel_role TEXT NOT NULL,
    added_at   TIMESTAMP NOT NULL,
    removed_at TIMESTAMP
);
CREATE INDEX panel_members_by_panel ON panel_members (panel_id);
CREATE INDEX panel_members_by_email ON panel_members (email);

CREATE TABLE meetings (
    id            TEXT PRIMARY KEY,
    panel_id      TEXT NOT NULL REFERENCES panels (id),
    scheduled_for TIMESTAMP NOT NULL,
    location      TEXT,
    created_at    TIMESTAMP NOT NULL,
    created_by    TEXT NOT NULL
);
CREATE INDEX meetings_by_panel ON meetings (panel_id, scheduled_for);

CREATE TABLE agenda_items (
    meeting_id TEXT NOT NULL REFERENCES meetings (id),
    case_id    TEXT NOT NULL REFERENCES cases (id),
    listed_at  TIMESTAMP NOT NULL,
    listed_by  TEXT NOT NULL,
    PRIMARY KEY (meeting_id, case_id)
);
CREATE INDEX agenda_items_by_case ON agenda_items (case_id);

-- Contributions of panel members' agencies to a case.
CREATE TABLE case_notes (
    id         TEXT PRIMARY KEY,
    case_id    TEXT NOT NULL REFERENCES cases (id),
    author_sub TEXT NOT NULL,
    agency     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX case_notes_by_case ON case_notes (case_id, created_at);

-- The case's current support plan, consent and exit, as the panel recorded them.
ALTER TABLE cases ADD COLUMN support_plan TEXT;
ALTER TABLE cases ADD COLUMN consent TEXT;
ALTER TABLE cases ADD COLUMN exited_at TIMESTAMP;
