-- +goose Up
-- What the deployment is, beside its schema: 'environment' (development or
-- production; recorded by the first serve or init, and every later
-- process must be of the same environment) and 'compatible_from' (the
-- lowest schema version a binary may know and still serve this database:
-- a migration that old binaries cannot run beside raises it to its own
-- version; additive ones, like this one, leave it).
CREATE TABLE deployment_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO deployment_meta (name, value) VALUES ('compatible_from', '10');

-- +goose Down
DROP TABLE deployment_meta;
