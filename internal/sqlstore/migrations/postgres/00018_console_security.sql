-- +goose Up
-- Issue 23 (staff console): acknowledging a security event, and the
-- master-key re-encryption jobs an operator starts from the console or the
-- admin API.
--
-- An event is open until an operator acknowledges it (who: operator:<id>).
ALTER TABLE security_events ADD COLUMN acknowledged_at BIGINT;
ALTER TABLE security_events ADD COLUMN acknowledged_by TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX security_events_open ON security_events (acknowledged_at, at);

-- What each running replica's keyring holds: serve writes its master key
-- versions (comma-separated, ascending) on start and whenever it reloads
-- the key file, under a name unique to the process. A re-encryption may
-- only target a version every replica seen within the freshness window
-- holds.
CREATE TABLE replica_keyrings (
    replica    TEXT COLLATE "C" PRIMARY KEY,
    versions   TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One re-encryption: re-seal every PHI value under to_version. state is
-- running, succeeded or failed; changed counts the rows re-sealed so far.
-- runner/lease_until: the replica working on it (another takes over after
-- the lease lapses).
CREATE TABLE reencryption_jobs (
    id          TEXT COLLATE "C" PRIMARY KEY,
    to_version  BIGINT NOT NULL,
    state       TEXT COLLATE "C" NOT NULL,
    changed     BIGINT NOT NULL,
    remaining   BIGINT NOT NULL,
    error       TEXT COLLATE "C" NOT NULL,
    started_by  TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT
);

-- +goose Down
DROP TABLE reencryption_jobs;
DROP TABLE replica_keyrings;
DROP INDEX security_events_open;
ALTER TABLE security_events DROP COLUMN acknowledged_by;
ALTER TABLE security_events DROP COLUMN acknowledged_at;
