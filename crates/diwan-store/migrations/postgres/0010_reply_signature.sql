-- Replies signed in the signature book before they are registered (PostgreSQL). Keep in step with
-- ../sqlite/0010_reply_signature.sql.

-- A reply drafted for a correspondence and routed to the signature book: the letter is the main
-- document of `folder_id`; the fields are those of the draft (the body already merged). Its state
-- is read from the folder (in circuit, rejected with its reason, recalled, completed); when the
-- folder completes, the signed letter is registered in the outgoing register and `reply_id` is
-- set in the same transaction (at most once: the update requires it to be empty).
CREATE TABLE reply_drafts (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL REFERENCES administrations(id),
    correspondence_id TEXT NOT NULL,
    folder_id         TEXT NOT NULL,
    entity_id         TEXT NOT NULL,
    subject           TEXT NOT NULL,
    body              TEXT NOT NULL,
    signer            TEXT,
    send_email        BIGINT NOT NULL DEFAULT 1,
    email_to          TEXT,
    reply_id          TEXT,
    created_by        TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    registered_at     BIGINT,
    UNIQUE (administration_id, id),
    FOREIGN KEY (administration_id, correspondence_id) REFERENCES correspondences (administration_id, id),
    FOREIGN KEY (administration_id, folder_id) REFERENCES folders (administration_id, id),
    FOREIGN KEY (administration_id, entity_id) REFERENCES entities (administration_id, id),
    FOREIGN KEY (administration_id, reply_id) REFERENCES correspondences (administration_id, id),
    FOREIGN KEY (administration_id, created_by) REFERENCES users (administration_id, id)
);
CREATE UNIQUE INDEX reply_drafts_folder ON reply_drafts (folder_id);
CREATE INDEX reply_drafts_correspondence ON reply_drafts (administration_id, correspondence_id, created_at);
