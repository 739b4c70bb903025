package auditarchive_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// realisticRecords makes n audit records shaped like production traffic:
// random request ids and resource uuids, keys and clinics drawn from
// pools, IPv4 and IPv6 client addresses, several user agents, mixed
// actions, statuses and latencies; not one repeated test record.
func realisticRecords(rng *mrand.Rand, start time.Time, n int) []*novamed.AuditRecord {
	uuid := func() string {
		b := make([]byte, 16)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
		h := hex.EncodeToString(b)
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	}
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	token := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alnum[rng.IntN(len(alnum))]
		}
		return string(b)
	}
	type key struct{ id, owner, prefix, clinic string }
	clinics := make([]string, 40)
	for i := range clinics {
		clinics[i] = uuid()
	}
	keys := make([]key, 120)
	for i := range keys {
		keys[i] = key{uuid(), fmt.Sprintf("Partner %s Health", token(6)), "nm_live_" + token(8), clinics[rng.IntN(len(clinics))]}
	}
	agents := []string{"acme-ehr/4.12.1 (+https://acme.test)", "Go-http-client/2.0", "python-requests/2.32.3",
		"novamed-go/1.3.0 go1.24", "okhttp/4.12.0", "Mozilla/5.0 (X11; Linux x86_64) curl/8.5.0"}
	actions := []struct{ action, resource string }{{"patient.read", "patient"}, {"patient.create", "patient"},
		{"patient.list", "patient"}, {"order.create", "medication_order"}, {"order.read", "medication_order"},
		{"carriers.list", ""}, {"order.list", "medication_order"}}
	statuses := []int{200, 200, 200, 200, 200, 200, 201, 201, 404, 422, 429}
	recs := make([]*novamed.AuditRecord, n)
	t := start
	for i := range recs {
		t = t.Add(time.Duration(rng.IntN(20000)) * time.Microsecond)
		k := keys[rng.IntN(len(keys))]
		a := actions[rng.IntN(len(actions))]
		r := &novamed.AuditRecord{Time: t, RequestID: "req_" + token(26), Actor: "key:" + k.id, KeyID: k.id,
			KeyOwner: k.owner, KeyPrefix: k.prefix, ClinicID: k.clinic, Action: a.action, ResourceType: a.resource,
			UserAgent: agents[rng.IntN(len(agents))], Status: statuses[rng.IntN(len(statuses))],
			LatencyUS: int64(300 + rng.ExpFloat64()*2500)}
		if rng.IntN(2) == 0 {
			r.ClientRequestID = uuid()
		}
		if rng.IntN(5) == 0 {
			r.ClientAddr = fmt.Sprintf("2001:db8:%x:%x::%x", rng.IntN(65536), rng.IntN(65536), rng.IntN(65536))
		} else {
			r.ClientAddr = fmt.Sprintf("%d.%d.%d.%d", 1+rng.IntN(223), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
		}
		switch {
		case a.resource == "":
		case a.action == "patient.list" || a.action == "order.list":
			for range 1 + rng.IntN(25) {
				r.ResourceIDs = append(r.ResourceIDs, uuid())
			}
		default:
			r.ResourceIDs = []string{uuid()}
		}
		recs[i] = r
	}
	return recs
}

func fileSize(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// BenchmarkArchiveThroughput appends 20,000 realistic records to a fresh
// SQLite store (untimed), then times sealing them into one segment,
// archiving it to a folder (gzip JSON lines), reading it back and checking
// it, and pruning it from the live database. It reports archived
// records/s, MB/s of live record bytes archived and read back, bytes per
// record live (the record column, and the database file's growth with
// its indexes) and bytes per record in the archive.
//
//	go test -run '^$' -bench ArchiveThroughput -benchtime 3x ./internal/auditarchive/
func BenchmarkArchiveThroughput(b *testing.B) {
	const n = 20000
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	ctx := b.Context()
	var records, liveBytes, diskBytes, archivedBytes int64
	var timed time.Duration
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		path := filepath.Join(dir, "a.db")
		ring := keyring(b)
		open := func() *sqlstore.Store {
			s, err := sqlstore.OpenSQLite(ctx, path, sqlstore.Options{Keyring: ring})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		s := open()
		s.Close()
		empty := fileSize(path)
		s = open()
		recs := realisticRecords(rng, day0, n)
		for j := 0; j < n; j += 100 { // the server group-commits batches
			if err := s.AppendAudit(ctx, recs[j:j+100]); err != nil {
				b.Fatal(err)
			}
		}
		live := liveRows(b, s)
		_, payload, _, err := s.AuditRecordStats(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
		diskBytes += fileSize(path) - empty
		liveBytes += payload
		s = open()
		a, err := auditarchive.Open(ctx, auditarchive.Config{Store: s, Key: key, URL: "file://" + filepath.Join(dir, "archive"),
			Period: 24 * time.Hour, MaxBytes: 64 << 20, RetainLive: 0, RetainArchive: auditarchive.DefaultRetainArchive,
			Now: func() time.Time { return day0.Add(24 * time.Hour) }, Holder: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		b.StartTimer()
		rep, err := a.Run(ctx, true)
		b.StopTimer()
		timed += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if rep.ArchivedRecords != live || rep.Pruned != 1 {
			b.Fatalf("archived %d of %d records, pruned %d segments", rep.ArchivedRecords, live, rep.Pruned)
		}
		records += rep.ArchivedRecords
		archivedBytes += rep.ArchivedBytes
		a.Close()
		s.Close()
	}
	b.ReportMetric(float64(records)/timed.Seconds(), "records/s")
	b.ReportMetric(float64(liveBytes)/1e6/timed.Seconds(), "liveMB/s")
	b.ReportMetric(float64(liveBytes)/float64(records), "live-record-B/rec")
	b.ReportMetric(float64(diskBytes)/float64(records), "live-disk-B/rec")
	b.ReportMetric(float64(archivedBytes)/float64(records), "archived-B/rec")
}
