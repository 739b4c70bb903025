package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
)

func openTestStore(t testing.TB) *Store {
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
	if _, err := s.writeDB.Exec(`CREATE TABLE gc (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, 200)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = s.inTx(ctx, func(tx *txn) error {
				if _, err := tx.exec(ctx, `INSERT INTO gc (n) VALUES (?)`, i); err != nil {
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
	if err := s.readDB.QueryRow(`SELECT COUNT(*) FROM gc`).Scan(&count); err != nil {
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
		if err := s.readDB.QueryRow(`SELECT COUNT(*) FROM gc WHERE n = ?`, n).Scan(&one); err != nil || one != 0 {
			t.Errorf("row of failed job %d present", n)
		}
	}
	s.Close()
	if err := s.inTx(ctx, func(*txn) error { return nil }); err == nil {
		t.Errorf("write after close succeeded")
	}
}

// TestGroupCommitSurvivesAnInterruptedJob: a job whose request is cancelled
// while its INSERT runs makes SQLite roll back the whole shared transaction;
// the other jobs of the batch must still commit (re-run in a fresh one).
func TestGroupCommitSurvivesAnInterruptedJob(t *testing.T) {
	s := openTestStore(t)
	if _, err := s.writeDB.Exec(`CREATE TABLE gi (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	results := make([]chan error, 3)
	var batch []*commitJob
	for i := range results {
		results[i] = make(chan error, 1)
		n := i
		batch = append(batch, &commitJob{ctx: ctx, err: results[i], fn: func(tx *sql.Tx) error {
			if n != 1 {
				_, err := tx.ExecContext(ctx, `INSERT INTO gi (n) VALUES (?)`, n)
				return err
			}
			slow, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			defer cancel()
			_, err := tx.ExecContext(slow, `INSERT INTO gi (n) SELECT 1 WHERE (SELECT COUNT(*) FROM
				(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 200000000) SELECT x FROM c)) > 0`)
			return err
		}})
	}
	s.group.commit(batch)
	if err := <-results[1]; err == nil {
		t.Fatalf("the interrupted job succeeded")
	}
	var count int
	if err := s.readDB.QueryRow(`SELECT COUNT(*) FROM gi`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if err0, err2 := <-results[0], <-results[2]; err0 != nil || err2 != nil || count != 2 {
		t.Fatalf("innocent jobs: %v / %v, %d rows committed, want 2", err0, err2, count)
	}
}

// TestGroupCommitAuditIsPerJobAndChained: audit records appended inside
// group commit jobs are written once per batch; a job that fails after
// appending leaves no record, every successful job's records are there, and
// the chain verifies.
func TestGroupCommitAuditIsPerJobAndChained(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.writeDB.Exec(`CREATE TABLE ga (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	for i := 0; i < 120; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := s.inTx(ctx, func(tx *txn) error {
				if _, err := tx.exec(ctx, `INSERT INTO ga (n) VALUES (?)`, i); err != nil {
					return err
				}
				recs := []*novamed.AuditRecord{{Time: time.Now(), RequestID: fmt.Sprintf("req-%d", i), Action: "test", Status: 200}}
				if i%3 == 0 { // two records for some jobs
					recs = append(recs, &novamed.AuditRecord{Time: time.Now(), RequestID: fmt.Sprintf("req-%d-b", i), Action: "test", Status: 200})
				}
				if err := s.appendAudit(ctx, tx, recs); err != nil {
					return err
				}
				if i%5 == 0 {
					return errBoom
				}
				return nil
			})
			if (i%5 == 0) != errors.Is(err, errBoom) {
				t.Errorf("job %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	want := map[string]bool{}
	for i := 0; i < 120; i++ {
		if i%5 != 0 {
			want[fmt.Sprintf("req-%d", i)] = true
			if i%3 == 0 {
				want[fmt.Sprintf("req-%d-b", i)] = true
			}
		}
	}
	got := map[string]bool{}
	err := s.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		if got[r.RequestID] {
			t.Errorf("record %s stored twice", r.RequestID)
		}
		got[r.RequestID] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("audit holds %d records, want %d (only the successful jobs', each once)", len(got), len(want))
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != int64(len(want)) {
		t.Errorf("audit verify: %d records, %v", n, err)
	}
}

// TestGroupCommitJobThatCannotBeReleasedIsUndone: a job whose savepoint
// cannot be released (here it releases it itself) must not leave its writes
// in the batch without its audit records: it fails, its writes are gone, and
// the other jobs commit with theirs.
func TestGroupCommitJobThatCannotBeReleasedIsUndone(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.writeDB.Exec(`CREATE TABLE gr (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	results := make([]chan error, 3)
	var batch []*commitJob
	for i := range results {
		results[i] = make(chan error, 1)
		n := i
		batch = append(batch, &commitJob{ctx: ctx, err: results[i], fn: func(tx *sql.Tx) error {
			if _, err := tx.Exec(`INSERT INTO gr (n) VALUES (?)`, n); err != nil {
				return err
			}
			if err := s.appendAudit(ctx, s.newTxn(tx), []*novamed.AuditRecord{{Time: time.Now(), RequestID: fmt.Sprintf("req-%d", n), Action: "test", Status: 200}}); err != nil {
				return err
			}
			if n == 1 {
				_, err := tx.Exec(`RELEASE job`) // the committer's RELEASE now fails
				return err
			}
			return nil
		}})
	}
	s.group.commit(batch)
	if err := <-results[1]; err == nil {
		t.Fatal("the job whose savepoint was gone succeeded")
	}
	if err0, err2 := <-results[0], <-results[2]; err0 != nil || err2 != nil {
		t.Fatalf("the other jobs: %v / %v", err0, err2)
	}
	var rows []int
	r, err := s.readDB.Query(`SELECT n FROM gr ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var n int
		r.Scan(&n) //nolint:errcheck // checked by the comparison
		rows = append(rows, n)
	}
	r.Close()
	if fmt.Sprint(rows) != "[0 2]" {
		t.Errorf("rows %v, want [0 2]", rows)
	}
	var ids []string
	if err := s.ScanAudit(ctx, time.Time{}, time.Time{}, func(rec *novamed.AuditRecord) error {
		ids = append(ids, rec.RequestID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[req-0 req-2]" {
		t.Errorf("audit records %v, want [req-0 req-2]", ids)
	}
	if _, err := audit.Verify(ctx, s); err != nil {
		t.Error(err)
	}
}

// TestGroupCommitCheckpointsBetweenBatches: the committer copies the WAL
// into the database file itself once checkpointJobs jobs have committed,
// long before SQLite's automatic checkpoint (10,000 WAL pages) would;
// fewer jobs leave the database file as it was.
func TestGroupCommitCheckpointsBetweenBatches(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.writeDB.Exec(`CREATE TABLE gc (n INTEGER PRIMARY KEY, pad TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writeDB.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(s.path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	insert := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := s.inTx(ctx, func(tx *txn) error {
				_, err := tx.exec(ctx, `INSERT INTO gc (n, pad) VALUES (?, ?)`, i, strings.Repeat("x", 600))
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(0, checkpointJobs-10)
	if got := size(); got != before {
		t.Fatalf("the database file changed from %d to %d bytes before %d jobs", before, got, checkpointJobs)
	}
	insert(checkpointJobs-10, checkpointJobs+10)
	wait.Until(t, 10*time.Second, func() bool { return size() > before },
		"the database file is still %d bytes after %d jobs: no checkpoint", before, checkpointJobs+10)
}
