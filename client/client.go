package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Version is the version of this SDK, sent in the default User-Agent.
const Version = "0.1.0"

// DefaultBaseURL is where a locally started server (`novamed serve`) listens.
const DefaultBaseURL = "http://127.0.0.1:8080"

// Defaults of the retry policy and the per-attempt timeout.
const (
	DefaultMaxRetries  = 3
	DefaultBackoffBase = 500 * time.Millisecond
	DefaultBackoffMax  = 20 * time.Second
	DefaultTimeout     = 30 * time.Second
)

// maxResponseBody bounds how much of an answer is read.
const maxResponseBody = 32 << 20

// Client calls the NovaMed Partner API. It is safe for concurrent use; create
// one per API key and reuse it.
type Client struct {
	// Practitioners onboards and reads practitioners.
	Practitioners *PractitionersService
	// Patients registers and reads patients.
	Patients *PatientsService
	// MedicationOrders creates and reads medication orders.
	MedicationOrders *MedicationOrdersService
	// Refills creates and reads refill requests.
	Refills *RefillsService
	// Carriers lists carriers and quotes their services.
	Carriers *CarriersService
	// Medications lists a clinic's formulary.
	Medications *MedicationsService
	// Webhooks registers webhooks and inspects their deliveries.
	Webhooks *WebhooksService

	apiKey      string
	baseURL     *url.URL
	baseErr     error
	http        *http.Client
	maxRetries  int
	backoffBase time.Duration
	backoffMax  time.Duration
	timeout     time.Duration
	userAgent   string
	// retryHook and logger hear of every retry (WithRetryHook, WithLogger).
	retryHook func(RetryEvent)
	logger    *slog.Logger
	// maxRetryWait caps the total wait between attempts of one call (0: none).
	maxRetryWait time.Duration
	// sleep waits between attempts (the package's sleep; tests replace it).
	sleep func(context.Context, time.Duration) error
}

// RetryEvent describes one retry the client is about to make: after
// Attempt failed it waits Wait, then sends attempt Attempt+1.
type RetryEvent struct {
	// Method and Path are the request's ("/api/external/patient").
	Method, Path string
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int
	// Reason says why it is retried: "rate_limited" (429), "server_error"
	// (5xx), "idempotency_key_in_use" (409), or "transport" (no answer).
	Reason string
	// StatusCode is the failed attempt's HTTP status (0 without an answer).
	StatusCode int
	// Wait is how long the client waits before the next attempt: the
	// server's Retry-After when it sent one, else the backoff.
	Wait time.Duration
	// RetryAfter reports whether Wait is the server's Retry-After.
	RetryAfter bool
	// Err is the failed attempt's error.
	Err error
}

// WithRetryHook calls hook before each retry (synchronously, from the
// calling goroutine), e.g. to count or log rate-limit waits.
func WithRetryHook(hook func(RetryEvent)) Option {
	return func(c *Client) { c.retryHook = hook }
}

// WithLogger logs each retry at level Warn on l (method, path, attempt,
// reason, status, wait); nothing else is logged, and never a body or key.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) { c.logger = l }
}

// WithMaxRetryWait caps the total time one call spends waiting between
// attempts (for rate limits or any other retry): a retry whose wait would
// pass the cap is not made, and the call returns the last error (for a
// 429, IsRateLimited, with APIError.RetryAfter saying when to try again).
// Zero (the default) means no cap beyond WithMaxRetries and the context.
func WithMaxRetryWait(d time.Duration) Option {
	return func(c *Client) { c.maxRetryWait = max(d, 0) }
}

// Option configures a Client in New.
type Option func(*Client)

// WithBaseURL sets the API's address, e.g. "https://api.novamed.example"
// (default DefaultBaseURL). A path prefix is kept.
func WithBaseURL(u string) Option {
	return func(c *Client) {
		parsed, err := url.Parse(strings.TrimRight(u, "/"))
		switch {
		case err != nil:
			c.baseErr = fmt.Errorf("novamed: invalid base URL %q: %w", u, err)
		case parsed.Scheme != "http" && parsed.Scheme != "https" || parsed.Host == "":
			c.baseErr = fmt.Errorf("novamed: invalid base URL %q: want http(s)://host[:port]", u)
		default:
			c.baseURL, c.baseErr = parsed, nil
		}
	}
}

// WithHTTPClient sets the HTTP client used for every attempt (default: a
// client on http.DefaultTransport). Its own Timeout, if any, also applies to
// each attempt.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithMaxRetries sets how many times a failed attempt is retried (default 3,
// so at most 4 attempts); 0 turns retries off.
func WithMaxRetries(n int) Option {
	return func(c *Client) { c.maxRetries = max(n, 0) }
}

// WithBackoff sets the exponential backoff between retries: before retry n
// (from 0) the client sleeps a random duration in [0, min(max, base·2ⁿ))
// ("full jitter"). Defaults: 500 ms and 20 s. A Retry-After answer overrides
// the computed wait.
func WithBackoff(base, max time.Duration) Option {
	return func(c *Client) {
		if base > 0 {
			c.backoffBase = base
		}
		if max > 0 {
			c.backoffMax = max
		}
	}
}

