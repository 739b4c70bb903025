-- +goose Up
-- One row that /readyz's store probe updates (issue 21): readiness means a
-- write can commit (not merely that the database answers a ping), so a full
-- disk or a read-only standby turns the replica not ready.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checks BIGINT NOT NULL DEFAULT 0
);
INSERT INTO readiness_probe (id, checks) VALUES (1, 0);

-- +goose Down
DROP TABLE readiness_probe;
