-- +goose Up
-- Shipments become rows of their own: an order may have several (a
-- cancelled shipment stays when the order ships again). The row id is the
-- order id, a slash and the position, so that a row's sealed cancel_reason
-- can be re-sealed without reading it first. data holds the shipment
-- (carrier, tracking, label, times) as JSON, as medication_orders.shipment
-- did; cancel_reason is free text an operator writes, so it is sealed.
CREATE TABLE shipments (
    id            TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL REFERENCES medication_orders (id),
    clinic_id     TEXT NOT NULL,
    position      INTEGER NOT NULL,
    status        TEXT NOT NULL,
    data          TEXT NOT NULL,
    cancel_reason TEXT NOT NULL,
    cancelled_at  BIGINT
);
CREATE UNIQUE INDEX shipments_order ON shipments (order_id, position);

INSERT INTO shipments (id, order_id, clinic_id, position, status, data, cancel_reason, cancelled_at)
    SELECT id || '/0', id, clinic_id, 0, 'active', shipment, '', NULL FROM medication_orders WHERE shipment <> 'null';
ALTER TABLE medication_orders DROP COLUMN shipment;

-- details holds what a refill names for its order (shipping address, payment
-- method id), sealed; '' when nothing.
ALTER TABLE medication_orders ADD COLUMN details TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE medication_orders DROP COLUMN details;
ALTER TABLE medication_orders ADD COLUMN shipment TEXT NOT NULL DEFAULT 'null';
UPDATE medication_orders SET shipment = (SELECT s.data FROM shipments s WHERE s.order_id = medication_orders.id AND s.status = 'active')
    WHERE EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = medication_orders.id AND s.status = 'active');
DROP TABLE shipments;
