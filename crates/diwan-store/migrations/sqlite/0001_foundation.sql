-- Diwan foundation schema (SQLite). Keep in step with ../postgres/0001_foundation.sql.
-- Ids are UUID strings; instants are microseconds since the Unix epoch (UTC); dates are ISO
-- 'YYYY-MM-DD' text. Every tenant table carries administration_id, and references between tenant
-- rows go through composite keys (administration_id, id) so that a row can never point into
-- another administration.

CREATE TABLE administrations (
    id            TEXT PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    name_fr       TEXT NOT NULL,
    name_ar       TEXT NOT NULL,
    name_zgh      TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE entities (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL REFERENCES administrations(id),
    parent_id         TEXT,
    code              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    level             TEXT NOT NULL,
    name_fr           TEXT NOT NULL,
    name_ar           TEXT NOT NULL,
    name_zgh          TEXT,
    created_at        INTEGER NOT NULL,
    UNIQUE (administration_id, code),
    UNIQUE (administration_id, id),
    FOREIGN KEY (administration_id, parent_id) REFERENCES entities (administration_id, id)
);
CREATE INDEX entities_parent ON entities (administration_id, parent_id);

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL REFERENCES administrations(id),
    login             TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    email             TEXT,
    password_hash     TEXT NOT NULL,
    failed_logins     INTEGER NOT NULL DEFAULT 0,
    locked_until      INTEGER,
    disabled          INTEGER NOT NULL DEFAULT 0,
    locale            TEXT,
    created_at        INTEGER NOT NULL,
    UNIQUE (administration_id, id)
);

CREATE TABLE memberships (
    administration_id TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    entity_id         TEXT NOT NULL,
    role              TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (user_id, entity_id, role),
    FOREIGN KEY (administration_id, user_id) REFERENCES users (administration_id, id),
    FOREIGN KEY (administration_id, entity_id) REFERENCES entities (administration_id, id)
);
CREATE INDEX memberships_entity ON memberships (administration_id, entity_id);

CREATE TABLE sessions (
    token_hash        TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    kind              TEXT NOT NULL,
    csrf_token        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    ip                TEXT,
    FOREIGN KEY (administration_id, user_id) REFERENCES users (administration_id, id)
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE registers (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    entity_id         TEXT NOT NULL,
    direction         TEXT NOT NULL,
    name              TEXT NOT NULL,
    number_format     TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    UNIQUE (administration_id, id),
    UNIQUE (entity_id, direction),
    FOREIGN KEY (administration_id, entity_id) REFERENCES entities (administration_id, id)
);

-- One row per register and year: the last number handed out. Incremented inside the
-- transaction that inserts the correspondence, so a rollback gives the number back.
CREATE TABLE register_counters (
    register_id TEXT NOT NULL REFERENCES registers(id),
    year        INTEGER NOT NULL,
    last_value  INTEGER NOT NULL,
    PRIMARY KEY (register_id, year)
);

CREATE TABLE contacts (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL REFERENCES administrations(id),
    kind              TEXT NOT NULL,
    name              TEXT NOT NULL,
    id_number         TEXT,
    email             TEXT,
    phone             TEXT,
    address           TEXT,
    created_at        INTEGER NOT NULL,
    UNIQUE (administration_id, id)
);
CREATE INDEX contacts_name ON contacts (administration_id, name);

CREATE TABLE correspondences (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    register_id       TEXT NOT NULL,
    direction         TEXT NOT NULL,
    year              INTEGER NOT NULL,
    seq               INTEGER NOT NULL,
    number            TEXT NOT NULL,
    subject           TEXT NOT NULL,
    summary           TEXT,
    contact_id        TEXT,
    party_kind        TEXT NOT NULL,
    party_name        TEXT NOT NULL,
    letter_date       TEXT,
    received_at       INTEGER NOT NULL,
    external_ref      TEXT,
    channel           TEXT NOT NULL,
    confidentiality   TEXT NOT NULL,
    priority          TEXT NOT NULL,
    status            TEXT NOT NULL,
    due_date          TEXT,
    deadline_basis    TEXT,
    created_by        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (register_id, year, seq),
    UNIQUE (register_id, number),
    UNIQUE (administration_id, id),
    FOREIGN KEY (administration_id, register_id) REFERENCES registers (administration_id, id),
    FOREIGN KEY (administration_id, contact_id) REFERENCES contacts (administration_id, id)
);
CREATE INDEX correspondences_register ON correspondences (administration_id, register_id, year, seq);
CREATE INDEX correspondences_received ON correspondences (administration_id, received_at);
CREATE INDEX correspondences_status ON correspondences (administration_id, status, received_at);

CREATE TABLE documents (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    correspondence_id TEXT NOT NULL,
    role              TEXT NOT NULL,
    position          INTEGER NOT NULL,
    file_name         TEXT NOT NULL,
    media_type        TEXT NOT NULL,
    size              INTEGER NOT NULL,
    sha256            TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    FOREIGN KEY (administration_id, correspondence_id) REFERENCES correspondences (administration_id, id)
);
CREATE INDEX documents_correspondence ON documents (administration_id, correspondence_id, position);
CREATE INDEX documents_sha256 ON documents (sha256);

-- Append-only, hash-chained audit log, one chain per administration.
CREATE TABLE audit_log (
    administration_id TEXT NOT NULL REFERENCES administrations(id),
    seq               INTEGER NOT NULL,
    at                INTEGER NOT NULL,
    actor_id          TEXT,
    actor_ip          TEXT,
    action            TEXT NOT NULL,
    object_type       TEXT NOT NULL,
    object_id         TEXT NOT NULL,
    details           TEXT NOT NULL,
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL,
    PRIMARY KEY (administration_id, seq)
);
CREATE INDEX audit_object ON audit_log (administration_id, object_id);

CREATE TABLE audit_heads (
    administration_id TEXT PRIMARY KEY REFERENCES administrations(id),
    seq               INTEGER NOT NULL,
    hash              TEXT NOT NULL
);

-- The audit log cannot be rewritten through SQL.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
