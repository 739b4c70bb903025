package main

import (
	"bufio"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/fakeclock"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

type usageReport struct {
	KeyID  string `json:"key_id"`
	Counts []struct {
		Route       string
		StatusClass string `json:"status_class"`
		Count       int64
	}
	Totals map[string]int64
}

func (u usageReport) count(route, class string) int64 {
	var n int64
	for _, c := range u.Counts {
		if c.Route == route && c.StatusClass == class {
			n += c.Count
		}
	}
	return n
}

func TestUsageCountsMatchTraffic(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off")
	k := ts.newKey("--clinic", demoClinic, "--rate-limit", "15")
	for i := 0; i < 5; i++ {
		expectOK(t, ts.req("GET", "/api/external/me", k.Key, nil))
	}
	for i := 0; i < 3; i++ {
		ts.req("POST", "/api/external/patient", k.Key, map[string]any{"clinic_id": demoClinic})
	}
	for i := 0; i < 2; i++ {
		ts.req("GET", "/api/external/patient/650e8400-e29b-41d4-a716-446655440000", k.Key, nil)
	}
	// 10 used of 15; the usage request is the 11th; then exhaust the limit.
	r := ts.req("GET", "/api/external/me/usage", k.Key, nil)
	expectOK(t, r)
	var u usageReport
	r.data(t, &u)
	for _, c := range []struct {
		route, class string
		want         int64
	}{
		{"GET /api/external/me", "2xx", 5},
		{"POST /api/external/patient", "4xx", 3},
		{"GET /api/external/patient/{id}", "4xx", 2},
	} {
		if got := u.count(c.route, c.class); got != c.want {
			t.Errorf("%s %s = %d, want %d (%+v)", c.route, c.class, got, c.want, u.Counts)
		}
	}
	if u.Totals["2xx"] != 5 || u.Totals["4xx"] != 5 {
		t.Errorf("totals %v, want 2xx 5 and 4xx 5", u.Totals)
	}
	limited := 0
	for i := 0; i < 8; i++ {
		if ts.req("GET", "/api/external/me", k.Key, nil).Status == 429 {
			limited++
		}
	}
	// Across a restart, through the operator command.
	ts.restart()
	var op usageReport
	ts.mustCLI(&op, "keys", "usage", k.ID)
	if got := op.count("GET /api/external/me", "2xx"); got != 5+int64(8-limited) {
		t.Errorf("after restart: GET /me 2xx = %d, want %d", got, 5+8-limited)
	}
	if got := op.count("GET /api/external/me/usage", "2xx"); got != 1 {
		t.Errorf("after restart: usage requests = %d, want 1", got)
	}
	if op.Totals["rate_limited"] != int64(limited) || limited == 0 {
		t.Errorf("rate_limited = %d, want %d (>0)", op.Totals["rate_limited"], limited)
	}
}

type secEvent struct {
	Rule       string
	KeyID      string `json:"key_id"`
	ClientAddr string `json:"client_addr"`
	Detail     map[string]any
}

func securityEventsOf(t *testing.T, ts *testServer) []secEvent {
	t.Helper()
	var out struct{ Events []secEvent }
	ts.mustCLI(&out, "security", "events")
	return out.Events
}

// syncedEvent is the rule's event for the key once the server's usage
// recorder has synced (every event raised so far is stored); it fails t
// when there is none.
func syncedEvent(t *testing.T, ts *testServer, rule, keyID string) secEvent {
	t.Helper()
	ts.syncUsage()
	evs := securityEventsOf(t, ts)
	for _, ev := range evs {
		if ev.Rule == rule && ev.KeyID == keyID {
			return ev
		}
	}
	t.Fatalf("no %s event for key %s; events: %+v", rule, keyID, evs)
	return secEvent{}
}

// countEvents counts the rule's events for the key once the server's
// usage recorder has synced: a count of 0 means the rule did not fire,
// not that it has not fired yet.
func countEvents(t *testing.T, ts *testServer, rule, keyID string) int {
	t.Helper()
	ts.syncUsage()
	n := 0
	for _, ev := range securityEventsOf(t, ts) {
		if ev.Rule == rule && ev.KeyID == keyID {
			n++
		}
	}
	return n
}

func getFrom(t *testing.T, local, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("x-api-key", key)
	resp, err := clientFrom(local).Do(req)
	if err != nil {
		t.Fatalf("request from %s: %v", local, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAnomalyNewNetwork(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off")
	k := ts.newKey("--clinic", demoClinic)
	for i := 0; i < 3; i++ {
		getFrom(t, "127.0.0.1", ts.URL+"/api/external/me", k.Key)
		getFrom(t, "127.0.0.2", ts.URL+"/api/external/me", k.Key) // same /24: normal
	}
	if n := countEvents(t, ts, "new_client_network", k.ID); n != 0 {
		t.Fatalf("%d new-network events for the key's own network", n)
	}
	getFrom(t, "127.0.9.7", ts.URL+"/api/external/me", k.Key)
	ev := syncedEvent(t, ts, "new_client_network", k.ID)
	if ev.Detail["network"] != "127.0.9.0/24" || ev.ClientAddr != "127.0.9.7" {
		t.Errorf("event %+v", ev)
	}
}

func TestAnomalyRateSpike(t *testing.T) {
	t.Parallel()
	// The server's clock moves only when the test moves it: each step of
	// steady traffic is its own window, and the burst is surely in one.
	clock := fakeclock.New(time.Now())
	ts := startServerClock(t, clock.Now, "development", "--sandbox", "off", "--anomaly-window", "1m", "--anomaly-rate-minimum", "20", "--anomaly-rate-factor", "4")
	k := ts.newKey("--clinic", demoClinic, "--rate-limit", "100000")
	// Steady traffic: two requests per window for six windows.
	for i := 0; i < 6; i++ {
		ts.req("GET", "/api/external/me", k.Key, nil)
		ts.req("GET", "/api/external/me", k.Key, nil)
		clock.Add(time.Minute)
	}
	if n := countEvents(t, ts, "rate_above_baseline", k.ID); n != 0 {
		t.Fatalf("steady traffic raised %d rate events", n)
	}
	// A burst: 80 requests from 16 workers, in one window.
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				ts.req("GET", "/api/external/me", k.Key, nil)
			}
		}()
	}
	wg.Wait()
	ev := syncedEvent(t, ts, "rate_above_baseline", k.ID)
	if n, _ := ev.Detail["requests_in_window"].(float64); n < 20 {
		t.Errorf("event %+v", ev)
	}
	if n := countEvents(t, ts, "rate_above_baseline", k.ID); n != 1 {
		t.Errorf("%d rate events for one burst, want 1 per window", n)
	}
}

func TestAnomalyRealPrefixFailures(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off")
	k := ts.newKey("--clinic", demoClinic)
	expectOK(t, ts.req("GET", "/api/external/me", k.Key, nil)) // the real key is in use
	// The same key with its last character changed: a corrupted copy.
	last := "A"
	if strings.HasSuffix(k.Key, "A") {
		last = "B"
	}
	bad := k.Key[:len(k.Key)-1] + last
	ts.addSecret(bad)
	for i := 0; i < 4; i++ {
		expectError(t, ts.req("GET", "/api/external/me", bad, nil), 401, "UNAUTHORIZED", msgUnauthorized)
	}
	if n := countEvents(t, ts, "auth_failures_with_real_prefix", k.ID); n != 0 {
		t.Fatalf("four failures raised %d events", n)
	}
	ts.req("GET", "/api/external/me", bad, nil)
	syncedEvent(t, ts, "auth_failures_with_real_prefix", k.ID)
	// A random unknown key raises nothing for this key.
	if n := countEvents(t, ts, "auth_failures_with_real_prefix", k.ID); n != 1 {
		t.Errorf("%d events, want exactly 1 per window", n)
	}
}

func TestAnomalyRolledAndRevokedKeys(t *testing.T) {
	t.Parallel()
	// A short key cache: the revoked key below is refused as soon as its
	// cached copy expires.
	ts := startServer(t, "development", "--sandbox", "off", "--anomaly-window", "200ms", "--key-cache-ttl", "50ms")
	old := ts.newKey("--clinic", demoClinic, "--rate-limit", "100000") // polled below
	var rolled struct{ ID, Key string }
	ts.mustCLI(&rolled, "keys", "roll", old.ID, "--grace", "1h")
	ts.addSecret(rolled.Key)
	expectOK(t, ts.req("GET", "/api/external/me", old.Key, nil)) // successor unused: normal migration
	if n := countEvents(t, ts, "rolled_key_used_after_successor", old.ID); n != 0 {
		t.Fatalf("old key use before the successor raised %d events", n)
	}
	expectOK(t, ts.req("GET", "/api/external/me", rolled.Key, nil))
	// The rule looks at the successor once per window: the old key's next
	// uses are noticed from the next window on.
	wait.Until(t, 5*time.Second, func() bool {
		expectOK(t, ts.req("GET", "/api/external/me", old.Key, nil))
		return countEvents(t, ts, "rolled_key_used_after_successor", old.ID) > 0
	}, "the old key used after its successor raised no event")
	ev := syncedEvent(t, ts, "rolled_key_used_after_successor", old.ID)
	if ev.Detail["successor_key_id"] != rolled.ID {
		t.Errorf("event %+v", ev)
	}

	rv := ts.newKey("--clinic", demoClinic, "--rate-limit", "100000") // polled below
	expectOK(t, ts.req("GET", "/api/external/me", rv.Key, nil))
	ts.mustCLI(nil, "keys", "revoke", rv.ID)
	wait.Until(t, 5*time.Second, func() bool {
		r := ts.req("GET", "/api/external/me", rv.Key, nil)
		if r.Status != 200 {
			expectError(t, r, 401, "UNAUTHORIZED", msgUnauthorized)
		}
		return r.Status == 401
	}, "the revoked key is still accepted")
	syncedEvent(t, ts, "revoked_key_used", rv.ID)
	// Events are in the audit trail too, which still verifies.
	_, recs := auditExportOf(t, ts)
	found := false
	for _, rec := range recs {
		if rec.Action == "security.revoked_key_used" && rec.KeyID == rv.ID {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit record for the revoked-key event")
	}
	if err := ts.cli(nil, "audit", "verify"); err != nil {
		t.Errorf("audit verify: %v", err)
	}
}

var metricsLine = regexp.MustCompile(`metrics on (http://[0-9.:]+/metrics)`)

func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		fmt.Sscan(line[i+1:], &v)
		out[line[:i]] = v
	}
	return out
}

