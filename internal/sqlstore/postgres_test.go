package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the maintenance connection

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/storetest"
	"github.com/novamed/partner-api/internal/testenv/pgdb"
)

// postgresServer connects to the test server (pgdb.Connect: skipped
// loudly when unreachable, a failure when CI=true).
func postgresServer(t testing.TB) *pgServer {
	t.Helper()
	return &pgServer{pgdb.Connect(t)}
}

// pgServer is a reachable PostgreSQL server on which tests create and drop
// databases.
type pgServer struct{ *pgdb.Server }

// freshDatabase returns the DSN of a database with the current schema
// (a copy of the migrated template), dropped when t ends.
func (p *pgServer) freshDatabase(t testing.TB) string {
	t.Helper()
	return p.Fresh(t)
}

// emptyDatabase returns the DSN of an empty database (for the tests of
// migrations themselves), dropped when t ends.
func (p *pgServer) emptyDatabase(t testing.TB) string {
	t.Helper()
	return p.Empty(t)
}

// openPostgres opens a store on dsn, closed when t ends.
func openPostgres(t testing.TB, ctx context.Context, dsn string, ring *phi.Keyring) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenPostgres(ctx, dsn, sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func testKeyring(t testing.TB) *phi.Keyring {
	t.Helper()
	key, err := phi.GenerateKey()
	if err != nil {
		t.Fatalf("phi.GenerateKey: %v", err)
	}
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatalf("phi.NewKeyring: %v", err)
	}
	return ring
}

// TestPostgresConformance runs the store conformance suite on PostgreSQL,
// with a freshly created database per subtest.
func TestPostgresConformance(t *testing.T) {
	srv := postgresServer(t)
	ring := testKeyring(t)
	storetest.Run(t, func(t *testing.T) novamed.Store {
		t.Helper()
		return openPostgres(t, t.Context(), srv.freshDatabase(t), ring)
	})
}

