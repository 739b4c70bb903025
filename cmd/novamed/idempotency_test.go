package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestIdempotentCreateUnderConcurrency(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	body := map[string]any{"clinic_id": demoClinic, "first_name": "Ida", "last_name": "Empotent", "dob": "1975-05-05"}
	const n = 50
	var wg sync.WaitGroup
	results := make([]*response, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = ts.req("POST", "/api/external/patient", ts.Key, body, "Idempotency-Key", "create-ida-1")
		}(i)
	}
	wg.Wait()
	var created []byte
	var oks, inUse int
	for _, r := range results {
		switch {
		case r.Status == 200:
			oks++
			if created == nil {
				created = r.Body
			} else if string(r.Body) != string(created) {
				t.Errorf("two different 200 answers:\n%s\n%s", created, r.Body)
			}
		case r.Status == 409 && r.Env.Error.Code == "IDEMPOTENCY_KEY_IN_USE":
			inUse++
		default:
			t.Errorf("unexpected answer %d: %s", r.Status, r.Body)
		}
	}
	if oks == 0 {
		t.Fatalf("no request succeeded (%d in use)", inUse)
	}
	if ids := ts.createdIDs(t, "/api/external/patient", ts.Key); len(ids) != 1 {
		t.Fatalf("%d patients created, want exactly 1: %v", len(ids), ids)
	}
	// A later retry replays the original answer, marked as a replay.
	r := ts.req("POST", "/api/external/patient", ts.Key, body, "Idempotency-Key", "create-ida-1")
	if r.Status != 200 || string(r.Body) != string(created) || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: %d replayed=%q body %s", r.Status, r.Header.Get("Idempotent-Replayed"), r.Body)
	}
}

func TestIdempotencyKeySemantics(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	bodyA := map[string]any{"clinic_id": demoClinic, "first_name": "Alma", "last_name": "Keyed", "dob": "1960-06-06"}
	bodyB := map[string]any{"clinic_id": demoClinic, "first_name": "Bert", "last_name": "Keyed", "dob": "1961-06-06"}
	expectOK(t, ts.req("POST", "/api/external/patient", ts.Key, bodyA, "Idempotency-Key", "k1"))
	// Same key, different request → 422.
	r := ts.req("POST", "/api/external/patient", ts.Key, bodyB, "Idempotency-Key", "k1")
	expectError(t, r, 422, "IDEMPOTENCY_KEY_REUSED", "")
	// Same key, a different request that fails validation → 422 too: a
	// create looks up a remembered answer only when its handler fails.
	r = ts.req("POST", "/api/external/patient", ts.Key, map[string]any{"clinic_id": demoClinic, "first_name": "Alma"}, "Idempotency-Key", "k1")
	expectError(t, r, 422, "IDEMPOTENCY_KEY_REUSED", "")
	// Same key, different path → 422 too.
	r = ts.req("POST", "/api/external/practitioner", ts.Key, bodyA, "Idempotency-Key", "k1")
	expectError(t, r, 422, "IDEMPOTENCY_KEY_REUSED", "")
	// Different key → independent.
	expectOK(t, ts.req("POST", "/api/external/patient", ts.Key, bodyB, "Idempotency-Key", "k2"))
	// A replay repeats the remembered answer, not how this request's
	// unknown fields were handled.
	bodyU := map[string]any{"clinic_id": demoClinic, "first_name": "Ursa", "last_name": "Keyed", "dob": "1963-06-06", "nickname": "U"}
	r1 := ts.req("POST", "/api/external/patient", ts.Key, bodyU, "Idempotency-Key", "k4")
	r2 := ts.req("POST", "/api/external/patient", ts.Key, bodyU, "Idempotency-Key", "k4")
	if r1.Status != 200 || r1.Header.Get("NovaMed-Ignored-Fields") == "" || r2.Status != 200 || string(r1.Body) != string(r2.Body) ||
		r2.Header.Get("Idempotent-Replayed") != "true" || r2.Header.Get("NovaMed-Ignored-Fields") != "" {
		t.Errorf("replay of a create with an unknown field: %d %q / %d %q replayed=%q", r1.Status, r1.Header.Get("NovaMed-Ignored-Fields"),
			r2.Status, r2.Header.Get("NovaMed-Ignored-Fields"), r2.Header.Get("Idempotent-Replayed"))
	}
	// A remembered 4xx is replayed too; a malformed key is refused.
	bad := map[string]any{"clinic_id": demoClinic, "first_name": "X"}
	r1 = ts.req("POST", "/api/external/patient", ts.Key, bad, "Idempotency-Key", "k3")
	r2 = ts.req("POST", "/api/external/patient", ts.Key, bad, "Idempotency-Key", "k3")
	if r1.Status != 400 || string(r1.Body) != string(r2.Body) || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("4xx not replayed: %d %s / %s", r1.Status, r1.Body, r2.Body)
	}
	expectError(t, ts.req("POST", "/api/external/patient", ts.Key, bodyA, "Idempotency-Key", strings.Repeat("a", 256)), 400, "INVALID_IDEMPOTENCY_KEY", "")
	expectError(t, ts.req("POST", "/api/external/patient", ts.Key, bodyA, "Idempotency-Key", "tab\there"), 400, "INVALID_IDEMPOTENCY_KEY", "")

	// Another partner's identical Idempotency-Key does not collide.
	clinicB := ts.newClinic("Other partner")
	other := ts.newKey("--clinic", clinicB)
	bodyOther := map[string]any{"clinic_id": clinicB, "first_name": "Olga", "last_name": "Other", "dob": "1962-06-06"}
	r = ts.req("POST", "/api/external/patient", other.Key, bodyOther, "Idempotency-Key", "k1")
	expectOK(t, r)
	if r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("another partner's request was answered from this partner's record")
	}
	// A rolled key shares its owner's idempotency records.
	var rolled struct{ Key string }
	ts.mustCLI(&rolled, "keys", "roll", other.ID)
	ts.addSecret(rolled.Key)
	r = ts.req("POST", "/api/external/patient", rolled.Key, bodyOther, "Idempotency-Key", "k1")
	if r.Status != 200 || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry with the rolled key: %d replayed=%q", r.Status, r.Header.Get("Idempotent-Replayed"))
	}
	if ids := ts.createdIDs(t, "/api/external/patient", ts.Key); len(ids) != 3 {
		t.Errorf("%d patients created in the demo clinic, want 3", len(ids))
	}
}

