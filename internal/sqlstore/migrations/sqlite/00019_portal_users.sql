-- +goose Up
-- Partner users of the developer portal (issue 24): people of a partner
-- who manage that partner's keys, see its usage and request log, and its
-- webhooks. role is partner_admin or partner_developer; status is
-- invited until the invitation is accepted. password_hash is Argon2id
-- (internal/operator's); totp_secret is sealed like an operator's
-- (bound to table, column and row) and re-sealed by crypto rotate.
CREATE TABLE partner_users (
    id             TEXT PRIMARY KEY,
    partner_id     TEXT NOT NULL REFERENCES partners (id),
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('partner_admin', 'partner_developer')),
    status         TEXT NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    password_hash  TEXT NOT NULL DEFAULT '',
    totp_secret    TEXT NOT NULL DEFAULT '',
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    invited_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX partner_users_partner ON partner_users (partner_id);

-- One-time invitation links: the SHA-256 of the link's secret, shown once
-- to the inviter; used once, before expires_at.
CREATE TABLE partner_invitations (
    hash            TEXT PRIMARY KEY,
    partner_user_id TEXT NOT NULL REFERENCES partner_users (id),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);
CREATE INDEX partner_invitations_user ON partner_invitations (partner_user_id);

-- Portal sessions, as console_sessions (00016) for partner users: the
-- hex SHA-256 of the cookie's token; times in Unix microseconds.
CREATE TABLE portal_sessions (
    token_hash      TEXT PRIMARY KEY,
    partner_user_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    reauth_at       BIGINT NOT NULL,
    client_addr     TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX portal_sessions_user ON portal_sessions (partner_user_id);
CREATE INDEX portal_sessions_last_seen ON portal_sessions (last_seen_at);

-- +goose Down
DROP TABLE portal_sessions;
DROP TABLE partner_invitations;
DROP TABLE partner_users;
