package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// orderCount is the number of orders the key sees (up to 100).
func orderCount(t *testing.T, ts *testServer, key string) int {
	t.Helper()
	return len(ts.createdIDs(t, "/api/external/medication-order", key))
}

// TestOrderOutsideFormularyChangesNothing: an order with a line outside the
// clinic's formulary is a 400 naming that line and writes nothing; names
// match case-insensitively after trimming, and the dose is not checked.
func TestOrderOutsideFormularyChangesNothing(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	before := orderCount(t, p.testServer, p.key)
	line := func(med string) map[string]any {
		return map[string]any{"medication": med, "dose": "0.25 mg", "quantity": 4, "direction": "Inject weekly"}
	}
	r, _ := p.order(t, map[string]any{"medication_requests": []any{line("Semaglutide"), line("Ibuprofen"), line("Unlistedol")}}, nil)
	expectError(t, r, 400, "VALIDATION_ERROR", "medication_requests[1].medication is not in the clinic's formulary (GET /api/external/medications lists it).")
	if len(r.Env.Error.Details.Fields) != 2 || !hasField(r, "medication_requests[1].medication") || !hasField(r, "medication_requests[2].medication") {
		t.Errorf("want field problems for lines 1 and 2 only: %s", r.Body)
	}
	if after := orderCount(t, p.testServer, p.key); after != before {
		t.Fatalf("orders before %d, after the refused order %d", before, after)
	}
	// Case and surrounding spaces do not matter; neither does the dose.
	r, o := p.order(t, map[string]any{"medication_requests": []any{line("  semaGLUTIDE "), line("testosterone cypionate")}}, nil)
	expectOK(t, r)
	if o.Items[0].Medication != "semaGLUTIDE" {
		t.Errorf("the line keeps the partner's spelling (trimmed): %q", o.Items[0].Medication)
	}
	if after := orderCount(t, p.testServer, p.key); after != before+1 {
		t.Errorf("orders before %d, after one accepted order %d", before, after)
	}
}

