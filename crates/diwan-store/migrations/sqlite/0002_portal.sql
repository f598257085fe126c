-- Portal, transparency log, keys, outbox, legal deadlines (SQLite). Keep in step with postgres/.

-- Transparency log (RFC 9162 Merkle tree). Leaves are appended in the transaction of the record
-- they prove; `log_state.size` is the next index and serialises appenders. Entries hold no
-- personal data in clear (salted hashes only).
CREATE TABLE log_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    size  INTEGER NOT NULL
);
INSERT INTO log_state (id, size) VALUES (1, 0);

CREATE TABLE log_leaves (
    idx               INTEGER PRIMARY KEY,
    leaf_hash         TEXT NOT NULL,
    entry             TEXT NOT NULL,
    kind              TEXT NOT NULL,
    administration_id TEXT NOT NULL,
    object_id         TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX log_leaves_object ON log_leaves (object_id);

-- Signed tree heads, one per size published.
CREATE TABLE log_heads (
    tree_size  INTEGER PRIMARY KEY,
    root_hash  TEXT NOT NULL,
    timestamp  INTEGER NOT NULL,
    signature  TEXT NOT NULL
);

CREATE TRIGGER log_leaves_no_update BEFORE UPDATE ON log_leaves
BEGIN SELECT RAISE(ABORT, 'log_leaves is append-only'); END;
CREATE TRIGGER log_leaves_no_delete BEFORE DELETE ON log_leaves
BEGIN SELECT RAISE(ABORT, 'log_leaves is append-only'); END;

-- Keys and certificates of the platform's PKI. Private keys are sealed with the master key.
CREATE TABLE pki_keys (
    id                TEXT PRIMARY KEY,
    administration_id TEXT,
    user_id           TEXT,
    purpose           TEXT NOT NULL,
    certificate       BLOB NOT NULL,
    chain             BLOB,
    sealed_key        BLOB,
    not_after         INTEGER NOT NULL,
    revoked_at        INTEGER,
    revocation_reason TEXT,
    created_at        INTEGER NOT NULL
);
CREATE INDEX pki_keys_owner ON pki_keys (purpose, administration_id, user_id);

-- Filings received on the public portal, with what the filer needs to follow them up.
CREATE TABLE filings (
    correspondence_id TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    tracking_hash     TEXT NOT NULL,
    receipt_token     TEXT NOT NULL UNIQUE,
    filer_email       TEXT,
    filer_phone       TEXT,
    filer_salt        TEXT NOT NULL,
    leaf_index        INTEGER NOT NULL,
    receipt_pdf       TEXT,
    receipt_json      TEXT,
    created_at        INTEGER NOT NULL,
    FOREIGN KEY (administration_id, correspondence_id) REFERENCES correspondences (administration_id, id)
);

-- Transactional outbox: messages are queued in the transaction of the change they announce and
-- sent afterwards, with retries.
CREATE TABLE outbox (
    id                TEXT PRIMARY KEY,
    administration_id TEXT,
    kind              TEXT NOT NULL,
    recipient         TEXT NOT NULL,
    subject           TEXT NOT NULL,
    body              TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    last_error        TEXT,
    sent_at           INTEGER,
    created_at        INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (sent_at, next_attempt_at);

-- Processing deadlines per administration and type of request (law 55-19, law 31-13, …).
CREATE TABLE deadline_rules (
    administration_id        TEXT NOT NULL REFERENCES administrations(id),
    code                     TEXT NOT NULL,
    label_fr                 TEXT NOT NULL,
    label_ar                 TEXT NOT NULL,
    days                     INTEGER NOT NULL,
    unit                     TEXT NOT NULL,
    legal_basis              TEXT NOT NULL,
    silence_means_acceptance INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (administration_id, code)
);

-- Public holidays: national ones (administration_id NULL) and an administration's own.
CREATE TABLE holidays (
    administration_id TEXT,
    day               TEXT NOT NULL,
    label             TEXT NOT NULL
);
CREATE UNIQUE INDEX holidays_day ON holidays (COALESCE(administration_id, ''), day);

ALTER TABLE correspondences ADD COLUMN leaf_index INTEGER;
ALTER TABLE correspondences ADD COLUMN log_salt TEXT;
ALTER TABLE correspondences ADD COLUMN silence_means_acceptance INTEGER NOT NULL DEFAULT 0;
