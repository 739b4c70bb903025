package storetest

import (
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

var zeroTime time.Time

// storedAudit is the form ScanAudit returns rec in, chained at seq after prev.
// The hash is checked by audit.Verify, so it is taken from got.
func storedAudit(rec novamed.AuditRecord, seq int64, prev, hash string) *novamed.AuditRecord {
	rec.Seq, rec.PrevHash, rec.Hash, rec.Format = seq, prev, hash, audit.FormatVersion
	rec.Time = norm(rec.Time)
	return &rec
}

// verifyAudit checks the whole chain with audit.Verify.
func verifyAudit(t *testing.T, f *fixture, want int64) {
	t.Helper()
	n, err := audit.Verify(f.ctx, f.s)
	if err != nil || n != want {
		t.Errorf("audit.Verify: got (%d, %v), want (%d, nil)", n, err, want)
	}
}

// writer is one kind of write that carries Effects.
type writer struct {
	name string
	// create makes a new valid row in clinic with eff.
	create func(f *fixture, clinic string, eff novamed.Effects) error
	// duplicate makes a row that breaks the uniqueness rule against the row
	// create made last.
	duplicate func(f *fixture, clinic string, eff novamed.Effects) error
	// count returns how many rows of this kind clinic has.
	count func(f *fixture, clinic string) int
}

func writers() []writer {
	var lastPatient *novamed.Patient
	var lastPractitioner *novamed.Practitioner
	return []writer{
		{
			name: "CreatePatient",
			create: func(f *fixture, clinic string, eff novamed.Effects) error {
				lastPatient = f.fullPatient(clinic, "")
				return f.s.CreatePatient(f.ctx, lastPatient, eff)
			},
			duplicate: func(f *fixture, clinic string, eff novamed.Effects) error {
				p := f.minimalPatient(clinic)
				p.FirstName, p.LastName, p.DateOfBirth = lastPatient.FirstName, lastPatient.LastName, lastPatient.DateOfBirth
				return f.s.CreatePatient(f.ctx, p, eff)
			},
			count: func(f *fixture, clinic string) int {
				items, _, err := f.s.ListPatients(f.ctx, novamed.ListFilter{Clinics: []string{clinic}, Limit: 100})
				must(f.t, "ListPatients", err)
				return len(items)
			},
		},
		{
			name: "CreatePractitioner",
			create: func(f *fixture, clinic string, eff novamed.Effects) error {
				lastPractitioner = f.fullPractitioner(clinic)
				return f.s.CreatePractitioner(f.ctx, lastPractitioner, eff)
			},
			duplicate: func(f *fixture, clinic string, eff novamed.Effects) error {
				p := f.minimalPractitioner(clinic)
				p.NPI = lastPractitioner.NPI
				return f.s.CreatePractitioner(f.ctx, p, eff)
			},
			count: func(f *fixture, clinic string) int {
				items, _, err := f.s.ListPractitioners(f.ctx, novamed.ListFilter{Clinics: []string{clinic}, Limit: 100})
				must(f.t, "ListPractitioners", err)
				return len(items)
			},
		},
	}
}

func testEffects(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	for _, w := range writers() {
		t.Run(w.name, func(t *testing.T) {
			t.Run("BothStored", func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				rec := idemRecord("owner-1", "key-1", at(time.Minute))
				a := f.auditRecord("create", at(time.Minute))
				snap := *a
				must(t, w.name, w.create(f, c.ID, novamed.Effects{Idempotency: rec, Audit: a}))
				equal(t, "rows", w.count(f, c.ID), 1)
				got, err := f.s.GetIdempotency(f.ctx, "owner-1", "key-1")
				must(t, "GetIdempotency", err)
				equal(t, "GetIdempotency", got, storedIdem(rec))
				recs := f.scanAudit(zeroTime, zeroTime)
				if equal(t, "audit records", len(recs), 1) {
					equal(t, "audit record", recs[0], storedAudit(snap, 1, "", recs[0].Hash))
				}
				verifyAudit(t, f, 1)
			})

			t.Run("OnlyAudit", func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				must(t, w.name, w.create(f, c.ID, novamed.Effects{Audit: f.auditRecord("create", base)}))
				equal(t, "rows", w.count(f, c.ID), 1)
				equal(t, "audit records", len(f.scanAudit(zeroTime, zeroTime)), 1)
				verifyAudit(t, f, 1)
			})

			t.Run("IdempotencyConflict", func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				first := idemRecord("owner-1", "key-1", at(time.Minute))
				must(t, w.name, w.create(f, c.ID, novamed.Effects{Idempotency: first, Audit: f.auditRecord("create", base)}))

				second := idemRecord("owner-1", "key-1", at(2*time.Minute))
				second.Body, second.Status = []byte(`{"second":true}`), 200
				err := w.create(f, c.ID, novamed.Effects{Idempotency: second, Audit: f.auditRecord("create", base)})
				wantIs(t, "second "+w.name+" with the same key", err, novamed.ErrIdempotencyConflict)
				equal(t, "rows", w.count(f, c.ID), 1)
				equal(t, "audit records", len(f.scanAudit(zeroTime, zeroTime)), 1)
				got, err := f.s.GetIdempotency(f.ctx, "owner-1", "key-1")
				must(t, "GetIdempotency", err)
				equal(t, "GetIdempotency keeps the first answer", got, storedIdem(first))
				verifyAudit(t, f, 1)
			})

			// A retried request is both a duplicate row and a reused key: the
			// key wins, so that the caller replays the first answer.
			t.Run("IdempotencyConflictBeforeDuplicate", func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				must(t, w.name, w.create(f, c.ID, novamed.Effects{Idempotency: idemRecord("owner-1", "key-1", base)}))
				err := w.duplicate(f, c.ID, novamed.Effects{Idempotency: idemRecord("owner-1", "key-1", base)})
				wantIs(t, "retried "+w.name, err, novamed.ErrIdempotencyConflict)
				equal(t, "rows", w.count(f, c.ID), 1)
			})

			t.Run("DuplicateStoresNoEffects", func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				must(t, w.name, w.create(f, c.ID, novamed.Effects{
					Idempotency: idemRecord("owner-1", "key-1", base), Audit: f.auditRecord("create", base),
				}))
				err := w.duplicate(f, c.ID, novamed.Effects{
					Idempotency: idemRecord("owner-1", "key-2", base), Audit: f.auditRecord("create", base),
				})
				wantIs(t, "duplicate "+w.name, err, novamed.ErrConflict)
				equal(t, "rows", w.count(f, c.ID), 1)
				_, err = f.s.GetIdempotency(f.ctx, "owner-1", "key-2")
				wantCode(t, "GetIdempotency of the failed write", err, novamed.CodeNotFound)
				equal(t, "audit records", len(f.scanAudit(zeroTime, zeroTime)), 1)
				verifyAudit(t, f, 1)

				// The key of the failed write is free for the retry.
				must(t, w.name+" retried with a fixed body", w.create(f, c.ID, novamed.Effects{
					Idempotency: idemRecord("owner-1", "key-2", base), Audit: f.auditRecord("create", base),
				}))
				equal(t, "rows after retry", w.count(f, c.ID), 2)
				verifyAudit(t, f, 2)
			})
		})
	}
}
