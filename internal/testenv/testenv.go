// Package testenv builds, for tests, the server `novamed serve` builds:
// the same wiring (internal/server.New) on a fresh store, behind an
// httptest server on 127.0.0.1, with a clinic and a development key.
//
// Its subpackages import less, so that the tests of the packages the
// server is made of may use them too: wait (condition waits, goroutine
// checks; standard library only) and pgdb (fresh PostgreSQL databases
// copied from a migrated template).
package testenv

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/server"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/testenv/pgdb"
	"github.com/novamed/partner-api/internal/webhook"
)

// Options say what NewServer builds. The zero value is a development
// server on a fresh SQLite store (PostgreSQL when NOVAMED_TEST_BACKEND is
// "postgres") with one clinic and one key for it.
type Options struct {
	// Env is the environment (default development).
	Env novamed.Environment
	// Postgres puts the store on PostgreSQL whatever NOVAMED_TEST_BACKEND
	// says.
	Postgres bool
	// ClinicID and ClinicName name the clinic created (defaults: a new id,
	// "Test Clinic").
	ClinicID, ClinicName string
	// Configure, when set, adjusts the server's configuration before it is
	// built (after testenv's defaults).
	Configure func(*server.Config)
	// Log receives the server's log lines (default: discarded).
	Log io.Writer
}

// Server is a running test server. Its cleanup (registered with t) stops
// the HTTP server, then the server's work, then closes the store.
type Server struct {
	*server.Server
	// URL is the base URL (http://127.0.0.1:port).
	URL string
	// ClinicID is the clinic created at start, Key a key for it (100
	// requests a minute).
	ClinicID string
	Key      string
	env      novamed.Environment
}

// NewServer builds and starts a server for t.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	store := NewStore(t, opts.Postgres || os.Getenv("NOVAMED_TEST_BACKEND") == "postgres")
	s, stop, err := start(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first: the store (NewStore) closes after.
	t.Cleanup(stop)
	return s
}

// Start is NewServer outside a test (a TestMain): the server's SQLite
// store lives in dir; stop stops the server and closes the store.
func Start(dir string, opts Options) (s *Server, stop func(), err error) {
	ring, err := newKeyring()
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "novamed.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		return nil, nil, err
	}
	s, stopServer, err := start(store, opts)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return s, func() { stopServer(); store.Close() }, nil
}

// start builds the server on store.
func start(store *sqlstore.Store, opts Options) (*Server, func(), error) {
	if opts.Env == "" {
		opts.Env = novamed.Development
	}
	if opts.ClinicID == "" {
		opts.ClinicID = uuid.NewString()
	}
	if opts.ClinicName == "" {
		opts.ClinicName = "Test Clinic"
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	ctx := context.Background()
	if err := store.CreateClinic(ctx, &novamed.Clinic{ID: opts.ClinicID, Name: opts.ClinicName, CreatedAt: time.Now().UTC()}); err != nil {
		return nil, nil, err
	}
	cfg := server.Config{
		Env: opts.Env, Addr: "127.0.0.1:0",
		WebhookSchedule: webhook.DefaultSchedule, WebhookPoll: 50 * time.Millisecond, WebhookLease: 30 * time.Second,
		WorkerID: "testenv-" + uuid.NewString()[:8],
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	log := slog.New(slog.NewJSONHandler(opts.Log, nil))
	srv, err := server.New(ctx, cfg, server.Deps{Store: store, Log: log})
	if err != nil {
		return nil, nil, err
	}
	hs := httptest.NewServer(srv.Handler)
	stop := func() {
		hs.Close()
		srv.Close()
	}
	s := &Server{Server: srv, URL: hs.URL, ClinicID: opts.ClinicID, env: opts.Env}
	if s.Key, err = s.newKey(0, opts.ClinicID); err != nil {
		stop()
		return nil, nil, err
	}
	return s, stop, nil
}

// NewKey issues a key of the server's environment for clinics directly
// through the store, as `novamed keys create` does; perMinute 0 is the
// default of 100.
func (s *Server) NewKey(t testing.TB, perMinute int, clinics ...string) string {
	t.Helper()
	raw, err := s.newKey(perMinute, clinics...)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (s *Server) newKey(perMinute int, clinics ...string) (string, error) {
	k, raw, err := onboarding.NewKey(s.env, "test key", clinics, nil, perMinute, time.Now().UTC())
	if err != nil {
		return "", err
	}
	return raw, s.Store.CreateAPIKey(context.Background(), k)
}

// NewStore opens a fresh store for t, closed when t ends: SQLite in a
// temporary folder, or a PostgreSQL database copied from the migrated
// template (pgdb.Fresh).
func NewStore(t testing.TB, postgres bool) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	var s *sqlstore.Store
	var err error
	if postgres {
		s, err = sqlstore.OpenPostgres(ctx, pgdb.Fresh(t), sqlstore.Options{Keyring: Keyring(t)})
	} else {
		s, err = sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "novamed.db"), sqlstore.Options{Keyring: Keyring(t)})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Keyring is a fresh PHI keyring of one version.
func Keyring(t testing.TB) *phi.Keyring {
	t.Helper()
	ring, err := newKeyring()
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func newKeyring() (*phi.Keyring, error) {
	key, err := phi.GenerateKey()
	if err != nil {
		return nil, err
	}
	return phi.NewKeyring(map[uint32][]byte{1: key})
}
