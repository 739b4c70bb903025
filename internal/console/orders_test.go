package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// withAudit gives the console an audit writer on its own store.
func withAudit(t *testing.T) func(*Config) {
	return func(cfg *Config) {
		w := audit.NewWriter(cfg.Store.(novamed.AuditStore), slog.New(slog.DiscardHandler))
		t.Cleanup(w.Close)
		cfg.Audit = w
	}
}

// seedOrder stores a clinic, a practitioner, a patient and an order in
// status created, and returns the order's and the clinic's ids.
func (e *testEnv) seedOrder(clinicName string) (string, string) {
	e.t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	clinic := &novamed.Clinic{ID: uuid.NewString(), Name: clinicName, CreatedAt: now}
	pr := &novamed.Practitioner{ID: uuid.NewString(), ClinicID: clinic.ID, Status: "active", FirstName: "Sam", LastName: "Box",
		Email: "s@example.test", NPI: "1234567893", CreatedAt: now}
	pa := &novamed.Patient{ID: uuid.NewString(), ClinicID: clinic.ID, Status: "active", FirstName: "Pat", LastName: "Box",
		DateOfBirth: "1980-01-01", Species: "human", CreatedAt: now}
	item := uuid.Must(uuid.NewV7()).String()
	o := &novamed.MedicationOrder{ID: uuid.Must(uuid.NewV7()).String(), ClinicID: clinic.ID, PatientID: pa.ID, PractitionerID: pr.ID,
		Status: novamed.OrderCreated, CarrierID: "se-3818360", ServiceID: "fedex_2day", CreatedAt: now, UpdatedAt: now,
		Items: []*novamed.MedicationRequest{{ID: item, RootID: item, Medication: "Metformin", Dose: "500 mg", Quantity: "60", Direction: "Twice daily"}}}
	for _, err := range []error{e.store.CreateClinic(ctx, clinic), e.store.CreatePractitioner(ctx, pr, novamed.Effects{}),
		e.store.CreatePatient(ctx, pa, novamed.Effects{}), e.store.CreateMedicationOrder(ctx, o, novamed.Effects{})} {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return o.ID, clinic.ID
}

func (e *testEnv) orderStatus(id string) string {
	e.t.Helper()
	o, err := e.store.GetMedicationOrder(context.Background(), id, nil)
	if err != nil {
		cs, _ := e.store.ListClinics(context.Background())
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		if o, err = e.store.GetMedicationOrder(context.Background(), id, ids); err != nil {
			e.t.Fatal(err)
		}
	}
	return o.Status
}

// auditActions lists the audit trail's actions by actor.
func (e *testEnv) auditActions(actor string) []string {
	e.t.Helper()
	var out []string
	err := e.store.ScanAudit(context.Background(), time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		if r.Actor == actor {
			out = append(out, r.Action+":"+http.StatusText(r.Status))
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestOrderPagesAndLifecycle: the list and the order page are audited PHI
// reads; the order moves through its lifecycle from the console; bad
// input is shown beside its field and changes nothing.
func TestOrderPagesAndLifecycle(t *testing.T) {
	e := newEnv(t, withAudit(t))
	op := e.addOperator("pharmacy@novamed.test", "pharmacy")
	ck, csrf := e.signIn(e.c, "pharmacy@novamed.test")
	id, clinic := e.seedOrder("North")
	other, _ := e.seedOrder("South")
	get := func(p string) *httpResponse {
		w := do(t, e.c, "GET", p, nil, ck, nil)
		return &httpResponse{w.Code, w.Header().Get("Location"), w.Body.String()}
	}
	post := func(p string, form url.Values) *httpResponse {
		form.Set("csrf_token", csrf)
		w := do(t, e.c, "POST", p, form, ck, nil)
		return &httpResponse{w.Code, w.Header().Get("Location"), w.Body.String()}
	}

	// Search: by clinic, by status, by id; bad filters beside their fields.
	if r := get("/console/orders?clinic=" + clinic); r.code != 200 || !strings.Contains(r.body, id) || strings.Contains(r.body, other) {
		t.Fatalf("orders of one clinic: %d\n%s", r.code, r.body)
	}
	if r := get("/console/orders?status=shipped"); r.code != 200 || strings.Contains(r.body, id) {
		t.Fatalf("shipped orders: %d (lists a created order: %v)", r.code, strings.Contains(r.body, id))
	}
	if r := get("/console/orders?q=" + id); r.code != http.StatusSeeOther || r.loc != "/console/orders/"+id {
		t.Fatalf("search by id: %d → %q", r.code, r.loc)
	}
	for q, field := range map[string]string{"q=nope": "q-error", "q=" + uuid.NewString(): "q-error", "status=lost": "status-error", "clinic=" + uuid.NewString(): "clinic-error"} {
		if r := get("/console/orders?" + q); r.code < 400 || r.code >= 500 || !strings.Contains(r.body, `id="`+field+`"`) {
			t.Errorf("orders?%s: %d, want an error beside %s", q, r.code, field)
		}
	}

	page := get("/console/orders/" + id)
	if page.code != 200 || !strings.Contains(page.body, "Metformin") || !strings.Contains(page.body, `value="verified"`) {
		t.Fatalf("order page: %d\n%s", page.code, page.body)
	}
	if r := get("/console/orders/" + uuid.NewString()); r.code != http.StatusNotFound {
		t.Errorf("unknown order: %d", r.code)
	}

	// Bad input: a skipped step, no target, shipping without tracking
	// number, a bad label URL, a shipment cancel on an unshipped order.
	for _, tc := range []struct {
		path  string
		form  url.Values
		field string
	}{
		{"/advance", url.Values{"to": {"shipped"}, "tracking_number": {"T1"}}, "to-error"},
		{"/advance", url.Values{}, "to-error"},
		{"/advance", url.Values{"to": {"teleported"}}, "to-error"},
		{"/cancel-shipment", url.Values{"reason": {"lost"}}, "to-error"},
		{"/cancel-shipment", url.Values{"reason": {""}}, "to-error"},
	} {
		r := post("/console/orders/"+id+tc.path, tc.form)
		if r.code < 400 || r.code >= 500 || !strings.Contains(r.body, `id="`+tc.field+`"`) {
			t.Errorf("%s %v: %d, want an error beside %s\n%s", tc.path, tc.form, r.code, tc.field, r.body)
		}
		if st := e.orderStatus(id); st != novamed.OrderCreated {
			t.Fatalf("%s %v changed the order to %s", tc.path, tc.form, st)
		}
	}

	for _, to := range []string{"verified", "submitted", "acknowledged", "filled"} {
		if r := post("/console/orders/"+id+"/advance", url.Values{"to": {to}}); r.code != http.StatusSeeOther {
			t.Fatalf("advance to %s: %d\n%s", to, r.code, r.body)
		}
	}
	for _, form := range []url.Values{
		{"to": {"shipped"}},
		{"to": {"shipped"}, "tracking_number": {"   "}},
		{"to": {"shipped"}, "tracking_number": {"TRK1"}, "label_url": {"javascript:alert(1)"}},
	} {
		r := post("/console/orders/"+id+"/advance", form)
		if r.code < 400 || r.code >= 500 || !strings.Contains(r.body, "field-error") {
			t.Errorf("ship with %v: %d, want a field error", form, r.code)
		}
		if st := e.orderStatus(id); st != novamed.OrderFilled {
			t.Fatalf("ship with %v: the order is %s", form, st)
		}
	}
	r := post("/console/orders/"+id+"/advance", url.Values{"to": {"shipped"}, "tracking_number": {"TRK1"}, "label_url": {"https://labels.example.test/1.pdf"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("ship: %d\n%s", r.code, r.body)
	}
	if p := get(r.loc); !strings.Contains(p.body, "TRK1") || !strings.Contains(p.body, "Order moved to shipped") {
		t.Errorf("shipped order page lacks its tracking number or notice")
	}
	// A shipped order cannot be cancelled; its shipment can.
	if r := post("/console/orders/"+id+"/cancel", url.Values{}); r.code != http.StatusConflict {
		t.Errorf("cancel a shipped order: %d, want 409", r.code)
	}
	if r := post("/console/orders/"+id+"/cancel-shipment", url.Values{"reason": {"Lost by the carrier"}}); r.code != http.StatusSeeOther {
		t.Fatalf("cancel shipment: %d\n%s", r.code, r.body)
	}
	if st := e.orderStatus(id); st != novamed.OrderFilled {
		t.Fatalf("after the shipment's cancellation: %s", st)
	}
	if r := post("/console/orders/"+other+"/cancel", url.Values{}); r.code != http.StatusSeeOther || e.orderStatus(other) != novamed.OrderCancelled {
		t.Fatalf("cancel: %d", r.code)
	}

	got := strings.Join(e.auditActions("operator:"+op.ID), " ")
	for _, want := range []string{"medication_order.list:OK", "medication_order.read:OK", "medication_order.read:Not Found",
		"medication_order.advance:OK", "medication_order.advance:Conflict", "medication_order.cancel_shipment:OK",
		"medication_order.cancel_shipment:Bad Request", "medication_order.cancel:OK", "medication_order.cancel:Conflict"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit trail lacks %s:\n%s", want, got)
		}
	}
}

// TestOrderRolesSeeWhatTheyMay: security reads orders without lifecycle
// buttons; support (no read_phi) reaches neither list nor page.
func TestOrderRolesSeeWhatTheyMay(t *testing.T) {
	e := newEnv(t, nil)
	e.addOperator("security@novamed.test", "security")
	e.addOperator("support@novamed.test", "support")
	id, _ := e.seedOrder("North")
	ck, csrf := e.signIn(e.c, "security@novamed.test")
	w := do(t, e.c, "GET", "/console/orders/"+id, nil, ck, nil)
	if w.Code != 200 || strings.Contains(w.Body.String(), "/advance") || !strings.Contains(w.Body.String(), `href="/console/orders"`) {
		t.Errorf("security's order page: %d (action shown: %v)", w.Code, strings.Contains(w.Body.String(), "/advance"))
	}
	if w := do(t, e.c, "POST", "/console/orders/"+id+"/advance", url.Values{"csrf_token": {csrf}, "to": {"verified"}}, ck, nil); w.Code != http.StatusForbidden {
		t.Errorf("security advances: %d", w.Code)
	}
	ck, _ = e.signIn(e.c, "support@novamed.test")
	for _, p := range []string{"/console/orders", "/console/orders/" + id} {
		if w := do(t, e.c, "GET", p, nil, ck, nil); w.Code != http.StatusForbidden {
			t.Errorf("support GET %s: %d", p, w.Code)
		}
	}
	if w := do(t, e.c, "GET", "/console/", nil, ck, nil); strings.Contains(w.Body.String(), `href="/console/orders"`) {
		t.Error("support's navigation links to orders")
	}
	if e.orderStatus(id) != novamed.OrderCreated {
		t.Error("the order moved")
	}
}

// TestFormularyAndCarriers: the catalogue and a clinic's formulary are
// shown; support adds and removes a medication; bad input changes nothing.
func TestFormularyAndCarriers(t *testing.T) {
	e := newEnv(t, withAudit(t))
	op := e.addOperator("support@novamed.test", "support")
	e.addOperator("viewer@novamed.test", "viewer")
	_, clinic := e.seedOrder("North")
	ck, csrf := e.signIn(e.c, "support@novamed.test")
	if w := do(t, e.c, "GET", "/console/carriers", nil, ck, nil); w.Code != 200 || !strings.Contains(w.Body.String(), "fedex_2day") {
		t.Fatalf("carriers: %d", w.Code)
	}
	w := do(t, e.c, "GET", "/console/formulary?clinic="+clinic, nil, ck, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Semaglutide") || !strings.Contains(w.Body.String(), "built-in") {
		t.Fatalf("built-in formulary: %d\n%s", w.Code, w.Body)
	}
	if w := do(t, e.c, "GET", "/console/formulary?clinic="+uuid.NewString(), nil, ck, nil); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `id="clinic-error"`) {
		t.Errorf("unknown clinic: %d", w.Code)
	}
	own := func() int {
		fs, err := e.store.ListFormulary(context.Background(), clinic)
		if err != nil {
			t.Fatal(err)
		}
		return len(fs)
	}
	for _, form := range []url.Values{{"medication": {"  "}}, {"medication": {strings.Repeat("x", 201)}}, {"medication": {"X"}, "unit": {strings.Repeat("u", 21)}}} {
		form.Set("csrf_token", csrf)
		w := do(t, e.c, "POST", "/console/formulary/"+clinic, form, ck, nil)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "field-error") || own() != 0 {
			t.Errorf("set %v: %d, %d entries", form, w.Code, own())
		}
	}
	w = do(t, e.c, "POST", "/console/formulary/"+clinic, url.Values{"csrf_token": {csrf}, "medication": {"Tirzepatide"}, "strengths": {"2.5 mg, 5 mg"}, "unit": {"mg"}, "refrigerated": {"on"}}, ck, nil)
	if w.Code != http.StatusSeeOther || own() != 1 {
		t.Fatalf("set: %d, %d entries", w.Code, own())
	}
	if w := do(t, e.c, "POST", "/console/formulary/"+clinic+"/remove", url.Values{"csrf_token": {csrf}, "medication": {"Aspirin"}}, ck, nil); w.Code != http.StatusBadRequest || own() != 1 {
		t.Errorf("remove a medication not there: %d", w.Code)
	}
	if w := do(t, e.c, "POST", "/console/formulary/"+clinic+"/remove", url.Values{"csrf_token": {csrf}, "medication": {"tirzepatide"}}, ck, nil); w.Code != http.StatusSeeOther || own() != 0 {
		t.Errorf("remove: %d, %d entries", w.Code, own())
	}
	got := strings.Join(e.auditActions("operator:"+op.ID), " ")
	if !strings.Contains(got, "formulary.set:OK") || !strings.Contains(got, "formulary.remove:OK") || !strings.Contains(got, "formulary.set:Bad Request") {
		t.Errorf("audit: %s", got)
	}
	// A viewer reads but has no forms.
	ck, _ = e.signIn(e.c, "viewer@novamed.test")
	if w := do(t, e.c, "GET", "/console/formulary?clinic="+clinic, nil, ck, nil); w.Code != 200 || strings.Contains(w.Body.String(), `action="/console/formulary/`) {
		t.Errorf("viewer's formulary page: %d", w.Code)
	}
}
