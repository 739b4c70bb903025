package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/server"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/testenv"
)

// demoClinic is the clinic of the document's examples (and of the
// authentication guide).
const demoClinic = "550e8400-e29b-41d4-a716-446655440000"

// apiServer is an in-process development server on a fresh SQLite store
// with the demo clinic.
type apiServer struct {
	t     testing.TB
	URL   string
	store *sqlstore.Store
}

func newAPIServer(t testing.TB) *apiServer {
	t.Helper()
	srv := testenv.NewServer(t, testenv.Options{ClinicID: demoClinic, ClinicName: "Demo Clinic",
		// The delivery worker polls often: the webhook test waits for
		// what it delivers.
		Configure: func(c *server.Config) { c.WebhookPoll = 10 * time.Millisecond }})
	return &apiServer{t: t, URL: srv.URL, store: srv.Store}
}

// newKey issues a development key for the demo clinic.
func (a *apiServer) newKey(name string, perMinute int) string {
	a.t.Helper()
	raw, err := apikey.Generate("development")
	if err != nil {
		a.t.Fatal(err)
	}
	id := uuid.Must(uuid.NewV7()).String()
	if err := a.store.CreateAPIKey(context.Background(), &novamed.APIKey{ID: id, Owner: id, Name: name, Environment: novamed.Development,
		Prefix: apikey.DisplayPrefix(raw), HashHex: apikey.HashKey(raw).Hex(), Clinics: []string{demoClinic},
		RateLimit: perMinute, CreatedAt: time.Now().UTC()}); err != nil {
		a.t.Fatal(err)
	}
	return raw
}

// exchange is one request and its answer.
type exchange struct {
	req    *http.Request
	sent   []byte
	status int
	header http.Header
	body   []byte
}

func (e *exchange) json(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(e.body, &v); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v\n%s", e.req.Method, e.req.URL.Path, err, e.body)
	}
	return v
}

// do sends a request the way a partner would and checks the exchange
// against the document with the end-to-end suite's rule.
func (a *apiServer) do(method, path, key string, body []byte, hdr ...string) *exchange {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if body != nil {
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
	checked, reqErr := CheckRequest(req, body, body != nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	e := &exchange{req: req, sent: body, status: resp.StatusCode, header: resp.Header, body: got}
	if err := CheckExchange(req, checked, reqErr, e.status, e.header, e.body); err != nil {
		a.t.Errorf("%v", err)
	}
	return e
}

// mustJSON encodes v.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
