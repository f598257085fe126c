-- Mail between administrations of the platform, with evidence (SQLite). Keep in step with
-- ../postgres/0008_exchange.sql.

-- One sending of an outgoing correspondence to another administration (the "message"; its id is
-- the message id of the evidence). `state`: `rejected` (the platform refused the submission:
-- nothing reached the recipient), `consigned` (registered in the recipient's incoming register,
-- in the same transaction as this row), `refused` (the recipient refused it, with a reason).
CREATE TABLE deliveries (
    id                          TEXT PRIMARY KEY,
    sender_admin_id             TEXT NOT NULL REFERENCES administrations(id),
    sender_correspondence_id    TEXT NOT NULL,
    recipient_admin_id          TEXT NOT NULL REFERENCES administrations(id),
    recipient_correspondence_id TEXT,
    recipient_number            TEXT,
    state                       TEXT NOT NULL,
    content_digest              TEXT NOT NULL,
    reason_code                 TEXT,
    reason                      TEXT,
    created_by                  TEXT,
    created_at                  INTEGER NOT NULL,
    consigned_at                INTEGER,
    handed_over_at              INTEGER,
    refused_at                  INTEGER,
    FOREIGN KEY (sender_admin_id, sender_correspondence_id) REFERENCES correspondences (administration_id, id),
    FOREIGN KEY (recipient_admin_id, recipient_correspondence_id) REFERENCES correspondences (administration_id, id)
);
CREATE INDEX deliveries_sender ON deliveries (sender_admin_id, sender_correspondence_id, created_at);
CREATE UNIQUE INDEX deliveries_recipient ON deliveries (recipient_admin_id, recipient_correspondence_id);
-- A correspondence is consigned to an administration at most once at a time.
CREATE UNIQUE INDEX deliveries_consigned ON deliveries (sender_admin_id, sender_correspondence_id, recipient_admin_id)
    WHERE state = 'consigned';

-- Evidence events after ETSI EN 319 522 (SubmissionAcceptance, SubmissionRejection,
-- ContentConsignment, ContentHandover, RejectionByRecipient). `statement` is the canonical JSON
-- of the event, fixed in the transaction of what it attests; `signed` is the same statement
-- sealed (ES256 by `sealed_by`'s seal) and time-stamped (RFC 3161), added right after the commit
-- (or on first read if the process stopped in between).
CREATE TABLE evidence_events (
    id          TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries(id),
    event_type  TEXT NOT NULL,
    at          INTEGER NOT NULL,
    sealed_by   TEXT NOT NULL REFERENCES administrations(id),
    statement   TEXT NOT NULL,
    signed      TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (delivery_id, event_type)
);
CREATE INDEX evidence_events_delivery ON evidence_events (delivery_id, at);
CREATE INDEX evidence_events_unsealed ON evidence_events (created_at) WHERE signed IS NULL;
