-- +goose Up
-- Audit records are stored with the write that made them, unchained, one
-- row per batch; a chainer links committed batches into audit_log under
-- the head's row lock (see sqlstore.chainPending). The head lock is no
-- longer held through every write's COMMIT.
CREATE TABLE audit_pending (
    id      BIGSERIAL PRIMARY KEY,
    records TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_pending;
