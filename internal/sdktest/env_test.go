package sdktest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/client"
	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/ratelimit"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/usage"
	"github.com/novamed/partner-api/internal/webhook"
)

// testEnv is a real Partner API in-process: a SQLite store in a temporary
// folder, the development server stack behind httptest on 127.0.0.1, one
// clinic and one key for it.
type testEnv struct {
	URL      string
	Key      string
	ClinicID string
	Store    *sqlstore.Store
}

// newEnv starts a server with its data in dir; close stops it.
func newEnv(dir string) (env *testEnv, close func(), err error) {
	ctx := context.Background()
	mk, err := phi.GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	ring, err := phi.NewKeyring(map[uint32][]byte{1: mk})
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "novamed.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	aw := audit.NewWriter(store, log)
	rec := usage.NewRecorder(store, log, nil, time.Now, usage.Rules{})
	s := httpapi.New(httpapi.Config{Env: novamed.Development, Store: store, Audit: aw, Limiter: ratelimit.NewMemory(nil), Logger: log,
		WebhookPolicy: webhook.URLPolicy{AllowInsecure: true}, Usage: rec})
	ts := httptest.NewServer(s)
	env = &testEnv{URL: ts.URL, Store: store}
	close = func() { ts.Close(); s.Close(); rec.Close(); aw.Close(); store.Close() }
	if env.ClinicID, err = env.createClinic("Lakeside Clinic"); err == nil {
		env.Key, err = env.createKey(0, env.ClinicID)
	}
	if err != nil {
		close()
		return nil, nil, err
	}
	return env, close, nil
}

// startEnv is newEnv for one test.
func startEnv(t testing.TB) *testEnv {
	t.Helper()
	env, closeEnv, err := newEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeEnv)
	return env
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
	env, closeEnv, err := newEnv(dir)
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
