-- +goose Up
-- Audit records are stored with the write that made them, unchained, one
-- row per batch; a chainer links committed batches into audit_log under
-- the head's row lock (see sqlstore.chainPending). The head lock is no
-- longer held through every write's COMMIT.
CREATE TABLE audit_pending (
    id      BIGSERIAL PRIMARY KEY,
    records TEXT NOT NULL
);

-- A pending batch that cannot be read is kept here, and the chain gets a
-- record naming it (action audit.unreadable_batch) in its place.
CREATE TABLE audit_quarantine (
    id      BIGINT PRIMARY KEY,
    records TEXT NOT NULL,
    at      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE audit_quarantine;
DROP TABLE audit_pending;
