package sdktest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/client"
)

// proxy is a loopback reverse proxy in front of the real server that fails
// attempts as its script says and forwards the rest. It records every
// request it receives.
type proxy struct {
	*httptest.Server
	mu       sync.Mutex
	requests []seen
}

type seen struct {
	method, path, idempotencyKey string
}

// fault handles attempt n (from 1) of a request instead of forwarding it,
// or returns false to let it through. forward sends a request to the server.
type fault func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) bool

func newProxy(t *testing.T, target string, f fault) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &proxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, seen{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key")})
		n := len(p.requests)
		p.mu.Unlock()
		if f == nil || !f(n, w, r, rp) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) seen() []seen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func apiError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(`{"success":false,"error":{"message":"` + message + `","code":"` + code + `","request_id":"req_proxy"}}`)) //nolint:errcheck
}

// freshClient talks to url over its own connections (so the transport never
// replays a request on a reused connection by itself).
func freshClient(key, url string, opts ...client.Option) *client.Client {
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	return client.New(key, append([]client.Option{client.WithBaseURL(url), client.WithHTTPClient(hc),
		client.WithBackoff(10*time.Millisecond, 100*time.Millisecond)}, opts...)...)
}

// TestRetriesCreateExactlyOnce: whatever fails on the way, a create
// succeeds, sends the same Idempotency-Key on every attempt and leaves
// exactly one order.
func TestRetriesCreateExactlyOnce(t *testing.T) {
	cases := []struct {
		name       string
		fault      fault
		attempts   int
		replayed   bool          // the answer came from the idempotency record
		atLeast    time.Duration // the client waited this long
		wantOnWire int
	}{
		{name: "connection closed before forwarding", attempts: 2, wantOnWire: 2,
			fault: func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if n == 1 {
					hangUp(w)
				}
				return n == 1
			}},
		{name: "connection closed after the server committed", attempts: 2, replayed: true, wantOnWire: 2,
			fault: func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) bool {
				if n != 1 {
					return false
				}
				rec := httptest.NewRecorder()
				forward.ServeHTTP(rec, r) // the order is created …
				if rec.Code != http.StatusOK {
					panic("forwarded create failed: " + rec.Body.String())
				}
				hangUp(w) // … but its answer is lost
				return true
			}},
		{name: "503 first", attempts: 2, wantOnWire: 2,
			fault: func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if n == 1 {
					apiError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "down for a moment")
				}
				return n == 1
			}},
		{name: "429 with Retry-After 1", attempts: 2, atLeast: time.Second, wantOnWire: 2,
			fault: func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					apiError(w, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "slow down")
				}
				return n == 1
			}},
		{name: "503 STORAGE_UNAVAILABLE with Retry-After 1, twice", attempts: 3, atLeast: 2 * time.Second, wantOnWire: 3,
			fault: func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if n <= 2 {
					w.Header().Set("Retry-After", "1")
					apiError(w, http.StatusServiceUnavailable, "STORAGE_UNAVAILABLE", "The service cannot reach its database right now.")
				}
				return n <= 2
			}},
		{name: "409 key in use, twice", attempts: 3, wantOnWire: 3,
			fault: func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if n <= 2 {
					apiError(w, http.StatusConflict, "IDEMPOTENCY_KEY_IN_USE", "still processing")
				}
				return n <= 2
			}},
	}
	env := startEnv(t)
	ctx := context.Background()
	direct := env.client()
	pr, err := direct.Practitioners.Create(ctx, newPractitioner(env.ClinicID))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pa, err := direct.Patients.Create(ctx, newPatient(env.ClinicID, "Retry "+tc.name))
			if err != nil {
				t.Fatal(err)
			}
			px := newProxy(t, env.URL, tc.fault)
			c := freshClient(env.Key, px.URL)
			var info client.ResponseInfo
			start := time.Now()
			o, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{ClinicID: env.ClinicID, PatientID: pa.ID,
				PractitionerID: pr.ID, CarrierID: "se-3818360", ServiceID: "fedex_ground", MedicationRequests: semaglutide()},
				client.WithResponseInfo(&info))
			if err != nil {
				t.Fatalf("create through the proxy: %v", err)
			}
			if elapsed := time.Since(start); elapsed < tc.atLeast {
				t.Errorf("retried after %v, want at least %v", elapsed, tc.atLeast)
			}
			if info.Attempts != tc.attempts || info.Replayed != tc.replayed || info.StatusCode != 200 {
				t.Errorf("response info = %+v", info)
			}
			wire := px.seen()
			if len(wire) != tc.wantOnWire {
				t.Fatalf("proxy saw %d requests, want %d: %+v", len(wire), tc.wantOnWire, wire)
			}
			for _, s := range wire {
				if s.method != http.MethodPost || s.idempotencyKey == "" || s.idempotencyKey != info.IdempotencyKey {
					t.Fatalf("attempts %+v: the Idempotency-Key changed (final %q)", wire, info.IdempotencyKey)
				}
			}
			orders, err := client.Collect(direct.MedicationOrders.List(ctx, client.MedicationOrderListParams{PatientID: pa.ID}))
			if err != nil {
				t.Fatal(err)
			}
			if len(orders) != 1 || orders[0].ID != o.ID {
				t.Fatalf("%d orders for the patient, want exactly the one created (%s)", len(orders), o.ID)
			}
		})
	}
	// Every order was created once: the total matches the cases.
	all, err := client.Collect(direct.MedicationOrders.List(ctx, client.MedicationOrderListParams{}))
	if err != nil || len(all) != len(cases) {
		t.Fatalf("%d orders in all, want %d (%v)", len(all), len(cases), err)
	}
}

