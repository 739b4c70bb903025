package sdktest

import (
	"context"
	"errors"
	"testing"

	"github.com/novamed/partner-api/client"
	"github.com/novamed/partner-api/internal/novamed"
)

// TestSandboxCancelShipmentAndRefillShipping: through the SDK, a shipped
// order's shipment is cancelled in the development sandbox (the order reads
// back filled with the cancelled shipment), ships again (two shipments),
// and a refill names a Stamps.com service, an address and a payment method
// that its new order carries.
func TestSandboxCancelShipmentAndRefillShipping(t *testing.T) {
	env := startEnv(t) // the default catalogue is the published one (contract §8), usps_priority included
	c := env.client()
	ctx := context.Background()
	pr, err := c.Practitioners.Create(ctx, newPractitioner(env.ClinicID))
	if err != nil {
		t.Fatal(err)
	}
	pa, err := c.Patients.Create(ctx, newPatient(env.ClinicID, "John"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{ClinicID: env.ClinicID, PatientID: pa.ID,
		PractitionerID: pr.ID, CarrierID: "se-3818360", ServiceID: "fedex_ground", MedicationRequests: semaglutide()})
	if err != nil {
		t.Fatal(err)
	}
	if o.Shipments == nil || len(o.Shipments) != 0 {
		t.Errorf("a new order's shipments = %v, want an empty list", o.Shipments)
	}
	_, err = c.MedicationOrders.SandboxCancelShipment(ctx, o.ID, "Returned to sender")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeOrderNotShipped || !client.IsValidation(err) {
		t.Fatalf("cancelling an unshipped order's shipment: %v", err)
	}
	env.ship(t, o.ID, "TRK-1")
	got, err := c.MedicationOrders.SandboxCancelShipment(ctx, o.ID, "Returned to sender")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != client.OrderFilled || got.Shipment != nil || len(got.Shipments) != 1 ||
		got.Shipments[0].Status != client.ShipmentCancelled || got.Shipments[0].CancelReason != "Returned to sender" ||
		got.Shipments[0].CancelledAt == nil || got.Shipments[0].TrackingNumber != "TRK-1" {
		t.Fatalf("after SandboxCancelShipment: %+v", got)
	}
	env.advance(t, o.ID, "shipped", "TRK-2")
	again, err := c.MedicationOrders.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != client.OrderShipped || len(again.Shipments) != 2 || again.Shipment == nil ||
		again.Shipment.Status != client.ShipmentActive || again.Shipment.TrackingNumber != "TRK-2" ||
		again.Shipments[1].ID != again.Shipment.ID || again.Shipments[0].ID == again.Shipment.ID {
		t.Fatalf("after shipping again: %+v", again)
	}

	addr := &client.Address{Line1: "123 Main Street", City: "San Francisco", State: "CA", Zip: "94102"}
	rf, err := c.Refills.Create(ctx, &client.CreateRefillRequest{MedicationRequestID: o.MedicationRequestID,
		ShippingAddress: addr, ShipmentServiceCode: "usps_priority", PaymentMethodID: "pm_card_visa_1234"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.MedicationOrders.Get(ctx, rf.MedicationOrderID)
	if err != nil {
		t.Fatal(err)
	}
	if n.CarrierID != "se-11225" || n.ServiceID != "usps_priority" || n.PaymentMethodID != "pm_card_visa_1234" ||
		n.ShippingAddress == nil || *n.ShippingAddress != *addr {
		t.Errorf("the refill's order: %+v (address %+v)", n, n.ShippingAddress)
	}
	_, err = c.Refills.Create(ctx, &client.CreateRefillRequest{MedicationRequestID: o.MedicationRequestID, ShipmentServiceCode: "usps_teleport"})
	if !client.IsValidation(err) || !errors.As(err, &apiErr) || len(apiErr.Fields) != 1 || apiErr.Fields[0].Field != "shipment_service_code" {
		t.Errorf("an unknown service code: %v", err)
	}
}

// advance moves an order to status to as NovaMed's pharmacy does (to
// shipped with tracking number tracking).
func (e *testEnv) advance(t *testing.T, orderID, to, tracking string) {
	t.Helper()
	var sh *novamed.Shipment
	if to == client.OrderShipped {
		sh = &novamed.Shipment{TrackingNumber: tracking}
	}
	if _, _, err := e.Store.TransitionOrder(context.Background(), orderID, to, sh); err != nil {
		t.Fatalf("order %s → %s: %v", orderID, to, err)
	}
}

// ship walks a new order to shipped.
func (e *testEnv) ship(t *testing.T, orderID, tracking string) {
	t.Helper()
	for _, to := range []string{"verified", "submitted", "acknowledged", "filled", "shipped"} {
		e.advance(t, orderID, to, tracking)
	}
}
