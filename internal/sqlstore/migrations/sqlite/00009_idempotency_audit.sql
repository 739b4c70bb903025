-- +goose Up
-- A replayed answer is audited with the clinic and records of the answer it
-- repeats (issue 19.9): they are remembered with it. Ids only, no PHI, so
-- not sealed. Rows from before this migration have none ('').
ALTER TABLE idempotency_keys ADD COLUMN clinic_id TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN resource_ids TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN resource_ids;
ALTER TABLE idempotency_keys DROP COLUMN clinic_id;
