-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00019_portal_users.sql.
CREATE TABLE partner_users (
    id             TEXT COLLATE "C" PRIMARY KEY,
    partner_id     TEXT COLLATE "C" NOT NULL REFERENCES partners (id),
    email          TEXT COLLATE "C" NOT NULL UNIQUE,
    name           TEXT COLLATE "C" NOT NULL,
    role           TEXT COLLATE "C" NOT NULL CHECK (role IN ('partner_admin', 'partner_developer')),
    status         TEXT COLLATE "C" NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    password_hash  TEXT COLLATE "C" NOT NULL DEFAULT '',
    totp_secret    TEXT COLLATE "C" NOT NULL DEFAULT '',
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    invited_by     TEXT COLLATE "C" NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX partner_users_partner ON partner_users (partner_id);

CREATE TABLE partner_invitations (
    hash            TEXT COLLATE "C" PRIMARY KEY,
    partner_user_id TEXT COLLATE "C" NOT NULL REFERENCES partner_users (id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);
CREATE INDEX partner_invitations_user ON partner_invitations (partner_user_id);

CREATE TABLE portal_sessions (
    token_hash      TEXT COLLATE "C" PRIMARY KEY,
    partner_user_id TEXT COLLATE "C" NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    reauth_at       BIGINT NOT NULL,
    client_addr     TEXT COLLATE "C" NOT NULL DEFAULT '',
    user_agent      TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX portal_sessions_user ON portal_sessions (partner_user_id);
CREATE INDEX portal_sessions_last_seen ON portal_sessions (last_seen_at);

-- +goose Down
DROP TABLE portal_sessions;
DROP TABLE partner_invitations;
DROP TABLE partner_users;