// TestNoRetryOn4xx: a 400 or 404 answer is final after one attempt; a GET
// carries no Idempotency-Key and a POST a fresh one per call.
func TestNoRetryOn4xx(t *testing.T) {
	env := startEnv(t)
	ctx := context.Background()
	px := newProxy(t, env.URL, nil)
	c := freshClient(env.Key, px.URL)

	_, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{ClinicID: env.ClinicID})
	if !client.IsValidation(err) {
		t.Fatalf("invalid order: %v", err)
	}
	if n := len(px.seen()); n != 1 {
		t.Fatalf("400: %d attempts, want 1", n)
	}
	_, err = c.Patients.Get(ctx, "01a21b03-f6cf-7439-b6ba-6947ed91b2f7")
	if !client.IsNotFound(err) {
		t.Fatalf("unknown patient: %v", err)
	}
	bad := freshClient("dev_wrong", px.URL)
	if _, err := bad.Me(ctx); !client.IsUnauthorized(err) {
		t.Fatalf("bad key: %v", err)
	}
	if _, err := c.Patients.Create(ctx, newPatient(env.ClinicID, "Once")); err != nil {
		t.Fatal(err)
	}
	wire := px.seen()
	if len(wire) != 4 {
		t.Fatalf("%d requests, want 4: %+v", len(wire), wire)
	}
	if wire[1].idempotencyKey != "" || wire[2].idempotencyKey != "" || wire[0].idempotencyKey == wire[3].idempotencyKey {
		t.Fatalf("idempotency keys %+v", wire)
	}
}

// TestRetryLimitsAndCancellation: retries stop after WithMaxRetries, GETs
// are retried too, and cancelling the context ends a backoff at once.
func TestRetryLimitsAndCancellation(t *testing.T) {
	env := startEnv(t)
	ctx := context.Background()
	down := func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		w.WriteHeader(http.StatusBadGateway)        // not the API's envelope: a proxy's page
		w.Write([]byte("<html>bad gateway</html>")) //nolint:errcheck
		return true
	}

	px := newProxy(t, env.URL, down)
	var info client.ResponseInfo
	_, err := freshClient(env.Key, px.URL).Me(ctx, client.WithResponseInfo(&info))
	var e *client.APIError
	if !errors.As(err, &e) || e.StatusCode != 502 || e.Code != "" || e.Message != "<html>bad gateway</html>" || info.Attempts != 4 {
		t.Fatalf("%v (%+v), info %+v", err, e, info)
	}
	if n := len(px.seen()); n != 4 {
		t.Fatalf("%d attempts with the default 3 retries, want 4", n)
	}

	px = newProxy(t, env.URL, down)
	_, err = freshClient(env.Key, px.URL, client.WithMaxRetries(1)).Patients.Create(ctx, newPatient(env.ClinicID, "Never"))
	if n := len(px.seen()); n != 2 || err == nil {
		t.Fatalf("%d attempts with 1 retry, want 2 (%v)", n, err)
	}

	// A long backoff is cut short by cancellation.
	px = newProxy(t, env.URL, down)
	slow := client.New(env.Key, client.WithBaseURL(px.URL), client.WithBackoff(time.Minute, time.Minute))
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = slow.Patients.Create(cctx, newPatient(env.ClinicID, "Cancelled"))
	if !errors.Is(err, context.Canceled) || !errors.As(err, &e) || time.Since(start) > 5*time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}

	// A stalled attempt times out (WithTimeout) and is retried. The first
	// attempt answers only when the client gives up on it; a loaded machine
	// may time out a later attempt too, hence "at least 2".
	px = newProxy(t, env.URL, func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if n == 1 {
			<-r.Context().Done()
			return true
		}
		return false
	})
	if _, err := freshClient(env.Key, px.URL, client.WithTimeout(time.Second)).Me(ctx, client.WithResponseInfo(&info)); err != nil || info.Attempts < 2 {
		t.Fatalf("stalled first attempt: %v, %+v", err, info)
	}
}

// TestConcurrentCallsShareOneKey: calls racing with the same key meet the
// server's 409 IDEMPOTENCY_KEY_IN_USE, retry, and all get the one patient.
func TestConcurrentCallsShareOneKey(t *testing.T) {
	env := startEnv(t)
	ctx := context.Background()
	// Enough retries to outlast the first call under a loaded, race-enabled
	// run (each 409 retry waits at most 50 ms here).
	c := env.client(client.WithMaxRetries(40))
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	infos := make([]client.ResponseInfo, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.Patients.Create(ctx, newPatient(env.ClinicID, "Racer"), client.WithIdempotencyKey("crm-patient-77"),
				client.WithResponseInfo(&infos[i]))
			if err == nil {
				ids[i] = p.ID
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("call %d: %s, %v (first: %s)", i, ids[i], errs[i], ids[0])
		}
	}
	all, err := client.Collect(c.Patients.List(ctx, client.ListParams{}))
	if err != nil || len(all) != 1 {
		t.Fatalf("%d patients, want 1 (%v)", len(all), err)
	}
	var retried, replayed int
	for _, in := range infos {
		if in.Attempts > 1 {
			retried++
		}
		if in.Replayed {
			replayed++
		}
	}
	t.Logf("%d of %d calls retried, %d answered by replay", retried, n, replayed)
	if replayed != n-1 {
		t.Fatalf("%d replays, want %d", replayed, n-1)
	}
}
