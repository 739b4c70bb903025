package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/client/webhook"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// receiver is a partner's webhook endpoint on loopback.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []delivered
	failNext int  // answer 500 to this many requests first
	alwaysNo bool // answer 500 forever
}

type delivered struct {
	ID, APIKey, SigErr string
	Name               string
	Data               map[string]any
}

func newReceiver(t *testing.T, secret *string) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Name string         `json:"event_name"`
			Data map[string]any `json:"event_data"`
		}
		json.Unmarshal(body, &ev) //nolint:errcheck // checked by the fields
		rc.mu.Lock()
		defer rc.mu.Unlock()
		d := delivered{ID: r.Header.Get("webhook-id"), APIKey: r.Header.Get("x-api-key"), Name: ev.Name, Data: ev.Data}
		if err := webhook.Verify(*secret, r.Header, body, time.Minute); err != nil {
			d.SigErr = err.Error()
		}
		rc.got = append(rc.got, d)
		if rc.alwaysNo || rc.failNext > 0 {
			rc.failNext--
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(204)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) snapshot() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivered(nil), rc.got...)
}

func (rc *receiver) waitFor(t *testing.T, what string, cond func([]delivered) bool) []delivered {
	t.Helper()
	var got []delivered
	if !wait.For(45*time.Second, func() bool { got = rc.snapshot(); return cond(got) }) {
		t.Fatalf("timed out waiting for %s; got %+v", what, rc.snapshot())
	}
	return got
}

type createdWebhook struct {
	ID                string  `json:"webhook_id"`
	URL               string  `json:"webhook_url"`
	Clinic            string  `json:"clinic_id"`
	VerificationToken string  `json:"verification_token"`
	SigningSecret     string  `json:"signing_secret"`
	Secret            *string `json:"secret"` // no longer answered
}

func registerWebhook(t *testing.T, ts *testServer, key, clinic, url string) createdWebhook {
	t.Helper()
	r := ts.req("POST", "/api/external/webhook", key, map[string]any{"clinic_id": clinic, "webhook_url": url})
	expectOK(t, r)
	if r.Env.Message != "Webhook created successfully" {
		t.Errorf("message %q", r.Env.Message)
	}
	var w createdWebhook
	r.data(t, &w)
	if w.ID == "" || !strings.HasPrefix(w.SigningSecret, "whsec_") || w.VerificationToken == "" || w.Secret != nil || w.URL != url || w.Clinic != clinic {
		t.Fatalf("webhook answer: %s", r.Body)
	}
	if w.VerificationToken == w.SigningSecret {
		t.Fatalf("the verification token is the signing secret")
	}
	ts.addSecret(w.VerificationToken, w.SigningSecret)
	return w
}

