package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/contract"
	"github.com/novamed/partner-api/internal/server"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// syncBuffer is an io.Writer safe for the server goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a real server started through run() on 127.0.0.1:0 with a
// fresh data folder. Its cleanup stops it and checks that its logs hold no
// key and none of the PHI values the test sent.
type testServer struct {
	t       testing.TB
	URL     string
	Key     string // the development key printed at first start ("" in production)
	DataDir string
	Env     string
	vars    map[string]string
	logs    *syncBuffer
	stdout  *syncBuffer
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	secrets []string // keys and PHI values that must never be logged
	// resolver answers the server's webhook host lookups: no test host
	// (the pages' your-domain.com included) ever reaches real DNS.
	resolver *hostResolver
	partner  string // prodPartner's id, once created
	// now, when set, is the clock the server runs on (a fakeclock.Clock's Now).
	now func() time.Time
	srv *server.Server // the server serve built, under mu
}

var listenLine = regexp.MustCompile(`listening on (https?://[0-9.:\[\]]+)`)

func testMasterKey() string { return "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }

// testCheckpointKeyFile is a fresh audit checkpoint key outside the data
// folder, as production needs one.
func testCheckpointKeyFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "checkpoint.key")
	if _, err := audit.WriteCheckpointKey(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServer starts `novamed serve` in-process. extra are more serve flags.
func startServer(t testing.TB, env string, extra ...string) *testServer {
	t.Helper()
	return startServerClock(t, nil, env, extra...)
}

// startServerClock is startServer with the server on the clock now (nil:
// the real one).
func startServerClock(t testing.TB, now func() time.Time, env string, extra ...string) *testServer {
	t.Helper()
	ts := &testServer{t: t, DataDir: t.TempDir(), Env: env, logs: &syncBuffer{}, stdout: &syncBuffer{},
		vars: map[string]string{}, done: make(chan error, 1), resolver: newHostResolver(), now: now}
	if env == "production" {
		ts.vars["NOVAMED_MASTER_KEY"] = testMasterKey()
		ts.vars["NOVAMED_CHECKPOINT_KEY_FILE"] = testCheckpointKeyFile(t)
	}
	if onPostgres() {
		// The whole suite runs a second time on PostgreSQL (scripts/test):
		// every server gets a fresh database of its own.
		if tt, ok := t.(*testing.T); ok {
			ts.vars["NOVAMED_DB"] = freshPostgres(tt)
		}
	}
	ts.start(extra...)
	t.Cleanup(func() { ts.stop(); ts.checkLogs() })
	return ts
}

func (ts *testServer) getenv(name string) string { return ts.vars[name] }

// onPostgres reports whether this run of the suite targets PostgreSQL.
func onPostgres() bool { return os.Getenv("NOVAMED_TEST_BACKEND") == "postgres" }

// sqliteOnly skips, in the PostgreSQL pass, a test that inspects or edits
// the SQLite files directly or starts its own processes with fixed backends:
// it runs in the first (SQLite) pass of the suite.
func sqliteOnly(t *testing.T) {
	t.Helper()
	if onPostgres() {
		t.Skip("not backend-parameterised; runs in the SQLite pass of the suite")
	}
}

func (ts *testServer) start(extra ...string) {
	ts.t.Helper()
	ctx := withWebhookResolver(context.Background(), ts.resolver)
	ctx = withServed(ctx, func(srv *server.Server) {
		ts.mu.Lock()
		ts.srv = srv
		ts.mu.Unlock()
	})
	if ts.now != nil {
		ctx = withServeClock(ctx, ts.now)
	}
	ctx, cancel := context.WithCancel(ctx)
	ts.cancel = cancel
	ts.done = make(chan error, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", ts.DataDir, "--env", ts.Env}, extra...)
	before := len(ts.stdout.String())
	go func() { ts.done <- run(ctx, args, ts.getenv, ts.stdout, ts.logs) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out := ts.stdout.String()[before:]
		if m := listenLine.FindStringSubmatch(out); m != nil {
			ts.URL = m[1]
			if k := regexp.MustCompile(`Development key:\s+(\S+)`).FindStringSubmatch(out); k != nil {
				ts.Key = k[1]
				ts.addSecret(k[1])
			}
			ts.waitHealthy()
			return
		}
		select {
		case err := <-ts.done:
			ts.t.Fatalf("server exited at start: %v\nlogs:\n%s", err, ts.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	ts.t.Fatalf("server did not start; stdout:\n%s\nlogs:\n%s", ts.stdout.String(), ts.logs.String())
}

func (ts *testServer) waitHealthy() {
	ts.t.Helper()
	wait.Until(ts.t, 2*time.Second, func() bool {
		resp, err := http.Get(ts.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "/healthz never answered 200")
}

// startLog is the server's log once the lines of its start are all
// written: the log writer batches info lines (100 ms), in order, so once
// the "listening" line, the last of the start, is there, so is every
// earlier one.
func (ts *testServer) startLog() string {
	ts.t.Helper()
	wait.Until(ts.t, 5*time.Second, func() bool { return strings.Contains(ts.logs.String(), `"msg":"listening"`) }, "no listening line in the log")
	return ts.logs.String()
}

// syncUsage brings the store up to date with the usage recorder of the
// running server (usage.Recorder.Sync): the security events raised so far
// are stored, the rules' lookups done, the counters flushed.
func (ts *testServer) syncUsage() {
	ts.t.Helper()
	ts.mu.Lock()
	srv := ts.srv
	ts.mu.Unlock()
	if srv == nil {
		ts.t.Fatal("syncUsage: no running server")
	}
	if err := srv.Usage.Sync(context.Background()); err != nil {
		ts.t.Fatalf("usage sync: %v", err)
	}
}

func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	select {
	case err := <-ts.done:
		if err != nil {
			ts.t.Errorf("server stopped with error: %v", err)
		}
	case <-time.After(20 * time.Second):
		ts.t.Errorf("server did not shut down")
	}
	ts.cancel = nil
	ts.mu.Lock()
	ts.srv = nil
	ts.mu.Unlock()
}

func (ts *testServer) restart() { ts.stop(); ts.start() }

func (ts *testServer) addSecret(s ...string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.secrets = append(ts.secrets, s...)
}

// checkLogs proves that no key and no PHI value sent by the test reached the log.
func (ts *testServer) checkLogs() {
	logs := ts.logs.String()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, s := range ts.secrets {
		if strings.Contains(logs, s) {
			ts.t.Errorf("server log contains a secret or PHI value %q", s)
		}
	}
}

// cli runs an operator command against this server's data folder and
// decodes its --json output into out (when non-nil).
func (ts *testServer) cli(out any, args ...string) error {
	ts.t.Helper()
	var stdout, stderr bytes.Buffer
	args = append(args, "--data-dir", ts.DataDir, "--json")
	if db := ts.vars["NOVAMED_DB"]; db != "" && !slices.Contains(args, "--db") {
		args = append(args, "--db", db)
	}
	if !slices.Contains(args, "--env") {
		args = append(args, "--env", ts.Env)
	}
	err := run(context.Background(), args, ts.getenv, &stdout, &stderr)
	if err == nil && out != nil {
		if jerr := json.Unmarshal(stdout.Bytes(), out); jerr != nil {
			ts.t.Fatalf("cli %v: output is not one JSON object: %v\n%s", args, jerr, stdout.String())
		}
	}
	return err
}

func (ts *testServer) mustCLI(out any, args ...string) {
	ts.t.Helper()
	if err := ts.cli(out, args...); err != nil {
		ts.t.Fatalf("cli %v: %v", args, err)
	}
}

// newClinic creates a clinic through the CLI: on a development server
// under the default development partner, on a production server under
// the server's approved partner with a BAA (prodPartner), so production
// keys may be issued for it.
func (ts *testServer) newClinic(name string) string {
	ts.t.Helper()
	var c struct{ ID string }
	args := []string{"clinics", "create", "--name", name}
	if ts.Env == "production" {
		args = append(args, "--partner", ts.prodPartner())
	}
	ts.mustCLI(&c, args...)
	return c.ID
}

// newPartner creates a partner through the CLI and approves it; withBAA
// also records a signed BAA (without expiry), as a production key needs.
func (ts *testServer) newPartner(name string, withBAA bool) string {
	ts.t.Helper()
	var p struct{ ID string }
	ts.mustCLI(&p, "partners", "create", "--name", name, "--contact", "Test Ops <ops@partner.test>")
	ts.mustCLI(nil, "partners", "approve", p.ID)
	if withBAA {
		ts.mustCLI(nil, "partners", "baa", p.ID, "--signed-on", "2025-01-15", "--signer", "Test Signer", "--document", "sha256:test-baa")
	}
	return p.ID
}

// prodPartner is the test helper for production: an approved partner
// with a BAA on record, created on first use, that this server's clinics
// belong to.
func (ts *testServer) prodPartner() string {
	ts.t.Helper()
	ts.mu.Lock()
	id := ts.partner
	ts.mu.Unlock()
	if id != "" {
		return id
	}
	id = ts.newPartner("Production Test Partner", true)
	ts.mu.Lock()
	ts.partner = id
	ts.mu.Unlock()
	return id
}

type issuedKey struct {
	ID          string   `json:"id"`
	Key         string   `json:"key"`
	Environment string   `json:"environment"`
	Clinics     []string `json:"clinics"`
	ExpiresAt   *string  `json:"expires_at"`
}

// newKey issues a key through the CLI.
func (ts *testServer) newKey(args ...string) issuedKey {
	ts.t.Helper()
	var k issuedKey
	ts.mustCLI(&k, append([]string{"keys", "create"}, args...)...)
	ts.addSecret(k.Key)
	return k
}

// envelope is the contract's response envelope.
type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
	Error   struct {
		Message string `json:"message"`
		Code    string `json:"code"`
		Details struct {
			Fields []struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"fields"`
		} `json:"details"`
		RequestID  string `json:"request_id"`
		RetryAfter *int   `json:"retry_after"`
	} `json:"error"`
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
	Env    envelope
}

func (r *response) data(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Env.Data, v); err != nil {
		t.Fatalf("decode data: %v\n%s", err, r.Body)
	}
}

// req sends a request with the guide's three headers (JSON in, JSON out)
// plus header pairs in hdr; body may be a string, []byte or any JSON value.
func (ts *testServer) req(method, path, key string, body any, hdr ...string) *response {
	ts.t.Helper()
	var rd io.Reader
	var sent []byte // the body as sent, for the contract checks
	switch b := body.(type) {
	case nil:
	case string:
		rd, sent = strings.NewReader(b), []byte(b)
	case []byte:
		rd, sent = bytes.NewReader(b), b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		ts.collectPHI(b)
		rd, sent = bytes.NewReader(raw), raw
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	reqChecked, reqErr := contractRequest(req, sent, rd != nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out := &response{Status: resp.StatusCode, Header: resp.Header}
	out.Body, _ = io.ReadAll(resp.Body)
	if err := json.Unmarshal(out.Body, &out.Env); err != nil {
		ts.t.Fatalf("%s %s: response is not JSON (%d): %q", method, path, resp.StatusCode, out.Body)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		ts.t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	if err := contractResponse(req, reqChecked, reqErr, out); err != nil {
		ts.t.Errorf("%v", err)
	}
	return out
}

var uuidLike = regexp.MustCompile(`^[0-9a-fA-F-]{36}$`)

// collectPHI remembers the distinctive string values of a request body, which
// must never appear in the log.
func (ts *testServer) collectPHI(v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			ts.collectPHI(e)
		}
	case []any:
		for _, e := range x {
			ts.collectPHI(e)
		}
	case string:
		if len(x) >= 6 && !uuidLike.MatchString(x) {
			ts.addSecret(x)
		}
	}
}

// expectError asserts a 4xx/5xx envelope with status, code and (if given) message.
func expectError(t testing.TB, r *response, status int, code, message string) {
	t.Helper()
	if r.Status != status || r.Env.Success || r.Env.Error.Code != code || (message != "" && r.Env.Error.Message != message) {
		t.Fatalf("got %d %s %q, want %d %s %q\nbody: %s", r.Status, r.Env.Error.Code, r.Env.Error.Message, status, code, message, r.Body)
	}
	if r.Env.Error.RequestID == "" || r.Env.Error.RequestID != r.Header.Get("X-Request-Id") {
		t.Errorf("error request_id %q does not match X-Request-Id %q", r.Env.Error.RequestID, r.Header.Get("X-Request-Id"))
	}
}

func expectOK(t testing.TB, r *response) {
	t.Helper()
	if r.Status != 200 || !r.Env.Success {
		t.Fatalf("got %d, want 200 success\nbody: %s", r.Status, r.Body)
	}
}

// noIgnoredFields fails when the answer names fields of the request body
// that the API did not read: the published pages' spellings are all read.
func noIgnoredFields(t testing.TB, r *response) {
	t.Helper()
	if v := r.Header.Get("NovaMed-Ignored-Fields"); v != "" {
		t.Errorf("the API ignored fields of a published body: %s", v)
	}
}

func hasField(r *response, field string) bool {
	for _, f := range r.Env.Error.Details.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

func TestMain(m *testing.M) {
	// Tests speak only to 127.0.0.1; make sure no proxy setting redirects them.
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		os.Unsetenv(v)
	}
	code := m.Run()
	removeBuiltBinary()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "e2e tests failed")
	}
	os.Exit(code)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// contractRequest applies the request half of the contract rule (see
// contract.CheckRequest): checked reports whether the document could judge
// the request, and err what it found wrong with it.
func contractRequest(req *http.Request, body []byte, hasBody bool) (checked bool, err error) {
	return contract.CheckRequest(req, body, hasBody)
}

// contractResponse applies the response half (see contract.CheckExchange):
// every response must match the document, and a request the document
// refuses must have been refused by the server too.
func contractResponse(req *http.Request, reqChecked bool, reqErr error, r *response) error {
	return contract.CheckExchange(req, reqChecked, reqErr, r.Status, r.Header, r.Body)
}

// createdIDs lists the ids a GET of a list path answers (one page of up to
// 100), leaving out the development data every fresh development server
// starts with (server.SeedDevelopmentData), so tests see what they created.
func (ts *testServer) createdIDs(t testing.TB, path, key string) []string {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	r := ts.req("GET", path+sep+"limit=100", key, nil)
	if r.Status != 200 {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	var page struct {
		Items []struct {
			ID string `json:"id"`
		}
	}
	r.data(t, &page)
	ids := []string{}
	for _, it := range page.Items {
		if it.ID != devPatientID && it.ID != devPractitionerID {
			ids = append(ids, it.ID)
		}
	}
	return ids
}
