package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/ratelimit"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// faultyStore is a real store whose patient reads, audit writes and
// readiness probe can be made to fail with a chosen error.
type faultyStore struct {
	*sqlstore.Store
	mu                          sync.Mutex
	readErr, auditErr, probeErr error
}

func (f *faultyStore) errs() (read, aud, probe error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readErr, f.auditErr, f.probeErr
}

func (f *faultyStore) set(read, aud, probe error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readErr, f.auditErr, f.probeErr = read, aud, probe
}

func (f *faultyStore) ListPatients(ctx context.Context, lf novamed.ListFilter) ([]*novamed.Patient, string, error) {
	if err, _, _ := f.errs(); err != nil {
		return nil, "", err
	}
	return f.Store.ListPatients(ctx, lf)
}

func (f *faultyStore) AppendAudit(ctx context.Context, recs []*novamed.AuditRecord) error {
	if _, err, _ := f.errs(); err != nil {
		return err
	}
	return f.Store.AppendAudit(ctx, recs)
}

func (f *faultyStore) AppendAuditIncremental(ctx context.Context, recs []*novamed.AuditRecord) error {
	if _, err, _ := f.errs(); err != nil {
		return err
	}
	return f.Store.AppendAuditIncremental(ctx, recs)
}

func (f *faultyStore) CheckWritable(ctx context.Context) error {
	if _, _, err := f.errs(); err != nil {
		return err
	}
	return f.Store.CheckWritable(ctx)
}

// syncLog is a log destination tests read while the server writes.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *syncLog) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// newFaultyServer is newTestServer's store behind a faultyStore, with the
// given optional readiness checks and clock (time.Now when nil).
func newFaultyServer(t *testing.T, checks map[string]func(context.Context) error, now func() time.Time) (*Server, *faultyStore, string, string, *syncLog) {
	t.Helper()
	base, raw, clinic := newTestServer(t, 1_000_000)
	fs := &faultyStore{Store: base.store.(*sqlstore.Store)}
	logs := &syncLog{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	aw := audit.NewWriter(fs, log)
	s := New(Config{Env: novamed.Development, Store: fs, Audit: aw, Limiter: ratelimit.NewMemory(nil), Logger: log, ReadyChecks: checks, Now: now})
	t.Cleanup(func() { s.Close(); aw.Close() })
	return s, fs, raw, clinic, logs
}

func get(s *Server, path, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

// TestStorageFaultsAre503: every kind of outage the drivers report is a 503
// with a stable code, a fixed message and Retry-After; anything else stays
// a 500.
func TestStorageFaultsAre503(t *testing.T) {
	t.Parallel()
	s, fs, key, clinic, _ := newFaultyServer(t, nil, nil)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.OpError{Op: "connect", Err: syscall.ECONNREFUSED}}
	cases := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
	}{
		{"connection refused", fmt.Errorf("sqlstore: list: %w", refused), 503, novamed.CodeStorageUnavailable, novamed.MsgStorageUnavailable},
		{"admin shutdown", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, 503, novamed.CodeStorageUnavailable, novamed.MsgStorageUnavailable},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, 503, novamed.CodeStorageUnavailable, novamed.MsgStorageUnavailable},
		{"connection failure", &pgconn.PgError{Code: "08006"}, 503, novamed.CodeStorageUnavailable, novamed.MsgStorageUnavailable},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, 503, novamed.CodeStorageUnavailable, novamed.MsgStorageUnavailable},
		{"deadline", fmt.Errorf("sqlstore: %w", context.DeadlineExceeded), 503, novamed.CodeStorageUnavailable, novamed.MsgStorageUnavailable},
		{"disk full (postgres)", &pgconn.PgError{Code: "53100", Message: "could not extend file"}, 503, novamed.CodeStorageFull, novamed.MsgStorageFull},
		{"disk full (ENOSPC)", fmt.Errorf("write: %w", syscall.ENOSPC), 503, novamed.CodeStorageFull, novamed.MsgStorageFull},
		{"a bug", errors.New("sqlstore: scan: unexpected NULL"), 500, novamed.CodeInternal, novamed.MsgInternal},
		{"a constraint", &pgconn.PgError{Code: "23502", Message: "null value"}, 500, novamed.CodeInternal, novamed.MsgInternal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs.set(c.err, nil, nil)
			w := get(s, "/api/external/patient?clinic_id="+clinic, key)
			var env struct {
				Error struct {
					Code, Message string
					RetryAfter    *int `json:"retry_after"`
				}
			}
			json.Unmarshal(w.Body.Bytes(), &env) //nolint:errcheck // fields checked
			if w.Code != c.status || env.Error.Code != c.code || env.Error.Message != c.message {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, c.status, c.code)
			}
			ra := w.Header().Get("Retry-After")
			if c.status == 503 && (ra == "" || env.Error.RetryAfter == nil || ra != fmt.Sprint(*env.Error.RetryAfter)) {
				t.Errorf("503 without a matching Retry-After: header %q body %s", ra, w.Body)
			}
			if c.status == 500 && ra != "" {
				t.Errorf("500 with Retry-After %q", ra)
			}
			if strings.Contains(w.Body.String(), "57P01") || strings.Contains(w.Body.String(), "refused") {
				t.Errorf("the cause leaked into the answer: %s", w.Body)
			}
		})
	}
}

