-- +goose Up
-- One key-check value per master key version (phi.Keyring.KeyCheck): a
-- process whose keyring holds another key under a version, or lacks a
-- version the data still needs, refuses to open the database. crypto
-- rotate sets retired_at once nothing depends on a version any more.
CREATE TABLE key_checks (
    version     BIGINT PRIMARY KEY,
    check_value TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

-- One row: the master key version the blind indexes (patients.identity_index,
-- practitioners.npi_index) are keyed with, and, while a re-index runs, the
-- version it moves them to and how far it got. version 0: not yet known
-- (set when the store first opens).
CREATE TABLE blind_index_state (
    id        INTEGER PRIMARY KEY,
    version   BIGINT NOT NULL,
    target    BIGINT NOT NULL,
    phase     TEXT NOT NULL,
    cursor_id TEXT NOT NULL
);
INSERT INTO blind_index_state (id, version, target, phase, cursor_id) VALUES (1, 0, 0, '', '');

-- +goose Down
DROP TABLE blind_index_state;
DROP TABLE key_checks;