// WithTimeout bounds each HTTP attempt (default 30 s; 0 for none). An attempt
// that times out is retried like a network error; bound a whole call,
// retries included, with the context's deadline.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = max(d, 0) }
}

// WithUserAgent sets the User-Agent header (default "novamed-go/VERSION").
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// New returns a Client that authenticates with apiKey (the x-api-key header).
// An invalid WithBaseURL makes every call fail with that error.
func New(apiKey string, opts ...Option) *Client {
	c := &Client{
		apiKey:      apiKey,
		http:        &http.Client{Transport: http.DefaultTransport},
		maxRetries:  DefaultMaxRetries,
		backoffBase: DefaultBackoffBase,
		backoffMax:  DefaultBackoffMax,
		timeout:     DefaultTimeout,
		userAgent:   "novamed-go/" + Version + " (" + runtime.Version() + ")",
		sleep:       sleep,
	}
	WithBaseURL(DefaultBaseURL)(c)
	for _, o := range opts {
		o(c)
	}
	c.Practitioners = &PractitionersService{c}
	c.Patients = &PatientsService{c}
	c.MedicationOrders = &MedicationOrdersService{c}
	c.Refills = &RefillsService{c}
	c.Carriers = &CarriersService{c}
	c.Medications = &MedicationsService{c}
	c.Webhooks = &WebhooksService{c}
	return c
}

// CallOption adjusts one call.
type CallOption func(*callConfig)

type callConfig struct {
	idempotencyKey string
	info           *ResponseInfo
}

// WithIdempotencyKey makes a POST or DELETE use key as its Idempotency-Key
// instead of a random one. Use a key derived from your own record (e.g.
// "order-"+yourOrderID) so that a call repeated after a crash of your
// process, not only the SDK's own retries, creates nothing twice. The server
// keeps keys for 24 hours; reusing one with a different request is refused
// with 422 IDEMPOTENCY_KEY_REUSED. Ignored on GET.
func WithIdempotencyKey(key string) CallOption {
	return func(c *callConfig) { c.idempotencyKey = key }
}

// WithResponseInfo stores facts about the call's final HTTP answer in dst
// (also when the call fails with an *APIError).
func WithResponseInfo(dst *ResponseInfo) CallOption {
	return func(c *callConfig) { c.info = dst }
}

// ResponseInfo describes the final answer of a call.
type ResponseInfo struct {
	StatusCode int
	// RequestID is the server's X-Request-Id; quote it to NovaMed support.
	RequestID string
	// Replayed is true when the server answered from its idempotency record
	// (Idempotent-Replayed: true): an earlier attempt had succeeded.
	Replayed bool
	// IdempotencyKey is the key sent with a POST or DELETE ("" for GET).
	IdempotencyKey string
	// Attempts counts the HTTP attempts made, retries included.
	Attempts int
	// RateLimit is the key's rate-limit state after the call (shared by a
	// rolled key and its predecessor). On a 401, and on errors the server
	// answers before it verified the key (404, 405, 406, 413, 415), it is
	// instead the failed-authentication budget of the caller's address.
	RateLimit RateLimit
}

// RateLimit is a key's per-minute request budget.
type RateLimit struct {
	Limit     int       `json:"limit"`
	Remaining int       `json:"remaining"`
	Reset     time.Time `json:"-"`
}

// newIdempotencyKey returns a random UUID (version 4).
func newIdempotencyKey() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// call is the request of one API call.
type call struct {
	method string
	path   string // below the base URL, escaped, e.g. "/api/external/patient"
	query  url.Values
	body   any // marshalled as JSON; nil for no body
}

// do performs c with retries and returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, cl call, opts []CallOption) ([]byte, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	var cfg callConfig
	for _, o := range opts {
		o(&cfg)
	}
	var payload []byte
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return nil, fmt.Errorf("novamed: encode %s %s: %w", cl.method, cl.path, err)
		}
		payload = b
	}
	key := ""
	if cl.method == http.MethodPost || cl.method == http.MethodPatch || cl.method == http.MethodDelete {
		key = cfg.idempotencyKey
		if key == "" {
			key = newIdempotencyKey()
		}
	}
	target, err := c.url(cl)
	if err != nil {
		return nil, err
	}

	var lastErr error
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			ev := c.retryEvent(cl, attempt, lastErr)
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < ev.Wait {
				return nil, lastErr // waiting would outlive the caller
			}
			if c.maxRetryWait > 0 && waited+ev.Wait > c.maxRetryWait {
				return nil, lastErr // waiting would pass WithMaxRetryWait
			}
			waited += ev.Wait
			c.reportRetry(ctx, ev)
			if err := c.sleep(ctx, ev.Wait); err != nil {
				return nil, fmt.Errorf("novamed: %s %s: %w (after %d attempts; last error: %w)", cl.method, cl.path, err, attempt, lastErr)
			}
		}
		body, retry, err := c.attempt(ctx, cl.method, target, payload, key, attempt+1, cfg.info)
		if err == nil {
			return body, nil
		}
		if !retry || attempt >= c.maxRetries {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("novamed: %s %s: %w (last error: %w)", cl.method, cl.path, ctx.Err(), err)
		}
		lastErr = err
	}
}

