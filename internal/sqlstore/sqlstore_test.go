package sqlstore_test

import (
	"path/filepath"
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/storetest"
)

// TestConformance runs the store conformance suite on SQLite, with a fresh
// database file per subtest.
func TestConformance(t *testing.T) {
	key, err := phi.GenerateKey()
	if err != nil {
		t.Fatalf("phi.GenerateKey: %v", err)
	}
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatalf("phi.NewKeyring: %v", err)
	}
	storetest.Run(t, func(t *testing.T) novamed.Store {
		t.Helper()
		path := filepath.Join(t.TempDir(), "novamed.db")
		s, err := sqlstore.OpenSQLite(t.Context(), path, sqlstore.Options{Keyring: ring})
		if err != nil {
			t.Fatalf("OpenSQLite(%s): %v", path, err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}
