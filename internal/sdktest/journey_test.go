package sdktest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/novamed/partner-api/client"
)

func newPractitioner(clinic string) *client.CreatePractitionerRequest {
	return &client.CreatePractitionerRequest{ClinicID: clinic, FirstName: "Sarah", LastName: "Johnson",
		Email: "dr.johnson@clinic.com", NPI: "1234567893", Phone: "512-555-0100", Credentials: "MD",
		LicenseState: "TX", AddressLine1: "1 Clinic Way", City: "Austin", StateCode: "TX", ZipCode: "78701"}
}

func newPatient(clinic, first string) *client.CreatePatientRequest {
	return &client.CreatePatientRequest{ClinicID: clinic, FirstName: first, LastName: "Smith", DateOfBirth: "1985-03-15",
		Email: "john.smith@email.com", Gender: "male", MedicationAllergies: []string{"penicillin"},
		Address: &client.Address{Line1: "100 Congress Ave", Line2: "Suite 2", City: "Austin", State: "TX", Zip: "78701"}}
}

func semaglutide() []client.MedicationRequestParams {
	return []client.MedicationRequestParams{{Medication: "Semaglutide", Dose: "0.25 mg", Quantity: "4",
		Direction: "Inject 0.25 mg under the skin once weekly", Refills: 2, DaysSupply: 28}}
}

// TestQuickstartJourney: practitioner → patient → quote → order, each read
// back, then the order lists and the key's own description.
func TestQuickstartJourney(t *testing.T) {
	env := startEnv(t)
	c := env.client()
	ctx := context.Background()

	pr, err := c.Practitioners.Create(ctx, newPractitioner(env.ClinicID))
	if err != nil {
		t.Fatal(err)
	}
	if pr.ID == "" || pr.Status != client.PractitionerPending || pr.ClinicID != env.ClinicID || pr.NPI != "1234567893" ||
		pr.Address.State != "TX" || pr.Address.City != "Austin" || pr.CreatedAt.IsZero() {
		t.Fatalf("created practitioner = %+v", pr)
	}
	if got, err := c.Practitioners.Get(ctx, pr.ID); err != nil || got.ID != pr.ID || got.Email != pr.Email || got.Phone == "" {
		t.Fatalf("Get practitioner = %+v, %v", got, err)
	}

	var info client.ResponseInfo
	pa, err := c.Patients.Create(ctx, newPatient(env.ClinicID, "John"), client.WithResponseInfo(&info))
	if err != nil {
		t.Fatal(err)
	}
	if pa.ID == "" || pa.Address.State != "TX" || pa.Address.Line2 != "Suite 2" || pa.DateOfBirth != "1985-03-15" ||
		pa.Species != "human" || pa.Status != "active" || !slices.Equal(pa.MedicationAllergies, []string{"penicillin"}) {
		t.Fatalf("created patient = %+v", pa)
	}
	if info.StatusCode != 200 || info.RequestID == "" || info.IdempotencyKey == "" || info.Attempts != 1 || info.Replayed ||
		info.RateLimit.Limit != 100 || info.RateLimit.Remaining <= 0 || info.RateLimit.Reset.IsZero() {
		t.Fatalf("response info = %+v", info)
	}
	if got, err := c.Patients.Get(ctx, pa.ID); err != nil || got.ID != pa.ID || got.Address != pa.Address {
		t.Fatalf("Get patient = %+v, %v", got, err)
	}

	carriers, err := c.Carriers.List(ctx)
	if err != nil || !slices.ContainsFunc(carriers, func(c client.Carrier) bool { return c.ID == "se-3818360" && c.Name == "FedEx" }) {
		t.Fatalf("carriers = %+v, %v", carriers, err)
	}
	quote, err := c.Carriers.Services(ctx, "se-3818360", pa.ID)
	if err != nil {
		t.Fatal(err)
	}
	if quote.PatientState != "Texas" || quote.IsFreeShipment || quote.FreeShipmentType != "" ||
		!slices.ContainsFunc(quote.Services, func(q client.ShippingQuote) bool {
			return q.ID == "fedex_ground" && q.Name == "FedEx Ground®" && q.TotalCost == 32.44
		}) {
		t.Fatalf("services = %+v", quote)
	}

	o, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{ClinicID: env.ClinicID, PatientID: pa.ID,
		PractitionerID: pr.ID, CarrierID: "se-3818360", ServiceID: "fedex_ground", MedicationRequests: semaglutide()})
	if err != nil {
		t.Fatal(err)
	}
	if o.ID == "" || o.Status != client.OrderCreated || o.ShippingCost != 32.44 || o.DeliverySpeed != client.SpeedBusinessDay ||
		len(o.MedicationRequests) != 1 || o.MedicationRequestID != o.MedicationRequests[0].ID || o.Shipment != nil {
		t.Fatalf("created order = %+v", o)
	}
	item := o.MedicationRequests[0]
	if item.Sig != "Inject 0.25 mg under the skin once weekly" || item.UnitOfMeasure != "mg" || item.Quantity != "4" ||
		item.RefillsAuthorized != 2 || item.RefillsRemaining != 2 || item.MedicationOrderID != o.ID {
		t.Fatalf("order item = %+v", item)
	}
	got, err := c.MedicationOrders.Get(ctx, o.ID)
	if err != nil || got.ID != o.ID || got.PatientID != pa.ID || got.PractitionerID != pr.ID || got.CarrierID != "se-3818360" ||
		got.ServiceID != "fedex_ground" || len(got.MedicationRequests) != 1 {
		t.Fatalf("Get order = %+v, %v", got, err)
	}

	// A second patient's order, by delivery speed, to exercise the filters.
	other, err := c.Patients.Create(ctx, newPatient(env.ClinicID, "Jane"))
	if err != nil {
		t.Fatal(err)
	}
	o2, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{ClinicID: env.ClinicID, PatientID: other.ID,
		PractitionerID: pr.ID, DeliverySpeed: client.SpeedNextDay, MedicationRequests: semaglutide()})
	if err != nil {
		t.Fatal(err)
	}
	if o2.CarrierID == "" || o2.ServiceID == "" || o2.ShippingCost <= 0 {
		t.Fatalf("order by speed = %+v", o2)
	}
	ids := func(p client.MedicationOrderListParams) []string {
		t.Helper()
		orders, err := client.Collect(c.MedicationOrders.List(ctx, p))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range orders {
			out = append(out, o.ID)
		}
		return out
	}
	if got := ids(client.MedicationOrderListParams{}); !slices.Equal(got, []string{o2.ID, o.ID}) {
		t.Errorf("all orders = %v", got)
	}
	if got := ids(client.MedicationOrderListParams{PatientID: pa.ID}); !slices.Equal(got, []string{o.ID}) {
		t.Errorf("orders of patient = %v", got)
	}
	if got := ids(client.MedicationOrderListParams{Status: client.OrderCreated, ListParams: client.ListParams{Limit: 1}}); len(got) != 2 {
		t.Errorf("created orders = %v", got)
	}
	if got := ids(client.MedicationOrderListParams{Status: client.OrderShipped}); len(got) != 0 {
		t.Errorf("shipped orders = %v", got)
	}
	if _, err := client.Collect(c.MedicationOrders.List(ctx, client.MedicationOrderListParams{Status: "lost"})); !client.IsValidation(err) {
		t.Errorf("unknown status filter: %v", err)
	}

	me, err := c.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(me.Clinics, []string{env.ClinicID}) || me.Environment != "development" || me.RateLimit.Limit != 100 ||
		me.RateLimit.Remaining >= 100 || !strings.HasPrefix(env.Key, me.Prefix) {
		t.Fatalf("me = %+v", me)
	}
	usage, err := c.Usage(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if usage.Totals["2xx"] < 10 {
		t.Fatalf("usage = %+v", usage)
	}
}

