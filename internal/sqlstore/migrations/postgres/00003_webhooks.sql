-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00003_webhooks.sql: the same
-- tables, columns and meaning. TEXT is COLLATE "C" so that ordering and
-- range comparisons (ids, cursors) are bytewise, as in SQLite (BINARY).

-- secret is the signing secret (whsec_…), sealed.
CREATE TABLE webhooks (
    id         TEXT COLLATE "C" PRIMARY KEY,
    clinic_id  TEXT COLLATE "C" NOT NULL REFERENCES clinics (id),
    url        TEXT COLLATE "C" NOT NULL,
    secret     TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX webhooks_clinic ON webhooks (clinic_id, id);

-- One row per (event, webhook); its id is the webhook-id header.
CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    webhook_id      TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id),
    event_id        TEXT COLLATE "C" NOT NULL REFERENCES events (id),
    clinic_id       TEXT COLLATE "C" NOT NULL,
    event_name      TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT,
    locked_by       TEXT COLLATE "C" NOT NULL DEFAULT '',
    locked_until    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);

CREATE TABLE delivery_attempts (
    delivery_id TEXT COLLATE "C" NOT NULL REFERENCES deliveries (id),
    attempt     INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    status_code INTEGER NOT NULL,
    latency_ms  BIGINT NOT NULL,
    error       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE webhooks;