func TestWebhooksDeliverTheLifecycle(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "on", "--sandbox-step", "100ms", "--webhook-poll", "20ms")
	var secret string
	rc := newReceiver(t, &secret)
	w := registerWebhook(t, ts, ts.Key, demoClinic, rc.URL+"/hooks")
	secret = w.SigningSecret
	// The secrets are shown once: reads do not repeat them.
	r := ts.req("GET", "/api/external/webhook/"+w.ID, ts.Key, nil)
	expectOK(t, r)
	if strings.Contains(string(r.Body), w.SigningSecret) || strings.Contains(string(r.Body), w.VerificationToken) {
		t.Errorf("webhook read shows a secret")
	}
	p := &pharmacy{testServer: ts, key: ts.Key}
	r = ts.req("POST", "/api/external/practitioner", ts.Key, map[string]any{
		"clinic_id": demoClinic, "first_name": "Wendy", "last_name": "Hook", "email": "wendy@clinic.test", "npi": "1234567893", "phone": "+1-555-0100"})
	expectOK(t, r)
	var pr struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pr)
	p.practitionerID = pr.ID
	p.patientID = p.newPatient(t, "Webb", "OH", demoClinic, ts.Key)
	_, o := p.order(t, nil, nil)

	want := []string{"practitioner:activated", "medication_order:verified", "medication_order:submitted", "medication_order:acknowledged",
		"medication_order:filled", "shipment:created", "medication_order:delivered"}
	got := rc.waitFor(t, "the whole lifecycle", func(ds []delivered) bool { return len(ds) >= len(want) })
	names := map[string]delivered{}
	for _, d := range got {
		// x-api-key carries the verification token, never the signing
		// secret, which only keys the signature (issue 18, item 8).
		if d.SigErr != "" || d.APIKey != w.VerificationToken || d.APIKey == w.SigningSecret || d.ID == "" {
			t.Errorf("delivery %s: signature %q, x-api-key is the token %v, is the signing secret %v", d.Name, d.SigErr,
				d.APIKey == w.VerificationToken, d.APIKey == w.SigningSecret)
		}
		names[d.Name] = d
	}
	for _, n := range want {
		if _, ok := names[n]; !ok {
			t.Errorf("no %s delivered (got %v)", n, got)
		}
	}
	act := names["practitioner:activated"].Data
	if act["practitioner_id"] != pr.ID || act["practitioner_name"] != "Wendy Hook" || act["practitioner_email"] != "wendy@clinic.test" ||
		act["practitioner_npi"] != "1234567893" || act["practitioner_status"] != "active" || act["practitioner_phone"] == nil {
		t.Errorf("practitioner:activated data: %v", act)
	}
	for _, n := range want[1:] {
		d := names[n].Data
		if d["id"] != o.OrderID || d["clinic_id"] != demoClinic || d["patient_id"] != p.patientID || d["practitioner_id"] != pr.ID || d["rx_number"] == nil {
			t.Errorf("%s data: %v", n, d)
		}
	}
	ship := names["shipment:created"].Data
	for _, f := range []string{"shipping_label", "shipment_id", "shipment_provider", "tracking_url"} {
		if s, _ := ship[f].(string); s == "" {
			t.Errorf("shipment:created lacks %s: %v", f, ship)
		}
	}
	// The delivery log shows each as succeeded with one attempt (an attempt
	// is recorded just after the receiver answers, so poll briefly).
	bad := ""
	nItems := 0
	if !wait.For(10*time.Second, func() bool {
		r = ts.req("GET", "/api/external/webhook/"+w.ID+"/deliveries?limit=100", ts.Key, nil)
		expectOK(t, r)
		var log struct {
			Items []struct {
				Status   string
				Attempts []struct {
					StatusCode int `json:"status_code"`
				}
			}
		}
		r.data(t, &log)
		bad, nItems = "", len(log.Items)
		for _, d := range log.Items {
			if d.Status != "succeeded" || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 204 {
				bad = fmt.Sprintf("%+v", d)
			}
		}
		return bad == "" && len(log.Items) >= len(want)
	}) {
		t.Fatalf("delivery log entry %s (of %d)", bad, nItems)
	}
	// A test event reaches the receiver too.
	expectOK(t, ts.req("POST", "/api/external/webhook/"+w.ID+"/test", ts.Key, nil))
	rc.waitFor(t, "webhook:test", func(ds []delivered) bool { return ds[len(ds)-1].Name == "webhook:test" })
}

