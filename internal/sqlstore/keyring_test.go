package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
)

func testRing(t testing.TB, keys map[uint32][]byte) *phi.Keyring {
	t.Helper()
	ring, err := phi.NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func testKey(t testing.TB) []byte {
	t.Helper()
	k, err := phi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustOpen opens the SQLite store at path with ring; the test closes it.
func mustOpen(t testing.TB, path string, ring *phi.Keyring) *Store {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path, Options{Keyring: ring})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	return s
}

// expectKeyringError opens path with ring and wants a *KeyringError whose
// missing and mismatched versions are the given ones and whose sentence
// holds every word of says.
func expectKeyringError(t *testing.T, path string, ring *phi.Keyring, missing, mismatched []uint32, says ...string) {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path, Options{Keyring: ring})
	if err == nil {
		s.Close()
		t.Fatalf("a keyring that cannot open this database was accepted (missing %v, mismatched %v)", missing, mismatched)
	}
	var ke *KeyringError
	if !errors.As(err, &ke) {
		t.Fatalf("err = %v; want a *KeyringError", err)
	}
	if !slices.Equal(ke.Missing, missing) || !slices.Equal(ke.Mismatched, mismatched) {
		t.Errorf("missing %v, mismatched %v; want %v, %v (%v)", ke.Missing, ke.Mismatched, missing, mismatched, err)
	}
	for _, w := range says {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

const testClinic = "550e8400-e29b-41d4-a716-446655440000"

func seedClinic(t testing.TB, s *Store) {
	t.Helper()
	if err := s.CreateClinic(context.Background(), &novamed.Clinic{ID: testClinic, Name: "C", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func testPatient(i int) *novamed.Patient {
	return &novamed.Patient{ID: uuid.NewString(), ClinicID: testClinic, Status: "active", FirstName: fmt.Sprintf("Idx%06d", i),
		LastName: "Reindex", DateOfBirth: "1980-02-03", Species: "human", CreatedAt: time.Now()}
}

// TestKeyCheckValues: a database remembers a key-check value per master
// key version; a keyring with another key under a version, or without a
// version the data needs, cannot open it, and the error names the version
// (issue 19, finding 13).
func TestKeyCheckValues(t *testing.T) {
	ctx := context.Background()
	a, b := testKey(t), testKey(t)
	path := filepath.Join(t.TempDir(), "k.db")

	s := mustOpen(t, path, testRing(t, map[uint32][]byte{1: a}))
	s.Close()
	// Even empty (freshly migrated), the database now belongs to key a.
	expectKeyringError(t, path, testRing(t, map[uint32][]byte{1: b}), nil, []uint32{1}, "master key v1", "key-check value differs")

	s = mustOpen(t, path, testRing(t, map[uint32][]byte{1: a}))
	seedClinic(t, s)
	if err := s.CreatePatient(ctx, testPatient(1), novamed.Effects{}); err != nil {
		t.Fatal(err)
	}
	// A database sealed before key checks existed: its data decides.
	if _, err := s.writeDB.Exec(`DELETE FROM key_checks`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	expectKeyringError(t, path, testRing(t, map[uint32][]byte{1: b}), nil, []uint32{1}, "master key v1")
	expectKeyringError(t, path, testRing(t, map[uint32][]byte{2: a}), []uint32{1}, []uint32{}, "needs master key v1")
	s = mustOpen(t, path, testRing(t, map[uint32][]byte{1: a}))
	checks, err := s.keyChecks(ctx)
	if err != nil || len(checks) != 1 {
		t.Fatalf("key checks after an upgrade = %v, %v; want v1 recorded", checks, err)
	}
	s.Close()

	// A second version is recorded when it first appears; the first one
	// stays needed until crypto rotate retires it.
	s = mustOpen(t, path, testRing(t, map[uint32][]byte{1: a, 2: b}))
	s.Close()
	expectKeyringError(t, path, testRing(t, map[uint32][]byte{2: b}), []uint32{1}, nil, "needs master key v1")
	expectKeyringError(t, path, testRing(t, map[uint32][]byte{1: a, 2: a}), nil, []uint32{2}, "master key v2")
}

// testIndexState reads the re-index progress.
func (s *Store) testIndexState(t testing.TB) indexState {
	t.Helper()
	st, err := s.indexState(context.Background(), s.write)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestBlindIndexReindex: crypto rotate's re-index moves the blind indexes
// to the newest key version in resumable batches while writes go on; a
// duplicate is refused before, during and after it, also once the old
// version is gone; and a keyring without the version the indexes need is
// refused until the re-index is done (issue 19, finding 14).
func TestBlindIndexReindex(t *testing.T) {
	ctx := context.Background()
	a, b := testKey(t), testKey(t)
	path := filepath.Join(t.TempDir(), "r.db")
	s := mustOpen(t, path, testRing(t, map[uint32][]byte{1: a}))
	seedClinic(t, s)
	const n = 20
	for i := range n {
		if err := s.CreatePatient(ctx, testPatient(i), novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreatePractitioner(ctx, &novamed.Practitioner{ID: uuid.NewString(), ClinicID: testClinic, Status: "pending",
		FirstName: "P", LastName: "Q", Email: "p@q.test", NPI: "1234567893", CreatedAt: time.Now()}, novamed.Effects{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = mustOpen(t, path, testRing(t, map[uint32][]byte{1: a, 2: b}))
	defer func() { s.Close() }()
	if st := s.testIndexState(t); st.version != 1 || st.target != 1 {
		t.Fatalf("index state %+v; want v1 before any re-index", st)
	}
	dupOf := func(i int) error { return s.CreatePatient(ctx, testPatient(i), novamed.Effects{}) }
	// Part of the way: the practitioners, then a first batch of patients.
	for st := s.testIndexState(t); st.phase != "patients" || st.cursor == ""; st = s.testIndexState(t) {
		if _, _, err := s.reindexBatch(ctx, 7); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.testIndexState(t); st.version != 1 || st.target != 2 {
		t.Fatalf("index state mid-way %+v; want v1 → v2", st)
	}
	for i := range n {
		var dup *novamed.DuplicateError
		if err := dupOf(i); !errors.As(err, &dup) || dup.ExistingID == "" {
			t.Errorf("duplicate of patient %d during the re-index: %v; want a DuplicateError naming the existing row", i, err)
		}
	}
	// Mid-way, a keyring without v1 cannot open the database, even once v1
	// is otherwise retired: the indexes still need it.
	if _, err := s.writeDB.Exec(`UPDATE key_checks SET retired_at = 1 WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	expectKeyringError(t, path, testRing(t, map[uint32][]byte{2: b}), []uint32{1}, nil, "blind indexes", "re-index to v2 is in progress", "crypto rotate")
	if _, err := s.writeDB.Exec(`UPDATE key_checks SET retired_at = NULL`); err != nil {
		t.Fatal(err)
	}
	// A new patient mid-way is indexed under v2 straight away.
	if err := s.CreatePatient(ctx, testPatient(n), novamed.Effects{}); err != nil {
		t.Fatal(err)
	}

	if _, err := s.RotatePHI(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReindexBlind(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if st := s.testIndexState(t); st.version != 2 || st.target != 2 || st.phase != "" {
		t.Fatalf("index state after the re-index %+v; want v2", st)
	}
	retired, err := s.RetireKeyVersions(ctx)
	if err != nil || !slices.Equal(retired, []uint32{1}) {
		t.Fatalf("RetireKeyVersions = %v, %v; want [1]", retired, err)
	}
	s.Close()

	// v1 removed from the keyring: the store opens, and duplicates are
	// still refused (with the lowest-version index key they were not).
	s = mustOpen(t, path, testRing(t, map[uint32][]byte{2: b}))
	for i := range n + 1 {
		if err := dupOf(i); !errors.Is(err, novamed.ErrConflict) {
			t.Errorf("duplicate of patient %d after v1 was retired: %v; want ErrConflict", i, err)
		}
	}
	if err := s.CreatePractitioner(ctx, &novamed.Practitioner{ID: uuid.NewString(), ClinicID: testClinic, Status: "pending",
		FirstName: "P", LastName: "Q", Email: "p@q.test", NPI: "1234567893", CreatedAt: time.Now()}, novamed.Effects{}); !errors.Is(err, novamed.ErrConflict) {
		t.Errorf("duplicate practitioner NPI after v1 was retired: %v; want ErrConflict", err)
	}
	if err := s.CreatePatient(ctx, testPatient(n+1), novamed.Effects{}); err != nil {
		t.Errorf("a new patient after the re-index: %v", err)
	}
}

// TestReindex100k measures the re-index of 100,000 patients (run by hand:
// NOVAMED_REINDEX_100K=1 go test -run TestReindex100k -v ./internal/sqlstore/).
func TestReindex100k(t *testing.T) {
	if os.Getenv("NOVAMED_REINDEX_100K") == "" {
		t.Skip("set NOVAMED_REINDEX_100K=1 to seed 100k patients and time their re-index")
	}
	ctx := context.Background()
	a, b := testKey(t), testKey(t)
	path := filepath.Join(t.TempDir(), "big.db")
	s := mustOpen(t, path, testRing(t, map[uint32][]byte{1: a}))
	seedClinic(t, s)
	const total = 100_000
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)); i <= total; i = int(next.Add(1)) {
				if err := s.CreatePatient(ctx, testPatient(i), novamed.Effects{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("seeded %d patients in %v", total, time.Since(start).Round(time.Millisecond))
	s.Close()
	s = mustOpen(t, path, testRing(t, map[uint32][]byte{1: a, 2: b}))
	defer s.Close()
	start = time.Now()
	n, err := s.ReindexBlind(ctx, 500)
	if err != nil || n != total {
		t.Fatalf("ReindexBlind = %d, %v; want %d", n, err, total)
	}
	t.Logf("re-indexed %d patients in %v (batches of 500)", n, time.Since(start).Round(time.Millisecond))
}
