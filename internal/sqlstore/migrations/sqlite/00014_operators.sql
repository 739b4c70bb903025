-- +goose Up
-- Operators (issue 22): the staff who run a deployment, each with one role.
-- password_hash is an Argon2id PHC string ('' until a setup link is used);
-- totp_secret is sealed like PHI (bound to table, column and row; '' when
-- not enrolled) and re-sealed by crypto rotate; totp_last_step refuses a
-- TOTP code used twice.
CREATE TABLE operators (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('viewer', 'support', 'pharmacy', 'security', 'admin')),
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash  TEXT NOT NULL DEFAULT '',
    totp_secret    TEXT NOT NULL DEFAULT '',
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- Operator tokens (op_…): stored as their SHA-256, like API keys; scoped
-- to the role the operator had when it was issued; always expiring.
CREATE TABLE operator_tokens (
    id          TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    hash        TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    role        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX operator_tokens_operator ON operator_tokens (operator_id);

-- One-time setup links: the SHA-256 of the link's secret; used once.
CREATE TABLE operator_setup_links (
    hash        TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

-- Failed sign-ins per subject ('account:<email>' or 'address:<ip>'): the
-- next attempt waits a delay that grows with failures (no lockout).
CREATE TABLE operator_login_throttle (
    subject         TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE operator_login_throttle;
DROP TABLE operator_setup_links;
DROP TABLE operator_tokens;
DROP TABLE operators;
