-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00002_pharmacy.sql: the same
-- tables, columns and meaning. TEXT is COLLATE "C" so that ordering and
-- range comparisons (ids, cursors) are bytewise, as in SQLite (BINARY).

ALTER TABLE clinics ADD COLUMN free_shipping INTEGER NOT NULL DEFAULT 0;

-- The carrier catalogue: operator data (novamed carriers import).
CREATE TABLE carriers (
    id       TEXT COLLATE "C" PRIMARY KEY,
    position INTEGER NOT NULL,
    carrier  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE medication_orders (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    clinic_id           TEXT COLLATE "C" NOT NULL REFERENCES clinics (id),
    patient_id          TEXT COLLATE "C" NOT NULL REFERENCES patients (id),
    practitioner_id     TEXT COLLATE "C" NOT NULL REFERENCES practitioners (id),
    status              TEXT COLLATE "C" NOT NULL,
    carrier_id          TEXT COLLATE "C" NOT NULL,
    service_id          TEXT COLLATE "C" NOT NULL,
    delivery_speed      TEXT COLLATE "C" NOT NULL,
    shipping_cost_cents BIGINT NOT NULL,
    is_refrigerated     INTEGER NOT NULL,
    shipment_group_id   TEXT COLLATE "C" NOT NULL,
    refill_request_id   TEXT COLLATE "C" NOT NULL,
    shipment            TEXT COLLATE "C" NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX medication_orders_clinic ON medication_orders (clinic_id, id);
CREATE INDEX medication_orders_patient ON medication_orders (patient_id);
CREATE INDEX medication_orders_open ON medication_orders (status, updated_at);

-- details holds the prescription (PHI), sealed.
CREATE TABLE medication_requests (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    order_id           TEXT COLLATE "C" NOT NULL REFERENCES medication_orders (id),
    clinic_id          TEXT COLLATE "C" NOT NULL REFERENCES clinics (id),
    position           INTEGER NOT NULL,
    root_id            TEXT COLLATE "C" NOT NULL,
    refills_authorized INTEGER NOT NULL,
    refills_remaining  INTEGER NOT NULL,
    do_not_refill      INTEGER NOT NULL,
    rx_number          TEXT COLLATE "C" NOT NULL,
    issue_date         TEXT COLLATE "C" NOT NULL,
    details            TEXT COLLATE "C" NOT NULL
);
CREATE INDEX medication_requests_order ON medication_requests (order_id, position);
CREATE INDEX medication_requests_root ON medication_requests (root_id);

CREATE TABLE refill_requests (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    clinic_id             TEXT COLLATE "C" NOT NULL REFERENCES clinics (id),
    medication_request_id TEXT COLLATE "C" NOT NULL REFERENCES medication_requests (id),
    root_request_id       TEXT COLLATE "C" NOT NULL,
    original_order_id     TEXT COLLATE "C" NOT NULL REFERENCES medication_orders (id),
    new_order_id          TEXT COLLATE "C" NOT NULL REFERENCES medication_orders (id),
    details               TEXT COLLATE "C" NOT NULL,
    created_at            BIGINT NOT NULL
);
CREATE INDEX refill_requests_clinic ON refill_requests (clinic_id, id);
CREATE INDEX refill_requests_root ON refill_requests (root_request_id);

-- The outbox: every event is written in the transaction of its change.
-- data may name a practitioner (PHI-adjacent), so it is sealed.
CREATE TABLE events (
    id         TEXT COLLATE "C" PRIMARY KEY,
    clinic_id  TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    data       TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_clinic ON events (clinic_id, id);

CREATE TABLE counters (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('rx_number', 1000000);

-- +goose Down
DROP TABLE counters;
DROP TABLE events;
DROP TABLE refill_requests;
DROP TABLE medication_requests;
DROP TABLE medication_orders;
DROP TABLE carriers;
ALTER TABLE clinics DROP COLUMN free_shipping;
