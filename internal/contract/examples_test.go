package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// The document's examples are real: TestExamplesAreReal sends every request
// example of the document, and the requests behind most response examples,
// to a fresh server in one journey, and compares each answer with the
// example of the same name. Values the server assigns are matched by kind,
// not by value: ids (a UUID in an example stands for the id the server gave
// the same object, consistently through the journey, so later examples can
// name earlier objects), timestamps, request ids, the webhook secrets, the
// key prefix and the rate-limit reset time.

// exampleIDs maps the example documents' ids to the server's.
type exampleIDs map[string]string

var (
	uuidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	dateRE      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// substitute replaces example ids in a request example by the server's.
func (ids exampleIDs) substitute(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = ids.substitute(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ids.substitute(e)
		}
		return out
	case string:
		if real, ok := ids[x]; ok {
			return real
		}
	}
	return v
}

// match compares an answer with an example; see the comment at the top.
func (ids exampleIDs) match(path string, want, got any) error {
	key := path[strings.LastIndexAny(path, "./")+1:]
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", path, got)
		}
		var keys []string
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("%s: the answer has %q, the example does not", path, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s: the example has %q, the answer does not", path, k)
			}
			if err := ids.match(path+"."+k, w[k], gv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %d items like %v", path, got, len(w), w)
		}
		for i := range w {
			if err := ids.match(fmt.Sprintf("%s/%d", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	case string:
		g, ok := got.(string)
		if !ok {
			return fmt.Errorf("%s: got %v, want a string", path, got)
		}
		switch {
		case uuidRE.MatchString(w):
			if !uuidRE.MatchString(g) {
				return fmt.Errorf("%s: got %q, want an id", path, g)
			}
			if real, ok := ids[w]; ok && real != g {
				return fmt.Errorf("%s: got %q, but example id %s stands for %s", path, g, w, real)
			}
			ids[w] = g
			return nil
		case key == "request_id" && strings.HasPrefix(g, "req_"),
			timestampRE.MatchString(w) && timestampRE.MatchString(g),
			(key == "issue_date" || key == "since" || key == "day") && dateRE.MatchString(g),
			key == "signing_secret" && strings.HasPrefix(g, "whsec_") && strings.HasPrefix(w, "whsec_"),
			key == "verification_token" && strings.HasPrefix(g, "whvt_") && strings.HasPrefix(w, "whvt_"),
			key == "prefix" && strings.HasPrefix(g, "dev_") && strings.HasPrefix(w, "dev_"):
			return nil
		}
		if w != g {
			return fmt.Errorf("%s: got %q, want %q", path, g, w)
		}
		return nil
	case float64:
		if key == "reset" {
			if _, ok := got.(float64); ok {
				return nil
			}
		}
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		return fmt.Errorf("%s: got %v, want %v", path, got, want)
	}
	return nil
}

// journey sends requests and compares their answers with examples.
type journey struct {
	t        *testing.T
	api      *apiServer
	key      string
	ids      exampleIDs
	sentReq  map[string]bool // "METHOD path#name" of request examples sent
	verified map[string]bool // "METHOD path status#name" of response examples verified
}

// operation returns the documented operation of a method and path.
func operation(t *testing.T, method, path string) (string, *openapi3.Operation) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://x"+path, nil)
	route, _, err := find(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return route.Path, route.Operation
}

// requestExample returns the named request body example of an operation.
func requestExample(t *testing.T, op *openapi3.Operation, name string) (any, bool) {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil, false
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Examples[name] == nil {
		return nil, false
	}
	return mt.Examples[name].Value.Value, true
}

// responseExample finds the named response example of an operation, with
// the component the response refers to ("" for an inline response).
func responseExample(op *openapi3.Operation, name string) (status, ref string, value any, ok bool) {
	for code, r := range op.Responses.Map() {
		if r.Value == nil {
			continue
		}
		for _, mt := range r.Value.Content {
			if ex := mt.Examples[name]; ex != nil && ex.Value != nil {
				return code, r.Ref, ex.Value.Value, true
			}
		}
	}
	return "", "", nil, false
}

// step sends method path with the request example name (body nil) or with
// body, and compares the answer with the response example name.
func (j *journey) step(method, path, name string, body any, hdr ...string) *exchange {
	j.t.Helper()
	docPath, op := operation(j.t, method, path)
	var raw []byte
	switch b := body.(type) {
	case nil:
		if v, ok := requestExample(j.t, op, name); ok {
			raw = mustJSON(j.t, j.ids.substitute(v))
			j.sentReq[method+" "+docPath+"#"+name] = true
		}
	case string:
		raw = []byte(b)
	default:
		raw = mustJSON(j.t, j.ids.substitute(b))
	}
	e := j.api.do(method, path, j.key, raw, hdr...)
	code, ref, want, ok := responseExample(op, name)
	if !ok {
		j.t.Fatalf("%s %s has no response example %q", method, docPath, name)
	}
	if fmt.Sprint(e.status) != code {
		j.t.Fatalf("%s %s (example %s): got %d, the document says %s\n%s", method, path, name, e.status, code, e.body)
	}
	if err := j.ids.match("", want, e.json(j.t)); err != nil {
		j.t.Fatalf("%s %s: the answer differs from example %q: %v\nanswer: %s", method, path, name, err, e.body)
	}
	j.verified[method+" "+docPath+" "+code+"#"+name] = true
	if ref != "" {
		j.verified[ref+"#"+name] = true // a shared response: verified for every operation
	}
	return e
}

// id returns the server's id for an example id.
func (j *journey) id(example string) string {
	j.t.Helper()
	real, ok := j.ids[example]
	if !ok {
		j.t.Fatalf("example id %s has not been seen yet", example)
	}
	return real
}

// Example ids of the document that the journey refers to.
const (
	exPractitionerGuide = "01935e1a-4b7c-7d2e-8f3a-5b6c7d8e9f01"
	exPatientQuickstart = "01935e1b-1a2b-7c3d-9e4f-5a6b7c8d9e04"
	exPatientNested     = "01935e1b-3c4d-7e5f-9a6b-7c8d9e0f1a06"
	exOrderQuickstart   = "01935e1c-0a1b-7c2d-8e3f-4a5b6c7d8e08"
	exRefill            = "01935e1d-5e6f-7a8b-9c0d-1e2f3a4b5c0c"
	exWebhook           = "01935e1e-6f70-7b8c-8d9e-0f1a2b3c4d0e"
	unknownID           = "650e8400-e29b-41d4-a716-446655440000"
)

// exampleShipment is the shipment of the document's shipped-order examples.
func exampleShipment() *novamed.Shipment {
	return &novamed.Shipment{ID: "shp_7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", TrackingNumber: "SBX000123456789",
		LabelURL: "https://labels.sandbox.novamed.test/SBX000123456789.pdf", EstimatedDelivery: "2026-01-17"}
}

// ship walks an order to shipped as NovaMed's pharmacy would.
func ship(t *testing.T, a *apiServer, orderID string, s *novamed.Shipment) {
	t.Helper()
	for _, to := range []string{"verified", "submitted", "acknowledged", "filled", "shipped"} {
		var sh *novamed.Shipment
		if to == "shipped" {
			sh = s
		}
		if _, _, err := a.store.TransitionOrder(context.Background(), orderID, to, sh); err != nil {
			t.Fatalf("order %s → %s: %v", orderID, to, err)
		}
	}
}

// unverifiedResponseExamples are the response examples the journey cannot
// reproduce, and why. Every other example must be verified.
var unverifiedResponseExamples = map[string]string{
	"GET /api/external/me/usage 200#usage":                                      "counts depend on the day and on earlier traffic",
	"GET /api/external/webhook/{id}/deliveries 200#failed":                      "needs five failed attempts over time (TestWebhookRetriesAndFailure covers it)",
	"POST /api/external/webhook/{id}/deliveries/{delivery_id}/retry 200#queued": "follows the failed delivery above",
	"#tooManyFailedAuthentications":                                             "the wait depends on timing (TestFailedAuthenticationGuard covers it)",
	"#internal":                                                                 "a server fault cannot be provoked from outside",
	"#storageUnavailable":                                                       "needs the database to go away mid-request (internal/httpapi TestStorageFaultsAre503 covers the envelope, cmd/novamed TestFaultPostgresRestart the real outage)",
	"#storageFull":                                                              "needs a full disk (internal/httpapi TestStorageFaultsAre503 covers the envelope, cmd/novamed TestFaultSQLiteDiskFull the real one)",
	"#rateLimitedOneSecond":                                                     "needs 60 requests within one second (internal/httpapi TestRateLimitMessageSingularPlural covers it with an injected clock)",
	"#inUse":                                                                    "needs a request in flight (TestIdempotentCreateUnderConcurrency covers it)",
	"POST /api/external/medication-order 400#noFormulary":                       "production only (TestProductionOrdersNeedFormularyAndActivePrescriber covers it)",
	"POST /api/external/medication-order 400#practitionerNotActive":             "production only (TestProductionOrdersNeedFormularyAndActivePrescriber covers it)",
}

func TestExamplesAreReal(t *testing.T) {
	a := newAPIServer(t)
	j := &journey{t: t, api: a, key: a.newKey("contract", 1_000_000), ids: exampleIDs{}, sentReq: map[string]bool{}, verified: map[string]bool{}}
	ctx := context.Background()

	j.step("GET", "/healthz", "ok", nil)
	j.step("GET", "/readyz", "ready", nil)

	// Practitioners.
	j.step("POST", "/api/external/practitioner", "guide", nil)
	j.step("GET", "/api/external/practitioner", "page", nil)
	full := j.step("POST", "/api/external/practitioner", "full", nil)
	j.step("POST", "/api/external/practitioner", "duplicateNpi", nil)
	j.step("POST", "/api/external/practitioner", "validationError", map[string]any{
		"assigned_clinic": demoClinic, "first_name": "", "last_name": "Johnson", "email": "not-an-email", "npi_number": "12345"})
	j.step("POST", "/api/external/practitioner", "invalidClinicId", map[string]any{
		"clinic_id": "clinic-1", "first_name": "Sarah", "last_name": "Johnson", "email": "dr.johnson@clinic.com", "npi": "1234567890"})
	j.step("POST", "/api/external/practitioner", "clinicNotFound", map[string]any{
		"clinic_id": unknownID, "first_name": "Sarah", "last_name": "Johnson", "email": "dr.johnson@clinic.com", "npi": "1234567890"})
	j.step("POST", "/api/external/practitioner", "invalidJson", `[{"first_name": "Sarah"}]`)
	if _, _, err := a.store.ActivatePractitioner(ctx, j.id(exPractitionerGuide)); err != nil {
		t.Fatal(err)
	}
	j.step("GET", "/api/external/practitioner/"+j.id(exPractitionerGuide), "active", nil)
	j.step("GET", "/api/external/practitioner/not-a-uuid", "notFound", nil)

	// Patients.
	j.step("POST", "/api/external/patient", "guide", nil)
	j.step("GET", "/api/external/patient?limit=1", "page", nil)
	for _, name := range []string{"quickstart", "flatFields", "nestedAddress", "animal", "twoAddressShapes", "duplicate", "clinicNotFound"} {
		j.step("POST", "/api/external/patient", name, nil)
	}
	j.step("POST", "/api/external/patient", "validationError", map[string]any{"clinic_id": demoClinic, "first_name": "J", "dob": "03/15/1985"})
	j.step("POST", "/api/external/patient", "invalidClinicId", map[string]any{"clinic_id": "clinic-1", "first_name": "John", "last_name": "Smith", "dob": "1985-03-15"})
	j.step("GET", "/api/external/patient/"+j.id(exPatientQuickstart), "quickstart", nil)
	j.step("GET", "/api/external/patient/"+unknownID, "notFound", nil)

	// Lists refuse bad parameters.
	j.step("GET", "/api/external/patient?limit=500", "badLimit", nil)
	j.step("GET", "/api/external/patient?clinic_id="+unknownID, "clinicNotFound", nil)
	j.step("GET", "/api/external/patient?clinic_id=clinic-1", "invalidClinicId", nil)

	// Carriers.
	j.step("GET", "/api/external/carriers", "published", nil)
	j.step("GET", "/api/external/carriers/se-3818360/services?patientId="+j.id(exPatientQuickstart), "texas", nil)
	j.step("GET", "/api/external/carriers/ameriship/services?patientId="+j.id(exPatientNested), "serviceNotAvailable", nil)
	j.step("GET", "/api/external/carriers/ameriship/services", "patientMissing", nil)
	j.step("GET", "/api/external/carriers/pony-express/services?patientId="+j.id(exPatientQuickstart), "carrierNotFound", nil)
	j.step("GET", "/api/external/carriers/ameriship/services?patientId="+unknownID, "patientNotFound", nil)
	if _, err := a.store.SetClinicFreeShipping(ctx, demoClinic, true); err != nil {
		t.Fatal(err)
	}
	j.step("GET", "/api/external/carriers/se-3818360/services?patientId="+j.id(exPatientQuickstart), "freeShipping", nil)
	if _, err := a.store.SetClinicFreeShipping(ctx, demoClinic, false); err != nil {
		t.Fatal(err)
	}

	// Medication orders.
	for _, name := range []string{"quickstart", "deliverySpeed", "serviceNotAvailable", "patientNotFound"} {
		j.step("POST", "/api/external/medication-order", name, nil)
	}
	order := func(item map[string]any, mod map[string]any) map[string]any {
		it := map[string]any{"medication": "Semaglutide", "dose": "0.25 mg", "quantity": 4, "direction": "Inject weekly"}
		for k, v := range item {
			it[k] = v
		}
		b := map[string]any{"clinic_id": demoClinic, "patient_id": exPatientQuickstart, "practitioner_id": exPractitionerGuide,
			"carrier_id": "se-3818360", "service_id": "fedex_ground", "medication_requests": []any{it}}
		for k, v := range mod {
			b[k] = v
		}
		return b
	}
	j.step("POST", "/api/external/medication-order", "validationError", order(map[string]any{"quantity": 0, "refills": 12}, nil))
	j.step("POST", "/api/external/medication-order", "unknownCarrier", order(nil, map[string]any{"carrier_id": "pony-express", "service_id": "saddlebag"}))
	j.step("POST", "/api/external/medication-order", "practitionerNotFound", order(nil, map[string]any{"practitioner_id": unknownID}))
	j.step("POST", "/api/external/medication-order", "notInFormulary", order(nil, map[string]any{"medication_requests": []any{
		map[string]any{"medication": "Semaglutide", "dose": "0.25 mg", "quantity": 4, "direction": "Inject weekly"},
		map[string]any{"medication": "Unlistedol", "dose": "1 mg", "quantity": 1, "direction": "daily"}}}))
	j.step("GET", "/api/external/medications?clinic_id="+demoClinic, "developmentDefault", nil)
	j.step("GET", "/api/external/medications", "clinicMissing", nil)
	j.step("GET", "/api/external/medications?clinic_id="+unknownID, "clinicNotFound", nil)
	j.step("GET", "/api/external/medication-order?status=cancelled", "empty", nil)
	j.step("GET", "/api/external/medication-order/"+unknownID, "notFound", nil)
	ship(t, a, j.id(exOrderQuickstart), exampleShipment())
	j.step("GET", "/api/external/medication-order/"+j.id(exOrderQuickstart), "shipped", nil)
	// The development sandbox cancels the shipment; the pharmacy ships again.
	cancel := "/api/external/medication-order/" + j.id(exOrderQuickstart) + "/sandbox/cancel-shipment"
	j.step("POST", cancel, "cancelled", nil)
	j.step("POST", cancel, "notShipped", nil)
	if _, _, err := a.store.TransitionOrder(ctx, j.id(exOrderQuickstart), "shipped", exampleShipment()); err != nil {
		t.Fatal(err)
	}

	// Refills.
	j.step("POST", "/api/external/refill-request", "pending", nil)
	j.step("POST", "/api/external/refill-request", "unknown", nil)
	for name, item := range map[string]map[string]any{"notAllowed": {"do_not_refill": true}, "noneRemaining": {"refills": 0}} {
		e := a.do("POST", "/api/external/medication-order", j.key, mustJSON(t, j.ids.substitute(order(item, nil))))
		var created struct {
			Data struct {
				OrderID   string `json:"medication_order_id"`
				RequestID string `json:"medication_request_id"`
			}
		}
		if err := json.Unmarshal(e.body, &created); err != nil || e.status != 200 {
			t.Fatalf("order for %s: %d %s", name, e.status, e.body)
		}
		ship(t, a, created.Data.OrderID, &novamed.Shipment{ID: "shp_" + name, TrackingNumber: "TRK" + name})
		j.step("POST", "/api/external/refill-request", name, map[string]any{"medication_request_id": created.Data.RequestID})
	}
	j.step("POST", "/api/external/refill-request", "refill", nil)
	j.step("POST", "/api/external/refill-request", "alreadyExists", nil)
	j.step("GET", "/api/external/refill-request", "page", nil)
	j.step("GET", "/api/external/refill-request/"+j.id(exRefill), "refill", nil)
	j.step("GET", "/api/external/refill-request/"+unknownID, "notFound", nil)

	// Webhooks.
	j.step("POST", "/api/external/webhook", "register", nil)
	j.step("POST", "/api/external/webhook", "invalidUrl", nil)
	j.step("GET", "/api/external/webhook", "page", nil)
	wh := j.id(exWebhook)
	j.step("GET", "/api/external/webhook/"+wh, "webhook", nil)
	j.step("POST", "/api/external/webhook/"+wh+"/test", "queued", nil)
	j.step("POST", "/api/external/webhook/"+wh+"/rotate", "badOverlap", nil)
	j.step("POST", "/api/external/webhook/"+wh+"/rotate", "rotate", nil)
	j.step("GET", "/api/external/webhook/"+wh+"/deliveries?status=bogus", "badStatus", nil)
	j.step("POST", "/api/external/webhook/"+wh+"/deliveries/"+unknownID+"/retry", "deliveryNotFound", nil)
	j.step("DELETE", "/api/external/webhook/"+wh, "badKey", nil, "Idempotency-Key", "tab\there")
	j.step("DELETE", "/api/external/webhook", "clinicNotFound", map[string]any{"clinic_id": unknownID, "webhook_id": exWebhook})
	j.step("DELETE", "/api/external/webhook", "noBody", nil)
	j.step("DELETE", "/api/external/webhook", "byBody", nil)
	j.step("GET", "/api/external/webhook/"+wh, "notFound", nil)
	var last string
	for i := 0; i < novamed.MaxWebhooksPerClinic; i++ {
		e := a.do("POST", "/api/external/webhook", j.key, mustJSON(t, map[string]any{"clinic_id": demoClinic, "url": fmt.Sprintf("http://127.0.0.1:4000/n%d", i)}))
		if e.status != 200 {
			t.Fatalf("webhook %d: %d %s", i, e.status, e.body)
		}
		var created struct {
			Data struct {
				ID string `json:"webhook_id"`
			}
		}
		if err := json.Unmarshal(e.body, &created); err != nil {
			t.Fatal(err)
		}
		last = created.Data.ID
	}
	j.step("POST", "/api/external/webhook", "limitReached", map[string]any{"clinic_id": demoClinic, "webhook_url": "http://127.0.0.1:4000/eleventh"})
	j.step("DELETE", "/api/external/webhook/"+last, "deleted", nil)

	// NovaMed's additions: updates (after the orders: an order keeps the
	// address it was placed with) and the partner's cancellation.
	merge := []string{"Content-Type", "application/merge-patch+json"}
	j.step("PATCH", "/api/external/patient/"+j.id(exPatientQuickstart), "moved", nil, merge...)
	j.step("PATCH", "/api/external/patient/"+j.id(exPatientNested), "duplicate",
		map[string]any{"first_name": "John", "last_name": "Smith", "date_of_birth": "1985-03-15"}, merge...)
	j.step("PATCH", "/api/external/practitioner/"+j.id(exPractitionerGuide), "moved", nil, merge...)
	fullID, _ := full.json(t).(map[string]any)["data"].(map[string]any)["practitioner_id"].(string)
	j.step("PATCH", "/api/external/practitioner/"+fullID, "duplicate", map[string]any{"npi": "1234567890"})
	j.step("POST", "/api/external/medication-order/"+j.id(exOrderQuickstart)+"/cancel", "tooLate", map[string]any{"reason": "Too late"})
	e := a.do("POST", "/api/external/medication-order", j.key, mustJSON(t, j.ids.substitute(order(nil, nil))))
	var placed struct {
		Data struct {
			OrderID string `json:"medication_order_id"`
		}
	}
	if err := json.Unmarshal(e.body, &placed); err != nil || e.status != 200 {
		t.Fatalf("order to cancel: %d %s", e.status, e.body)
	}
	j.step("POST", "/api/external/medication-order/"+placed.Data.OrderID+"/cancel", "cancel", nil)

	// Transport, authentication, idempotency and rate limits.
	j.step("GET", "/api/external/me", "unauthorized", nil, "x-api-key", "")
	j.step("GET", "/api/external/me", "notAcceptable", nil, "Accept", "text/html")
	j.step("POST", "/api/external/patient", "unsupportedMediaType", `{"clinic_id": "`+demoClinic+`"}`, "Content-Type", "text/plain")
	j.step("POST", "/api/external/patient", "tooLarge", `{"notes": "`+strings.Repeat("a", 2<<20)+`"}`)
	first := map[string]any{"clinic_id": demoClinic, "first_name": "Ida", "last_name": "Empotent", "dob": "1975-05-05"}
	a.do("POST", "/api/external/patient", j.key, mustJSON(t, first), "Idempotency-Key", "ida-1")
	first["first_name"] = "Ada"
	j.step("POST", "/api/external/patient", "reused", first, "Idempotency-Key", "ida-1")
	limited := a.newKey("limited", 5)
	for i := 0; i < 5; i++ {
		a.do("GET", "/api/external/carriers", limited, nil)
	}
	j.key = limited
	j.step("GET", "/api/external/carriers", "rateLimited", nil)
	j.key = a.newKey("Development key", 0)
	j.step("GET", "/api/external/me/usage?days=0", "badDays", nil)
	j.step("GET", "/api/external/me", "me", nil)
	j.step("GET", "/docs/nothing.js", "notFound", nil)

	// Readiness when the database is gone.
	down := newAPIServer(t)
	down.store.Close()
	// The server's readiness watch notices within its poll (2 s).
	wait.Until(t, 10*time.Second, func() bool { return down.do("GET", "/readyz", "", nil).status == http.StatusServiceUnavailable },
		"/readyz still answers ready after the store closed")
	j.api = down
	j.step("GET", "/readyz", "unavailable", nil)

	j.checkCoverage()
}

// checkCoverage fails for request examples that were not sent and for
// response examples that were neither verified nor explained.
func (j *journey) checkCoverage() {
	doc, _ := Document()
	var unsent, unverified []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					for name := range mt.Examples {
						if k := method + " " + path + "#" + name; !j.sentReq[k] {
							unsent = append(unsent, k)
						}
					}
				}
			}
			for code, r := range op.Responses.Map() {
				for _, mt := range r.Value.Content {
					for name := range mt.Examples {
						k := method + " " + path + " " + code + "#" + name
						if j.verified[k] || (r.Ref != "" && j.verified[r.Ref+"#"+name]) ||
							unverifiedResponseExamples[k] != "" || unverifiedResponseExamples["#"+name] != "" {
							continue
						}
						unverified = append(unverified, k)
					}
				}
			}
		}
	}
	slices.Sort(unsent)
	slices.Sort(unverified)
	for _, k := range unsent {
		j.t.Errorf("request example %s is sent by no test", k)
	}
	for _, k := range unverified {
		j.t.Errorf("response example %s is verified by no test (add a step, or explain it in unverifiedResponseExamples)", k)
	}
}
