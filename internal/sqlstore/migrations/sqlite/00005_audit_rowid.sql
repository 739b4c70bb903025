-- +goose Up
-- audit_log's seq becomes the table's rowid (INTEGER PRIMARY KEY). Declared
-- BIGINT PRIMARY KEY it was a separate unique index beside the rowid: every
-- record was inserted twice and every group commit wrote one more page.
-- Values, order and hashes are unchanged (the chain does not cover the
-- storage layout).
CREATE TABLE audit_log_v5 (
    seq       INTEGER PRIMARY KEY,
    at        BIGINT NOT NULL,
    record    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
INSERT INTO audit_log_v5 (seq, at, record, prev_hash, hash)
    SELECT seq, at, record, prev_hash, hash FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_v5 RENAME TO audit_log;
CREATE INDEX audit_log_at ON audit_log (at);

-- +goose Down
CREATE TABLE audit_log_v4 (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    record    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
INSERT INTO audit_log_v4 (seq, at, record, prev_hash, hash)
    SELECT seq, at, record, prev_hash, hash FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_v4 RENAME TO audit_log;
CREATE INDEX audit_log_at ON audit_log (at);
