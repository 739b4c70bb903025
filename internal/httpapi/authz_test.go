package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/ratelimit"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/webhook"
)

// matrixKey issues a key straight into the store.
func matrixKey(t *testing.T, store novamed.Store, env novamed.Environment, clinics ...string) (*novamed.APIKey, string) {
	t.Helper()
	raw, err := apikey.Generate(string(env))
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	k := &novamed.APIKey{ID: id, Owner: id, Name: "m", Environment: env, Prefix: apikey.DisplayPrefix(raw),
		HashHex: apikey.HashKey(raw).Hex(), Clinics: clinics, RateLimit: 1_000_000, CreatedAt: time.Now()}
	if err := store.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return k, raw
}

// TestAuthorizationMatrix walks every registered route and method with no
// key, a revoked key, another clinic's key and another environment's key:
// none may succeed on clinic A's resources or return a byte of them.
func TestAuthorizationMatrix(t *testing.T) {
	ctx := context.Background()
	key, _ := phi.GenerateKey()
	ring, _ := phi.NewKeyring(map[uint32][]byte{1: key})
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	aw := audit.NewWriter(store, log)
	defer aw.Close()
	s := New(Config{Env: novamed.Development, Store: store, Audit: aw, Limiter: ratelimit.NewMemory(nil), Logger: log,
		WebhookPolicy: webhook.URLPolicy{AllowInsecure: true}, AuthFailuresPerMinute: 1_000_000})
	defer s.Close()
	clinicA, clinicB := uuid.NewString(), uuid.NewString()
	for _, c := range []string{clinicA, clinicB} {
		if err := store.CreateClinic(ctx, &novamed.Clinic{ID: c, Name: "C", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	_, keyA := matrixKey(t, store, novamed.Development, clinicA)
	_, keyB := matrixKey(t, store, novamed.Development, clinicB)
	revokedK, keyRevoked := matrixKey(t, store, novamed.Development, clinicA)
	_, keyProd := matrixKey(t, store, novamed.Production, clinicA)
	if _, err := store.RevokeAPIKey(ctx, revokedK.ID, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	do := func(method, path, key, body string) (int, string) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if key != "" {
			r.Header.Set("x-api-key", key)
		}
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	create := func(path, body, field string) string {
		st, b := do("POST", path, keyA, body)
		if st != 200 {
			t.Fatalf("fixture %s: %d %s", path, st, b)
		}
		var env struct{ Data map[string]any }
		json.Unmarshal([]byte(b), &env) //nolint:errcheck // checked below
		id, _ := env.Data[field].(string)
		if id == "" {
			t.Fatalf("fixture %s: no %s in %s", path, field, b)
		}
		return id
	}
	// Clinic A's resources, with distinctive PHI.
	prID := create("/api/external/practitioner", `{"clinic_id":"`+clinicA+`","first_name":"Matrixa","last_name":"Prescribera","email":"matrixa@clinic.test","npi":"1234567893"}`, "practitioner_id")
	paID := create("/api/external/patient", `{"clinic_id":"`+clinicA+`","first_name":"Zebulonia","last_name":"Secretta","dob":"1960-06-06","state":"TX","city":"Austin"}`, "patient_id")
	// Clinic A orders from a formulary of its own.
	if err := store.ReplaceFormulary(ctx, clinicA, []novamed.FormularyEntry{{Name: "Classifiedol", Strengths: []string{"1 mg"}, UnitOfMeasure: "mg"}}); err != nil {
		t.Fatal(err)
	}
	orderBody := `{"clinic_id":"` + clinicA + `","patient_id":"` + paID + `","practitioner_id":"` + prID + `","delivery_speed":"business-day","medication_requests":[{"medication":"Classifiedol","dose":"1 mg","quantity":1,"direction":"daily","refills":3}]}`
	orID := create("/api/external/medication-order", orderBody, "medication_order_id")
	o, err := store.GetMedicationOrder(ctx, orID, []string{clinicA})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"verified", "submitted", "acknowledged", "filled"} {
		if _, _, err := store.TransitionOrder(ctx, orID, st, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := store.TransitionOrder(ctx, orID, "shipped", &novamed.Shipment{TrackingNumber: "T1"}); err != nil {
		t.Fatal(err)
	}
	rfID := create("/api/external/refill-request", `{"medication_request_id":"`+o.Items[0].ID+`"}`, "refill_request_id")
	whID := create("/api/external/webhook", `{"clinic_id":"`+clinicA+`","webhook_url":"http://127.0.0.1:9/matrix"}`, "webhook_id")
	st, b := do("POST", "/api/external/webhook/"+whID+"/test", keyA, "")
	if st != 200 {
		t.Fatalf("fixture test event: %d %s", st, b)
	}
	var tev struct {
		Data struct {
			DeliveryID string `json:"delivery_id"`
		}
	}
	json.Unmarshal([]byte(b), &tev) //nolint:errcheck // checked by use
	secrets := []string{prID, paID, orID, rfID, whID, o.Items[0].ID, tev.Data.DeliveryID, "Matrixa", "Zebulonia", "Secretta", "Classifiedol", "matrixa@clinic.test"}
	params := map[string]string{"{id}": "", "{carrierId}": "se-3818360", "{delivery_id}": tev.Data.DeliveryID, "{asset}": "x"}
	idFor := map[string]string{"practitioner": prID, "patient": paID, "medication-order": orID, "refill-request": rfID, "webhook": whID}
	bodies := map[string]string{
		"/api/external/practitioner":     `{"clinic_id":"` + clinicA + `","first_name":"Eve","last_name":"Intruder","email":"eve@x.test","npi":"1245319599"}`,
		"/api/external/patient":          `{"clinic_id":"` + clinicA + `","first_name":"Eve","last_name":"Intruder","dob":"1990-01-01"}`,
		"/api/external/medication-order": orderBody,
		"/api/external/refill-request":   `{"medication_request_id":"` + o.Items[0].ID + `"}`,
		"/api/external/webhook":          `{"clinic_id":"` + clinicA + `","webhook_id":"` + whID + `","webhook_url":"http://127.0.0.1:9/evil"}`,
	}
	public := map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /openapi.json": true, "GET /openapi.yaml": true, "GET /docs": true, "GET /docs/{$}": true, "GET /docs/{asset}": true,
		"GET /docs/assets/{version}/{asset}": true}
	globalForAnyKey := map[string]bool{"GET /api/external/carriers": true, "GET /api/external/me": true, "GET /api/external/me/usage": true,
		"GET /api/external/practitioner": true, "GET /api/external/patient": true, "GET /api/external/medication-order": true,
		"GET /api/external/refill-request": true, "GET /api/external/webhook": true}
	routes := s.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	checked := 0
	for _, pattern := range routes {
		method, path, _ := strings.Cut(pattern, " ")
		if public[pattern] {
			continue
		}
		for resource, id := range idFor {
			if strings.HasPrefix(path, "/api/external/"+resource+"/{id}") {
				params["{id}"] = id
			}
		}
		for k, v := range params {
			path = strings.ReplaceAll(path, k, v)
		}
		if strings.Contains(path, "/services") {
			path += "?patientId=" + paID
		}
		if strings.HasSuffix(path, "/medications") {
			path += "?clinic_id=" + clinicA
		}
		body := ""
		if method == "POST" || method == "DELETE" {
			body = bodies[strings.TrimSuffix(path, "?patientId="+paID)]
		}
		for name, key := range map[string]string{"no key": "", "revoked key": keyRevoked, "other environment": keyProd, "other clinic": keyB} {
			st, resp := do(method, path, key, body)
			if name == "other clinic" && globalForAnyKey[pattern] && st == 200 {
				// Allowed to answer, but only with B's own (empty) data.
			} else if st < 400 {
				t.Errorf("%s with %s: %d %.200s", pattern, name, st, resp)
			}
			for _, sec := range secrets {
				if sec != "" && strings.Contains(resp, sec) {
					t.Errorf("%s with %s leaks %q: %.200s", pattern, name, sec, resp)
				}
			}
			checked++
		}
		// The owner may use it (sanity: the matrix is not vacuous).
		if method == "GET" && !strings.Contains(pattern, "{asset}") {
			if st, resp := do(method, path, keyA, ""); st != 200 {
				t.Errorf("%s with clinic A's own key: %d %.200s", pattern, st, resp)
			}
		}
	}
	t.Logf("%d routes, %d refused or empty answers checked", len(routes), checked)
}
