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
