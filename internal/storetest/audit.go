package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

func testAudit(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("Empty", func(t *testing.T) {
		f := newFixture(t, newStore)
		equal(t, "ScanAudit", f.scanAudit(zeroTime, zeroTime), []*novamed.AuditRecord{})
		seq, hash, err := f.s.AuditHead(f.ctx)
		must(t, "AuditHead", err)
		equal(t, "AuditHead seq", seq, int64(0))
		equal(t, "AuditHead hash", hash, "")
		verifyAudit(t, f, 0)
	})

	t.Run("Chain", func(t *testing.T) {
		f := newFixture(t, newStore)
		var snaps []novamed.AuditRecord
		for i, size := range []int{3, 1, 4} {
			batch := make([]*novamed.AuditRecord, size)
			for j := range batch {
				batch[j] = f.auditRecord(fmt.Sprintf("batch%d.%d", i, j), f.tick())
				snaps = append(snaps, *batch[j])
			}
			must(t, fmt.Sprintf("AppendAudit batch %d", i), f.s.AppendAudit(f.ctx, batch))
		}
		// A record with only the required fields survives too.
		minimal := &novamed.AuditRecord{Time: f.tick(), RequestID: "req-min", Action: "auth.failed", Status: 401}
		snaps = append(snaps, *minimal)
		must(t, "AppendAudit minimal", f.s.AppendAudit(f.ctx, []*novamed.AuditRecord{minimal}))
		must(t, "AppendAudit of nothing", f.s.AppendAudit(f.ctx, nil))

		got := f.scanAudit(zeroTime, zeroTime)
		if !equal(t, "records", len(got), len(snaps)) {
			return
		}
		prev, hashes := "", map[string]bool{}
		for i, r := range got {
			equal(t, fmt.Sprintf("record %d", i+1), r, storedAudit(snaps[i], int64(i+1), prev, r.Hash))
			if r.Hash == "" || hashes[r.Hash] {
				t.Errorf("record %d: hash %q is empty or repeated", i+1, r.Hash)
			}
			hashes[r.Hash] = true
			prev = r.Hash
		}
		seq, hash, err := f.s.AuditHead(f.ctx)
		must(t, "AuditHead", err)
		equal(t, "AuditHead seq", seq, int64(len(snaps)))
		equal(t, "AuditHead hash", hash, prev)
		verifyAudit(t, f, int64(len(snaps)))
	})

	t.Run("ScanWindow", func(t *testing.T) {
		f := newFixture(t, newStore)
		t0 := base.Truncate(time.Microsecond)
		times := []time.Time{t0.Add(2 * time.Second), t0, t0.Add(3 * time.Second), t0.Add(time.Second), t0.Add(4 * time.Second)}
		var recs []*novamed.AuditRecord
		for i, tm := range times {
			recs = append(recs, f.auditRecord(fmt.Sprintf("r%d", i+1), tm))
		}
		must(t, "AppendAudit", f.s.AppendAudit(f.ctx, recs))
		cases := []struct {
			name         string
			since, until time.Time
			want         []int64 // sequence numbers
		}{
			{"unbounded", zeroTime, zeroTime, []int64{1, 2, 3, 4, 5}},
			{"since is inclusive", t0.Add(time.Second), zeroTime, []int64{1, 3, 4, 5}},
			{"until is exclusive", zeroTime, t0.Add(3 * time.Second), []int64{1, 2, 4}},
			{"window", t0.Add(time.Second), t0.Add(3 * time.Second), []int64{1, 4}},
			{"window in another zone", t0.Add(time.Second).In(time.FixedZone("X", 9*3600)), t0.Add(3 * time.Second).UTC(), []int64{1, 4}},
			{"empty window", t0.Add(time.Second), t0.Add(time.Second), []int64{}},
			{"after everything", t0.Add(time.Hour), zeroTime, []int64{}},
		}
		for _, tc := range cases {
			var seqs []int64
			must(t, "ScanAudit "+tc.name, f.s.ScanAudit(f.ctx, tc.since, tc.until, func(r *novamed.AuditRecord) error {
				seqs = append(seqs, r.Seq)
				return nil
			}))
			if seqs == nil {
				seqs = []int64{}
			}
			equal(t, "ScanAudit "+tc.name+" sequence numbers", seqs, tc.want)
		}
	})

	t.Run("ScanStops", func(t *testing.T) {
		f := newFixture(t, newStore)
		var recs []*novamed.AuditRecord
		for i := range 5 {
			recs = append(recs, f.auditRecord(fmt.Sprint(i), f.tick()))
		}
		must(t, "AppendAudit", f.s.AppendAudit(f.ctx, recs))
		stop := errors.New("stop")
		calls := 0
		err := f.s.ScanAudit(f.ctx, zeroTime, zeroTime, func(*novamed.AuditRecord) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		wantIs(t, "ScanAudit with fn failing", err, stop)
		equal(t, "fn calls", calls, 2)
	})

	t.Run("Concurrent", func(t *testing.T) {
		f := newFixture(t, newStore)
		// 8 writers append 20 records each, in batches of 2: a batch's records
		// must be adjacent in the chain, and each writer's in its own order.
		const writers, each, batch = 8, 20, 2
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := 0; i < each; i += batch {
					recs := make([]*novamed.AuditRecord, batch)
					for j := range recs {
						recs[j] = &novamed.AuditRecord{
							Time: base.Add(time.Duration(i+j) * time.Millisecond), RequestID: fmt.Sprintf("w%d-%02d", w, i+j),
							Action: "concurrent", Status: 200,
						}
					}
					if err := f.s.AppendAudit(f.ctx, recs); err != nil {
						errs <- fmt.Errorf("writer %d records %d-%d: %w", w, i, i+batch-1, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("AppendAudit: %v", err)
		}
		verifyAudit(t, f, writers*each)
		seen, next := map[string]bool{}, map[int]int{}
		var prevWriter, prevIndex int
		for _, r := range f.scanAudit(zeroTime, zeroTime) {
			var w, i int
			if _, err := fmt.Sscanf(r.RequestID, "w%d-%d", &w, &i); err != nil {
				t.Errorf("record %d: request id %q: %v", r.Seq, r.RequestID, err)
				continue
			}
			if seen[r.RequestID] {
				t.Errorf("record %d: request id %q stored twice", r.Seq, r.RequestID)
			}
			seen[r.RequestID] = true
			if i != next[w] {
				t.Errorf("record %d: writer %d record: got %d, want %d", r.Seq, w, i, next[w])
			}
			next[w] = i + 1
			if i%batch != 0 && (w != prevWriter || i != prevIndex+1) {
				t.Errorf("record %d: got w%d-%02d after w%d-%02d, want its batch adjacent", r.Seq, w, i, prevWriter, prevIndex)
			}
			prevWriter, prevIndex = w, i
		}
		equal(t, "distinct records", len(seen), writers*each)
	})
}

func testLifecycle(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("PingClose", func(t *testing.T) {
		f := newFixture(t, newStore)
		must(t, "Ping", f.s.Ping(f.ctx))
		must(t, "Close", f.s.Close())
		if err := f.s.Ping(f.ctx); err == nil {
			t.Errorf("Ping after Close: got nil, want an error")
		}
	})

	t.Run("Isolated", func(t *testing.T) {
		// Each store newStore returns is empty, whatever earlier subtests wrote.
		f := newFixture(t, newStore)
		clinics, err := f.s.ListClinics(f.ctx)
		must(t, "ListClinics", err)
		keys, err := f.s.ListAPIKeys(f.ctx, "")
		must(t, "ListAPIKeys", err)
		equal(t, "clinics in a fresh store", len(clinics), 0)
		equal(t, "keys in a fresh store", len(keys), 0)
		verifyAudit(t, f, 0)
	})
}