func TestWebhookRetriesAndFailure(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off", "--webhook-retry-schedule", "0s,100ms,100ms,100ms,100ms", "--webhook-poll", "20ms")
	var secret string
	flaky := newReceiver(t, &secret)
	flaky.failNext = 2
	w := registerWebhook(t, ts, ts.Key, demoClinic, flaky.URL)
	secret = w.SigningSecret
	expectOK(t, ts.req("POST", "/api/external/webhook/"+w.ID+"/test", ts.Key, nil))
	got := flaky.waitFor(t, "three attempts", func(ds []delivered) bool { return len(ds) >= 3 })
	if got[0].ID != got[1].ID || got[1].ID != got[2].ID {
		t.Errorf("webhook-id changed across retries: %s %s %s", got[0].ID, got[1].ID, got[2].ID)
	}
	// Once the log says succeeded, no attempt can follow: the receiver
	// has all there will ever be (an attempt is sent before it is recorded).
	wait.Until(t, 10*time.Second, func() bool {
		var page struct {
			Items []struct{ Status string }
		}
		ts.req("GET", "/api/external/webhook/"+w.ID+"/deliveries", ts.Key, nil).data(t, &page)
		return len(page.Items) == 1 && page.Items[0].Status == "succeeded"
	}, "the delivery is not marked succeeded")
	if n := len(flaky.snapshot()); n != 3 {
		t.Errorf("%d attempts after success, want 3", n)
	}

	// Always failing: failed after 5 attempts, listed, then an operator retry sends it once more.
	var secret2 string
	down := newReceiver(t, &secret2)
	down.alwaysNo = true
	w2 := registerWebhook(t, ts, ts.Key, demoClinic, down.URL)
	secret2 = w2.SigningSecret
	expectOK(t, ts.req("POST", "/api/external/webhook/"+w2.ID+"/test", ts.Key, nil))
	down.waitFor(t, "five attempts", func(ds []delivered) bool { return len(ds) >= 5 })
	var failed []struct {
		ID       string
		Status   string
		Attempts []struct {
			StatusCode int    `json:"status_code"`
			Error      string `json:"error"`
		}
	}
	var lastBody []byte
	if !wait.For(10*time.Second, func() bool {
		r := ts.req("GET", "/api/external/webhook/"+w2.ID+"/deliveries?status=failed", ts.Key, nil)
		lastBody = r.Body
		var page struct{ Items []json.RawMessage }
		r.data(t, &page)
		if len(page.Items) == 1 {
			r.data(t, &struct {
				Items *[]struct {
					ID       string
					Status   string
					Attempts []struct {
						StatusCode int    `json:"status_code"`
						Error      string `json:"error"`
					}
				}
			}{&failed})
			return true
		}
		return false
	}) {
		t.Fatalf("delivery never marked failed: %s", lastBody)
	}
	if len(failed[0].Attempts) != 5 || failed[0].Attempts[4].StatusCode != 500 || failed[0].Attempts[4].Error == "" {
		t.Errorf("failed delivery: %+v", failed[0])
	}
	// Marked failed: no attempt can follow, the receiver has them all.
	if n := len(down.snapshot()); n != 5 {
		t.Errorf("%d attempts, want exactly 5", n)
	}
	var cli struct {
		Deliveries []struct{ ID, Status string }
	}
	ts.mustCLI(&cli, "webhooks", "deliveries", "--status", "failed", "--webhook", w2.ID)
	if len(cli.Deliveries) != 1 || cli.Deliveries[0].ID != failed[0].ID {
		t.Fatalf("operator listing: %+v", cli)
	}
	ts.mustCLI(nil, "webhooks", "retry", failed[0].ID)
	down.waitFor(t, "the operator's retry", func(ds []delivered) bool { return len(ds) == 6 })
	// The partner can retry too.
	expectOK(t, ts.req("POST", "/api/external/webhook/"+w2.ID+"/deliveries/"+failed[0].ID+"/retry", ts.Key, nil))
	down.waitFor(t, "the partner's retry", func(ds []delivered) bool { return len(ds) == 7 })
}

