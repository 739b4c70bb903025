package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/novamed/partner-api/client/webhook"
	"github.com/novamed/partner-api/internal/novamed"
)

// DefaultSchedule is the documented retry schedule: the delay before each
// attempt (immediately, then after 1 min, 5 min, 15 min and 1 h); after the
// last attempt fails the delivery is marked failed.
var DefaultSchedule = []time.Duration{0, time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// FormatSchedule writes a schedule as ParseSchedule reads it.
func FormatSchedule(s []time.Duration) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// ParseSchedule reads a comma-separated schedule such as "0s,1s,1s,1s,1s".
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("webhook retry schedule: %q is not a duration", part)
		}
		out = append(out, d)
	}
	if len(out) == 0 || len(out) > 20 {
		return nil, errors.New("webhook retry schedule: give 1 to 20 delays")
	}
	return out, nil
}

// NewClient is the delivery HTTP client: 5 s timeout, no redirects followed,
// connections only through the policy-checking dialer.
func NewClient(d *Dialer) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			Proxy:                 nil,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 5 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Worker delivers queued events.
type Worker struct {
	Store    novamed.DeliveryQueue
	Client   *http.Client
	Schedule []time.Duration
	ID       string // unique per process: the lease holder
	Log      *slog.Logger
	Now      func() time.Time
	Poll     time.Duration // how often to look for due deliveries
	Lease    time.Duration // how long a claimed delivery is ours (> client timeout)
	Parallel int
	// OnAttempt, when set, is told each attempt's outcome: succeeded,
	// retrying or failed (for metrics).
	OnAttempt func(outcome string)
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.Log.Warn("webhook delivery round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims due deliveries and attempts each once; it returns how many
// it attempted.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	jobs, err := w.Store.ClaimDeliveries(ctx, w.ID, w.Lease, 4*w.Parallel)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, w.Parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			w.deliver(ctx, j)
		}()
	}
	wg.Wait()
	return len(jobs), nil
}

func (w *Worker) deliver(ctx context.Context, j *novamed.DeliveryJob) {
	start := w.Now()
	code, err := w.send(ctx, j, start)
	if ctx.Err() != nil {
		// Shutting down mid-attempt: record nothing, so no retry is used
		// up; the lease expires and a worker sends it again.
		return
	}
	a := novamed.Attempt{At: start.UTC(), StatusCode: code, LatencyMS: w.Now().Sub(start).Milliseconds()}
	status, next := novamed.DeliverySucceeded, (*time.Time)(nil)
	if err != nil {
		a.Error = err.Error()
		attempt := j.Attempts + 1
		if attempt >= len(w.Schedule) {
			status = novamed.DeliveryFailed
		} else {
			status = novamed.DeliveryPending
			t := w.Now().Add(w.Schedule[attempt])
			next = &t
		}
	}
	if w.OnAttempt != nil {
		outcome := status
		if status == novamed.DeliveryPending {
			outcome = "retrying"
		}
		w.OnAttempt(outcome)
	}
	held, rerr := w.Store.RecordAttempt(context.WithoutCancel(ctx), j.ID, w.ID, a, status, next)
	switch {
	case rerr != nil:
		w.Log.Error("recording a webhook attempt failed", "delivery_id", j.ID, "err", rerr)
	case !held:
		w.Log.Warn("webhook lease lost before the attempt was recorded", "delivery_id", j.ID)
	}
	w.Log.Info("webhook attempt", "delivery_id", j.ID, "webhook_id", j.WebhookID, "event", j.EventName,
		"status_code", code, "outcome", status, "latency_ms", a.LatencyMS)
}

// send makes one signed POST; any 2xx is success. It carries the
// verification token as x-api-key and one v1 signature per signing secret
// in use at the time (two during a rotation's overlap), space-separated as
// Standard Webhooks does.
func (w *Worker) send(ctx context.Context, j *novamed.DeliveryJob, at time.Time) (int, error) {
	body, err := json.Marshal(map[string]any{"event_name": j.Event.Name, "event_data": j.Event.Data})
	if err != nil {
		return 0, err
	}
	token, secrets := j.Secrets.At(at)
	sigs := make([]string, 0, len(secrets))
	for _, secret := range secrets {
		sig, err := webhook.Sign(secret, j.ID, at, body)
		if err != nil {
			return 0, err
		}
		sigs = append(sigs, sig)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, strings.NewReader(string(body)))
	if err != nil {
		return 0, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "NovaMed-Webhooks/1")
	req.Header.Set(webhook.HeaderAPIKey, token)
	req.Header.Set(webhook.HeaderID, j.ID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, strings.Join(sigs, " "))
	resp, err := w.Client.Do(req)
	if err != nil {
		return 0, describe(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // the status is what counts
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return resp.StatusCode, fmt.Errorf("redirect (%d) not followed", resp.StatusCode)
	}
	return resp.StatusCode, fmt.Errorf("receiver answered %d", resp.StatusCode)
}

// describe turns a transport error into a short sentence for the delivery
// log, without internal details.
func describe(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, errUnresolved):
		return errors.New("the host does not resolve")
	case errors.Is(err, ErrForbidden):
		return errors.New("destination address not allowed")
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("timed out after 5s")
	case strings.Contains(err.Error(), "connection refused"):
		return errors.New("connection refused")
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return errors.New("TLS handshake failed")
	}
	return errors.New("connection failed")
}