// countingTransport counts the requests that pass through it.
type countingTransport struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestListIterationAcrossPages: 5 patients with Limit 2 are 3 pages; the
// iterator sees each once, newest first, and stops early when asked.
func TestListIterationAcrossPages(t *testing.T) {
	env := startEnv(t)
	ctx := context.Background()
	ct := &countingTransport{next: http.DefaultTransport}
	c := env.client(client.WithHTTPClient(&http.Client{Transport: ct}))
	var created []string
	for i := range 5 {
		p, err := c.Patients.Create(ctx, newPatient(env.ClinicID, fmt.Sprintf("Patient%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, p.ID)
	}
	slices.Reverse(created) // newest first

	ct.n.Store(0)
	var seen []string
	for p, err := range c.Patients.List(ctx, client.ListParams{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, p.ID)
	}
	if !slices.Equal(seen, created) {
		t.Fatalf("iterated %v, want %v", seen, created)
	}
	if n := ct.n.Load(); n != 3 {
		t.Fatalf("fetched %d pages, want 3", n)
	}

	// Page by page.
	var cursors []string
	params := client.ListParams{Limit: 2, ClinicID: env.ClinicID}
	for {
		page, err := c.Patients.ListPage(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, page.NextCursor)
		if page.NextCursor == "" {
			if len(page.Items) != 1 || page.Items[0].ID != created[4] {
				t.Fatalf("last page = %+v", page.Items)
			}
			break
		}
		params.Cursor = page.NextCursor
	}
	if len(cursors) != 3 || cursors[0] != created[1] || cursors[1] != created[3] {
		t.Fatalf("cursors = %v", cursors)
	}

	// Breaking out of the loop fetches no further page.
	ct.n.Store(0)
	for p, err := range c.Patients.List(ctx, client.ListParams{Limit: 2}) {
		if err != nil || p.ID != created[0] {
			t.Fatalf("first = %v, %v", p, err)
		}
		break
	}
	if n := ct.n.Load(); n != 1 {
		t.Fatalf("fetched %d pages after break, want 1", n)
	}

	// An error is yielded once and ends the iteration.
	var errs int
	for p, err := range c.Patients.List(ctx, client.ListParams{Limit: 500}) {
		if p != nil || err == nil {
			t.Fatalf("got %v, %v", p, err)
		}
		errs++
		if !client.IsValidation(err) {
			t.Fatalf("limit 500: %v", err)
		}
	}
	if errs != 1 {
		t.Fatalf("%d errors yielded", errs)
	}

	// A cancelled context ends the iteration with its error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, err := range c.Patients.List(cctx, client.ListParams{}) {
		if err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("cancelled list: %v", err)
		}
	}
}
