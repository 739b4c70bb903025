-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00004_usage.sql: the same
-- tables, columns and meaning. TEXT is COLLATE "C" so that ordering and
-- range comparisons (ids, cursors) are bytewise, as in SQLite (BINARY).

CREATE TABLE key_usage (
    key_id       TEXT COLLATE "C" NOT NULL,
    day          TEXT COLLATE "C" NOT NULL,
    route        TEXT COLLATE "C" NOT NULL,
    status_class TEXT COLLATE "C" NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (key_id, day, route, status_class)
);

ALTER TABLE api_keys ADD COLUMN last_client TEXT COLLATE "C" NOT NULL DEFAULT '';

CREATE TABLE key_networks (
    key_id     TEXT COLLATE "C" NOT NULL,
    network    TEXT COLLATE "C" NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (key_id, network)
);

CREATE TABLE security_events (
    id          TEXT COLLATE "C" PRIMARY KEY,
    at          BIGINT NOT NULL,
    rule        TEXT COLLATE "C" NOT NULL,
    key_id      TEXT COLLATE "C" NOT NULL,
    client_addr TEXT COLLATE "C" NOT NULL,
    detail      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);

-- +goose Down
DROP TABLE security_events;
DROP TABLE key_networks;
ALTER TABLE api_keys DROP COLUMN last_client;
DROP TABLE key_usage;
