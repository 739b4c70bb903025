package auditarchive_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/fakeclock"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// chained gives records' canonical bytes, chained from record first.
func chained(t testing.TB, first int64, recs []*novamed.AuditRecord) [][]byte {
	out := make([][]byte, len(recs))
	prev := ""
	for i, r := range recs {
		b, err := audit.Chain(r, first+int64(i), prev)
		if err != nil {
			t.Fatal(err)
		}
		out[i], prev = b, r.Hash
	}
	return out
}

// TestArchiveRecordSize: realistic records (realisticRecords) take at
// most 100 bytes each in the archive, and decode to exactly the bytes
// that were hashed. Records the columns cannot hold (format 1, a
// non-canonical spelling, a user agent JSON escapes) come back as written
// too.
func TestArchiveRecordSize(t *testing.T) {
	const n = 20000
	recs := chained(t, 1001, realisticRecords(mrand.New(mrand.NewPCG(1, 2)), day0, n))
	data, err := auditarchive.EncodeRecords(1001, recs)
	if err != nil {
		t.Fatal(err)
	}
	var live int
	for _, r := range recs {
		live += len(r)
	}
	perRecord := float64(len(data)) / n
	t.Logf("%d records: %.1f bytes a record live (record column), %.1f in the archive", n, float64(live)/n, perRecord)
	if perRecord > 100 {
		t.Errorf("%.1f bytes a record in the archive; want at most 100", perRecord)
	}
	// Nothing tied to anything (every resource id fresh): at the entropy
	// floor of such records, reported, not held to the target.
	worst := chained(t, 1, worstCaseRecords(mrand.New(mrand.NewPCG(3, 4)), day0, n))
	worstData, err := auditarchive.EncodeRecords(1, worst)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("worst case (every id fresh): %.1f bytes a record in the archive", float64(len(worstData))/n)
	first, back, err := auditarchive.DecodeRecords(data)
	if err != nil || first != 1001 || len(back) != n {
		t.Fatalf("DecodeRecords = %d, %d records, %v; want 1001, %d", first, len(back), err, n)
	}
	for i := range recs {
		if !bytes.Equal(back[i], recs[i]) {
			t.Fatalf("record %d decodes to\n%s\nwant\n%s", i, back[i], recs[i])
		}
	}

	// Odd records: a format 1 record, escaped strings, non-uuid ids, an
	// upper-case uuid, no key at all, bytes that are not canonical.
	odd := []*novamed.AuditRecord{
		{Time: day0, RequestID: "r1", Action: "patient.read", Status: 200, UserAgent: `evil "agent" <x> ü`, ResourceIDs: []string{"p-1", "F3B2C1D0-0000-4000-8000-000000000000", "p-1"}},
		{Time: day0.Add(-time.Hour), RequestID: "nounderscore", Action: "x", Status: 500, LatencyUS: -3},
		{Time: day0.Add(time.Second), RequestID: "req_a_b", Actor: "staff:ann", ClinicID: "c\x00d", Action: "a", Status: 201},
	}
	oddBytes := chained(t, 7, odd)
	v1 := &novamed.AuditRecord{Seq: 10, Time: day0, RequestID: "r", Action: "a", Status: 200, PrevHash: "ab"}
	v1b, err := audit.Canonical(v1)
	if err != nil {
		t.Fatal(err)
	}
	notCanonical := []byte(`{"v":2,"seq":11,"t":5,"rid":"r","act":"a","st":200 }`)
	oddBytes = append(oddBytes, v1b, notCanonical)
	data, err = auditarchive.EncodeRecords(7, oddBytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, back, err = auditarchive.DecodeRecords(data); err != nil || len(back) != len(oddBytes) {
		t.Fatalf("DecodeRecords of odd records = %d, %v", len(back), err)
	}
	for i := range oddBytes {
		if !bytes.Equal(back[i], oddBytes[i]) {
			t.Errorf("odd record %d decodes to\n%s\nwant\n%s", i, back[i], oddBytes[i])
		}
	}
	// Damage is refused, not misread.
	for _, bad := range [][]byte{nil, []byte("NMA2"), data[:len(data)-3], append([]byte("XXXX"), data[4:]...)} {
		if _, _, err := auditarchive.DecodeRecords(bad); err == nil {
			t.Errorf("DecodeRecords of %d damaged bytes: no error", len(bad))
		}
	}
}

// TestArchiveFormat1StillRead: a segment archived before archive format
// 2 (gzip JSON lines under audit-N.jsonl.gz, the name the database
// recorded) still verifies and exports, and an edit of it is named.
func TestArchiveFormat1StillRead(t *testing.T) {
	ctx := t.Context()
	s := stores["sqlite"](t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	raw := archives["folder"](t)
	c := fakeclock.New(day0)
	a := newArchiver(t, s, key, raw, c, "replica-a")
	appendDay(t, s, 0, 30)
	c.Set(day0.Add(24*time.Hour + time.Hour))
	if _, err := a.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	bucket, err := auditarchive.OpenBucket(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	data, err := bucket.ReadAll(ctx, "audit-000000000001.cols.zst")
	if err != nil {
		t.Fatal(err)
	}
	_, recs, err := auditarchive.DecodeRecords(data)
	if err != nil {
		t.Fatal(err)
	}
	gz := func(lines [][]byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, l := range lines {
			zw.Write(append(l, '\n'))
		}
		zw.Close()
		return buf.Bytes()
	}
	old := gz(recs)
	const oldName = "audit-000000000001.jsonl.gz"
	if err := bucket.WriteAll(ctx, oldName, old, nil); err != nil {
		t.Fatal(err)
	}
	if err := bucket.Delete(ctx, "audit-000000000001.cols.zst"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkAuditSegmentArchived(ctx, 1, raw, oldName, int64(len(old)), c.Now()); err != nil {
		t.Fatal(err)
	}
	// Prune it (day 4: older than the 2 days kept live), then verify and
	// export from the format 1 object.
	appendDay(t, s, 4, 3)
	c.Set(day0.Add(4*24*time.Hour + time.Hour))
	if r, err := a.Pass(ctx); err != nil || r.Pruned != 1 {
		t.Fatalf("Pass = %+v, %v; want segment 1 pruned", r, err)
	}
	if res, err := a.Verify(ctx, nil); err != nil || res.ArchivedRecords != 30 {
		t.Fatalf("Verify = %+v, %v; want 30 archived records", res, err)
	}
	var n int
	if err := a.Export(ctx, time.Time{}, time.Time{}, func(*novamed.AuditRecord) error { n++; return nil }); err != nil || n != 33 {
		t.Fatalf("Export = %d records, %v; want 33", n, err)
	}
	recs[4] = bytes.Replace(recs[4], []byte(`"st":200`), []byte(`"st":404`), 1)
	if err := bucket.WriteAll(ctx, oldName, gz(recs), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, nil); err == nil || !bytes.Contains([]byte(err.Error()), []byte("segment 1 its records do not hash to its sealed head")) {
		t.Fatalf("Verify after editing a format 1 object = %v; want segment 1 named", err)
	}
}

// TestPruneInBatches: a segment of more rows than one prune transaction
// deletes (sqlstore.PruneBatch) leaves the live database whole, and the
// trail still verifies and exports across archive and live.
func TestPruneInBatches(t *testing.T) {
	for dbName, open := range stores {
		t.Run(dbName, func(t *testing.T) {
			ctx := t.Context()
			s := open(t)
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			c := fakeclock.New(day0)
			a := newArchiver(t, s, key, archives["folder"](t), c, "replica-a")
			const n = sqlstore.PruneBatch*2 + 123
			recs := chainedRecords(n)
			for i := 0; i < n; i += 500 {
				if err := s.AppendAudit(ctx, recs[i:min(i+500, n)]); err != nil {
					t.Fatal(err)
				}
			}
			c.Set(day0.Add(4*24*time.Hour + time.Hour))
			r, err := a.Run(ctx, false)
			if err != nil || r.Pruned != 1 || r.ArchivedRecords != n {
				t.Fatalf("Run = %+v, %v; want %d records archived and their segment pruned", r, err, n)
			}
			if got := liveRows(t, s); got != 0 {
				t.Fatalf("%d live rows; want none", got)
			}
			appendDay(t, s, 4, 2)
			if res, err := a.Verify(ctx, nil); err != nil || res.ArchivedRecords != n || res.LiveRecords != 2 {
				t.Fatalf("Verify = %+v, %v", res, err)
			}
		})
	}
}

func chainedRecords(n int) []*novamed.AuditRecord {
	recs := make([]*novamed.AuditRecord, n)
	for i := range recs {
		recs[i] = &novamed.AuditRecord{Time: day0.Add(time.Duration(i+1) * time.Second), RequestID: "req_batch", Action: "patient.read", Status: 200}
	}
	return recs
}
