-- +goose Up
-- Staff console sessions (issue 23), server-side so every replica shares
-- them. token_hash is the hex SHA-256 of the session token; the token
-- itself is only in the operator's cookie. operator_id sits beside it so
-- that "log out everywhere" is one DELETE. Times are Unix microseconds.
CREATE TABLE console_sessions (
    token_hash   TEXT PRIMARY KEY,
    operator_id  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    reauth_at    BIGINT NOT NULL,
    client_addr  TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX console_sessions_operator ON console_sessions (operator_id);
CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen_at);

-- +goose Down
DROP TABLE console_sessions;
