-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00007_webhook_secrets_order.sql:
-- the same columns and meaning.
ALTER TABLE webhooks ADD COLUMN verification_token TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN prev_secret TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN prev_token TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN overlap_until BIGINT NOT NULL DEFAULT 0;

ALTER TABLE deliveries ADD COLUMN ordering_key TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deliveries_ordering ON deliveries (webhook_id, ordering_key, seq);

-- +goose Down
DROP INDEX deliveries_ordering;
ALTER TABLE deliveries DROP COLUMN seq;
ALTER TABLE deliveries DROP COLUMN ordering_key;
ALTER TABLE webhooks DROP COLUMN overlap_until;
ALTER TABLE webhooks DROP COLUMN prev_token;
ALTER TABLE webhooks DROP COLUMN prev_secret;
ALTER TABLE webhooks DROP COLUMN verification_token;
