-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00020_key_requests.sql.
CREATE TABLE key_requests (
    id             TEXT COLLATE "C" PRIMARY KEY,
    partner_id     TEXT COLLATE "C" NOT NULL REFERENCES partners (id),
    kind           TEXT COLLATE "C" NOT NULL CHECK (kind IN ('issue', 'roll')),
    key_id         TEXT COLLATE "C" NOT NULL DEFAULT '',
    name           TEXT COLLATE "C" NOT NULL,
    clinics        TEXT COLLATE "C" NOT NULL,
    expires_at     BIGINT,
    rate_limit     BIGINT NOT NULL DEFAULT 0,
    grace_seconds  BIGINT NOT NULL DEFAULT 0,
    status         TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_by   TEXT COLLATE "C" NOT NULL,
    created_at     BIGINT NOT NULL,
    decided_by     TEXT COLLATE "C" NOT NULL DEFAULT '',
    decided_at     BIGINT,
    reason         TEXT COLLATE "C" NOT NULL DEFAULT '',
    issued_key_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
    issued_prefix  TEXT COLLATE "C" NOT NULL DEFAULT '',
    issued_key     TEXT COLLATE "C" NOT NULL DEFAULT '',
    collected_at   BIGINT
);
CREATE INDEX key_requests_partner ON key_requests (partner_id, created_at);
CREATE INDEX key_requests_status ON key_requests (status, created_at);

-- +goose Down
DROP TABLE key_requests;