func TestWebhookRegistrationRules(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off")
	clinicB := ts.newClinic("Clinic B")
	keyB := ts.newKey("--clinic", clinicB)
	var s string
	rc := newReceiver(t, &s)
	a := registerWebhook(t, ts, ts.Key, demoClinic, rc.URL+"/a")
	// B cannot see, read or delete A's webhook; the answers match unknown ids.
	expectError(t, ts.req("GET", "/api/external/webhook/"+a.ID, keyB.Key, nil), 404, "NOT_FOUND", "Webhook not found")
	expectError(t, ts.req("DELETE", "/api/external/webhook/"+a.ID, keyB.Key, nil), 404, "NOT_FOUND", "Webhook not found")
	expectError(t, ts.req("GET", "/api/external/webhook/"+a.ID+"/deliveries", keyB.Key, nil), 404, "NOT_FOUND", "Webhook not found")
	expectError(t, ts.req("POST", "/api/external/webhook/"+a.ID+"/test", keyB.Key, nil), 404, "NOT_FOUND", "Webhook not found")
	expectError(t, ts.req("DELETE", "/api/external/webhook", keyB.Key, map[string]any{"clinic_id": demoClinic, "webhook_id": a.ID}), 400, "CLINIC_NOT_FOUND", "Clinic not found")
	r := ts.req("GET", "/api/external/webhook", keyB.Key, nil)
	if strings.Contains(string(r.Body), a.ID) {
		t.Errorf("B's list shows A's webhook")
	}
	expectError(t, ts.req("POST", "/api/external/webhook", keyB.Key, map[string]any{"clinic_id": demoClinic, "webhook_url": rc.URL}), 400, "CLINIC_NOT_FOUND", "Clinic not found")
	// Validation of URLs.
	for _, bad := range []string{"", "not a url", "ftp://x.test/", "http://169.254.169.254/latest/meta-data", "http://2130706433/"} {
		r := ts.req("POST", "/api/external/webhook", ts.Key, map[string]any{"clinic_id": demoClinic, "webhook_url": bad})
		expectError(t, r, 400, "VALIDATION_ERROR", "")
	}
	// Three documented DELETE forms.
	b := registerWebhook(t, ts, ts.Key, demoClinic, rc.URL+"/b")
	c := registerWebhook(t, ts, ts.Key, demoClinic, rc.URL+"/c")
	for _, del := range []*response{
		ts.req("DELETE", "/api/external/webhook/"+a.ID, ts.Key, nil),
		ts.req("DELETE", "/api/external/webhook?id="+b.ID, ts.Key, nil),
		ts.req("DELETE", "/api/external/webhook", ts.Key, map[string]any{"clinic_id": demoClinic, "webhook_id": c.ID}),
	} {
		expectOK(t, del)
		if del.Env.Message != "Webhook deleted successfully" {
			t.Errorf("delete message %q", del.Env.Message)
		}
	}
	expectError(t, ts.req("DELETE", "/api/external/webhook/"+a.ID, ts.Key, nil), 404, "NOT_FOUND", "Webhook not found")
	// At most ten per clinic.
	for i := 0; i < 10; i++ {
		registerWebhook(t, ts, ts.Key, demoClinic, rc.URL+"/n"+string(rune('a'+i)))
	}
	r = ts.req("POST", "/api/external/webhook", ts.Key, map[string]any{"clinic_id": demoClinic, "webhook_url": rc.URL + "/eleventh"})
	expectError(t, r, 400, "LIMIT_REACHED", "")

	// Production accepts only https URLs to public hosts.
	prod := startServer(t, "production")
	pc := prod.newClinic("P")
	pk := prod.newKey("--clinic", pc)
	for _, bad := range []string{rc.URL, "https://127.0.0.1/h", "https://localhost/h", "http://hooks.partner.invalid/h"} {
		expectError(t, prod.req("POST", "/api/external/webhook", pk.Key, map[string]any{"clinic_id": pc, "webhook_url": bad}), 400, "VALIDATION_ERROR", "")
	}
}

func TestWebhookEventsStayInTheirClinic(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off", "--webhook-poll", "20ms")
	clinicB := ts.newClinic("Clinic B")
	keyB := ts.newKey("--clinic", clinicB)
	var sa, sb string
	ra, rb := newReceiver(t, &sa), newReceiver(t, &sb)
	wa := registerWebhook(t, ts, ts.Key, demoClinic, ra.URL)
	sa = wa.SigningSecret
	wb := registerWebhook(t, ts, keyB.Key, clinicB, rb.URL)
	sb = wb.SigningSecret
	p := &pharmacy{testServer: ts, key: ts.Key}
	r := ts.req("POST", "/api/external/practitioner", ts.Key, map[string]any{"clinic_id": demoClinic, "first_name": "Ada", "last_name": "Alpha", "email": "ada@a.test", "npi": "1234567893"})
	var pr struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pr)
	p.practitionerID = pr.ID
	p.patientID = p.newPatient(t, "Abe", "NY", demoClinic, ts.Key)
	_, o := p.order(t, nil, nil)
	p.advance(t, o.OrderID, "verified", "submitted")
	ra.waitFor(t, "A's events", func(ds []delivered) bool { return len(ds) >= 2 })
	// Deliveries are queued with their event (the outbox): none queued
	// for B's webhook means none will ever reach it.
	var bLog struct{ Items []json.RawMessage }
	ts.req("GET", "/api/external/webhook/"+wb.ID+"/deliveries?limit=100", keyB.Key, nil).data(t, &bLog)
	if len(bLog.Items) != 0 {
		t.Errorf("clinic B's webhook has %d deliveries of A's events", len(bLog.Items))
	}
	if got := rb.snapshot(); len(got) != 0 {
		t.Errorf("clinic B's webhook received A's events: %+v", got)
	}
}