// TestPHIReadRefusedWhenAuditFails: a patient read whose audit record
// cannot be written is not answered (no unaudited PHI access), with the
// storage 503.
func TestPHIReadRefusedWhenAuditFails(t *testing.T) {
	t.Parallel()
	s, fs, key, clinic, _ := newFaultyServer(t, nil, nil)
	body := fmt.Sprintf(`{"clinic_id":%q,"first_name":"Audra","last_name":"Unaudited","dob":"1970-01-01"}`, clinic)
	req := httptest.NewRequest("POST", "/api/external/patient", strings.NewReader(body))
	req.Header.Set("x-api-key", key)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	fs.set(nil, &pgconn.PgError{Code: "57P01"}, nil)
	for _, path := range []string{"/api/external/patient?clinic_id=" + clinic, "/api/external/patient/" + uuid.NewString()} {
		w := get(s, path, key)
		if w.Code != 503 || !strings.Contains(w.Body.String(), novamed.CodeStorageUnavailable) || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s with the audit trail down: %d %s (Retry-After %q), want 503 STORAGE_UNAVAILABLE", path, w.Code, w.Body, w.Header().Get("Retry-After"))
		}
		if strings.Contains(w.Body.String(), "Audra") || strings.Contains(w.Body.String(), "Unaudited") {
			t.Errorf("PHI answered without its audit record: %s", w.Body)
		}
	}
	fs.set(nil, nil, nil)
	if w := get(s, "/api/external/patient?clinic_id="+clinic, key); w.Code != 200 || !strings.Contains(w.Body.String(), "Audra") {
		t.Errorf("after the audit trail is back: %d %s", w.Code, w.Body)
	}
}

// TestReadyzFollowsTheStore: /readyz is 503 while the store cannot commit
// a write, 200 again once it can (no restart), logs each transition once,
// and a failing optional dependency (Redis) is "degraded", not unready.
func TestReadyzFollowsTheStore(t *testing.T) {
	t.Parallel()
	var redisErr error
	var mu sync.Mutex
	checks := map[string]func(context.Context) error{"redis": func(context.Context) error { mu.Lock(); defer mu.Unlock(); return redisErr }}
	// The database probe is cached for readyProbeTTL: the test's clock
	// steps past it instead of waiting for it.
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	s, fs, _, _, logs := newFaultyServer(t, checks, now)
	readyz := func() (int, string) { w := get(s, "/readyz", ""); return w.Code, w.Body.String() }
	// waitReady lets the cached probe expire and expects want and a body
	// containing sub from the next probe.
	waitReady := func(want int, sub string) string {
		t.Helper()
		skew.Add(int64(readyProbeTTL))
		st, b := readyz()
		if st != want || !strings.Contains(b, sub) {
			t.Fatalf("/readyz answered %d (%s), want %d with %s", st, b, want, sub)
		}
		return b
	}
	waitReady(200, `"database":"ok"`)
	if _, b := readyz(); !strings.Contains(b, `"redis":"ok"`) {
		t.Fatalf("ready body: %s", b)
	}
	mu.Lock()
	redisErr = errors.New("redis: connection refused")
	mu.Unlock()
	if st, b := readyz(); st != 200 || !strings.Contains(b, `"redis":"degraded"`) {
		t.Errorf("with Redis down: %d %s, want 200 and redis degraded", st, b)
	}
	fs.set(nil, nil, fmt.Errorf("probe: %w", syscall.ENOSPC))
	waitReady(503, "Not ready: database out of space.")
	fs.set(nil, nil, &pgconn.PgError{Code: "57P03"})
	waitReady(503, "Not ready: database unavailable.")
	fs.set(nil, nil, nil)
	waitReady(200, `"database":"ok"`)
	logged := logs.String()
	if n := strings.Count(logged, "readiness changed: not ready"); n != 1 {
		t.Errorf("%d 'not ready' transition lines, want 1:\n%s", n, logged)
	}
	if n := strings.Count(logged, "readiness changed: ready"); n != 2 { // at first probe, and on recovery
		t.Errorf("%d 'ready' transition lines, want 2:\n%s", n, logged)
	}
}
