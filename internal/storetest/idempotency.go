package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

func testIdempotency(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		long := strings.Repeat("k~!", 85) // 255 printable characters
		cases := []struct {
			name string
			rec  *novamed.IdempotencyRecord
		}{
			{"json body", idemRecord("owner-1", "key-1", base)},
			{"255-character key", idemRecord("owner-1", long, base)},
			{"error answer", &novamed.IdempotencyRecord{
				Owner: "owner-1", Key: "key-2", Fingerprint: "fp", Status: 422,
				Body:      []byte(`{"error":{"code":"VALIDATION_ERROR","message":"first_name is required."}}`),
				CreatedAt: at(time.Hour),
			}},
			{"with clinic and resources", &novamed.IdempotencyRecord{
				Owner: "owner-1", Key: "key-4", Fingerprint: "k1:fp", Status: 200, Body: []byte(`{"success":true}`),
				CreatedAt: base, ClinicID: "c-1", ResourceIDs: []string{"r-1", "r-2"},
			}},
			{"empty body", &novamed.IdempotencyRecord{
				Owner: "owner-1", Key: "key-3", Fingerprint: "fp", Status: 204, Body: []byte{}, CreatedAt: base,
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, newStore)
				want := storedIdem(tc.rec)
				must(t, "SaveIdempotency", f.s.SaveIdempotency(f.ctx, tc.rec, nil))
				got, err := f.s.GetIdempotency(f.ctx, tc.rec.Owner, tc.rec.Key)
				must(t, "GetIdempotency", err)
				equal(t, "GetIdempotency", got, want)
				equal(t, "audit records", len(f.scanAudit(zeroTime, zeroTime)), 0)
			})
		}
	})

	t.Run("WithAudit", func(t *testing.T) {
		f := newFixture(t, newStore)
		rec := idemRecord("owner-1", "key-1", base)
		a := f.auditRecord("patient.create", base)
		snap := *a
		must(t, "SaveIdempotency", f.s.SaveIdempotency(f.ctx, rec, a))
		got, err := f.s.GetIdempotency(f.ctx, "owner-1", "key-1")
		must(t, "GetIdempotency", err)
		equal(t, "GetIdempotency", got, storedIdem(rec))
		recs := f.scanAudit(zeroTime, zeroTime)
		if equal(t, "audit records", len(recs), 1) {
			equal(t, "audit record", recs[0], storedAudit(snap, 1, "", recs[0].Hash))
		}
		verifyAudit(t, f, 1)
	})

	t.Run("Duplicate", func(t *testing.T) {
		f := newFixture(t, newStore)
		first := idemRecord("owner-1", "key-1", base)
		must(t, "SaveIdempotency", f.s.SaveIdempotency(f.ctx, first, f.auditRecord("a", base)))
		second := idemRecord("owner-1", "key-1", at(time.Hour))
		second.Fingerprint, second.Status, second.Body = "other", 400, []byte(`{}`)
		err := f.s.SaveIdempotency(f.ctx, second, f.auditRecord("b", base))
		wantIs(t, "SaveIdempotency duplicate", err, novamed.ErrIdempotencyConflict)
		got, err := f.s.GetIdempotency(f.ctx, "owner-1", "key-1")
		must(t, "GetIdempotency", err)
		equal(t, "GetIdempotency keeps the first", got, storedIdem(first))
		equal(t, "audit records", len(f.scanAudit(zeroTime, zeroTime)), 1)
		verifyAudit(t, f, 1)
	})

	t.Run("ScopedToOwner", func(t *testing.T) {
		f := newFixture(t, newStore)
		recs := []*novamed.IdempotencyRecord{
			idemRecord("owner-1", "key-1", base),
			idemRecord("owner-2", "key-1", base),
			idemRecord("own", "er-1key-1", base), // same concatenation as owner-1 + key-1
		}
		for _, r := range recs {
			must(t, "SaveIdempotency "+r.Owner+"/"+r.Key, f.s.SaveIdempotency(f.ctx, r, nil))
		}
		for _, r := range recs {
			got, err := f.s.GetIdempotency(f.ctx, r.Owner, r.Key)
			must(t, "GetIdempotency "+r.Owner+"/"+r.Key, err)
			equal(t, "GetIdempotency "+r.Owner+"/"+r.Key, got, storedIdem(r))
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		f := newFixture(t, newStore)
		must(t, "SaveIdempotency", f.s.SaveIdempotency(f.ctx, idemRecord("owner-1", "key-1", base), nil))
		for _, c := range [][2]string{{"owner-1", "key-2"}, {"owner-2", "key-1"}, {"owner-1", "KEY-1"}, {"", ""}} {
			got, err := f.s.GetIdempotency(f.ctx, c[0], c[1])
			wantCode(t, "GetIdempotency "+c[0]+"/"+c[1], err, novamed.CodeNotFound)
			if got != nil {
				t.Errorf("GetIdempotency %s/%s: got %+v, want nil", c[0], c[1], got)
			}
		}
	})

	t.Run("Purge", func(t *testing.T) {
		f := newFixture(t, newStore)
		cutoff := at(-time.Hour).Truncate(time.Microsecond)
		recs := map[string]time.Time{
			"3h":   at(-3 * time.Hour),
			"2h":   at(-2 * time.Hour),
			"1h1":  cutoff.Add(-time.Microsecond),
			"1h":   cutoff, // not before the cutoff: kept
			"0":    base,
			"soon": at(time.Hour),
		}
		for key, created := range recs {
			must(t, "SaveIdempotency "+key, f.s.SaveIdempotency(f.ctx, idemRecord("owner-1", key, created), nil))
		}
		n, err := f.s.PurgeIdempotency(f.ctx, cutoff)
		must(t, "PurgeIdempotency", err)
		equal(t, "PurgeIdempotency count", n, int64(3))
		for key, created := range recs {
			got, err := f.s.GetIdempotency(f.ctx, "owner-1", key)
			if created.Before(cutoff) {
				wantCode(t, "GetIdempotency of purged "+key, err, novamed.CodeNotFound)
				continue
			}
			must(t, "GetIdempotency of kept "+key, err)
			equal(t, "GetIdempotency of kept "+key, got, storedIdem(idemRecord("owner-1", key, created)))
		}
		n, err = f.s.PurgeIdempotency(f.ctx, cutoff)
		must(t, "second PurgeIdempotency", err)
		equal(t, "second PurgeIdempotency count", n, int64(0))
		n, err = f.s.PurgeIdempotency(f.ctx, at(2*time.Hour))
		must(t, "PurgeIdempotency of the rest", err)
		equal(t, "PurgeIdempotency of the rest count", n, int64(3))
	})
}