// TestProductionOrdersNeedFormularyAndActivePrescriber: a production clinic
// has no formulary until NovaMed imports one, and its orders are refused
// saying so; then a pending practitioner is refused and an active one is
// accepted. Nothing is written by the refusals.
func TestProductionOrdersNeedFormularyAndActivePrescriber(t *testing.T) {
	t.Parallel()
	prod := startServer(t, "production")
	clinic := prod.newClinic("Prod Clinic")
	k := prod.newKey("--clinic", clinic)
	r := prod.req("POST", "/api/external/practitioner", k.Key, map[string]any{
		"clinic_id": clinic, "first_name": "Pia", "last_name": "Prod", "email": "pia@clinic.test", "npi": "1234567893"})
	expectOK(t, r)
	var pr struct {
		ID     string `json:"practitioner_id"`
		Status string
	}
	r.data(t, &pr)
	if pr.Status != "pending" {
		t.Fatalf("a new production practitioner is %q, want pending", pr.Status)
	}
	r = prod.req("POST", "/api/external/patient", k.Key, map[string]any{
		"clinic_id": clinic, "first_name": "Pat", "last_name": "Prod", "dob": "1980-04-04",
		"address": map[string]any{"line1": "1 Main St", "city": "Austin", "state": "TX", "zip": "78701"}})
	expectOK(t, r)
	var pa struct {
		ID string `json:"patient_id"`
	}
	r.data(t, &pa)
	order := func() *response {
		return prod.req("POST", "/api/external/medication-order", k.Key, map[string]any{
			"clinic_id": clinic, "patient_id": pa.ID, "practitioner_id": pr.ID, "carrier_id": "se-3818360", "service_id": "fedex_ground",
			"medication_requests": []any{map[string]any{"medication": "Semaglutide", "dose": "0.25 mg", "quantity": 4, "direction": "Inject weekly"}}})
	}
	// The practitioner is active for this first step, so that the refusal
	// shows the missing formulary alone.
	var act struct{ Status string }
	prod.mustCLI(&act, "practitioners", "activate", pr.ID)
	expectError(t, order(), 400, "VALIDATION_ERROR", "Clinic has no formulary; NovaMed must import one before orders can be placed.")
	r = prod.req("GET", "/api/external/medications?clinic_id="+clinic, k.Key, nil)
	expectOK(t, r)
	if !strings.Contains(string(r.Body), `"items":[]`) {
		t.Errorf("a production clinic without a formulary lists medications: %s", r.Body)
	}

	file := filepath.Join(t.TempDir(), "formulary.json")
	if err := os.WriteFile(file, []byte(`{"medications":[{"name":"Semaglutide","strengths":["0.25 mg"],"unit_of_measure":"mg","is_refrigerated":true}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	prod.mustCLI(nil, "formulary", "import", "--clinic", clinic, "--file", file)

	// A second, pending practitioner is refused; the active one is accepted.
	r = prod.req("POST", "/api/external/practitioner", k.Key, map[string]any{
		"clinic_id": clinic, "first_name": "Penny", "last_name": "Pending", "email": "penny@clinic.test", "npi": "1245319599"})
	expectOK(t, r)
	var pending struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pending)
	r = prod.req("POST", "/api/external/medication-order", k.Key, map[string]any{
		"clinic_id": clinic, "patient_id": pa.ID, "practitioner_id": pending.ID, "carrier_id": "se-3818360", "service_id": "fedex_ground",
		"medication_requests": []any{map[string]any{"medication": "Semaglutide", "dose": "0.25 mg", "quantity": 4, "direction": "Inject weekly"}}})
	expectError(t, r, 400, "VALIDATION_ERROR", "Practitioner is not active")
	if !hasField(r, "practitioner_id") {
		t.Errorf("the refusal names no practitioner_id field: %s", r.Body)
	}
	if n := orderCount(t, prod, k.Key); n != 0 {
		t.Fatalf("%d orders written by refused requests", n)
	}
	expectOK(t, order())
	if n := orderCount(t, prod, k.Key); n != 1 {
		t.Errorf("%d orders after one accepted, want 1", n)
	}
}

// TestFormularyCLIRoundTrip: list (the development default), set, import,
// remove, each seen by GET /api/external/medications and by orders; flags
// may come anywhere; mistakes exit with one line.
func TestFormularyCLIRoundTrip(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	type listed struct {
		ClinicID    string `json:"clinic_id"`
		Source      string
		Medications []struct {
			Name           string
			Strengths      []string
			Unit           string `json:"unit_of_measure"`
			IsRefrigerated bool   `json:"is_refrigerated"`
		}
	}
	list := func() listed {
		t.Helper()
		var l listed
		p.mustCLI(&l, "formulary", "list", "--clinic", demoClinic)
		return l
	}
	api := func() []string {
		t.Helper()
		r := p.req("GET", "/api/external/medications?clinic_id="+demoClinic, p.key, nil)
		expectOK(t, r)
		var page struct{ Items []struct{ Name string } }
		r.data(t, &page)
		var names []string
		for _, it := range page.Items {
			names = append(names, it.Name)
		}
		return names
	}
	l := list()
	if l.Source != "development default" || l.ClinicID != demoClinic || len(l.Medications) != 4 {
		t.Fatalf("development default: %+v", l)
	}
	if got := strings.Join(api(), ","); got != "Aspirin,Metformin,Semaglutide,Testosterone Cypionate" {
		t.Errorf("GET /medications = %s", got)
	}

	// An operator's first entry replaces the development default.
	p.mustCLI(nil, "formulary", "set", "--json", "--name", " Ibuprofen ", "--strength", "200 mg", "--clinic", demoClinic, "--strength", "400 mg", "--unit", "mg")
	l = list()
	if l.Source != "clinic" || len(l.Medications) != 1 || l.Medications[0].Name != "Ibuprofen" ||
		strings.Join(l.Medications[0].Strengths, "|") != "200 mg|400 mg" || l.Medications[0].Unit != "mg" || l.Medications[0].IsRefrigerated {
		t.Fatalf("after set: %+v", l)
	}
	r, _ := p.order(t, nil, map[string]any{"medication": "Semaglutide"})
	expectError(t, r, 400, "VALIDATION_ERROR", "")
	r, _ = p.order(t, nil, map[string]any{"medication": "ibuprofen", "dose": "200 mg"})
	expectOK(t, r)

	// Import replaces the whole formulary; list --json output imports as is.
	file := filepath.Join(t.TempDir(), "f.json")
	doc := `{"medications":[{"name":"Semaglutide","strengths":["0.25 mg","0.5 mg"],"unit_of_measure":"mg","is_refrigerated":true},` +
		`{"name":"Metformin","strengths":["500 mg"],"unit_of_measure":"tablet","is_refrigerated":false}]}`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var imp struct{ Medications int }
	p.mustCLI(&imp, "formulary", "import", "--file", file, "--clinic", demoClinic)
	if imp.Medications != 2 {
		t.Errorf("import answered %+v", imp)
	}
	if got := strings.Join(api(), ","); got != "Metformin,Semaglutide" {
		t.Errorf("GET /medications after import = %s", got)
	}
	out, err := json.Marshal(list())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	p.mustCLI(nil, "formulary", "import", "--clinic", demoClinic, "--file", file)
	if got := strings.Join(api(), ","); got != "Metformin,Semaglutide" {
		t.Errorf("GET /medications after re-importing list --json = %s", got)
	}

	p.mustCLI(nil, "formulary", "remove", "--clinic", demoClinic, "--name", "METFORMIN")
	if got := strings.Join(api(), ","); got != "Semaglutide" {
		t.Errorf("GET /medications after remove = %s", got)
	}
	r, _ = p.order(t, nil, map[string]any{"medication": "Metformin"})
	expectError(t, r, 400, "VALIDATION_ERROR", "")

	// Mistakes: one line, non-zero, nothing changed.
	for _, args := range [][]string{
		{"formulary", "remove", "--clinic", demoClinic, "--name", "Metformin"},
		{"formulary", "list"},
		{"formulary", "set", "--clinic", demoClinic},
		{"formulary", "import", "--clinic", demoClinic},
		{"formulary", "list", "--clinic", "650e8400-e29b-41d4-a716-446655440000"},
	} {
		err := p.cli(nil, args...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: got %v, want a one-line error", args, err)
		}
	}
	if got := strings.Join(api(), ","); got != "Semaglutide" {
		t.Errorf("GET /medications after refused commands = %s", got)
	}
}

// TestMedicationsEndpoint: GET /api/external/medications is scoped to the
// key's clinics, needs clinic_id, and pages in name order.
func TestMedicationsEndpoint(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	other := p.newClinic("Other")
	keyB := p.newKey("--clinic", other)
	expectError(t, p.req("GET", "/api/external/medications?clinic_id="+demoClinic, keyB.Key, nil), 400, "CLINIC_NOT_FOUND", "Clinic not found")
	expectError(t, p.req("GET", "/api/external/medications?clinic_id=650e8400-e29b-41d4-a716-446655440000", keyB.Key, nil), 400, "CLINIC_NOT_FOUND", "Clinic not found")
	expectError(t, p.req("GET", "/api/external/medications?clinic_id=clinic-1", keyB.Key, nil), 400, "INVALID_CLINIC_ID", "Clinic ID must be a valid UUID.")
	expectError(t, p.req("GET", "/api/external/medications", keyB.Key, nil), 400, "VALIDATION_ERROR", "clinic_id is required.")
	expectError(t, p.req("GET", "/api/external/medications?clinic_id="+demoClinic+"&limit=0", p.key, nil), 400, "VALIDATION_ERROR", "limit must be a whole number from 1 to 100.")
	expectError(t, p.req("GET", "/api/external/medications?clinic_id="+demoClinic+"&cursor=%25%25", p.key, nil), 400, "VALIDATION_ERROR", "cursor must be the next_cursor of a previous page.")
	// B's own clinic (development, no formulary of its own) lists the
	// built-in one; an operator's formulary for the demo clinic stays A's.
	p.mustCLI(nil, "formulary", "set", "--clinic", demoClinic, "--name", "Clinic A Special")
	r := p.req("GET", "/api/external/medications?clinic_id="+other, keyB.Key, nil)
	expectOK(t, r)
	if strings.Contains(string(r.Body), "Clinic A Special") || !strings.Contains(string(r.Body), `"Semaglutide"`) {
		t.Errorf("B's formulary: %s", r.Body)
	}
	p.mustCLI(nil, "formulary", "set", "--clinic", demoClinic, "--name", "Aspirin")
	p.mustCLI(nil, "formulary", "set", "--clinic", demoClinic, "--name", "Zinc")
	var names []string
	cursor := ""
	for i := 0; i < 5; i++ {
		path := "/api/external/medications?limit=2&clinic_id=" + demoClinic
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := p.req("GET", path, p.key, nil)
		expectOK(t, r)
		var page struct {
			Items      []struct{ Name string }
			NextCursor *string `json:"next_cursor"`
		}
		r.data(t, &page)
		for _, it := range page.Items {
			names = append(names, it.Name)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if got := strings.Join(names, ","); got != "Aspirin,Clinic A Special,Zinc" {
		t.Errorf("pages = %s", got)
	}
}
