package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/fakeclock"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/ratelimit"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/webhook"
)

// hardenedEnv is a Server on a real SQLite store with a fake clock, for the
// outside black-box test's findings (issue 19).
type hardenedEnv struct {
	t      *testing.T
	store  *sqlstore.Store
	ring   *phi.Keyring
	server *Server
	clock  *fakeclock.Clock
	clinic string
	logs   *bytes.Buffer
	logMu  *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newHardenedEnv(t *testing.T, limiter func(now func() time.Time) ratelimit.Limiter, authFailures int) *hardenedEnv {
	t.Helper()
	ctx := context.Background()
	key, _ := phi.GenerateKey()
	ring, _ := phi.NewKeyring(map[uint32][]byte{1: key})
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "h.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &hardenedEnv{t: t, store: store, ring: ring, clock: fakeclock.New(time.Now().UTC()), logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	log := slog.New(slog.NewJSONHandler(lockedWriter{e.logMu, e.logs}, nil))
	aw := audit.NewWriter(store, log)
	t.Cleanup(aw.Close)
	if limiter == nil {
		limiter = func(now func() time.Time) ratelimit.Limiter { return ratelimit.NewMemory(now) }
	}
	e.server = New(Config{Env: novamed.Development, Store: store, Audit: aw, Limiter: limiter(e.clock.Now), Logger: log,
		Now: e.clock.Now, WebhookPolicy: webhook.URLPolicy{AllowInsecure: true}, AuthFailuresPerMinute: authFailures,
		FingerprintKey: ring.IdempotencyFingerprintKey()})
	t.Cleanup(e.server.Close)
	e.clinic = uuid.NewString()
	if err := store.CreateClinic(ctx, &novamed.Clinic{ID: e.clinic, Name: "C", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return e
}

// key issues a development key for the env's clinic with a per-minute limit.
func (e *hardenedEnv) key(limit int) (*novamed.APIKey, string) {
	e.t.Helper()
	raw, err := apikey.Generate("development")
	if err != nil {
		e.t.Fatal(err)
	}
	id := uuid.NewString()
	k := &novamed.APIKey{ID: id, Owner: id, Name: "h", Environment: novamed.Development, Prefix: apikey.DisplayPrefix(raw),
		HashHex: apikey.HashKey(raw).Hex(), Clinics: []string{e.clinic}, RateLimit: limit, CreatedAt: time.Now()}
	if err := e.store.CreateAPIKey(context.Background(), k); err != nil {
		e.t.Fatal(err)
	}
	return k, raw
}

// do sends one request from addr; hdr are header name/value pairs (a
// repeated name adds a second value).
func (e *hardenedEnv) do(method, path, body, addr string, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = addr + ":40000"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.server.ServeHTTP(w, r)
	return w
}

type testErrorEnvelope struct {
	Error struct {
		Message    string `json:"message"`
		Code       string `json:"code"`
		RequestID  string `json:"request_id"`
		RetryAfter *int   `json:"retry_after"`
		Details    struct {
			Fields []struct{ Field, Message string } `json:"fields"`
		} `json:"details"`
	} `json:"error"`
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) testErrorEnvelope {
	t.Helper()
	var env testErrorEnvelope
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("not an envelope: %q", w.Body.String())
	}
	return env
}

// TestValidKeyServedWhileBadKeysStream (issue 19.2): bad keys streaming from
// one address (a shared NAT, or every partner behind a proxy without
// --trusted-proxy) never lock out a valid key sent from that address; they
// only slow the failing attempts.
func TestValidKeyServedWhileBadKeysStream(t *testing.T) {
	t.Parallel()
	e := newHardenedEnv(t, nil, 20)
	_, valid := e.key(1000)
	const addr = "203.0.113.5"
	served, blockedBad := 0, 0
	for i := 0; i < 30; i++ {
		for j := 0; j < 5; j++ {
			bad, _ := apikey.Generate("development")
			w := e.do("GET", "/api/external/me", "", addr, "x-api-key", bad)
			switch w.Code {
			case http.StatusUnauthorized:
			case http.StatusTooManyRequests:
				blockedBad++
			default:
				t.Fatalf("bad key: %d %s", w.Code, w.Body)
			}
		}
		w := e.do("GET", "/api/external/me", "", addr, "x-api-key", valid)
		if w.Code == http.StatusOK {
			served++
		} else {
			t.Logf("valid key request %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	t.Logf("valid key served %d of 30 while 150 bad keys streamed from the same address (%d of them slowed with 429)", served, blockedBad)
	if served != 30 {
		t.Errorf("valid key served %d of 30", served)
	}
	if blockedBad != 150-20 {
		t.Errorf("%d bad attempts slowed with 429, want %d (the guard still limits failures)", blockedBad, 150-20)
	}
}

// TestDuplicateAPIKeyHeaders (issue 19.12): two x-api-key values are a 401,
// whichever of them is valid.
func TestDuplicateAPIKeyHeaders(t *testing.T) {
	t.Parallel()
	e := newHardenedEnv(t, nil, 1000)
	_, valid := e.key(1000)
	bad, _ := apikey.Generate("development")
	if w := e.do("GET", "/api/external/me", "", "203.0.113.6", "x-api-key", valid); w.Code != 200 {
		t.Fatalf("one valid key: %d", w.Code)
	}
	for name, pair := range map[string][2]string{"valid first": {valid, bad}, "valid twice": {valid, valid}, "valid second": {bad, valid}} {
		w := e.do("GET", "/api/external/me", "", "203.0.113.6", "x-api-key", pair[0], "X-Api-Key", pair[1])
		if w.Code != http.StatusUnauthorized || decodeError(t, w).Error.Message != novamed.MsgUnauthorized {
			t.Errorf("%s: %d %s, want the 401", name, w.Code, w.Body)
		}
	}
}

// TestRateLimitHeadersOnEveryResponse (issue 18.6): every /api/external
// answer carries the rate-limit headers; without a verified key they
// describe the caller's failed-authentication budget.
func TestRateLimitHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	e := newHardenedEnv(t, nil, 20)
	_, valid := e.key(77)
	const addr = "203.0.113.7"
	big := `{"x":"` + strings.Repeat("a", maxBody) + `"}`
	cases := []struct {
		name        string
		method      string
		path, body  string
		hdr         []string
		status      int
		wantLimit   int
		wantCounted bool // the request spends one failed authentication
	}{
		{"401 no key", "GET", "/api/external/me", "", nil, 401, 20, true},
		{"404 unknown route", "GET", "/api/external/nothing-here", "", []string{"x-api-key", valid}, 404, 20, false},
		{"405", "PUT", "/api/external/patient", `{}`, []string{"x-api-key", valid}, 405, 20, false},
		{"406", "GET", "/api/external/me", "", []string{"x-api-key", valid, "Accept", "text/html"}, 406, 20, false},
		{"413", "POST", "/api/external/patient", big, []string{"x-api-key", valid}, 413, 20, false},
		{"415", "POST", "/api/external/patient", `{}`, []string{"x-api-key", valid, "Content-Type", "text/plain"}, 415, 20, false},
		{"404 resource with key", "GET", "/api/external/patient/" + uuid.NewString(), "", []string{"x-api-key", valid}, 404, 77, false},
		{"200", "GET", "/api/external/me", "", []string{"x-api-key", valid}, 200, 77, false},
	}
	remainingAuth := 20
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		r.RemoteAddr = addr + ":1"
		if c.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(c.hdr); i += 2 {
			r.Header.Set(c.hdr[i], c.hdr[i+1])
		}
		w := httptest.NewRecorder()
		e.server.ServeHTTP(w, r)
		if w.Code != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, w.Code, c.status, w.Body)
			continue
		}
		h := w.Header()
		if h.Get("X-RateLimit-Limit") == "" || h.Get("X-RateLimit-Remaining") == "" || h.Get("X-RateLimit-Reset") == "" {
			t.Errorf("%s: rate-limit headers missing: %v", c.name, h)
			continue
		}
		if got := h.Get("X-RateLimit-Limit"); got != strconv.Itoa(c.wantLimit) {
			t.Errorf("%s: X-RateLimit-Limit %s, want %d", c.name, got, c.wantLimit)
		}
		if c.wantLimit == 20 {
			if c.wantCounted {
				remainingAuth--
			}
			if got := h.Get("X-RateLimit-Remaining"); got != strconv.Itoa(remainingAuth) {
				t.Errorf("%s: X-RateLimit-Remaining %s, want %d", c.name, got, remainingAuth)
			}
		}
		reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || reset < e.clock.Now().Unix() {
			t.Errorf("%s: X-RateLimit-Reset %q", c.name, h.Get("X-RateLimit-Reset"))
		}
	}
	// Probes outside /api/external carry none.
	if w := e.do("GET", "/healthz", "", addr); w.Header().Get("X-RateLimit-Limit") != "" {
		t.Errorf("/healthz carries rate-limit headers")
	}
}

// TestRateLimitMessageSingularPlural (issue 18.6, contract §8): "1 second"
// and "N seconds" are both exact messages.
func TestRateLimitMessageSingularPlural(t *testing.T) {
	t.Parallel()
	e := newHardenedEnv(t, nil, 1000)
	for _, c := range []struct {
		limit   int
		retry   int
		message string
	}{
		{60, 1, "Rate limit exceeded. Please retry after 1 second."},
		{5, 12, "Rate limit exceeded. Please retry after 12 seconds."},
	} {
		_, raw := e.key(c.limit)
		for i := 0; i < c.limit; i++ {
			if w := e.do("GET", "/api/external/me", "", "203.0.113.8", "x-api-key", raw); w.Code != 200 {
				t.Fatalf("limit %d, request %d: %d", c.limit, i+1, w.Code)
			}
		}
		w := e.do("GET", "/api/external/me", "", "203.0.113.8", "x-api-key", raw)
		env := decodeError(t, w)
		if w.Code != 429 || env.Error.Message != c.message || env.Error.RetryAfter == nil || *env.Error.RetryAfter != c.retry {
			t.Errorf("limit %d: %d %q retry_after %v; want 429 %q %d", c.limit, w.Code, env.Error.Message, env.Error.RetryAfter, c.message, c.retry)
		}
	}
}

// TestRolledKeysShareOneLimit (issue 19.7): during a roll's grace period the
// old and the new key draw on one limit, the key lineage's, with the
// in-process limiter and with the shared Redis one.
func TestRolledKeysShareOneLimit(t *testing.T) {
	t.Parallel()
	limiters := map[string]func(t *testing.T) func(now func() time.Time) ratelimit.Limiter{
		"memory": func(*testing.T) func(now func() time.Time) ratelimit.Limiter { return nil },
		"redis": func(t *testing.T) func(now func() time.Time) ratelimit.Limiter {
			client := testRedis(t)
			prefix := "novamed-test-" + uuid.NewString() + ":"
			return func(func() time.Time) ratelimit.Limiter { return ratelimit.NewRedis(client, prefix) }
		},
	}
	for name, mk := range limiters {
		t.Run(name, func(t *testing.T) {
			e := newHardenedEnv(t, mk(t), 1000)
			old, oldRaw := e.key(6)
			nextRaw, _ := apikey.Generate("development")
			next := &novamed.APIKey{ID: uuid.NewString(), Prefix: apikey.DisplayPrefix(nextRaw), HashHex: apikey.HashKey(nextRaw).Hex(), CreatedAt: time.Now()}
			if _, err := e.store.RollAPIKey(context.Background(), old.ID, next, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			served := 0
			for i := 0; i < 12; i++ {
				raw := oldRaw
				if i%2 == 1 {
					raw = nextRaw
				}
				w := e.do("GET", "/api/external/me", "", "203.0.113.9", "x-api-key", raw)
				switch w.Code {
				case 200:
					served++
				case 429:
				default:
					t.Fatalf("request %d: %d %s", i+1, w.Code, w.Body)
				}
			}
			if served != 6 {
				t.Errorf("old and new key together served %d of 12 at a limit of 6 per minute; want 6", served)
			}
		})
	}
}

// testRedis connects to the test Redis, or skips (fails with CI=true).
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("REDIS NOT AVAILABLE: %v", err)
		}
		t.Skipf("REDIS NOT AVAILABLE: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

const fingerprintedPatient = `{"clinic_id":"%s","first_name":"Dora","last_name":"Dictionary","dob":"1984-02-29","gender":"female"}`

// TestIdempotencyFingerprintIsKeyed (issue 19.1): the stored fingerprint of
// an Idempotency-Key request is an HMAC under a key derived from the master
// key, not a plain SHA-256 that a dictionary of names and birth dates
// reverses.
func TestIdempotencyFingerprintIsKeyed(t *testing.T) {
	t.Parallel()
	e := newHardenedEnv(t, nil, 1000)
	k, raw := e.key(1000)
	body := fmt.Sprintf(fingerprintedPatient, e.clinic)
	if w := e.do("POST", "/api/external/patient", body, "203.0.113.10", "x-api-key", raw, "Idempotency-Key", "fp-1"); w.Code != 200 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	rec, err := e.store.GetIdempotency(context.Background(), k.Owner, "fp-1")
	if err != nil {
		t.Fatal(err)
	}
	plain := sha256.Sum256([]byte("POST /api/external/patient?\n" + body))
	if strings.Contains(rec.Fingerprint, hex.EncodeToString(plain[:])) {
		t.Fatalf("stored fingerprint %s is the plain SHA-256 of the request: a dictionary of names and birth dates reverses it", rec.Fingerprint)
	}
	mac := hmac.New(sha256.New, e.ring.IdempotencyFingerprintKey())
	mac.Write([]byte("POST /api/external/patient?\n" + body))
	if want := "k1:" + hex.EncodeToString(mac.Sum(nil)); rec.Fingerprint != want {
		t.Errorf("stored fingerprint %s, want the keyed %s", rec.Fingerprint, want)
	}
	// The keyed fingerprint still tells the same request from another.
	if w := e.do("POST", "/api/external/patient", body, "203.0.113.10", "x-api-key", raw, "Idempotency-Key", "fp-1"); w.Code != 200 || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("same request again: %d replayed=%q", w.Code, w.Header().Get("Idempotent-Replayed"))
	}
	other := strings.Replace(body, "1984-02-29", "1984-03-01", 1)
	if w := e.do("POST", "/api/external/patient", other, "203.0.113.10", "x-api-key", raw, "Idempotency-Key", "fp-1"); w.Code != 422 {
		t.Errorf("another request with the key: %d, want 422", w.Code)
	}
}

// TestLegacyFingerprintReplayedAcrossUpgrade: a record stored before the
// upgrade (plain SHA-256) still replays the same request, and still refuses
// another one, for the 24 h it is kept.
func TestLegacyFingerprintReplayedAcrossUpgrade(t *testing.T) {
	t.Parallel()
	e := newHardenedEnv(t, nil, 1000)
	k, raw := e.key(1000)
	body := fmt.Sprintf(fingerprintedPatient, e.clinic)
	plain := sha256.Sum256([]byte("POST /api/external/patient?\n" + body))
	stored := []byte(`{"success":true,"data":{"patient_id":"p-legacy"},"message":"Patient created successfully"}` + "\n")
	if err := e.store.SaveIdempotency(context.Background(), &novamed.IdempotencyRecord{Owner: k.Owner, Key: "legacy-1",
		Fingerprint: hex.EncodeToString(plain[:]), Status: 200, Body: stored, CreatedAt: e.clock.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	w := e.do("POST", "/api/external/patient", body, "203.0.113.11", "x-api-key", raw, "Idempotency-Key", "legacy-1")
	if w.Code != 200 || w.Header().Get("Idempotent-Replayed") != "true" || w.Body.String() != string(stored) {
		t.Errorf("retry spanning the upgrade: %d replayed=%q %s", w.Code, w.Header().Get("Idempotent-Replayed"), w.Body)
	}
	other := strings.Replace(body, "Dora", "Nora", 1)
	if w := e.do("POST", "/api/external/patient", other, "203.0.113.11", "x-api-key", raw, "Idempotency-Key", "legacy-1"); w.Code != 422 {
		t.Errorf("another request with a legacy key: %d, want 422", w.Code)
	}
}

// BenchmarkFingerprint compares the per-request cost of the old plain
// SHA-256 fingerprint with the keyed HMAC-SHA256 one, on a typical patient
// create body.
func BenchmarkFingerprint(b *testing.B) {
	s := &Server{fingerprintKey: make([]byte, 32)}
	body := []byte(fmt.Sprintf(fingerprintedPatient, uuid.NewString()))
	r := httptest.NewRequest("POST", "/api/external/patient", nil)
	b.Run("sha256-plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			legacyFingerprint(r, body)
		}
	})
	b.Run("hmac-sha256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.fingerprint(r, body)
		}
	})
}