// retryEvent describes the retry after failed attempt n (from 1) with err:
// the wait is the server's Retry-After exactly when it sent one (0
// included), else the jittered backoff.
func (c *Client) retryEvent(cl call, n int, err error) RetryEvent {
	ev := RetryEvent{Method: cl.method, Path: cl.path, Attempt: n, Reason: "transport", Err: err}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		ev.Wait = c.backoff(n - 1)
		return ev
	}
	ev.StatusCode = apiErr.StatusCode
	switch {
	case apiErr.StatusCode == http.StatusTooManyRequests:
		ev.Reason = "rate_limited"
	case apiErr.StatusCode == http.StatusConflict:
		ev.Reason = "idempotency_key_in_use"
	case apiErr.StatusCode >= 500:
		ev.Reason = "server_error"
	default:
		ev.Reason = "status_" + strconv.Itoa(apiErr.StatusCode)
	}
	if apiErr.retryAfterSet {
		ev.Wait, ev.RetryAfter = apiErr.RetryAfter, true
	} else {
		ev.Wait = c.backoff(n - 1)
	}
	return ev
}

// reportRetry tells the hook and the logger about a retry.
func (c *Client) reportRetry(ctx context.Context, ev RetryEvent) {
	if c.retryHook != nil {
		c.retryHook(ev)
	}
	if c.logger != nil {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "novamed: retrying request",
			slog.String("method", ev.Method), slog.String("path", ev.Path), slog.Int("attempt", ev.Attempt),
			slog.String("reason", ev.Reason), slog.Int("status", ev.StatusCode), slog.Duration("wait", ev.Wait),
			slog.Bool("retry_after", ev.RetryAfter))
	}
}

// url is the request URL of cl; cl.path is already escaped.
func (c *Client) url(cl call) (string, error) {
	u := *c.baseURL
	u.RawPath = strings.TrimRight(u.EscapedPath(), "/") + cl.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return "", fmt.Errorf("novamed: invalid path %q: %w", cl.path, err)
	}
	u.Path = p
	u.RawQuery = cl.query.Encode()
	return u.String(), nil
}

// attempt makes one HTTP request. retry reports whether a failure may be
// retried: network errors, 429, 5xx and 409 IDEMPOTENCY_KEY_IN_USE.
func (c *Client) attempt(ctx context.Context, method, target string, payload []byte, key string, n int, info *ResponseInfo) (body []byte, retry bool, err error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, false, fmt.Errorf("novamed: %w", err)
	}
	req.Header.Set("x-api-key", c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
		if method == http.MethodPatch {
			req.Header.Set("Content-Type", "application/merge-patch+json")
		}
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, retryableTransport(err), fmt.Errorf("novamed: %s %s: %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, true, fmt.Errorf("novamed: %s %s: reading the answer: %w", method, req.URL.Path, err)
	}
	if info != nil {
		*info = responseInfo(resp, key, n)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, false, nil
	}
	apiErr := parseError(resp, body)
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 ||
		(resp.StatusCode == http.StatusConflict && apiErr.Code == CodeIdempotencyKeyInUse)
	return nil, retry, apiErr
}

func responseInfo(resp *http.Response, key string, attempts int) ResponseInfo {
	h := resp.Header
	ri := ResponseInfo{StatusCode: resp.StatusCode, RequestID: h.Get("X-Request-Id"), Replayed: h.Get("Idempotent-Replayed") == "true",
		IdempotencyKey: key, Attempts: attempts}
	ri.RateLimit.Limit, _ = strconv.Atoi(h.Get("X-RateLimit-Limit"))
	ri.RateLimit.Remaining, _ = strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		ri.RateLimit.Reset = time.Unix(s, 0)
	}
	return ri
}

// retryableTransport reports whether a transport error may be retried:
// anything but certificate failures, which a retry cannot fix.
func retryableTransport(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return !errors.As(err, &verify) && !errors.As(err, &authority) && !errors.As(err, &hostname) && !errors.As(err, &invalid)
}

// backoff is the full-jitter wait before retry n (from 0).
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.backoffMax
	if n < 30 {
		if d := c.backoffBase << n; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return time.Duration(mathrand.Int64N(int64(ceiling) + 1))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// envelope is the success answer {"success":true,"data":…,"message":…}.
type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
}

// get performs a GET and decodes the envelope's data into out.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any, opts []CallOption) error {
	return c.call(ctx, call{method: http.MethodGet, path: path, query: q}, out, opts)
}

// call performs cl and decodes the envelope's data into out.
func (c *Client) call(ctx context.Context, cl call, out any, opts []CallOption) error {
	body, err := c.do(ctx, cl, opts)
	if err != nil {
		return err
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("novamed: %s %s: decoding the answer: %w", cl.method, cl.path, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("novamed: %s %s: decoding the answer: %w", cl.method, cl.path, err)
	}
	return nil
}

// pathEscape escapes one path segment (ids are UUIDs, but callers pass any string).
func pathEscape(s string) string { return url.PathEscape(s) }
