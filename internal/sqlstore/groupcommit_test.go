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

// TestGroupCommitSurvivesAnInterruptedJob: a job whose request is cancelled
// while its INSERT runs makes SQLite roll back the whole shared transaction;
// the other jobs of the batch must still commit (re-run in a fresh one).
func TestGroupCommitSurvivesAnInterruptedJob(t *testing.T) {
	s := openTestStore(t)
	if _, err := s.write.Exec(`CREATE TABLE gi (n INTEGER PRIMARY KEY)`); err != nil {
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
	if err := s.read.QueryRow(`SELECT COUNT(*) FROM gi`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if err0, err2 := <-results[0], <-results[2]; err0 != nil || err2 != nil || count != 2 {
		t.Fatalf("innocent jobs: %v / %v, %d rows committed, want 2", err0, err2, count)
	}
}

// TestGroupCommitAnswersOnlyAfterSync: the connection commits without
// fsync, so a write must not be acknowledged until the flusher's fsync —
// one that began after its COMMIT — has returned; and a failed fsync fails
// the write instead of acknowledging it.
func TestGroupCommitAnswersOnlyAfterSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE gs (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	reader, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	syncCalls := make(chan chan error) // each sync hands the test a channel for its result
	g, err := newGroupCommitter(db, 8, nil, func() error {
		res := make(chan error)
		syncCalls <- res
		return <-res
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()

	insert := func(n int) chan error {
		done := make(chan error, 1)
		go func() {
			done <- g.run(context.Background(), func(tx *sql.Tx) error {
				_, err := tx.Exec(`INSERT INTO gs (n) VALUES (?)`, n)
				return err
			})
		}()
		return done
	}
	visible := func(n int) bool {
		var c int
		if err := reader.QueryRow(`SELECT COUNT(*) FROM gs WHERE n = ?`, n).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c == 1
	}

	nextSync := func() chan error {
		select {
		case c := <-syncCalls:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no fsync was requested for a committed write")
			return nil
		}
	}
	done := insert(1)
	sync1 := nextSync() // the flusher asks for its fsync only after the COMMIT
	if !visible(1) {
		t.Fatal("sync requested before the batch was committed")
	}
	select {
	case err := <-done:
		t.Fatalf("write acknowledged (%v) while its fsync was still running", err)
	default:
	}
	sync1 <- nil
	if err := <-done; err != nil {
		t.Fatalf("write after a good fsync: %v", err)
	}

	done = insert(2)
	nextSync() <- errors.New("disk on fire")
	if err := <-done; err == nil || !strings.Contains(err.Error(), "sync") {
		t.Fatalf("write whose fsync failed: err %v, want a sync error", err)
	}
}

// TestWALSyncerSyncsWhateverHoldsTheData: the syncer fsyncs the log when
// there is one and the database file when SQLite has removed the log.
func TestWALSyncerSyncsWhateverHoldsTheData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	sync := walSyncer(path)
	if err := sync(); err == nil {
		t.Fatal("sync of a database that does not exist succeeded")
	}
	if err := os.WriteFile(path, []byte("db"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sync(); err != nil {
		t.Fatalf("no log, database file present: %v", err)
	}
	if err := os.WriteFile(path+"-wal", []byte("wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sync(); err != nil {
		t.Fatalf("log present: %v", err)
	}
}

// TestGroupCommitAuditIsPerJobAndChained: audit records appended inside
// group commit jobs are written once per batch; a job that fails after
// appending leaves no record, every successful job's records are there, and
// the chain verifies.
func TestGroupCommitAuditIsPerJobAndChained(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.write.Exec(`CREATE TABLE ga (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	for i := 0; i < 120; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := s.inTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO ga (n) VALUES (?)`, i); err != nil {
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
