package sandbox_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sandbox"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestSandboxAfterCancelledShipment: the simulator leaves an order whose
// shipment was just cancelled in filled for a whole step (a step right after
// the cancellation does not touch it), then ships it again with a new
// shipment, so the partner sees shipment:cancelled and then a new
// shipment:created, and finally delivers it.
func TestSandboxAfterCancelledShipment(t *testing.T) {
	ctx := t.Context()
	key, err := phi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "novamed.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clinic := &novamed.Clinic{ID: uuid.NewString(), Name: "Sandbox", CreatedAt: time.Now()}
	pr := &novamed.Practitioner{ID: uuid.NewString(), ClinicID: clinic.ID, Status: "active", FirstName: "Sam", LastName: "Box",
		Email: "s@example.test", NPI: "1234567893", CreatedAt: time.Now()}
	pa := &novamed.Patient{ID: uuid.NewString(), ClinicID: clinic.ID, Status: "active", FirstName: "Pat", LastName: "Box",
		DateOfBirth: "1980-01-01", Species: "human", CreatedAt: time.Now()}
	item := uuid.Must(uuid.NewV7()).String()
	o := &novamed.MedicationOrder{ID: uuid.Must(uuid.NewV7()).String(), ClinicID: clinic.ID, PatientID: pa.ID, PractitionerID: pr.ID,
		Status: novamed.OrderCreated, CarrierID: "se-3818360", ServiceID: "fedex_2day", CreatedAt: time.Now(), UpdatedAt: time.Now(),
		Items: []*novamed.MedicationRequest{{ID: item, RootID: item, Medication: "Metformin", Dose: "500 mg", Quantity: "60", Direction: "Twice daily"}}}
	for _, err := range []error{s.CreateClinic(ctx, clinic), s.CreatePractitioner(ctx, pr, novamed.Effects{}),
		s.CreatePatient(ctx, pa, novamed.Effects{}), s.CreateMedicationOrder(ctx, o, novamed.Effects{})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func() *novamed.MedicationOrder {
		t.Helper()
		got, err := s.GetMedicationOrder(ctx, o.ID, []string{clinic.ID})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// A step with a cutoff after every change advances the order once.
	step := func() {
		t.Helper()
		if err := sandbox.Step(ctx, s, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for read().Status != novamed.OrderShipped {
		step()
	}
	first := read().Shipment
	cancelled, _, err := s.CancelShipment(ctx, o.ID, "Returned to sender", novamed.Effects{})
	if err != nil {
		t.Fatal(err)
	}

	// A step whose cutoff is just before the cancellation (the order rested
	// less than a step since): the order stays filled.
	if err := sandbox.Step(ctx, s, cancelled.UpdatedAt); err != nil {
		t.Fatal(err)
	}
	if got := read(); got.Status != novamed.OrderFilled || got.Shipment != nil || len(got.Shipments) != 1 {
		t.Fatalf("right after the cancellation the sandbox moved the order: %+v", got)
	}

	step()
	again := read()
	if again.Status != novamed.OrderShipped || len(again.Shipments) != 2 || again.Shipment == nil || again.Shipment.ID == first.ID ||
		again.Shipments[0].Status != novamed.ShipmentCancelled {
		t.Fatalf("after a step the order is %+v, want shipped again with a second shipment", again)
	}
	step()
	if got := read(); got.Status != novamed.OrderDelivered || got.Shipments[1].DeliveredAt == nil || got.Shipments[0].DeliveredAt != nil {
		t.Fatalf("the order after the next step: %+v", got)
	}
	evs, err := s.ListEvents(ctx, clinic.ID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ev := range evs {
		if slices.Contains([]string{novamed.EventShipmentCreated, novamed.EventShipmentCancelled}, ev.Name) {
			names = append(names, ev.Name)
		}
	}
	if want := []string{novamed.EventShipmentCreated, novamed.EventShipmentCancelled, novamed.EventShipmentCreated}; !slices.Equal(names, want) {
		t.Errorf("shipment events %v, want %v", names, want)
	}
}