func TestMetricsAfterKnownTraffic(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off", "--metrics-addr", "127.0.0.1:0")
	m := metricsLine.FindStringSubmatch(ts.stdout.String())
	if m == nil {
		t.Fatalf("no metrics address printed: %s", ts.stdout.String())
	}
	k := ts.newKey("--clinic", demoClinic, "--rate-limit", "6")
	for i := 0; i < 4; i++ {
		expectOK(t, ts.req("GET", "/api/external/me", k.Key, nil))
	}
	body := map[string]any{"clinic_id": demoClinic, "first_name": "Mira", "last_name": "Metrics", "dob": "1975-01-01"}
	expectOK(t, ts.req("POST", "/api/external/patient", k.Key, body, "Idempotency-Key", "m1"))
	expectOK(t, ts.req("POST", "/api/external/patient", k.Key, body, "Idempotency-Key", "m1")) // replay
	for i := 0; i < 3; i++ {
		ts.req("GET", "/api/external/me", k.Key, nil) // 429s
	}
	ts.req("GET", "/api/external/me", "dev_nonsense", nil)
	got := scrape(t, m[1])
	want := map[string]float64{
		`novamed_http_requests_total{code="200",method="GET",route="GET /api/external/me"}`:        4,
		`novamed_http_requests_total{code="200",method="POST",route="POST /api/external/patient"}`: 2,
		`novamed_http_requests_total{code="429",method="GET",route="GET /api/external/me"}`:        3,
		`novamed_auth_outcomes_total{outcome="malformed"}`:                                         1,
		`novamed_rate_limited_requests_total`:                                                      3,
		`novamed_idempotent_replays_total`:                                                         1,
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	v, c, ct := buildVersion()
	if series := fmt.Sprintf(`novamed_build_info{commit=%q,commit_time=%q,version=%q}`, c, ct, v); got[series] != 1 {
		t.Errorf("%s = %v, want 1", series, got[series])
	}
	if got["novamed_db_group_commit_batch_size_count"] < 1 || got["novamed_db_commit_duration_seconds_count"] < 1 {
		t.Errorf("commit metrics not observed: %v %v", got["novamed_db_group_commit_batch_size_count"], got["novamed_db_commit_duration_seconds_count"])
	}
	// No label value holds a key, an id or a PHI value.
	ts.mu.Lock()
	secrets := append([]string{k.ID, demoClinic}, ts.secrets...)
	ts.mu.Unlock()
	for series := range got {
		for _, s := range secrets {
			if strings.Contains(series, s) {
				t.Errorf("metric %s contains %q", series, s)
			}
		}
	}
	if err := run(t.Context(), []string{"serve", "--metrics-addr", "0.0.0.0:9999", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"},
		func(string) string { return "" }, &syncBuffer{}, &syncBuffer{}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a public metrics address was accepted: %v", err)
	}
}
