package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted is a stub API answering attempt n (from 1) with answers[n-1]
// (the last one again after that).
func scripted(t *testing.T, answers ...func(w http.ResponseWriter)) (*httptest.Server, func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := min(n, len(answers)) - 1
		mu.Unlock()
		answers[i](w)
	}))
	t.Cleanup(srv.Close)
	return srv, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func rateLimited(retryAfter string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"success":false,"error":{"message":"Rate limit exceeded","code":"RATE_LIMIT_EXCEEDED","request_id":"req_x"}}`)) //nolint:errcheck
	}
}

func okPatient(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"success":true,"data":{"id":"p1","first_name":"Ann"}}`)) //nolint:errcheck
}

// recordSleeps replaces the client's waiting with a record of the waits.
func recordSleeps(c *Client) *[]time.Duration {
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }
	return &waits
}

// TestRetryHookSeesRateLimitAndItsWait: a 429 with Retry-After reaches
// the hook and the logger with its reason, attempt and the exact wait,
// which is what the client then waits.
func TestRetryHookSeesRateLimitAndItsWait(t *testing.T) {
	srv, attempts := scripted(t, rateLimited("7"), okPatient)
	var events []RetryEvent
	var logged bytes.Buffer
	c := New("k", WithBaseURL(srv.URL), WithRetryHook(func(ev RetryEvent) { events = append(events, ev) }),
		WithLogger(slog.New(slog.NewJSONHandler(&logged, nil))))
	waits := recordSleeps(c)
	p, err := c.Patients.Get(context.Background(), "p1")
	if err != nil || p.FirstName != "Ann" || attempts() != 2 {
		t.Fatalf("Get: %v %+v after %d attempts", err, p, attempts())
	}
	if len(events) != 1 {
		t.Fatalf("hook saw %d retries, want 1: %+v", len(events), events)
	}
	ev := events[0]
	if ev.Reason != "rate_limited" || ev.StatusCode != 429 || ev.Attempt != 1 || ev.Wait != 7*time.Second || !ev.RetryAfter ||
		ev.Method != "GET" || ev.Path != "/api/external/patient/p1" || !IsRateLimited(ev.Err) {
		t.Errorf("retry event %+v", ev)
	}
	if !slices.Equal(*waits, []time.Duration{7 * time.Second}) {
		t.Errorf("waited %v, want exactly the Retry-After 7s", *waits)
	}
	var line map[string]any
	if err := json.Unmarshal(logged.Bytes(), &line); err != nil {
		t.Fatalf("log: %v %q", err, logged.String())
	}
	if line["reason"] != "rate_limited" || line["wait"] != float64(7*time.Second) || line["attempt"] != float64(1) || line["level"] != "WARN" {
		t.Errorf("log line %v", line)
	}
	if strings.Contains(logged.String(), `"k"`) {
		t.Error("the log holds the API key")
	}
}

// TestRetryAfterHonouredExactly: the header's seconds or date is the wait,
// 0 included (no backoff instead).
func TestRetryAfterHonouredExactly(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		header   string
		min, max time.Duration
	}{
		{"0", 0, 0},
		{"3", 3 * time.Second, 3 * time.Second},
		{date, 85 * time.Second, 90 * time.Second},
	} {
		srv, _ := scripted(t, rateLimited(tc.header), okPatient)
		c := New("k", WithBaseURL(srv.URL), WithBackoff(time.Hour, time.Hour))
		waits := recordSleeps(c)
		if _, err := c.Patients.Get(context.Background(), "p1"); err != nil {
			t.Fatal(err)
		}
		if len(*waits) != 1 || (*waits)[0] < tc.min || (*waits)[0] > tc.max {
			t.Errorf("Retry-After %q: waited %v, want within [%v, %v]", tc.header, *waits, tc.min, tc.max)
		}
	}
	// Without Retry-After the wait is the backoff.
	srv, _ := scripted(t, rateLimited(""), okPatient)
	c := New("k", WithBaseURL(srv.URL), WithBackoff(time.Millisecond, time.Millisecond))
	waits := recordSleeps(c)
	if _, err := c.Patients.Get(context.Background(), "p1"); err != nil || len(*waits) != 1 || (*waits)[0] > time.Millisecond {
		t.Errorf("no Retry-After: %v, waited %v", err, *waits)
	}
}

// TestMaxRetryWaitCapsTotalWaiting: once the next wait would pass the cap,
// the call stops with the 429 instead of waiting.
func TestMaxRetryWaitCapsTotalWaiting(t *testing.T) {
	srv, attempts := scripted(t, rateLimited("30"))
	c := New("k", WithBaseURL(srv.URL), WithMaxRetries(5), WithMaxRetryWait(45*time.Second))
	waits := recordSleeps(c)
	_, err := c.Patients.Get(context.Background(), "p1")
	var apiErr *APIError
	if !IsRateLimited(err) || !errors.As(err, &apiErr) || apiErr.RetryAfter != 30*time.Second {
		t.Fatalf("Get: %v, want the 429 with its Retry-After", err)
	}
	if attempts() != 2 || !slices.Equal(*waits, []time.Duration{30 * time.Second}) {
		t.Errorf("%d attempts, waits %v; want 2 attempts and one 30s wait within the 45s cap", attempts(), *waits)
	}
	// Without a cap the retries go on to WithMaxRetries.
	srv, attempts = scripted(t, rateLimited("30"))
	c = New("k", WithBaseURL(srv.URL), WithMaxRetries(3))
	recordSleeps(c)
	if _, err := c.Patients.Get(context.Background(), "p1"); !IsRateLimited(err) || attempts() != 4 {
		t.Errorf("uncapped: %v after %d attempts, want 4", err, attempts())
	}
}
