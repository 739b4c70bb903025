-- +goose Up
-- Each clinic's formulary: the medications it may order (operator data,
-- novamed formulary …). name_key is the matching form of the name (trimmed,
-- case-folded); entry is the JSON of novamed.FormularyEntry. No PHI.
-- A clinic without rows has no formulary of its own: production refuses
-- its orders, development applies the built-in test formulary.
CREATE TABLE formulary_entries (
    clinic_id TEXT NOT NULL REFERENCES clinics (id),
    name_key  TEXT NOT NULL,
    entry     TEXT NOT NULL,
    PRIMARY KEY (clinic_id, name_key)
);

-- +goose Down
DROP TABLE formulary_entries;
