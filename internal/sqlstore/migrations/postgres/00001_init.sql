-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00001_init.sql: the same
-- tables, columns and meaning. TEXT is COLLATE "C" so that ordering and
-- range comparisons (ids, cursors) are bytewise, as in SQLite (BINARY).

CREATE TABLE clinics (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    owner        TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    environment  TEXT COLLATE "C" NOT NULL,
    prefix       TEXT COLLATE "C" NOT NULL,
    hash         TEXT COLLATE "C" NOT NULL UNIQUE,
    rate_limit   INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    replaced_by  TEXT COLLATE "C",
    last_used_at BIGINT
);

CREATE TABLE api_key_clinics (
    key_id    TEXT COLLATE "C" NOT NULL REFERENCES api_keys (id),
    clinic_id TEXT COLLATE "C" NOT NULL REFERENCES clinics (id),
    PRIMARY KEY (key_id, clinic_id)
);
CREATE INDEX api_key_clinics_clinic ON api_key_clinics (clinic_id);

-- PHI columns hold AES-256-GCM ciphertexts bound to table, column and row.
CREATE TABLE practitioners (
    id         TEXT COLLATE "C" PRIMARY KEY,
    clinic_id  TEXT COLLATE "C" NOT NULL REFERENCES clinics (id),
    status     TEXT COLLATE "C" NOT NULL,
    npi_index  TEXT COLLATE "C" NOT NULL,
    first_name TEXT COLLATE "C" NOT NULL,
    last_name  TEXT COLLATE "C" NOT NULL,
    email      TEXT COLLATE "C" NOT NULL,
    npi        TEXT COLLATE "C" NOT NULL,
    details    TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (clinic_id, npi_index)
);
CREATE INDEX practitioners_clinic ON practitioners (clinic_id, id);

CREATE TABLE patients (
    id              TEXT COLLATE "C" PRIMARY KEY,
    clinic_id       TEXT COLLATE "C" NOT NULL REFERENCES clinics (id),
    practitioner_id TEXT COLLATE "C" REFERENCES practitioners (id),
    status          TEXT COLLATE "C" NOT NULL,
    identity_index  TEXT COLLATE "C" NOT NULL,
    first_name      TEXT COLLATE "C" NOT NULL,
    last_name       TEXT COLLATE "C" NOT NULL,
    date_of_birth   TEXT COLLATE "C" NOT NULL,
    details         TEXT COLLATE "C" NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (clinic_id, identity_index)
);
CREATE INDEX patients_clinic ON patients (clinic_id, id);

-- The audit trail: each row's hash covers its record and the previous hash.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    record    TEXT COLLATE "C" NOT NULL,
    prev_hash TEXT COLLATE "C" NOT NULL,
    hash      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- One row: the head of the audit chain, locked by every appender.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY,
    seq  BIGINT NOT NULL,
    hash TEXT COLLATE "C" NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- id is SHA-256 of owner and key; body (a response, PHI) is sealed with it.
CREATE TABLE idempotency_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    owner       TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT COLLATE "C" NOT NULL,
    status      INTEGER NOT NULL,
    body        TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE audit_head;
DROP TABLE audit_log;
DROP TABLE patients;
DROP TABLE practitioners;
DROP TABLE api_key_clinics;
DROP TABLE api_keys;
DROP TABLE clinics;
