-- Signature book (parapheur) (PostgreSQL). Keep in step with ../sqlite/0007_signature_book.sql.

-- A folder: documents sent through a circuit of visa, signature and seal steps. `status` is
-- draft, in_circuit, completed, rejected or recalled; `round` counts how many times it was sent
-- (a rejected or recalled folder may be sent again); `current_step` is the position of the step
-- whose actors may act (in_circuit only). `evidence_sha256` is the sealed signature certificate
-- (bordereau de signature), produced when the folder completes.
CREATE TABLE folders (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL REFERENCES administrations(id),
    title             TEXT NOT NULL,
    document_type     TEXT NOT NULL,
    author_id         TEXT NOT NULL,
    entity_id         TEXT NOT NULL,
    status            TEXT NOT NULL,
    level             TEXT NOT NULL,
    round             BIGINT NOT NULL DEFAULT 0,
    current_step      BIGINT,
    evidence_sha256   TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    completed_at      BIGINT,
    UNIQUE (administration_id, id),
    FOREIGN KEY (administration_id, author_id) REFERENCES users (administration_id, id),
    FOREIGN KEY (administration_id, entity_id) REFERENCES entities (administration_id, id)
);
CREATE INDEX folders_author ON folders (administration_id, author_id, updated_at);
CREATE INDEX folders_status ON folders (administration_id, status, updated_at);

-- The documents of a folder: `main` documents (PDF, signed at signature and seal steps) and
-- `annex` documents (any accepted type, never signed). `current_sha256` is the latest version
-- (each signature adds one, see folder_versions); `original_sha256` the one uploaded.
CREATE TABLE folder_documents (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    folder_id         TEXT NOT NULL,
    role              TEXT NOT NULL,
    position          BIGINT NOT NULL,
    file_name         TEXT NOT NULL,
    media_type        TEXT NOT NULL,
    original_sha256   TEXT NOT NULL,
    current_sha256    TEXT NOT NULL,
    version           BIGINT NOT NULL DEFAULT 1,
    size              BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    UNIQUE (administration_id, id),
    FOREIGN KEY (administration_id, folder_id) REFERENCES folders (administration_id, id)
);
CREATE INDEX folder_documents_folder ON folder_documents (folder_id, position);

-- Every version of every document (blob references kept for fsck and garbage collection).
CREATE TABLE folder_versions (
    administration_id TEXT NOT NULL,
    document_id       TEXT NOT NULL,
    version           BIGINT NOT NULL,
    sha256            TEXT NOT NULL,
    size              BIGINT NOT NULL,
    action_id         TEXT,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (document_id, version),
    FOREIGN KEY (administration_id, document_id) REFERENCES folder_documents (administration_id, id)
);

-- The circuit: ordered steps. `assignee` and `quorum` are JSON as the author gave them;
-- `required` (how many actors must act) is fixed when the folder is sent. `state` is waiting,
-- current, done or rejected.
CREATE TABLE folder_steps (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    folder_id         TEXT NOT NULL,
    position          BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    assignee          TEXT NOT NULL,
    quorum            TEXT NOT NULL,
    required          BIGINT,
    state             TEXT NOT NULL DEFAULT 'waiting',
    started_at        BIGINT,
    done_at           BIGINT,
    UNIQUE (folder_id, position),
    UNIQUE (administration_id, id),
    FOREIGN KEY (administration_id, folder_id) REFERENCES folders (administration_id, id)
);

-- The users who may act at a step, resolved when the folder is sent. `state` is pending, done,
-- transferred (handed to another user) or skipped (the quorum was met, or the folder rejected).
CREATE TABLE folder_step_actors (
    administration_id TEXT NOT NULL,
    folder_id         TEXT NOT NULL,
    step_id           TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'pending',
    acted_at          BIGINT,
    PRIMARY KEY (step_id, user_id),
    FOREIGN KEY (administration_id, step_id) REFERENCES folder_steps (administration_id, id),
    FOREIGN KEY (administration_id, user_id) REFERENCES users (administration_id, id)
);
CREATE INDEX folder_step_actors_user ON folder_step_actors (administration_id, user_id, state);
CREATE INDEX folder_step_actors_folder ON folder_step_actors (folder_id);

-- The history of a folder: who did what, for whom (delegation), with which document hashes.
CREATE TABLE folder_actions (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    folder_id         TEXT NOT NULL,
    seq               BIGINT NOT NULL,
    round             BIGINT NOT NULL,
    step_position     BIGINT,
    user_id           TEXT NOT NULL,
    on_behalf_of      TEXT,
    action            TEXT NOT NULL,
    comment           TEXT,
    target_user       TEXT,
    document_id       TEXT,
    hash_before       TEXT,
    hash_after        TEXT,
    signer            TEXT,
    created_at        BIGINT NOT NULL,
    UNIQUE (folder_id, seq),
    FOREIGN KEY (administration_id, folder_id) REFERENCES folders (administration_id, id),
    FOREIGN KEY (administration_id, user_id) REFERENCES users (administration_id, id)
);
CREATE INDEX folder_actions_user ON folder_actions (administration_id, user_id);
CREATE INDEX folder_actions_target ON folder_actions (administration_id, target_user);

-- Circuit templates, one per document type of an administration (`steps` as JSON).
CREATE TABLE circuit_templates (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL REFERENCES administrations(id),
    document_type     TEXT NOT NULL,
    name              TEXT NOT NULL,
    steps             TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    created_by        TEXT,
    UNIQUE (administration_id, document_type)
);

-- Delegations: from `starts_on` to `ends_on` (inclusive, local dates), the delegate may act for
-- the delegator on every folder, or on one document type.
CREATE TABLE delegations (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL REFERENCES administrations(id),
    delegator_id      TEXT NOT NULL,
    delegate_id       TEXT NOT NULL,
    starts_on         TEXT NOT NULL,
    ends_on           TEXT NOT NULL,
    document_type     TEXT,
    created_at        BIGINT NOT NULL,
    created_by        TEXT,
    revoked_at        BIGINT,
    FOREIGN KEY (administration_id, delegator_id) REFERENCES users (administration_id, id),
    FOREIGN KEY (administration_id, delegate_id) REFERENCES users (administration_id, id)
);
CREATE INDEX delegations_delegate ON delegations (administration_id, delegate_id, revoked_at);
CREATE INDEX delegations_delegator ON delegations (administration_id, delegator_id);
