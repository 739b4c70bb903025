-- +goose Up
-- Partners (issue 22): the organisation that clinics and keys belong to,
-- its status (onboarding, approved, suspended) and its BAA records.
CREATE TABLE partners (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    contacts   TEXT NOT NULL DEFAULT '[]',
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every BAA recorded for a partner (the history stays); the partner's BAA
-- is the one signed last. Dates are YYYY-MM-DD.
CREATE TABLE baas (
    id          TEXT PRIMARY KEY,
    partner_id  TEXT NOT NULL REFERENCES partners (id),
    signed_on   TEXT NOT NULL,
    signer      TEXT NOT NULL,
    document    TEXT NOT NULL,
    expires_on  TEXT,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX baas_partner ON baas (partner_id, signed_on, recorded_at);

-- A clinic belongs to one partner; a key to the partner of its clinics.
ALTER TABLE clinics ADD COLUMN partner_id TEXT REFERENCES partners (id);
ALTER TABLE api_keys ADD COLUMN partner_id TEXT REFERENCES partners (id);

-- Existing data: clinics that share a key share a partner (the connected
-- components of the key–clinic graph), any other clinic gets its own. A
-- component's partner takes the smallest clinic id of the component as
-- its id and the name of its oldest clinic; it is approved (it already
-- holds keys), without a BAA on record.
CREATE TEMP TABLE partner_of AS
WITH RECURSIVE
    edges (a, b) AS (
        SELECT x.clinic_id, y.clinic_id FROM api_key_clinics x JOIN api_key_clinics y ON x.key_id = y.key_id),
    reach (root, clinic) AS (
        SELECT id, id FROM clinics
        UNION
        SELECT e.b, r.clinic FROM reach r JOIN edges e ON e.a = r.root)
SELECT clinic, MIN(root) AS partner FROM reach GROUP BY clinic;

INSERT INTO partners (id, name, contacts, status, created_at, updated_at)
SELECT p.partner,
    (SELECT c.name FROM partner_of q JOIN clinics c ON c.id = q.clinic WHERE q.partner = p.partner ORDER BY c.created_at, c.id LIMIT 1),
    '[]', 'approved',
    (SELECT MIN(c.created_at) FROM partner_of q JOIN clinics c ON c.id = q.clinic WHERE q.partner = p.partner),
    (SELECT MIN(c.created_at) FROM partner_of q JOIN clinics c ON c.id = q.clinic WHERE q.partner = p.partner)
FROM (SELECT DISTINCT partner FROM partner_of) p;

UPDATE clinics SET partner_id = (SELECT partner FROM partner_of WHERE partner_of.clinic = clinics.id);
UPDATE api_keys SET partner_id = (SELECT MIN(c.partner_id) FROM api_key_clinics kc JOIN clinics c ON c.id = kc.clinic_id WHERE kc.key_id = api_keys.id);
DROP TABLE partner_of;

CREATE INDEX clinics_partner ON clinics (partner_id);
CREATE INDEX api_keys_partner ON api_keys (partner_id);

-- +goose Down
DROP INDEX api_keys_partner;
DROP INDEX clinics_partner;
ALTER TABLE api_keys DROP COLUMN partner_id;
ALTER TABLE clinics DROP COLUMN partner_id;
DROP TABLE baas;
DROP TABLE partners;
