package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/novamed/partner-api/internal/phi"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	key, _ := phi.GenerateKey()
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "g.db"), Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestGroupCommitIsolatesFailures: in shared commits, a job that fails or
// panics is rolled back alone; every other job's writes are committed.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.write.Exec(`CREATE TABLE gc (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, 200)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = s.inTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO gc (n) VALUES (?)`, i); err != nil {
					return err
				}
				switch i % 10 {
				case 3:
					return errBoom // written, then failed: must vanish
				case 7:
					panic("job panicked")
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	var count int
	if err := s.read.QueryRow(`SELECT COUNT(*) FROM gc`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	for i, err := range results {
		switch i % 10 {
		case 3:
			if !errors.Is(err, errBoom) {
				t.Errorf("job %d: err %v, want boom", i, err)
			}
		case 7:
			if err == nil {
				t.Errorf("job %d: panic not reported", i)
			}
		default:
			if err != nil {
				t.Errorf("job %d: %v", i, err)
			}
		}
	}
	if count != 160 {
		t.Errorf("%d rows committed, want 160 (failed jobs rolled back alone)", count)
	}
	var one int
	for _, n := range []int{3, 7, 13} {
		if err := s.read.QueryRow(`SELECT COUNT(*) FROM gc WHERE n = ?`, n).Scan(&one); err != nil || one != 0 {
			t.Errorf("row of failed job %d present", n)
		}
	}
	s.Close()
	if err := s.inTx(ctx, func(*sql.Tx) error { return nil }); err == nil {
		t.Errorf("write after close succeeded")
	}
}
