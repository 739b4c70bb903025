-- +goose Up
-- Nothing for SQLite: its one writer chains audit records in the write's
-- own group commit. PostgreSQL's 00005 adds audit_pending; the numbers of
-- both sets stay the same.
SELECT 1;

-- +goose Down
SELECT 1;
