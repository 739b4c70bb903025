-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00006_formulary.sql.
CREATE TABLE formulary_entries (
    clinic_id TEXT COLLATE "C" NOT NULL REFERENCES clinics (id),
    name_key  TEXT COLLATE "C" NOT NULL,
    entry     TEXT NOT NULL,
    PRIMARY KEY (clinic_id, name_key)
);

-- +goose Down
DROP TABLE formulary_entries;
