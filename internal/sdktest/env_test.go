package sdktest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/client"
	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/server"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/testenv"
)

// testEnv is a real Partner API in-process, built as `novamed serve`
// builds it (testenv.NewServer): a fresh store, the server behind httptest
// on 127.0.0.1, one clinic and one key for it. Its delivery worker retries
// fast: 0 s, then 50 ms.
type testEnv struct {
	URL      string
	Key      string
	ClinicID string
	Store    *sqlstore.Store
}

// startEnv starts a server for one test.
func startEnv(t testing.TB) *testEnv {
	t.Helper()
	return envOf(testenv.NewServer(t, envOptions()))
}

// envOptions: the clinic, and a delivery worker that retries fast.
func envOptions() testenv.Options {
	return testenv.Options{ClinicName: "Lakeside Clinic", Configure: func(c *server.Config) {
		c.WebhookSchedule, c.WebhookPoll = []time.Duration{0, 50 * time.Millisecond}, 10*time.Millisecond
	}}
}

func envOf(srv *testenv.Server) *testEnv {
	return &testEnv{URL: srv.URL, Key: srv.Key, ClinicID: srv.ClinicID, Store: srv.Store}
}

func (e *testEnv) createClinic(name string) (string, error) {
	c := &novamed.Clinic{ID: uuid.NewString(), Name: name, CreatedAt: time.Now()}
	return c.ID, e.Store.CreateClinic(context.Background(), c)
}

// createKey issues a development key for clinics directly through the store
// (as `novamed keys create` does); perMinute 0 is the default of 100.
func (e *testEnv) createKey(perMinute int, clinics ...string) (string, error) {
	raw, err := apikey.Generate("development")
	if err != nil {
		return "", err
	}
	id := uuid.NewString()
	return raw, e.Store.CreateAPIKey(context.Background(), &novamed.APIKey{ID: id, Owner: id, Name: "sdk test", Environment: novamed.Development,
		Prefix: apikey.DisplayPrefix(raw), HashHex: apikey.HashKey(raw).Hex(), Clinics: clinics, RateLimit: perMinute, CreatedAt: time.Now()})
}

func (e *testEnv) mustKey(t testing.TB, perMinute int, clinics ...string) string {
	t.Helper()
	k, err := e.createKey(perMinute, clinics...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// client returns an SDK client for the env with fast retries.
func (e *testEnv) client(opts ...client.Option) *client.Client {
	return client.New(e.Key, append([]client.Option{client.WithBaseURL(e.URL), client.WithBackoff(10*time.Millisecond, 50*time.Millisecond)}, opts...)...)
}

// TestMain also runs a server for the package's examples, which read
// NOVAMED_BASE_URL, NOVAMED_API_KEY and NOVAMED_CLINIC_ID as a partner's
// program would.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "novamed-sdk-examples")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	env, closeEnv, err := testenv.Start(dir, envOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer closeEnv()
	os.Setenv("NOVAMED_BASE_URL", env.URL)
	os.Setenv("NOVAMED_API_KEY", env.Key)
	os.Setenv("NOVAMED_CLINIC_ID", env.ClinicID)
	return m.Run()
}
