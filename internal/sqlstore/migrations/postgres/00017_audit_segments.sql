-- +goose Up
-- Issue 26: the audit trail at volume.
--
-- Record format 2 keeps a row's hash as its 32 bytes in hash_bytes (the
-- hash and prev_hash text columns are then empty: the previous hash is the
-- previous row's). Rows written before keep their hex columns and are
-- never rewritten. Additive: older binaries can still append (format 1).
ALTER TABLE audit_log ADD COLUMN hash_bytes BYTEA;

-- Sealed segments of the chain: records first_seq..last_seq, whose last
-- hash is head and whose first links to prev_head; seal is the signed
-- statement of that (JSON, Ed25519 with the checkpoint key). A segment is
-- archived once written to archive_url/archive_object and read back
-- (archived_at), and pruned from audit_log after (pruned_at).
CREATE TABLE audit_segments (
    id             BIGINT PRIMARY KEY,
    first_seq      BIGINT NOT NULL,
    last_seq       BIGINT NOT NULL,
    first_at       BIGINT NOT NULL,
    last_at        BIGINT NOT NULL,
    records        BIGINT NOT NULL,
    record_bytes   BIGINT NOT NULL,
    head           TEXT COLLATE "C" NOT NULL,
    prev_head      TEXT COLLATE "C" NOT NULL,
    sealed_at      BIGINT NOT NULL,
    seal           TEXT COLLATE "C" NOT NULL,
    archive_url    TEXT COLLATE "C",
    archive_object TEXT COLLATE "C",
    archive_bytes  BIGINT,
    archived_at    BIGINT,
    pruned_at      BIGINT,
    UNIQUE (first_seq)
);

-- What serve was started with (archive URL, segment cut, retention), so
-- operator commands find them without flags.
CREATE TABLE audit_settings (
    name       TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row: which process runs the archive pass, until when (PostgreSQL
-- replicas take turns; SQLite has one process).
CREATE TABLE audit_lease (
    id     INTEGER PRIMARY KEY,
    holder TEXT COLLATE "C" NOT NULL,
    until  BIGINT NOT NULL
);
INSERT INTO audit_lease (id, holder, until) VALUES (1, '', 0);

-- +goose Down
DROP TABLE audit_lease;
DROP TABLE audit_settings;
DROP TABLE audit_segments;
ALTER TABLE audit_log DROP COLUMN hash_bytes;