// TestPostgresReplicas runs two stores (two pools, as two replicas would) on
// one database and checks that their concurrent writes serialise.
func TestPostgresReplicas(t *testing.T) {
	srv := postgresServer(t)
	ring := testKeyring(t)
	dsn := srv.emptyDatabase(t)
	ctx := t.Context()

	// Both start at once: the migrations and the catalogue seeding race.
	var stores [2]*sqlstore.Store
	var errs [2]error
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = sqlstore.OpenPostgres(ctx, dsn, sqlstore.Options{Keyring: ring}) })
	}
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close store %d: %v", i, err)
				}
			})
		}
		if errs[i] != nil {
			t.Fatalf("OpenPostgres (replica %d): %v", i, errs[i])
		}
	}
	a, b := stores[0], stores[1]
	for i, s := range stores {
		cs, err := s.ListCarriers(ctx)
		if err != nil {
			t.Fatalf("ListCarriers (replica %d): %v", i, err)
		}
		if want := len(novamed.DefaultCatalogue()); len(cs) != want {
			t.Errorf("ListCarriers (replica %d): %d carriers, want the default catalogue's %d", i, len(cs), want)
		}
	}

	t.Run("AuditChain", func(t *testing.T) {
		const workers, appends = 8, 25
		start := make(chan struct{})
		var wg sync.WaitGroup
		errc := make(chan error, workers)
		for w := range workers {
			s := stores[w%2]
			wg.Go(func() {
				<-start
				for i := range appends {
					recs := []*novamed.AuditRecord{auditRecord(w, i, 0)}
					if i%5 == 4 { // sometimes several records in one append
						recs = append(recs, auditRecord(w, i, 1))
					}
					if err := s.AppendAudit(ctx, recs); err != nil {
						errc <- fmt.Errorf("worker %d append %d: %w", w, i, err)
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatalf("AppendAudit: %v", err)
		}
		want := int64(workers * (appends + appends/5))
		for i, s := range stores {
			n, err := audit.Verify(ctx, s)
			if err != nil || n != want {
				t.Errorf("audit.Verify (replica %d): got (%d, %v), want (%d, nil)", i, n, err, want)
			}
		}
		seen := map[string]int{}
		if err := a.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
			seen[r.RequestID]++
			return nil
		}); err != nil {
			t.Fatalf("ScanAudit: %v", err)
		}
		if len(seen) != int(want) {
			t.Errorf("ScanAudit: %d distinct records, want %d", len(seen), want)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("ScanAudit: record %s stored %d times", id, n)
			}
		}
	})

	t.Run("RollAPIKey", func(t *testing.T) {
		clinic := &novamed.Clinic{ID: uuid.NewString(), Name: "Replica Clinic", CreatedAt: time.Now()}
		if err := a.CreateClinic(ctx, clinic); err != nil {
			t.Fatalf("CreateClinic: %v", err)
		}
		for round := range 10 {
			old := newAPIKey(clinic.ID)
			if err := a.CreateAPIKey(ctx, old); err != nil {
				t.Fatalf("CreateAPIKey: %v", err)
			}
			grace := time.Now().Add(time.Hour)
			var next [2]*novamed.APIKey
			var errs [2]error
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, s := range []*sqlstore.Store{a, b} {
				next[i] = newAPIKey("")
				wg.Go(func() {
					<-start
					_, errs[i] = s.RollAPIKey(ctx, old.ID, next[i], grace)
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil:
					if winner >= 0 {
						t.Fatalf("round %d: both replicas rolled key %s", round, old.ID)
					}
					winner = i
				case novamed.ErrorCode(err) != novamed.CodeInvalid:
					t.Fatalf("round %d: RollAPIKey on replica %d: %v, want code %s", round, i, err, novamed.CodeInvalid)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: neither replica rolled key %s: %v", round, old.ID, errs)
			}
			got, err := b.GetAPIKey(ctx, old.ID)
			if err != nil {
				t.Fatalf("GetAPIKey: %v", err)
			}
			if got.ReplacedBy != next[winner].ID {
				t.Errorf("round %d: replaced_by %q, want the winner's successor %q", round, got.ReplacedBy, next[winner].ID)
			}
			if _, err := a.GetAPIKey(ctx, next[1-winner].ID); novamed.ErrorCode(err) != novamed.CodeNotFound {
				t.Errorf("round %d: the losing successor: GetAPIKey error %v, want not found", round, err)
			}
		}
	})

	t.Run("KeyActivity", func(t *testing.T) {
		// Batches touching the same keys must not deadlock each other.
		clinic := &novamed.Clinic{ID: uuid.NewString(), Name: "Touch Clinic", CreatedAt: time.Now()}
		if err := a.CreateClinic(ctx, clinic); err != nil {
			t.Fatalf("CreateClinic: %v", err)
		}
		var ids []string
		for range 12 {
			k := newAPIKey(clinic.ID)
			if err := a.CreateAPIKey(ctx, k); err != nil {
				t.Fatalf("CreateAPIKey: %v", err)
			}
			ids = append(ids, k.ID)
		}
		base := time.Now().UTC().Truncate(time.Microsecond)
		const racers, rounds = 8, 10
		errs := make([]error, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			s := stores[i%2]
			wg.Go(func() {
				<-start
				for r := range rounds {
					batch := map[string]time.Time{}
					for _, id := range ids {
						batch[id] = base.Add(time.Duration(r*racers+i) * time.Millisecond)
					}
					var activity []novamed.KeyActivity
					for id, t := range batch {
						activity = append(activity, novamed.KeyActivity{KeyID: id, LastUsedAt: t})
					}
					if err := s.AddUsage(ctx, nil, activity); err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("AddUsage %d: %v", i, err)
			}
		}
		want := base.Add(time.Duration(rounds*racers-1) * time.Millisecond)
		for _, id := range ids {
			k, err := b.GetAPIKey(ctx, id)
			if err != nil {
				t.Fatalf("GetAPIKey: %v", err)
			}
			if k.LastUsedAt == nil || !k.LastUsedAt.Equal(want) {
				t.Errorf("key %s: last used %v, want the latest touch %v", id, k.LastUsedAt, want)
			}
		}
	})

	t.Run("ReplaceCarriers", func(t *testing.T) {
		// Each import deletes the catalogue and inserts its own; without
		// a table lock a second one would insert ids the first one added.
		full := novamed.DefaultCatalogue()
		const racers = 8
		errs := make([]error, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			s := stores[i%2]
			wg.Go(func() {
				<-start
				errs[i] = s.ReplaceCarriers(ctx, full[:1+i%len(full)], false)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("ReplaceCarriers %d: %v", i, err)
			}
		}
		got, err := b.ListCarriers(ctx)
		if err != nil {
			t.Fatalf("ListCarriers: %v", err)
		}
		if n := len(got); n < 1 || n > len(full) || got[0].ID != full[0].ID || got[n-1].ID != full[n-1].ID {
			t.Errorf("ListCarriers after the race: %d carriers, not one import's catalogue", n)
		}
		if err := a.ReplaceCarriers(ctx, full, false); err != nil {
			t.Fatalf("ReplaceCarriers: %v", err)
		}
	})

	t.Run("Idempotency", func(t *testing.T) {
		before, _, err := a.AuditHead(ctx)
		if err != nil {
			t.Fatalf("AuditHead: %v", err)
		}
		const racers = 8
		errs := make([]error, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			s := stores[i%2]
			wg.Go(func() {
				<-start
				r := &novamed.IdempotencyRecord{Owner: "owner", Key: "same-key", Fingerprint: fmt.Sprint(i),
					Status: 201, Body: []byte(`{}`), CreatedAt: time.Now()}
				errs[i] = s.SaveIdempotency(ctx, r, auditRecord(100+i, 0, 0))
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, novamed.ErrIdempotencyConflict):
				t.Errorf("SaveIdempotency %d: %v, want nil or ErrIdempotencyConflict", i, err)
			}
		}
		if won != 1 {
			t.Errorf("SaveIdempotency: %d racers won, want 1", won)
		}
		if n, err := audit.Verify(ctx, b); err != nil || n != before+1 {
			t.Errorf("audit.Verify: got (%d, %v), want (%d, nil): only the winner is audited", n, err, before+1)
		}
	})
}

func auditRecord(worker, i, part int) *novamed.AuditRecord {
	return &novamed.AuditRecord{
		Time: time.Now(), RequestID: fmt.Sprintf("req-%d-%d-%d", worker, i, part), KeyID: "key-1",
		Action: "patient.create", ResourceType: "patient", ResourceIDs: []string{uuid.NewString()}, Status: 201,
	}
}

// newAPIKey builds (without storing) a development key; clinic "" leaves
// the grants to RollAPIKey.
func newAPIKey(clinic string) *novamed.APIKey {
	id := uuid.NewString()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	k := &novamed.APIKey{ID: id, Owner: id, Name: "replica key", Environment: novamed.Development,
		Prefix: "dev_" + hex.EncodeToString(raw[:4]), HashHex: hex.EncodeToString(raw), CreatedAt: time.Now()}
	if clinic != "" {
		k.Clinics = []string{clinic}
	}
	return k
}

// openPostgresAndRaw opens a store on a fresh database and a plain
// connection to the same database, both closed when t ends.
func openPostgresAndRaw(t *testing.T) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	dsn := postgresServer(t).freshDatabase(t)
	s := openPostgres(t, t.Context(), dsn, testKeyring(t))
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return s, raw
}

// TestPostgresWritesDoNotWaitForTheChainHead: a write stores its audit
// records without the chain head's row lock (held here by another session,
// as a chainer holds it while linking), so writes of all replicas no longer
// commit one after another; the background chainer links them once the head
// is free, and also links a batch another process left pending.
func TestPostgresWritesDoNotWaitForTheChainHead(t *testing.T) {
	ctx := t.Context()
	s, raw := openPostgresAndRaw(t)
	count := func(table string) int {
		t.Helper()
		var n int
		if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitChained := func(want int) {
		t.Helper()
		if !wait.For(10*time.Second, func() bool { return count("audit_log") == want && count("audit_pending") == 0 }) {
			t.Fatalf("after 10 s: %d records chained, %d batches pending; want %d chained, none pending",
				count("audit_log"), count("audit_pending"), want)
		}
	}

	holder, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	recs := []*novamed.AuditRecord{
		{Time: time.Now(), RequestID: "req_a", Action: "patient.create", Status: 200},
		{Time: time.Now(), RequestID: "req_b", Action: "patient.read", Status: 200},
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = s.AppendAudit(wctx, recs)
	cancel()
	if err != nil {
		t.Fatalf("AppendAudit while another session holds the chain head: %v (writes wait for the head again)", err)
	}
	if got := count("audit_pending"); got != 1 {
		t.Fatalf("pending batches while the head is held = %d, want 1", got)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	waitChained(2)

	// A batch stored by a process that died before chaining it.
	left := `[{"seq":0,"time":"2026-11-27T08:00:00Z","request_id":"req_left","action":"patient.read","status":200,"prev_hash":"","hash":""}]`
	if _, err := raw.ExecContext(ctx, `INSERT INTO audit_pending (records) VALUES ($1)`, left); err != nil {
		t.Fatal(err)
	}
	waitChained(3)
	n, err := audit.Verify(ctx, s)
	if err != nil || n != 3 {
		t.Fatalf("audit.Verify = %d, %v; want 3, nil", n, err)
	}
	var ids []string
	err = s.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		ids = append(ids, r.RequestID)
		return nil
	})
	if err != nil || strings.Join(ids, ",") != "req_a,req_b,req_left" {
		t.Fatalf("chain order %v, %v; want req_a,req_b,req_left", ids, err)
	}
}

// TestPostgresUnreadablePendingBatchIsQuarantined: a pending batch that
// cannot be read (only a bug or an edit of the database makes one) neither
// crashes the chainer nor stops the chain: it is kept in audit_quarantine,
// the chain records where it was and what it held, and later records are
// chained after it.
func TestPostgresUnreadablePendingBatchIsQuarantined(t *testing.T) {
	ctx := t.Context()
	s, raw := openPostgresAndRaw(t)
	for _, bad := range []string{`[null]`, `not json`, `[]`} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO audit_pending (records) VALUES ($1)`, bad); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendAudit(ctx, []*novamed.AuditRecord{{Time: time.Now(), RequestID: "req_after", Action: "patient.read", Status: 200}}); err != nil {
		t.Fatal(err)
	}
	n, err := audit.Verify(ctx, s)
	if err != nil || n != 4 {
		t.Fatalf("audit.Verify = %d, %v; want 4 (three markers and the record), nil", n, err)
	}
	var actions []string
	err = s.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		actions = append(actions, r.Action)
		if r.Action == "audit.unreadable_batch" && (len(r.ResourceIDs) != 2 || len(r.ResourceIDs[1]) != 64) {
			t.Errorf("marker %+v does not name the batch and its SHA-256", r)
		}
		return nil
	})
	if want := "audit.unreadable_batch,audit.unreadable_batch,audit.unreadable_batch,patient.read"; err != nil || strings.Join(actions, ",") != want {
		t.Fatalf("chain %v, %v; want %s", actions, err, want)
	}
	var kept int
	if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM audit_quarantine`).Scan(&kept); err != nil || kept != 3 {
		t.Fatalf("quarantined batches = %d, %v; want 3", kept, err)
	}
}

// TestPostgresIncrementalAuditFlush: on PostgreSQL an incremental append
// commits with synchronous_commit off and the flusher's synchronous
// chaining pass makes it durable and chained; a failing flush refuses
// further incremental appends (503) until one succeeds, and both
// transitions are stored as security events.
func TestPostgresIncrementalAuditFlush(t *testing.T) {
	ctx := t.Context()
	dsn := postgresServer(t).freshDatabase(t)
	var fail atomic.Bool
	s, err := sqlstore.OpenPostgres(ctx, dsn, sqlstore.Options{Keyring: testKeyring(t), AuditFlushWindow: 4 * time.Millisecond,
		AuditFlushFault: func() error {
			if fail.Load() {
				return errors.New("injected flush failure")
			}
			return nil
		}})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	defer s.Close()
	rec := func(id string) []*novamed.AuditRecord {
		return []*novamed.AuditRecord{{Time: time.Now(), RequestID: id, Action: "GET /api/external/patient/{id}", Status: 200}}
	}
	if err := s.AppendAuditIncremental(ctx, rec("r1")); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := s.AppendAuditIncremental(ctx, rec("r2")); err != nil && !errors.Is(err, sqlstore.ErrAuditFlushFailing) {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		wait.Until(t, 10*time.Second, cond, "timed out waiting for %s", what)
	}
	waitFor("the failing flush", func() bool { return s.AuditFlushErr() != nil })
	if err := s.AppendAuditIncremental(ctx, rec("r3")); !errors.Is(err, sqlstore.ErrAuditFlushFailing) || sqlstore.FaultOf(err) != sqlstore.Unavailable {
		t.Errorf("append while failing: %v", err)
	}
	fail.Store(false)
	waitFor("a flush to succeed", func() bool { return s.AuditFlushErr() == nil })
	if err := s.AppendAuditIncremental(ctx, rec("r4")); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := s.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error { ids = append(ids, r.RequestID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ids, "r1") || !slices.Contains(ids, "r4") || slices.Contains(ids, "r3") {
		t.Errorf("trail %v: want r1 and r4, never the refused r3", ids)
	}
	waitFor("two security events", func() bool {
		evs, err := s.ListSecurityEvents(ctx, time.Time{}, 10)
		n := 0
		for _, ev := range evs {
			if err == nil && ev.Rule == sqlstore.RuleAuditFlushFailed {
				n++
			}
		}
		return n == 2
	})
}
