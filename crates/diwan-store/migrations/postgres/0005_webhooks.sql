-- Webhooks (PostgreSQL). Keep in step with ../sqlite/0005_webhooks.sql.

-- An administration's endpoint: events of the administration are POSTed to `url`, signed with
-- HMAC-SHA256 under a secret that is kept sealed (AES-256-GCM under the master key, the webhook's
-- id as associated data) and shown once, at creation. `events` is a comma-separated list of
-- event types (`status_changed`, `reply_registered`).
CREATE TABLE webhooks (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL REFERENCES administrations(id),
    url               TEXT NOT NULL,
    sealed_secret     BYTEA NOT NULL,
    events            TEXT NOT NULL,
    active            BIGINT NOT NULL DEFAULT 1,
    created_at        BIGINT NOT NULL,
    created_by        TEXT,
    UNIQUE (administration_id, id),
    FOREIGN KEY (administration_id, created_by) REFERENCES users (administration_id, id)
);
CREATE INDEX webhooks_admin ON webhooks (administration_id, active);

-- One event to one endpoint, queued in the transaction of the change it announces (a change
-- that rolls back sends nothing) and delivered afterwards with retries. `state` is `pending`,
-- `delivered` or `failed` (given up).
CREATE TABLE webhook_deliveries (
    id                TEXT PRIMARY KEY,
    administration_id TEXT NOT NULL,
    webhook_id        TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    payload           TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'pending',
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL,
    last_status       BIGINT,
    last_error        TEXT,
    delivered_at      BIGINT,
    created_at        BIGINT NOT NULL,
    FOREIGN KEY (administration_id, webhook_id) REFERENCES webhooks (administration_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
