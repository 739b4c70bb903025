//go:build genclient

// The tests of the generated client: built only by TestGeneratedClientWorks
// (./gen), which overlays a freshly generated client.gen.go on this folder.

package genclient_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/api/genclient"
	"github.com/novamed/partner-api/internal/testenv"
)

// newServer starts the server in process as `novamed serve` builds it
// (testenv.NewServer): a fresh store, one clinic and one development key.
func newServer(t *testing.T) (url, key, clinic string) {
	t.Helper()
	srv := testenv.NewServer(t, testenv.Options{ClinicName: "Generated Client Clinic"})
	return srv.URL, srv.Key, srv.ClinicID
}

func ptr[T any](v T) *T { return &v }

// TestQuickstartThroughGeneratedClient runs the quickstart — a practitioner,
// a patient in Texas, a medication order shipped FedEx 2Day — with nothing
// but the client oapi-codegen generated from api/openapi.yaml.
func TestQuickstartThroughGeneratedClient(t *testing.T) {
	url, key, clinicID := newServer(t)
	c, err := genclient.NewClientWithResponses(url, genclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("x-api-key", key)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clinic := genclient.ClinicId(uuid.MustParse(clinicID))

	prac, err := c.CreatePractitionerWithResponse(ctx, &genclient.CreatePractitionerParams{IdempotencyKey: ptr("quickstart-practitioner")},
		genclient.PractitionerInput{AssignedClinic: &clinic, FirstName: "Sarah", LastName: "Johnson",
			Email: "dr.johnson@clinic.com", NpiNumber: ptr("1234567890")})
	if err != nil {
		t.Fatal(err)
	}
	if prac.JSON200 == nil {
		t.Fatalf("create practitioner: %d %s", prac.StatusCode(), prac.Body)
	}
	if prac.JSON200.Data.Status != genclient.PractitionerStatusPending || prac.JSON200.Message != "Practitioner created successfully" {
		t.Errorf("practitioner: %+v", prac.JSON200)
	}

	pat, err := c.CreatePatientWithResponse(ctx, nil, genclient.PatientInput{ClinicId: &clinic, FirstName: "Quinn", LastName: "Quickstart",
		Dob:      ptr(genclient.DateInput("1990-07-04")),
		Contacts: &[]genclient.ContactInput{{Key: genclient.Email, Value: "quinn.quickstart@example.test"}},
		Addresses: &[]genclient.AddressInput{{AddressLine1Camel: ptr("100 Quickstart Way"), City: ptr("Austin"),
			State: ptr(genclient.StateInput("TX")), PostalCode: ptr(genclient.ZipInput("78701"))}}})
	if err != nil {
		t.Fatal(err)
	}
	if pat.JSON200 == nil {
		t.Fatalf("create patient: %d %s", pat.StatusCode(), pat.Body)
	}
	if a := pat.JSON200.Data.Address; a.State == nil || *a.State != "TX" || a.AddressLine1 == nil || *a.AddressLine1 != "100 Quickstart Way" {
		t.Errorf("patient address: %+v", a)
	}

	quotes, err := c.ListCarrierServicesWithResponse(ctx, "se-3818360", &genclient.ListCarrierServicesParams{PatientIdCamel: &pat.JSON200.Data.PatientId})
	if err != nil {
		t.Fatal(err)
	}
	if quotes.JSON200 == nil || quotes.JSON200.PatientState != "Texas" || quotes.JSON200.Data[0].Id != "fedex_ground" {
		t.Fatalf("quotes: %d %s", quotes.StatusCode(), quotes.Body)
	}

	var qty genclient.PositiveNumberInput
	if err := qty.FromPositiveNumberInput0(4); err != nil {
		t.Fatal(err)
	}
	var refills genclient.MedicationRequestInput_Refills
	if err := refills.FromMedicationRequestInputRefills1("2"); err != nil {
		t.Fatal(err)
	}
	order, err := c.CreateMedicationOrderWithResponse(ctx, &genclient.CreateMedicationOrderParams{IdempotencyKey: ptr("quickstart-order")},
		genclient.MedicationOrderInput{ClinicId: &clinic, PatientId: pat.JSON200.Data.PatientId, PractitionerId: prac.JSON200.Data.PractitionerId,
			CarrierId: ptr("se-3818360"), ServiceId: ptr("fedex_ground"),
			MedicationRequests: []genclient.MedicationRequestInput{{Medication: "Semaglutide", Dose: "0.25 mg", Quantity: qty,
				Direction: "Inject 0.25 mg under the skin once weekly", Refills: &refills}}})
	if err != nil {
		t.Fatal(err)
	}
	if order.JSON200 == nil {
		t.Fatalf("create order: %d %s", order.StatusCode(), order.Body)
	}
	o := order.JSON200.Data
	if o.Status != genclient.Created || o.ShippingCost != 32.44 || len(o.MedicationRequests) != 1 ||
		o.MedicationRequests[0].Id != o.MedicationRequestId || o.MedicationRequests[0].UnitOfMeasure != "mg" || o.MedicationRequests[0].RefillsAuthorized != 2 {
		t.Errorf("order: %s", order.Body)
	}
	if order.JSON200.Message != "Medication request created successfully" {
		t.Errorf("order message %q", order.JSON200.Message)
	}
	// A retry with the same Idempotency-Key is a replay of the same order.
	again, err := c.CreateMedicationOrderWithResponse(ctx, &genclient.CreateMedicationOrderParams{IdempotencyKey: ptr("quickstart-order")},
		genclient.MedicationOrderInput{ClinicId: &clinic, PatientId: pat.JSON200.Data.PatientId, PractitionerId: prac.JSON200.Data.PractitionerId,
			CarrierId: ptr("se-3818360"), ServiceId: ptr("fedex_ground"),
			MedicationRequests: []genclient.MedicationRequestInput{{Medication: "Semaglutide", Dose: "0.25 mg", Quantity: qty,
				Direction: "Inject 0.25 mg under the skin once weekly", Refills: &refills}}})
	if err != nil {
		t.Fatal(err)
	}
	if again.JSON200 == nil || again.JSON200.Data.Id != o.Id || again.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: %d %s", again.StatusCode(), again.Body)
	}

	got, err := c.GetMedicationOrderWithResponse(ctx, o.Id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.JSON200 == nil || got.JSON200.Data.CarrierId != "se-3818360" || got.JSON200.Data.ServiceId != "fedex_ground" {
		t.Fatalf("read order: %d %s", got.StatusCode(), got.Body)
	}

	// Errors decode into the documented envelope.
	bad, err := c.GetPatientWithResponse(ctx, uuid.MustParse("650e8400-e29b-41d4-a716-446655440000"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bad.JSON404 == nil || bad.JSON404.Error.Code != genclient.NOTFOUND || bad.JSON404.Error.Message != "Patient not found" {
		t.Errorf("unknown patient: %d %s", bad.StatusCode(), bad.Body)
	}
}
