package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
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

// matrixFixture is a server with clinic A's resources (one of each kind,
// with distinctive PHI) and the keys the route tests use.
type matrixFixture struct {
	s                               *Server
	store                           novamed.Store
	clinicA                         string
	keyA, keyB, keyRevoked, keyProd string
	prID, paID, orID, rfID, whID    string
	itemID, deliveryID, orderBody   string
	secrets                         []string
	params, idFor, bodies           map[string]string
}

func newMatrixFixture(t *testing.T) *matrixFixture {
	t.Helper()
	ctx := context.Background()
	key, _ := phi.GenerateKey()
	ring, _ := phi.NewKeyring(map[uint32][]byte{1: key})
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	aw := audit.NewWriter(store, log)
	t.Cleanup(aw.Close)
	s := New(Config{Env: novamed.Development, Store: store, Audit: aw, Limiter: ratelimit.NewMemory(nil), Logger: log,
		WebhookPolicy: webhook.URLPolicy{AllowInsecure: true}, AuthFailuresPerMinute: 1_000_000})
	t.Cleanup(s.Close)
	clinicA, clinicB := uuid.NewString(), uuid.NewString()
	for _, c := range []string{clinicA, clinicB} {
		if err := store.CreateClinic(ctx, &novamed.Clinic{ID: c, Name: "C", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	m := &matrixFixture{s: s, store: store, clinicA: clinicA}
	_, m.keyA = matrixKey(t, store, novamed.Development, clinicA)
	_, m.keyB = matrixKey(t, store, novamed.Development, clinicB)
	revokedK, keyRevoked := matrixKey(t, store, novamed.Development, clinicA)
	m.keyRevoked = keyRevoked
	_, m.keyProd = matrixKey(t, store, novamed.Production, clinicA)
	if _, err := store.RevokeAPIKey(ctx, revokedK.ID, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	create := func(path, body, field string) string {
		st, b, _ := m.do("POST", path, m.keyA, body)
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
	m.prID = create("/api/external/practitioner", `{"clinic_id":"`+clinicA+`","first_name":"Matrixa","last_name":"Prescribera","email":"matrixa@clinic.test","npi":"1234567893"}`, "practitioner_id")
	m.paID = create("/api/external/patient", `{"clinic_id":"`+clinicA+`","first_name":"Zebulonia","last_name":"Secretta","dob":"1960-06-06","state":"TX","city":"Austin"}`, "patient_id")
	// Clinic A orders from a formulary of its own.
	if err := store.ReplaceFormulary(ctx, clinicA, []novamed.FormularyEntry{{Name: "Classifiedol", Strengths: []string{"1 mg"}, UnitOfMeasure: "mg"}}); err != nil {
		t.Fatal(err)
	}
	m.orderBody = `{"clinic_id":"` + clinicA + `","patient_id":"` + m.paID + `","practitioner_id":"` + m.prID + `","delivery_speed":"business-day","medication_requests":[{"medication":"Classifiedol","dose":"1 mg","quantity":1,"direction":"daily","refills":3}]}`
	m.orID = create("/api/external/medication-order", m.orderBody, "medication_order_id")
	o, err := store.GetMedicationOrder(ctx, m.orID, []string{clinicA})
	if err != nil {
		t.Fatal(err)
	}
	m.itemID = o.Items[0].ID
	for _, st := range []string{"verified", "submitted", "acknowledged", "filled"} {
		if _, _, err := store.TransitionOrder(ctx, m.orID, st, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := store.TransitionOrder(ctx, m.orID, "shipped", &novamed.Shipment{TrackingNumber: "T1"}); err != nil {
		t.Fatal(err)
	}
	m.rfID = create("/api/external/refill-request", `{"medication_request_id":"`+m.itemID+`"}`, "refill_request_id")
	m.whID = create("/api/external/webhook", `{"clinic_id":"`+clinicA+`","webhook_url":"http://127.0.0.1:9/matrix"}`, "webhook_id")
	st, b, _ := m.do("POST", "/api/external/webhook/"+m.whID+"/test", m.keyA, "")
	if st != 200 {
		t.Fatalf("fixture test event: %d %s", st, b)
	}
	var tev struct {
		Data struct {
			DeliveryID string `json:"delivery_id"`
		}
	}
	json.Unmarshal([]byte(b), &tev) //nolint:errcheck // checked by use
	m.deliveryID = tev.Data.DeliveryID
	m.secrets = []string{m.prID, m.paID, m.orID, m.rfID, m.whID, m.itemID, m.deliveryID, "Matrixa", "Zebulonia", "Secretta", "Classifiedol", "matrixa@clinic.test"}
	m.params = map[string]string{"{id}": "", "{carrierId}": "se-3818360", "{delivery_id}": m.deliveryID, "{asset}": "x"}
	m.idFor = map[string]string{"practitioner": m.prID, "patient": m.paID, "medication-order": m.orID, "refill-request": m.rfID, "webhook": m.whID}
	m.bodies = map[string]string{
		"/api/external/practitioner":     `{"clinic_id":"` + clinicA + `","first_name":"Eve","last_name":"Intruder","email":"eve@x.test","npi":"1245319599"}`,
		"/api/external/patient":          `{"clinic_id":"` + clinicA + `","first_name":"Eve","last_name":"Intruder","dob":"1990-01-01"}`,
		"/api/external/medication-order": m.orderBody,
		"/api/external/refill-request":   `{"medication_request_id":"` + m.itemID + `"}`,
		"/api/external/webhook":          `{"clinic_id":"` + clinicA + `","webhook_id":"` + m.whID + `","webhook_url":"http://127.0.0.1:9/evil"}`,
	}
	return m
}

// do sends one request and returns its status, body and request id.
func (m *matrixFixture) do(method, path, key, body string) (int, string, string) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		r.Header.Set("x-api-key", key)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	m.s.ServeHTTP(w, r)
	return w.Code, w.Body.String(), w.Header().Get("X-Request-Id")
}

// request turns a route pattern into a request of clinic A's fixtures:
// its path (parameters filled in, required query added) and its body.
func (m *matrixFixture) request(pattern string) (method, path, body string) {
	method, path, _ = strings.Cut(pattern, " ")
	params := maps.Clone(m.params)
	for resource, id := range m.idFor {
		if strings.HasPrefix(path, "/api/external/"+resource+"/{id}") {
			params["{id}"] = id
		}
	}
	for k, v := range params {
		path = strings.ReplaceAll(path, k, v)
	}
	bare := path
	if strings.Contains(path, "/services") {
		path += "?patientId=" + m.paID
	}
	if strings.HasSuffix(path, "/medications") {
		path += "?clinic_id=" + m.clinicA
	}
	if method == "POST" || method == "DELETE" {
		body = m.bodies[bare]
	}
	return method, path, body
}

// TestAuthorizationMatrix walks every registered route and method with no
// key, a revoked key, another clinic's key and another environment's key:
// none may succeed on clinic A's resources or return a byte of them.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	m := newMatrixFixture(t)
	s := m.s
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
		if public[pattern] {
			continue
		}
		method, path, body := m.request(pattern)
		for name, key := range map[string]string{"no key": "", "revoked key": m.keyRevoked, "other environment": m.keyProd, "other clinic": m.keyB} {
			st, resp, _ := m.do(method, path, key, body)
			if name == "other clinic" && globalForAnyKey[pattern] && st == 200 {
				// Allowed to answer, but only with B's own (empty) data.
			} else if st < 400 {
				t.Errorf("%s with %s: %d %.200s", pattern, name, st, resp)
			}
			for _, sec := range m.secrets {
				if sec != "" && strings.Contains(resp, sec) {
					t.Errorf("%s with %s leaks %q: %.200s", pattern, name, sec, resp)
				}
			}
			checked++
		}
		// The owner may use it (sanity: the matrix is not vacuous).
		if method == "GET" && !strings.Contains(pattern, "{asset}") {
			if st, resp, _ := m.do(method, path, m.keyA, ""); st != 200 {
				t.Errorf("%s with clinic A's own key: %d %.200s", pattern, st, resp)
			}
		}
	}
	t.Logf("%d routes, %d refused or empty answers checked", len(routes), checked)
}
