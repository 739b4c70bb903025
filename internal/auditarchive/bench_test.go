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

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// realisticRecords makes n audit records shaped like production traffic:
// random request ids and client request ids, 120 keys over 40 clinics,
// each key calling from 1–3 IPv4 or IPv6 addresses with its own user
// agent, mixed actions, statuses and latencies; resource uuids are those
// of the key's clinic (500 patients and 500 orders each), a read naming
// one at random and a list a page (1–25) of the clinic's list from one of
// its first pages. Not one repeated test record.
func realisticRecords(rng *mrand.Rand, start time.Time, n int) []*novamed.AuditRecord {
	return makeRecords(rng, start, n, false)
}

// worstCaseRecords is realisticRecords with nothing tied to anything:
// every resource id a fresh random uuid, addresses and user agents drawn
// anew for each record. Its entropy alone is about 100 bytes a record,
// the floor of any lossless archive of it.
func worstCaseRecords(rng *mrand.Rand, start time.Time, n int) []*novamed.AuditRecord {
	return makeRecords(rng, start, n, true)
}

func makeRecords(rng *mrand.Rand, start time.Time, n int, unique bool) []*novamed.AuditRecord {
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
	addr := func() string {
		if rng.IntN(5) == 0 {
			return fmt.Sprintf("2001:db8:%x:%x::%x", rng.IntN(65536), rng.IntN(65536), rng.IntN(65536))
		}
		return fmt.Sprintf("%d.%d.%d.%d", 1+rng.IntN(223), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	}
	agents := []string{"acme-ehr/4.12.1 (+https://acme.test)", "Go-http-client/2.0", "python-requests/2.32.3",
		"novamed-go/1.3.0 go1.24", "okhttp/4.12.0", "Mozilla/5.0 (X11; Linux x86_64) curl/8.5.0"}
	type clinic struct {
		id               string
		patients, orders []string
	}
	clinics := make([]*clinic, 40)
	for i := range clinics {
		c := &clinic{id: uuid()}
		if !unique {
			for range 500 {
				c.patients, c.orders = append(c.patients, uuid()), append(c.orders, uuid())
			}
		}
		clinics[i] = c
	}
	type key struct {
		id, owner, prefix, agent string
		clinic                   *clinic
		addrs                    []string
	}
	keys := make([]key, 120)
	for i := range keys {
		keys[i] = key{uuid(), fmt.Sprintf("Partner %s Health", token(6)), "nm_live_" + token(8), agents[rng.IntN(len(agents))],
			clinics[rng.IntN(len(clinics))], nil}
		for range 1 + rng.IntN(3) {
			keys[i].addrs = append(keys[i].addrs, addr())
		}
	}
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
			KeyOwner: k.owner, KeyPrefix: k.prefix, ClinicID: k.clinic.id, Action: a.action, ResourceType: a.resource,
			UserAgent: k.agent, ClientAddr: k.addrs[rng.IntN(len(k.addrs))], Status: statuses[rng.IntN(len(statuses))],
			LatencyUS: int64(300 + rng.ExpFloat64()*2500)}
		if unique {
			r.UserAgent, r.ClientAddr = agents[rng.IntN(len(agents))], addr()
		}
		if rng.IntN(2) == 0 {
			r.ClientRequestID = uuid()
		}
		pool := k.clinic.patients
		if a.resource == "medication_order" {
			pool = k.clinic.orders
		}
		id := func(i int) string {
			if unique {
				return uuid()
			}
			return pool[i%len(pool)]
		}
		switch {
		case a.resource == "":
		case a.action == "patient.list" || a.action == "order.list":
			from := 25 * rng.IntN(4)
			for i := range 1 + rng.IntN(25) {
				r.ResourceIDs = append(r.ResourceIDs, id(from+i))
			}
		default:
			r.ResourceIDs = []string{id(rng.IntN(len(pool) + 1))}
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
// archiving it to a folder (archive format 2: columnar, zstd), reading it
// back and checking it, and pruning it from the live database (in
// sqlstore.PruneBatch transactions). It reports archived records/s, MB/s
// of live record bytes archived and read back, bytes per record live (the
// record column, and the database file's growth with its indexes), bytes
// per record in the archive, and (untimed) bytes per record in the
// archive for worstCaseRecords, where every id is fresh.
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
	worst := make([][]byte, n)
	prev := ""
	for i, r := range worstCaseRecords(mrand.New(mrand.NewPCG(3, 4)), day0, n) {
		if worst[i], err = audit.Chain(r, int64(i+1), prev); err != nil {
			b.Fatal(err)
		}
		prev = r.Hash
	}
	data, err := auditarchive.EncodeRecords(1, worst)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(data))/n, "worst-archived-B/rec")
}

// BenchmarkSegmentPass measures one archiver's passes one after another,
// as serve runs them: each seals, archives, reads back and prunes one
// 1 MB segment, or two when the rest of earlier appends adds up (the
// records are appended untimed). Its B/op is what a
// pass leaves for the garbage collector beside the request path.
//
//	go test -run '^$' -bench SegmentPass -benchmem ./internal/auditarchive/
func BenchmarkSegmentPass(b *testing.B) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	dir := b.TempDir()
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "a.db"), sqlstore.Options{Keyring: keyring(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a, err := auditarchive.Open(ctx, auditarchive.Config{Store: s, Key: key, URL: "file://" + filepath.Join(dir, "archive"),
		Period: 0, MaxBytes: 1 << 20, RetainLive: 0, Now: func() time.Time { return day0.Add(24 * time.Hour) }, Holder: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	rng := mrand.New(mrand.NewPCG(1, 2))
	const n = 2000 // ~1.2 MB of realistic records: one segment a pass
	b.ReportAllocs()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		recs := realisticRecords(rng, day0, n)
		for j := 0; j < n; j += 100 {
			if err := s.AppendAudit(ctx, recs[j:j+100]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		r, err := a.Pass(ctx)
		b.StopTimer()
		if err != nil || r.Sealed < 1 || r.Archived != r.Sealed || r.Pruned != r.Sealed {
			b.Fatalf("pass %d = %+v, %v; want each segment it sealed archived and pruned", i, r, err)
		}
	}
}
