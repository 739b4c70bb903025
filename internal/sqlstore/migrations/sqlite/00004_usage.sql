-- +goose Up
CREATE TABLE key_usage (
    key_id       TEXT NOT NULL,
    day          TEXT NOT NULL,
    route        TEXT NOT NULL,
    status_class TEXT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (key_id, day, route, status_class)
);

ALTER TABLE api_keys ADD COLUMN last_client TEXT NOT NULL DEFAULT '';

CREATE TABLE key_networks (
    key_id     TEXT NOT NULL,
    network    TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (key_id, network)
);

CREATE TABLE security_events (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    rule        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);

-- +goose Down
DROP TABLE security_events;
DROP TABLE key_networks;
ALTER TABLE api_keys DROP COLUMN last_client;
DROP TABLE key_usage;
