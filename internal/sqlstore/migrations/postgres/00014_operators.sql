-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00014_operators.sql.
CREATE TABLE operators (
    id             TEXT COLLATE "C" PRIMARY KEY,
    email          TEXT COLLATE "C" NOT NULL UNIQUE,
    name           TEXT COLLATE "C" NOT NULL,
    role           TEXT COLLATE "C" NOT NULL CHECK (role IN ('viewer', 'support', 'pharmacy', 'security', 'admin')),
    status         TEXT COLLATE "C" NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash  TEXT COLLATE "C" NOT NULL DEFAULT '',
    totp_secret    TEXT COLLATE "C" NOT NULL DEFAULT '',
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE operator_tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    operator_id TEXT COLLATE "C" NOT NULL REFERENCES operators (id),
    hash        TEXT COLLATE "C" NOT NULL UNIQUE,
    prefix      TEXT COLLATE "C" NOT NULL,
    role        TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX operator_tokens_operator ON operator_tokens (operator_id);

CREATE TABLE operator_setup_links (
    hash        TEXT COLLATE "C" PRIMARY KEY,
    operator_id TEXT COLLATE "C" NOT NULL REFERENCES operators (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE operator_login_throttle (
    subject         TEXT COLLATE "C" PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE operator_login_throttle;
DROP TABLE operator_setup_links;
DROP TABLE operator_tokens;
DROP TABLE operators;
