-- +goose Up
-- Key requests of the developer portal on a production deployment (issue
-- 24): a partner admin asks for a new key (kind issue) or for the roll of
-- one of their production keys (kind roll, key_id set); staff approve or
-- reject them in the console or the admin API. clinics is a JSON array.
-- issued_key is the raw key issued on approval, sealed like a TOTP secret
-- (bound to table, column and row) until the requesting partner admin
-- views it once; then it is set to '' and only the key's hash (api_keys)
-- remains. Times in Unix microseconds.
CREATE TABLE key_requests (
    id             TEXT PRIMARY KEY,
    partner_id     TEXT NOT NULL REFERENCES partners (id),
    kind           TEXT NOT NULL CHECK (kind IN ('issue', 'roll')),
    key_id         TEXT NOT NULL DEFAULT '',
    name           TEXT NOT NULL,
    clinics        TEXT NOT NULL,
    expires_at     INTEGER,
    rate_limit     INTEGER NOT NULL DEFAULT 0,
    grace_seconds  INTEGER NOT NULL DEFAULT 0,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_by   TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    decided_by     TEXT NOT NULL DEFAULT '',
    decided_at     INTEGER,
    reason         TEXT NOT NULL DEFAULT '',
    issued_key_id  TEXT NOT NULL DEFAULT '',
    issued_prefix  TEXT NOT NULL DEFAULT '',
    issued_key     TEXT NOT NULL DEFAULT '',
    collected_at   INTEGER
);
CREATE INDEX key_requests_partner ON key_requests (partner_id, created_at);
CREATE INDEX key_requests_status ON key_requests (status, created_at);

-- +goose Down
DROP TABLE key_requests;
