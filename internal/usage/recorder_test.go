package usage

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// TestCloseLeavesNoGoroutine: the lookups the rules start off the request
// path (a key's networks, a rolled key's successor) belong to the recorder,
// and Close waits for them as for its loop.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	ctx := context.Background()
	mk, _ := phi.GenerateKey()
	ring, _ := phi.NewKeyring(map[uint32][]byte{1: mk})
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "u.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for round := 0; round < 20; round++ {
		r := NewRecorder(store, log, nil, nil, Rules{})
		for i := 0; i < 20; i++ {
			raw, _ := apikey.Generate("development")
			k := &novamed.APIKey{ID: uuid.NewString(), Prefix: apikey.DisplayPrefix(raw), ReplacedBy: uuid.NewString(), CreatedAt: time.Now()}
			r.KeyUsed(k, "192.0.2.7") // starts a networks lookup and a successor lookup
		}
		r.Close()
		wait.NoGoroutinesNow(t, "usage.(*Recorder).loadNetworks", "usage.(*Recorder).checkRolled", "usage.(*Recorder).rememberNetwork")
	}
	wait.NoGoroutines(t, "internal/usage.(*Recorder)")
}

// TestSyncStoresWhatWasRaised: after Sync, every event raised before it is
// in the store (also one raised by a lookup still running when Sync was
// called), and nothing else: a test can assert that a rule did not fire
// without waiting for a guessed time.
func TestSyncStoresWhatWasRaised(t *testing.T) {
	ctx := context.Background()
	mk, _ := phi.GenerateKey()
	ring, _ := phi.NewKeyring(map[uint32][]byte{1: mk})
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "u.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r := NewRecorder(store, slog.New(slog.NewJSONHandler(io.Discard, nil)), nil, nil, Rules{})
	defer r.Close()
	raw, _ := apikey.Generate("development")
	k := &novamed.APIKey{ID: uuid.NewString(), Prefix: apikey.DisplayPrefix(raw), CreatedAt: time.Now()}
	events := func() int {
		t.Helper()
		if err := r.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		evs, err := store.ListSecurityEvents(ctx, time.Time{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	// Two keys with a known network, then a new network for one of them:
	// the first use of a key only learns its network (off the request
	// path); the second network, judged once the first is known, fires.
	r.KeyUsed(k, "192.0.2.7")
	if n := events(); n != 0 {
		t.Fatalf("a key's first network raised %d events", n)
	}
	r.KeyUsed(k, "192.0.2.8") // same /24
	if n := events(); n != 0 {
		t.Fatalf("the key's own network raised %d events", n)
	}
	r.KeyUsed(k, "198.51.100.1")
	if n := events(); n != 1 {
		t.Fatalf("%d events after a new network, want 1", n)
	}
	// A new network seen while the key's networks load is judged by the
	// lookup: Sync waits for it.
	k2 := &novamed.APIKey{ID: uuid.NewString(), Prefix: "nm_dev_zz", CreatedAt: time.Now()}
	if err := store.AddKeyNetwork(ctx, k2.ID, "203.0.113.0/24", time.Now()); err != nil {
		t.Fatal(err)
	}
	r.KeyUsed(k2, "198.51.100.9")
	if n := events(); n != 2 {
		t.Fatalf("%d events after the second key's new network, want 2", n)
	}
	r.Close()
	if err := r.Sync(ctx); err == nil {
		t.Errorf("Sync after Close succeeded")
	}
}
