-- +goose Up
-- PostgreSQL translation of migrations/sqlite/00008_shipments.sql: the same
-- tables, columns and meaning.
CREATE TABLE shipments (
    id            TEXT COLLATE "C" PRIMARY KEY,
    order_id      TEXT COLLATE "C" NOT NULL REFERENCES medication_orders (id),
    clinic_id     TEXT COLLATE "C" NOT NULL,
    position      INTEGER NOT NULL,
    status        TEXT COLLATE "C" NOT NULL,
    data          TEXT COLLATE "C" NOT NULL,
    cancel_reason TEXT COLLATE "C" NOT NULL,
    cancelled_at  BIGINT
);
CREATE UNIQUE INDEX shipments_order ON shipments (order_id, position);

INSERT INTO shipments (id, order_id, clinic_id, position, status, data, cancel_reason, cancelled_at)
    SELECT id || '/0', id, clinic_id, 0, 'active', shipment, '', NULL FROM medication_orders WHERE shipment <> 'null';
ALTER TABLE medication_orders DROP COLUMN shipment;

ALTER TABLE medication_orders ADD COLUMN details TEXT COLLATE "C" NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE medication_orders DROP COLUMN details;
ALTER TABLE medication_orders ADD COLUMN shipment TEXT COLLATE "C" NOT NULL DEFAULT 'null';
UPDATE medication_orders SET shipment = s.data FROM shipments s WHERE s.order_id = medication_orders.id AND s.status = 'active';
DROP TABLE shipments;