func TestRateLimitExact(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	k := ts.newKey("--clinic", demoClinic, "--rate-limit", "5")
	var ok, limited int
	for i := 0; i < 8; i++ {
		r := ts.req("GET", "/api/external/me", k.Key, nil)
		switch r.Status {
		case 200:
			ok++
			if r.Header.Get("X-RateLimit-Limit") != "5" || r.Header.Get("X-RateLimit-Remaining") != fmt.Sprint(5-ok) {
				t.Errorf("request %d: limit %q remaining %q", i, r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"))
			}
		case 429:
			limited++
			expectError(t, r, 429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded. Please retry after 12 seconds.")
			if r.Env.Error.RetryAfter == nil || *r.Env.Error.RetryAfter != 12 || r.Header.Get("Retry-After") != "12" {
				t.Errorf("retry_after %v, Retry-After %q; want 12", r.Env.Error.RetryAfter, r.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("unexpected %d: %s", r.Status, r.Body)
		}
	}
	if ok != 5 || limited != 3 {
		t.Fatalf("%d allowed, %d limited; want 5 and 3", ok, limited)
	}
	// Other keys are unaffected.
	expectOK(t, ts.req("GET", "/api/external/me", ts.Key, nil))

	// Concurrent: exactly N of N+k, then one more after Retry-After.
	c := ts.newKey("--clinic", demoClinic, "--rate-limit", "30")
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var retry string
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := ts.req("GET", "/api/external/me", c.Key, nil)
			mu.Lock()
			statuses[r.Status]++
			if r.Status == 429 {
				retry = r.Header.Get("Retry-After")
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] != 30 || statuses[429] != 10 {
		t.Fatalf("concurrent: %v, want 30×200 and 10×429", statuses)
	}
	var secs int
	fmt.Sscan(retry, &secs)
	if secs < 1 || secs > 2 {
		t.Fatalf("Retry-After %q, want 1 or 2 seconds", retry)
	}
	waitSeconds(secs)
	expectOK(t, ts.req("GET", "/api/external/me", c.Key, nil))
}
