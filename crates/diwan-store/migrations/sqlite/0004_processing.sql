-- Correspondence service: assignments down the hierarchy, notes, in-app notifications, replies
-- and full-text search (SQLite). Keep in step with ../postgres/0004_processing.sql.

-- `search_text` holds the folded words of the record (number, subject, summary, party, notes,
-- document text); it is written in the transaction that changes what it folds, and the FTS5
-- index below follows it through triggers, so the index never drifts from the records.
ALTER TABLE correspondences ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
-- A reply points at the correspondence it answers.
ALTER TABLE correspondences ADD COLUMN in_reply_to TEXT;
-- The entity that handles the correspondence now (its open "action" assignment), for queues and
-- for what the filer sees when tracking.
ALTER TABLE correspondences ADD COLUMN handling_entity_id TEXT;
ALTER TABLE correspondences ADD COLUMN outcome TEXT;
ALTER TABLE correspondences ADD COLUMN closed_at INTEGER;
UPDATE correspondences SET search_text = LOWER(number || ' ' || subject || ' ' || COALESCE(summary, '') || ' ' || party_name);
CREATE INDEX correspondences_reply ON correspondences (administration_id, in_reply_to);
CREATE INDEX correspondences_handling ON correspondences (administration_id, handling_entity_id, status);

CREATE VIRTUAL TABLE correspondences_fts USING fts5(
    search_text, content='correspondences', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER correspondences_fts_ai AFTER INSERT ON correspondences BEGIN
    INSERT INTO correspondences_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER correspondences_fts_ad AFTER DELETE ON correspondences BEGIN
    INSERT INTO correspondences_fts (correspondences_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER correspondences_fts_au AFTER UPDATE OF search_text ON correspondences BEGIN
    INSERT INTO correspondences_fts (correspondences_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO correspondences_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
INSERT INTO correspondences_fts (correspondences_fts) VALUES ('rebuild');

-- One assignment (imputation): a correspondence given to an entity (and optionally one person
-- of it) for action, information or opinion. Re-assigning down the tree creates a child
-- assignment (parent_id) and marks the parent delegated; nothing is ever deleted.
CREATE TABLE assignments (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    correspondence_id TEXT NOT NULL,
    parent_id         TEXT,
    from_entity_id    TEXT,
    to_entity_id      TEXT NOT NULL,
    to_user_id        TEXT,
    purpose           TEXT NOT NULL,
    instructions      TEXT,
    due_date          TEXT,
    state             TEXT NOT NULL,
    outcome           TEXT,
    assigned_by       TEXT,
    -- Copied from the correspondence (which never changes it), so that queues are counted
    -- from this table's indexes alone.
    confidential      INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    closed_at         INTEGER,
    UNIQUE (administration_id, id),
    FOREIGN KEY (administration_id, correspondence_id) REFERENCES correspondences (administration_id, id),
    FOREIGN KEY (administration_id, to_entity_id) REFERENCES entities (administration_id, id),
    FOREIGN KEY (administration_id, to_user_id) REFERENCES users (administration_id, id),
    FOREIGN KEY (administration_id, parent_id) REFERENCES assignments (administration_id, id)
);
CREATE INDEX assignments_correspondence ON assignments (administration_id, correspondence_id);
-- Covering indexes of the work queues: an entity's or a person's open assignments of one purpose,
-- soonest deadline first.
CREATE INDEX assignments_entity ON assignments (administration_id, to_entity_id, state, purpose, confidential, due_date, correspondence_id);
CREATE INDEX assignments_user ON assignments (administration_id, to_user_id, state, purpose, due_date, correspondence_id);
CREATE INDEX assignments_due ON assignments (state, due_date);
CREATE INDEX assignments_by ON assignments (administration_id, assigned_by, correspondence_id);
-- A registration number typed in the search box is looked up directly.
CREATE INDEX correspondences_number ON correspondences (administration_id, number);

-- Notes on a correspondence; restricted ones are seen only in the author's entity.
CREATE TABLE notes (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    correspondence_id TEXT NOT NULL,
    author_id         TEXT NOT NULL,
    entity_id         TEXT,
    restricted        INTEGER NOT NULL DEFAULT 0,
    body              TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    FOREIGN KEY (administration_id, correspondence_id) REFERENCES correspondences (administration_id, id)
);
CREATE INDEX notes_correspondence ON notes (administration_id, correspondence_id, created_at);

-- In-app notifications (assignments, reminders, escalations, returns).
CREATE TABLE notifications (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    correspondence_id TEXT,
    kind              TEXT NOT NULL,
    message           TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    read_at           INTEGER
);
CREATE INDEX notifications_user ON notifications (administration_id, user_id, read_at, created_at);

-- Reminders already sent, so that the reminder job sends each one once.
CREATE TABLE reminders (
    assignment_id TEXT NOT NULL,
    kind          TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    PRIMARY KEY (assignment_id, kind)
);
