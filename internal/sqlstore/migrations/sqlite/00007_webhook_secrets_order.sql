-- +goose Up
-- Two webhook secrets (issue 18, item 8). secret stays the current signing
-- secret (whsec_…, sealed). verification_token is the x-api-key value of
-- deliveries (sealed); '' on a webhook registered before this version: its
-- one secret then keeps serving as both (docs/decisions.md). prev_secret and
-- prev_token are what the last rotation replaced, still in use until
-- overlap_until (microseconds; 0: no rotation in progress).
ALTER TABLE webhooks ADD COLUMN verification_token TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN prev_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN prev_token TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN overlap_until BIGINT NOT NULL DEFAULT 0;

-- Per-order event order (issue 18, item 9): deliveries with one
-- ordering_key ('' : not ordered) go to their webhook in seq order; a
-- delivery is claimable only when no pending delivery of the same webhook
-- and key has a smaller seq.
ALTER TABLE deliveries ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';
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
