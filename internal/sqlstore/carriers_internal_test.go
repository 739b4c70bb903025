package sqlstore

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
)

// TestUpgradeReplacesPreviousBuiltInCatalogue: a database that still holds
// the built-in catalogue of earlier releases gets the published one when it
// is opened; one whose catalogue an operator imported keeps it.
func TestUpgradeReplacesPreviousBuiltInCatalogue(t *testing.T) {
	key, err := phi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	reopen := func(t *testing.T, path string, before []novamed.Carrier) []novamed.Carrier {
		t.Helper()
		s, err := OpenSQLite(t.Context(), path, Options{Keyring: ring})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ReplaceCarriers(t.Context(), before, false); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = OpenSQLite(t.Context(), path, Options{Keyring: ring})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := s.ListCarriers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	t.Run("previous built-in", func(t *testing.T) {
		got := reopen(t, filepath.Join(t.TempDir(), "n.db"), previousDefaultCatalogue())
		if !reflect.DeepEqual(got, novamed.DefaultCatalogue()) {
			t.Errorf("catalogue after upgrade = %+v, want the published one", got)
		}
	})
	t.Run("imported", func(t *testing.T) {
		imported := previousDefaultCatalogue()[1:] // an operator's own catalogue
		got := reopen(t, filepath.Join(t.TempDir(), "n.db"), imported)
		if !reflect.DeepEqual(got, imported) {
			t.Errorf("imported catalogue after reopening = %+v, want it unchanged", got)
		}
	})
}
