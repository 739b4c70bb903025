package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/ratelimit"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/usage"
)

// newTestServer builds a Server on a real SQLite store in a temporary folder
// with one clinic and one development key (rate limit perMinute).
func newTestServer(tb testing.TB, perMinute int) (*Server, string, string) {
	tb.Helper()
	return newTestServerWith(tb, perMinute, sqlstore.Options{})
}

// newTestServerWith is newTestServer on a store opened with opts (its
// keyring is made here).
func newTestServerWith(tb testing.TB, perMinute int, opts sqlstore.Options) (*Server, string, string) {
	tb.Helper()
	ctx := context.Background()
	key, err := phi.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		tb.Fatal(err)
	}
	opts.Keyring = ring
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(tb.TempDir(), "bench.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	clinic := &novamed.Clinic{ID: uuid.NewString(), Name: "Bench", CreatedAt: time.Now()}
	if err := store.CreateClinic(ctx, clinic); err != nil {
		tb.Fatal(err)
	}
	raw, err := apikey.Generate("development")
	if err != nil {
		tb.Fatal(err)
	}
	id := uuid.NewString()
	if err := store.CreateAPIKey(ctx, &novamed.APIKey{ID: id, Owner: id, Name: "bench", Environment: novamed.Development,
		Prefix: apikey.DisplayPrefix(raw), HashHex: apikey.HashKey(raw).Hex(), Clinics: []string{clinic.ID},
		RateLimit: perMinute, CreatedAt: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	aw := audit.NewWriter(store, log)
	s := New(Config{Env: novamed.Development, Store: store, Audit: aw, Limiter: ratelimit.NewMemory(nil), Logger: log})
	tb.Cleanup(func() { s.Close(); aw.Close(); store.Close() })
	return s, raw, clinic.ID
}

// BenchmarkVerifyKey is the authentication hot path on a cache hit: parse,
// checksum, SHA-256, cache lookup, expiry check.
func BenchmarkVerifyKey(b *testing.B) {
	s, raw, _ := newTestServer(b, 1_000_000)
	ctx := context.Background()
	if _, _, err := s.verifyKey(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := s.verifyKey(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyKeyUncached adds the store lookup (a cache miss each time).
func BenchmarkVerifyKeyUncached(b *testing.B) {
	s, raw, _ := newTestServer(b, 1_000_000)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.keys.Purge()
		if _, _, err := s.verifyKey(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRejectMalformedKey: a forged key is refused by its checksum alone.
func BenchmarkRejectMalformedKey(b *testing.B) {
	s, raw, _ := newTestServer(b, 1_000_000)
	forged := raw[:len(raw)-1] + "x"
	if raw[len(raw)-1] == 'x' {
		forged = raw[:len(raw)-1] + "y"
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := s.verifyKey(ctx, forged); err == nil {
			b.Fatal("forged key accepted")
		}
	}
}

// BenchmarkRateLimitMiddleware is the per-key limiter plus its headers.
func BenchmarkRateLimitMiddleware(b *testing.B) {
	s, raw, _ := newTestServer(b, 1_000_000_000)
	k, _, err := s.verifyKey(context.Background(), raw)
	if err != nil {
		b.Fatal(err)
	}
	st := &reqState{key: k}
	r := httptest.NewRequest("GET", "/api/external/me", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.rateLimit(w, r, st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequest compares a bare handler with whole partner requests
// through ServeHTTP (auth, rate limit, audit group commit, store).
func BenchmarkRequest(b *testing.B) {
	s, raw, clinic := newTestServer(b, 1_000_000_000)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"success": true, "data": map[string]string{"status": "ok"}})
	})
	run := func(b *testing.B, h http.Handler, method, path string, body func(i int) string, hdr func(i int) string) {
		b.ReportAllocs()
		// 16 goroutines per CPU, as a loaded server sees: writes then share
		// group commits, and ns/op is CPU per request, not fsync latency.
		b.SetParallelism(16)
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				var rd io.Reader
				if body != nil {
					rd = strings.NewReader(body(i))
				}
				r := httptest.NewRequest(method, path, rd)
				r.Header.Set("x-api-key", raw)
				if body != nil {
					r.Header.Set("Content-Type", "application/json")
				}
				if hdr != nil {
					r.Header.Set("Idempotency-Key", hdr(i))
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
	patient := func(prefix string) func(i int) string {
		prefix += uuid.NewString()[:8] // benchmarks run several times; names must stay unique
		return func(i int) string {
			return fmt.Sprintf(`{"clinic_id":%q,"first_name":"Bench%s%d","last_name":"Mark","dob":"1980-01-01"}`, clinic, prefix, i)
		}
	}
	b.Run("baseline-bare-handler", func(b *testing.B) { run(b, bare, "GET", "/", nil, nil) })
	b.Run("me", func(b *testing.B) { run(b, s, "GET", "/api/external/me", nil, nil) })
	b.Run("carriers", func(b *testing.B) { run(b, s, "GET", "/api/external/carriers", nil, nil) })
	b.Run("list-patients", func(b *testing.B) { run(b, s, "GET", "/api/external/patient?limit=25", nil, nil) })
	b.Run("create-patient", func(b *testing.B) { run(b, s, "POST", "/api/external/patient", patient("a"), nil) })
	b.Run("create-patient-idempotent", func(b *testing.B) {
		runID := uuid.NewString() // each run of the benchmark uses fresh keys
		run(b, s, "POST", "/api/external/patient", patient("b"), func(i int) string { return fmt.Sprintf("bench-%s-%d", runID, i) })
	})
}

// BenchmarkMiddlewareStack is the per-request cost before the handler:
// request id, client address, security headers, authentication (cache hit)
// and the rate limit, with usage counting and metrics on.
func BenchmarkMiddlewareStack(b *testing.B) {
	s, raw, _ := newTestServer(b, 1_000_000_000)
	s.metrics = usage.NewMetrics()
	s.usage = usage.NewRecorder(s.store.(novamed.Store), slog.New(slog.NewJSONHandler(io.Discard, nil)), s.metrics, nil, usage.Rules{})
	defer s.usage.Close()
	r := httptest.NewRequest("GET", "/api/external/me", nil)
	r.Header.Set("x-api-key", raw)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st := &reqState{requestID: newRequestID(), clientRequestID: clientRequestID(r), start: s.now(), clientAddr: s.clientAddr(r)}
		s.securityHeaders(w.Header(), st.requestID)
		if err := s.authenticate(w, r, st); err != nil {
			b.Fatal(err)
		}
		if err := s.rateLimit(w, r, st); err != nil {
			b.Fatal(err)
		}
		s.metrics.Request("GET /api/external/me", "GET", 200, 0)
		s.usage.Request(st.key.ID, "GET /api/external/me", 200, st.clientAddr)
	}
}

// processCPU is the CPU time (user and system) this process has used: on
// a machine shared with other work, CPU per request is steadier than the
// wall time ns/op reports.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadPaths is the read and list scenarios of the load benchmark
// in-process, on 30 patients and 30 orders: CPU per request (ns/op) and
// allocations, for profiles (-cpuprofile) of the read paths.
func BenchmarkReadPaths(b *testing.B) {
	s, raw, clinic := newTestServer(b, 1_000_000_000)
	post := func(path, body string) string {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("x-api-key", raw)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		var env struct{ Data map[string]any }
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || w.Code != 200 {
			b.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		id, _ := env.Data["id"].(string)
		return id
	}
	pr := post("/api/external/practitioner", fmt.Sprintf(`{"clinic_id":%q,"first_name":"Bench","last_name":"Prescriber","email":"bench@clinic.test","npi":"1234567893"}`, clinic))
	var patients []string
	for i := 0; i < 30; i++ {
		patients = append(patients, post("/api/external/patient", fmt.Sprintf(`{"clinic_id":%q,"first_name":"Read%d","last_name":"Bench","dob":"1980-01-01",`+
			`"email":"read%d@example.test","phone":"+1-555-0100","address":{"line1":"1 Bench St","city":"Austin","state":"TX","zip":"78701"},"medication_allergies":["none"]}`, clinic, i, i)))
	}
	for i := 0; i < 30; i++ {
		post("/api/external/medication-order", fmt.Sprintf(`{"clinic_id":%q,"patient_id":%q,"practitioner_id":%q,"carrier_id":"se-3818360","service_id":"fedex_ground",`+
			`"medication_requests":[{"medication":"Semaglutide","dose":"0.25 mg","quantity":4,"direction":"Inject weekly","refills":2}]}`, clinic, patients[i], pr))
	}
	run := func(b *testing.B, path func(i int) string) {
		b.ReportAllocs()
		b.SetParallelism(16)
		var n atomic.Int64
		cpu0 := processCPU()
		defer func() { b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := httptest.NewRequest("GET", path(int(n.Add(1))), nil)
				r.Header.Set("x-api-key", raw)
				w := httptest.NewRecorder()
				s.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
	b.Run("read-patient", func(b *testing.B) {
		run(b, func(i int) string { return "/api/external/patient/" + patients[i%len(patients)] })
	})
	b.Run("list-patients", func(b *testing.B) { run(b, func(int) string { return "/api/external/patient?limit=25" }) })
	b.Run("list-orders", func(b *testing.B) { run(b, func(int) string { return "/api/external/medication-order?limit=25" }) })
}
