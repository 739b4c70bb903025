package auditarchive_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/fakeclock"

	_ "github.com/jackc/pgx/v5/stdlib" // the maintenance connection
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/testenv/pgdb"
)

func keyring(t testing.TB) *phi.Keyring {
	key, err := phi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// stores opens a fresh store of each database: SQLite, and PostgreSQL on
// NOVAMED_TEST_POSTGRES or the local server (skipped loudly when absent;
// CI=true makes that a failure).
var stores = map[string]func(t testing.TB) *sqlstore.Store{
	"sqlite": func(t testing.TB) *sqlstore.Store {
		s, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "a.db"), sqlstore.Options{Keyring: keyring(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"postgres": func(t testing.TB) *sqlstore.Store {
		s, err := sqlstore.OpenPostgres(t.Context(), pgdb.Fresh(t), sqlstore.Options{Keyring: keyring(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

// fakeS3 starts an S3-compatible server (gofakes3, in memory) on
// 127.0.0.1 with a bucket, and returns the archive URL of prefix in it:
// static credentials, path-style addressing, no metadata probing.
func fakeS3(t testing.TB, bucket, prefix string) string {
	be := s3mem.New()
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "novamed-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "novamed-test-secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	return "s3://" + bucket + "/" + prefix + "?region=us-east-1&use_path_style=true&endpoint=" + url.QueryEscape(srv.URL)
}

var archives = map[string]func(t testing.TB) string{
	"folder": func(t testing.TB) string { return "file://" + filepath.Join(t.TempDir(), "audit-archive") },
	"s3":     func(t testing.TB) string { return fakeS3(t, "novamed-audit", "trail/prod") },
}

var day0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// appendDay appends n records spread over day d.
func appendDay(t testing.TB, s *sqlstore.Store, d, n int) {
	t.Helper()
	recs := make([]*novamed.AuditRecord, n)
	for i := range recs {
		recs[i] = &novamed.AuditRecord{Time: day0.Add(time.Duration(d)*24*time.Hour + time.Duration(i+1)*time.Minute),
			RequestID: fmt.Sprintf("req_%02d_%04d", d, i), KeyID: "key-1", KeyOwner: "Acme", ClinicID: "clinic-1",
			Action: "patient.read", ResourceType: "patient", ResourceIDs: []string{fmt.Sprintf("p-%d-%d", d, i)},
			ClientAddr: "203.0.113.7", UserAgent: "acme/1.0", Status: 200, LatencyUS: int64(1000 + i)}
	}
	if err := s.AppendAudit(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
}

func newArchiver(t testing.TB, s *sqlstore.Store, key ed25519.PrivateKey, rawURL string, c *fakeclock.Clock, holder string) *auditarchive.Archiver {
	a, err := auditarchive.Open(t.Context(), auditarchive.Config{Store: s, Key: key, URL: rawURL, Period: 24 * time.Hour, MaxBytes: 1 << 20,
		RetainLive: 2 * 24 * time.Hour, RetainArchive: auditarchive.DefaultRetainArchive, Now: c.Now, Holder: holder})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func liveRows(t testing.TB, s *sqlstore.Store) int64 {
	if _, _, err := s.AuditHead(t.Context()); err != nil { // chains what is pending
		t.Fatal(err)
	}
	base, _, err := s.AuditBase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n, _, _, err := s.AuditRecordStats(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestArchiveAcrossSegments: six days of records are cut into daily
// segments, sealed, archived (to a folder and to an S3-compatible server),
// and the oldest pruned from the live database; verify and export then
// cover archive and live as one trail; a deleted, edited or reordered
// archived segment is named.
func TestArchiveAcrossSegments(t *testing.T) {
	for dbName, open := range stores {
		for arName, archiveURL := range archives {
			t.Run(dbName+"/"+arName, func(t *testing.T) {
				ctx := t.Context()
				s := open(t)
				_, key, _ := ed25519.GenerateKey(rand.Reader)
				raw := archiveURL(t)
				c := fakeclock.New(day0)
				a := newArchiver(t, s, key, raw, c, "replica-a")
				const days, perDay = 6, 40
				var archivedRecords, archivedBytes int64
				for d := range days {
					appendDay(t, s, d, perDay)
					c.Set(day0.Add(time.Duration(d+1)*24*time.Hour + time.Hour))
					r, err := a.Pass(ctx)
					if err != nil {
						t.Fatalf("day %d: Pass: %v", d, err)
					}
					if r.Sealed != 1 || r.Archived != 1 {
						t.Fatalf("day %d: pass %+v; want one segment sealed and archived", d, r)
					}
					archivedRecords += r.ArchivedRecords
					archivedBytes += r.ArchivedBytes
				}
				appendDay(t, s, days, 7) // the open segment
				segs, err := s.AuditSegments(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(segs) != days {
					t.Fatalf("%d segments; want %d", len(segs), days)
				}
				pruned := 0
				for _, seg := range segs {
					if seg.PrunedAt != nil {
						pruned++
					}
				}
				// Days 0–4 end more than 2 days before the last pass (day 6,
				// 01:00): pruned; day 5 is kept live.
				if pruned != 5 {
					t.Fatalf("%d segments pruned; want 5 (older than 2 days)", pruned)
				}
				total := int64(days*perDay + 7)
				if got, want := liveRows(t, s), total-5*perDay; got != want {
					t.Fatalf("%d live rows; want %d", got, want)
				}
				t.Logf("archived %d records in %d bytes: %.1f bytes a record", archivedRecords, archivedBytes, float64(archivedBytes)/float64(archivedRecords))

				res, err := a.Verify(ctx, nil)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if res.ArchivedRecords != int64(days*perDay) || res.LiveRecords != total-5*perDay || res.Segments != days {
					t.Fatalf("Verify = %+v; want %d archived, %d live records, %d segments", res, days*perDay, total-5*perDay, days)
				}
				// Export reads the archive and the live rows as one trail.
				var seqs []int64
				prev := ""
				err = a.Export(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
					if r.PrevHash != prev {
						return fmt.Errorf("record %d: prev %q, want %q", r.Seq, r.PrevHash, prev)
					}
					prev = r.Hash
					seqs = append(seqs, r.Seq)
					return nil
				})
				if err != nil || int64(len(seqs)) != total || seqs[0] != 1 || seqs[len(seqs)-1] != total {
					t.Fatalf("Export = %d records (%v), err %v; want 1..%d", len(seqs), firstLast(seqs), err, total)
				}
				// A window across the archive (day 4) and live (day 5).
				seqs = nil
				err = a.Export(ctx, day0.Add(4*24*time.Hour+30*time.Minute), day0.Add(5*24*time.Hour+10*time.Minute+time.Second), func(r *novamed.AuditRecord) error {
					seqs = append(seqs, r.Seq)
					return nil
				})
				if want := 11 + 10; err != nil || len(seqs) != want || seqs[0] != 4*perDay+30 {
					t.Fatalf("windowed Export = %d records %v, %v; want %d from %d", len(seqs), firstLast(seqs), err, want, 4*perDay+30)
				}
				st, err := a.Status(ctx)
				if err != nil || len(st.Segments) != days || len(st.Gaps) != 0 || st.OpenRecords != 7 || st.OpenSegment != days+1 {
					t.Fatalf("Status = %+v, %v", st, err)
				}

				// Tampering with the archive is named.
				bucket, err := auditarchive.OpenBucket(ctx, raw)
				if err != nil {
					t.Fatal(err)
				}
				defer bucket.Close()
				obj := func(id int64, suffix string) string { return fmt.Sprintf("audit-%012d%s", id, suffix) }
				save := map[string][]byte{}
				for id := int64(1); id <= 3; id++ {
					for _, sfx := range []string{".cols.zst", ".seal.json"} {
						b, err := bucket.ReadAll(ctx, obj(id, sfx))
						if err != nil {
							t.Fatal(err)
						}
						save[obj(id, sfx)] = b
					}
				}
				restore := func() {
					for k, v := range save {
						if err := bucket.WriteAll(ctx, k, v, nil); err != nil {
							t.Fatal(err)
						}
					}
				}
				expect := func(what string, want ...string) {
					t.Helper()
					_, err := a.Verify(ctx, nil)
					for _, w := range want {
						if err == nil || !strings.Contains(err.Error(), w) {
							t.Errorf("Verify after %s = %v; want it to say %q", what, err, w)
						}
					}
					restore()
					if _, err := a.Verify(ctx, nil); err != nil {
						t.Fatalf("Verify after restoring from %s: %v", what, err)
					}
				}
				// Deleted.
				if err := bucket.Delete(ctx, obj(2, ".cols.zst")); err != nil {
					t.Fatal(err)
				}
				expect("deleting segment 2's records", "segment 2 missing from the archive")
				if err := bucket.Delete(ctx, obj(3, ".seal.json")); err != nil {
					t.Fatal(err)
				}
				expect("deleting segment 3's seal", "segment 3 missing from the archive")
				// Edited: one record's status.
				edited := reencode(t, save[obj(2, ".cols.zst")], func(b []byte) []byte {
					return bytes.Replace(b, []byte(`"st":200`), []byte(`"st":404`), 1)
				})
				if err := bucket.WriteAll(ctx, obj(2, ".cols.zst"), edited, nil); err != nil {
					t.Fatal(err)
				}
				expect("editing a record of segment 2", "segment 2 its records do not hash to its sealed head")
				// Reordered: segments 1 and 3 swapped (records and seals).
				for _, sfx := range []string{".cols.zst", ".seal.json"} {
					if err := bucket.WriteAll(ctx, obj(1, sfx), save[obj(3, sfx)], nil); err != nil {
						t.Fatal(err)
					}
					if err := bucket.WriteAll(ctx, obj(3, sfx), save[obj(1, sfx)], nil); err != nil {
						t.Fatal(err)
					}
				}
				expect("swapping segments 1 and 3", "segment 1 the archive holds segment 3's seal", "segment 3 the archive holds segment 1's seal")
				// Records only swapped (seals left).
				if err := bucket.WriteAll(ctx, obj(1, ".cols.zst"), save[obj(2, ".cols.zst")], nil); err != nil {
					t.Fatal(err)
				}
				expect("putting segment 2's records under segment 1", "segment 1 audit chain broken at record 1: expected record 1, found")
			})
		}
	}
}

func firstLast(s []int64) string {
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d…%d", s[0], s[len(s)-1])
}

// reencode decodes an archived segment object, edits its records (one
// a line) and encodes them again, as a forger with the format would.
func reencode(t testing.TB, data []byte, edit func([]byte) []byte) []byte {
	first, recs, err := auditarchive.DecodeRecords(data)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Split(edit(bytes.Join(recs, []byte{'\n'})), []byte{'\n'})
	out, err := auditarchive.EncodeRecords(first, edited)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFailedArchiveWritePrunesNothing: when the archive refuses the write
// (an S3 bucket that does not exist; a folder that cannot be made), the
// pass fails, no segment is marked archived, nothing leaves the live
// database, and the trail still verifies.
func TestFailedArchiveWritePrunesNothing(t *testing.T) {
	for dbName, open := range stores {
		for name, raw := range map[string]func(t testing.TB) string{
			"s3 bucket missing": func(t testing.TB) string {
				u := fakeS3(t, "novamed-audit", "x")
				return strings.Replace(u, "s3://novamed-audit/", "s3://no-such-bucket/", 1)
			},
			"folder not writable": func(t testing.TB) string {
				f := filepath.Join(t.TempDir(), "file")
				if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				return "file://" + filepath.Join(f, "archive")
			},
		} {
			t.Run(dbName+"/"+name, func(t *testing.T) {
				ctx := t.Context()
				s := open(t)
				_, key, _ := ed25519.GenerateKey(rand.Reader)
				c := fakeclock.New(day0)
				rawURL := raw(t)
				a, err := auditarchive.Open(ctx, auditarchive.Config{Store: s, Key: key, URL: rawURL, Period: 24 * time.Hour,
					RetainLive: time.Hour, Now: c.Now, Holder: "a"})
				if err != nil {
					// A folder that cannot be made may fail at open: then
					// nothing can be archived either.
					t.Logf("Open: %v", err)
					return
				}
				defer a.Close()
				for d := range 3 {
					appendDay(t, s, d, 10)
					c.Set(day0.Add(time.Duration(d+1)*24*time.Hour + time.Minute))
					if _, err := a.Pass(ctx); err == nil {
						t.Fatalf("day %d: Pass succeeded with an archive that refuses writes", d)
					}
				}
				segs, err := s.AuditSegments(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, seg := range segs {
					if seg.ArchivedAt != nil || seg.PrunedAt != nil {
						t.Fatalf("segment %d marked archived or pruned after failed writes", seg.Segment)
					}
				}
				if n := liveRows(t, s); n != 30 {
					t.Fatalf("%d live rows; want all 30", n)
				}
				if n, err := audit.Verify(ctx, s); err != nil || n != 30 {
					t.Fatalf("Verify = %d, %v", n, err)
				}
			})
		}
	}
}

// TestLeaseOneReplicaAtATime: two archivers on one database; the second
// skips while the first holds the lease, and takes it once it expires.
func TestLeaseOneReplicaAtATime(t *testing.T) {
	for dbName, open := range stores {
		t.Run(dbName, func(t *testing.T) {
			ctx := t.Context()
			s := open(t)
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			c := fakeclock.New(day0)
			raw := "file://" + filepath.Join(t.TempDir(), "arch")
			a := newArchiver(t, s, key, raw, c, "replica-a")
			b := newArchiver(t, s, key, raw, c, "replica-b")
			appendDay(t, s, 0, 5)
			c.Set(day0.Add(25 * time.Hour))
			if r, err := a.Pass(ctx); err != nil || r.Skipped || r.Sealed != 1 {
				t.Fatalf("a: %+v, %v", r, err)
			}
			if r, err := b.Pass(ctx); err != nil || !r.Skipped {
				t.Fatalf("b while a holds the lease: %+v, %v; want skipped", r, err)
			}
			c.Set(day0.Add(25*time.Hour + 6*time.Minute))
			if r, err := b.Pass(ctx); err != nil || r.Skipped {
				t.Fatalf("b after a's lease expired: %+v, %v", r, err)
			}
			if r, err := a.Pass(ctx); err != nil || !r.Skipped {
				t.Fatalf("a while b holds the lease: %+v, %v; want skipped", r, err)
			}
		})
	}
}

// TestSizeCut: a segment is cut when its records pass the size, and at
// the size: a backlog becomes segments of about MaxBytes each (an
// operator's pass seals every one that is due, a background pass one a
// pass), never one segment of everything; an operator's seal closes the
// rest up to the head.
func TestSizeCut(t *testing.T) {
	for dbName, open := range stores {
		t.Run(dbName, func(t *testing.T) { sizeCut(t, open(t)) })
	}
}

func sizeCut(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	c := fakeclock.New(day0.Add(time.Hour))
	const maxBytes = 4 << 10
	a, err := auditarchive.Open(ctx, auditarchive.Config{Store: s, Key: key, Period: 0, MaxBytes: maxBytes, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	appendDay(t, s, 0, 5)
	if r, err := a.Pass(ctx); err != nil || r.Sealed != 0 {
		t.Fatalf("Pass under the size: %+v, %v", r, err)
	}
	appendDay(t, s, 1, 95) // ~22 KB: five segments' worth and a rest
	r, err := a.Pass(ctx)
	if err != nil || r.Sealed < 4 {
		t.Fatalf("Pass over five times the size: %+v, %v; want a segment per 4 KB", r, err)
	}
	segs, err := s.AuditSegments(ctx)
	if err != nil || len(segs) != r.Sealed {
		t.Fatalf("AuditSegments = %d, %v; want %d", len(segs), err, r.Sealed)
	}
	const recordMax = 300 // bytes of the largest record appendDay makes
	next := int64(1)
	for _, seg := range segs {
		if seg.FirstSeq != next || seg.RecordBytes < maxBytes || seg.RecordBytes >= maxBytes+recordMax {
			t.Fatalf("segment %d: records %d–%d, %d bytes; want from %d, at least %d bytes and less than one record more", seg.Segment, seg.FirstSeq, seg.LastSeq, seg.RecordBytes, next, maxBytes)
		}
		next = seg.LastSeq + 1
	}
	if r, err := a.Pass(ctx); err != nil || r.Sealed != 0 {
		t.Fatalf("Pass with less than the size left open: %+v, %v", r, err)
	}
	seg, err := a.Seal(ctx)
	if err != nil || seg == nil || seg.FirstSeq != next || seg.LastSeq != 100 || seg.RecordBytes >= maxBytes {
		t.Fatalf("Seal = %+v, %v; want the rest, records %d–100", seg, err, next)
	}
	if seg, err := a.Seal(ctx); err != nil || seg != nil {
		t.Fatalf("Seal of an empty open segment = %v, %v; want nothing", seg, err)
	}
	// A background pass seals one segment of a backlog.
	appendDay(t, s, 2, 60)
	if r, err := a.BackgroundPass(ctx); err != nil || r.Sealed != 1 {
		t.Fatalf("BackgroundPass over three times the size: %+v, %v; want one segment sealed", r, err)
	}
	if res, err := a.Verify(ctx, nil); err != nil || res.LiveRecords != 160 {
		t.Fatalf("Verify after the cuts = %+v, %v", res, err)
	}
	if p, n, err := auditarchive.ParseSegmentSpec("12h,64MB"); err != nil || p != 12*time.Hour || n != 64<<20 {
		t.Fatal(err)
	}
}

var _ = errors.New

// TestBackgroundPassTakesOneSegment: serve's paced pass archives and
// prunes at most one segment a pass (a backlog drains over later passes),
// pruning a segment of more rows than one delete batch with pauses in
// between, and the trail verifies across archive and live after each.
func TestBackgroundPassTakesOneSegment(t *testing.T) {
	for dbName, open := range stores {
		t.Run(dbName, func(t *testing.T) { backgroundPassTakesOneSegment(t, open(t)) })
	}
}

func backgroundPassTakesOneSegment(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	c := fakeclock.New(day0)
	a := newArchiver(t, s, key, archives["folder"](t), c, "replica-a")
	perDay := []int{sqlstore.PruneBatch + 100, 30, 20}
	for d, n := range perDay {
		appendDay(t, s, d, n)
		c.Set(day0.Add(time.Duration(d+1)*24*time.Hour + time.Hour))
		if seg, err := a.Seal(ctx); err != nil || seg == nil {
			t.Fatalf("day %d: Seal = %v, %v", d, seg, err)
		}
	}
	c.Set(day0.Add(6 * 24 * time.Hour))
	var archived int64
	for i, n := range perDay {
		r, err := a.BackgroundPass(ctx)
		if err != nil || r.Archived != 1 || r.Pruned != 1 || r.ArchivedRecords != int64(n) {
			t.Fatalf("pass %d = %+v, %v; want segment %d (%d records) archived and pruned, no more", i+1, r, err, i+1, n)
		}
		archived += int64(n)
		if res, err := a.Verify(ctx, nil); err != nil || res.ArchivedRecords != archived {
			t.Fatalf("after pass %d: Verify = %+v, %v", i+1, res, err)
		}
	}
	if r, err := a.BackgroundPass(ctx); err != nil || r.Archived+r.Pruned != 0 {
		t.Fatalf("pass with nothing left = %+v, %v", r, err)
	}
	if got := liveRows(t, s); got != 0 {
		t.Fatalf("%d live rows; want none", got)
	}
}
