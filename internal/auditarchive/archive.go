// Package auditarchive cuts the audit trail into sealed segments, writes
// them to an archive outside the database (any gocloud.dev/blob bucket: a
// folder, or S3-compatible storage), prunes the live database of what is
// archived, and verifies and exports across the archive and the live trail.
package auditarchive

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:///path archives
	_ "gocloud.dev/blob/s3blob"   // s3://bucket/prefix archives
	"gocloud.dev/gcerrors"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// Store is what the archive needs of the database.
type Store interface {
	novamed.AuditStore
	audit.Pruned
	AuditSegments(ctx context.Context) ([]*audit.Segment, error)
	OpenAuditSegment(ctx context.Context) (id, firstSeq int64, prevHead string, err error)
	AuditRecordStats(ctx context.Context, after int64) (n, bytes, lastSeq int64, err error)
	AuditRecordBytes(ctx context.Context, after, through int64) (int64, error)
	AuditRecordTime(ctx context.Context, seq int64) (time.Time, bool, error)
	ScanAuditSegmentRows(ctx context.Context, first, last int64, prev string, fn func(*novamed.AuditRow) error) error
	InsertAuditSegment(ctx context.Context, seg *audit.Segment) error
	MarkAuditSegmentArchived(ctx context.Context, id int64, url, object string, size int64, at time.Time) error
	// PruneAuditSegment calls between (when set) between its delete
	// transactions, to pace them.
	PruneAuditSegment(ctx context.Context, id int64, at time.Time, between func() error) error
	ForgetAuditSegment(ctx context.Context, id int64) error
	AuditSettings(ctx context.Context) (map[string]string, error)
	SetAuditSettings(ctx context.Context, set map[string]string) error
	AcquireAuditLease(ctx context.Context, holder string, now, until time.Time) (bool, error)
	ReleaseAuditLease(ctx context.Context, holder string) error
}

// Defaults of the segment cut and of retention.
const (
	DefaultPeriod        = 24 * time.Hour
	DefaultMaxBytes      = 64 << 20
	DefaultRetainLive    = 30 * 24 * time.Hour
	DefaultRetainArchive = 6 * 365 * 24 * time.Hour
)

// Setting names serve records in the database.
const (
	SettingArchive        = "archive_url"
	SettingSegment        = "segment"
	SettingRetainLive     = "retain_live"
	SettingRetainArchive  = "retain_archive"
	settingExpiredThrough = "archive_expired_through"
	leaseTTL              = 5 * time.Minute
	objectPrefix          = "audit-"
	// dataSuffix names archive format 2 objects; format 1 objects
	// (".jsonl.gz") are still read, under the name the database recorded.
	dataSuffix, sealSuffix = ".cols.zst", ".seal.json"
)

// Config configures an Archiver.
type Config struct {
	Store Store
	// Key signs seals (the checkpoint key); nil only for reading.
	Key ed25519.PrivateKey
	// Public checks seals; the public half of Key when nil.
	Public ed25519.PublicKey
	// URL of the archive ("" is none: segments are sealed, nothing is
	// archived or pruned).
	URL string
	// Period and MaxBytes cut segments (0: that cut is off).
	Period   time.Duration
	MaxBytes int64
	// RetainLive: sealed, archived segments older than this leave the live
	// database (0: as soon as archived; negative: never). RetainArchive:
	// the archive keeps segments this long (0: for ever).
	RetainLive, RetainArchive time.Duration
	Now                       func() time.Time
	// Holder names this process in the lease.
	Holder string
	Log    *slog.Logger
}

// Archiver seals, archives, prunes, verifies and exports.
type Archiver struct {
	cfg    Config
	bucket *blob.Bucket
	mu     sync.Mutex // one pass at a time in this process
	zstd   zstdCoders
	// counted: the open segment's bytes so far (the size cut), from its
	// first record up to countedTo.
	countedFrom, countedTo, counted int64
}

// Open opens the archive's bucket (when a URL is set).
func Open(ctx context.Context, cfg Config) (*Archiver, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Public == nil && cfg.Key != nil {
		cfg.Public = cfg.Key.Public().(ed25519.PublicKey)
	}
	a := &Archiver{cfg: cfg}
	if cfg.URL != "" {
		b, err := OpenBucket(ctx, cfg.URL)
		if err != nil {
			return nil, err
		}
		a.bucket = b
	}
	return a, nil
}

// Close closes the bucket and gives up the lease.
func (a *Archiver) Close() error {
	if a.cfg.Holder != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.cfg.Store.ReleaseAuditLease(ctx, a.cfg.Holder)
		cancel()
	}
	a.zstd.close()
	if a.bucket != nil {
		return a.bucket.Close()
	}
	return nil
}

// CheckURL refuses an archive URL that is not file:// or s3://, or that
// carries credentials (the URL is recorded in the database; credentials
// come from the environment).
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("audit archive URL: %w", err)
	}
	if u.User != nil {
		return errors.New("audit archive URL must not carry credentials (give them as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role)")
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" {
			return errors.New("audit archive URL: file:///absolute/path")
		}
	case "s3":
		if u.Host == "" {
			return errors.New("audit archive URL: s3://bucket/prefix?region=…")
		}
		for k := range u.Query() {
			if strings.Contains(strings.ToLower(k), "secret") || strings.Contains(strings.ToLower(k), "key") && k != "kmskeyid" {
				return fmt.Errorf("audit archive URL must not carry credentials (%s)", k)
			}
		}
	default:
		return fmt.Errorf("audit archive URL %q: want file:///path or s3://bucket/prefix", u.Redacted())
	}
	return nil
}

// OpenBucket opens an archive URL: file:///path, or
// s3://bucket/prefix?region=…[&endpoint=…&use_path_style=true].
func OpenBucket(ctx context.Context, raw string) (*blob.Bucket, error) {
	if err := CheckURL(raw); err != nil {
		return nil, err
	}
	u, _ := url.Parse(raw)
	if u.Scheme == "s3" && strings.Trim(u.Path, "/") != "" {
		q := u.Query()
		q.Set("prefix", strings.Trim(u.Path, "/")+"/")
		u.Path, u.RawQuery = "", q.Encode()
	}
	if u.Scheme == "file" {
		q := u.Query()
		q.Set("create_dir", "true")
		u.RawQuery = q.Encode()
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("audit archive %s: %w", u.Redacted(), err)
	}
	return b, nil
}

// ParseSegmentSpec reads --audit-segment: a period ("24h", "7d"), a size
// ("64MB", "1GB"), or both separated by a comma. Each given value replaces
// that cut's default.
func ParseSegmentSpec(spec string) (period time.Duration, maxBytes int64, err error) {
	period, maxBytes = DefaultPeriod, DefaultMaxBytes
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if n, ok := parseSize(part); ok {
			if n < 1<<10 {
				return 0, 0, fmt.Errorf("--audit-segment %q: a size is at least 1KB", part)
			}
			maxBytes = n
			continue
		}
		d, err := ParseDuration(part)
		if err != nil || d < time.Second {
			return 0, 0, fmt.Errorf("--audit-segment %q: want a period (24h, 7d) or a size (64MB)", part)
		}
		period = d
	}
	return period, maxBytes, nil
}

func parseSize(s string) (int64, bool) {
	u := strings.ToUpper(s)
	for _, m := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if num, ok := strings.CutSuffix(u, m.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n <= 0 {
				return 0, false
			}
			return n * m.mult, true
		}
	}
	return 0, false
}

// ParseDuration is time.ParseDuration that also takes days ("30d") and
// years ("6y", 365 days each).
func ParseDuration(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "y": 365 * 24 * time.Hour} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			return time.Duration(n) * unit, nil
		}
	}
	return time.ParseDuration(s)
}

// objectNames are segment id's objects in the archive; the zero-padded
// number keeps a listing in chain order.
func objectNames(id int64) (data, seal string) {
	base := fmt.Sprintf("%s%012d", objectPrefix, id)
	return base + dataSuffix, base + sealSuffix
}

// Seal closes the open segment now (when it holds any record) and returns
// it; nil when there was nothing to seal.
func (a *Archiver) Seal(ctx context.Context) (*audit.Segment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seal(ctx, nil, nil, 0)
}

// errSegmentFull stops a seal's scan at the size cut.
var errSegmentFull = errors.New("audit segment full")

// seal seals the open segment; keep, when set, encodes its records as
// checked, for an archive in the same pass (no second read and check; it
// holds the encoded columns, not the records). With maxBytes > 0 the
// segment ends at the first record that takes its records' bytes to
// maxBytes (a backlog becomes segments of the configured size, not one
// segment of everything); the records after it stay in the open segment.
func (a *Archiver) seal(ctx context.Context, p *pacer, keep *segmentEncoder, maxBytes int64) (*audit.Segment, error) {
	if a.cfg.Key == nil {
		return nil, errors.New("audit seal: no checkpoint key to sign the seal with")
	}
	id, first, prevHead, err := a.cfg.Store.OpenAuditSegment(ctx)
	if err != nil {
		return nil, err
	}
	headSeq, headHash, err := a.cfg.Store.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	if headSeq < first {
		return nil, nil
	}
	// The segment is checked before it is signed: a seal never vouches for
	// an edited record.
	w := &audit.Walker{Want: first, Prev: prevHead}
	if keep != nil {
		*keep = segmentEncoder{first: first}
	}
	var size int64
	err = a.scanRows(ctx, first, headSeq, prevHead, p, func(row *novamed.AuditRow) error {
		if maxBytes > 0 && size >= maxBytes {
			return errSegmentFull
		}
		size += int64(len(row.Record))
		rec, err := w.Next(row)
		if err == nil && keep != nil {
			keep.add(row.Record, rec)
		}
		return err
	})
	full := errors.Is(err, errSegmentFull)
	if err != nil && !full {
		return nil, fmt.Errorf("audit seal of segment %d: %w", id, err)
	}
	if !full && (w.Want != headSeq+1 || w.Prev != headHash) {
		return nil, &audit.BrokenError{Seq: w.Want, Reason: fmt.Sprintf("segment %d ends at record %d, not at the chain head %d (missing records)", id, w.Want-1, headSeq)}
	}
	last, head := w.Want-1, w.Prev
	seg := &audit.Segment{Seal: audit.Seal{Segment: id, FirstSeq: first, LastSeq: last, FirstAt: w.First, LastAt: w.Last,
		Head: head, PrevHead: prevHead, SealedAt: a.cfg.Now()}, RecordBytes: size}
	seg.Sign(a.cfg.Key)
	if err := a.cfg.Store.InsertAuditSegment(ctx, seg); err != nil {
		return nil, err
	}
	a.countedFrom, a.countedTo, a.counted = 0, 0, 0
	a.cfg.Log.Info("audit segment sealed", "segment", id, "first_seq", first, "last_seq", last, "records", last-first+1, "bytes", size)
	return seg, nil
}

// due reports whether the open segment is to be cut: it began in an
// earlier period than now (periods are aligned to the Unix epoch, so 24h
// segments are UTC days), or its records passed MaxBytes.
func (a *Archiver) due(ctx context.Context) (bool, error) {
	// AuditHead chains what is pending first (PostgreSQL).
	headSeq, _, err := a.cfg.Store.AuditHead(ctx)
	if err != nil {
		return false, err
	}
	_, first, _, err := a.cfg.Store.OpenAuditSegment(ctx)
	if err != nil {
		return false, err
	}
	at, ok, err := a.cfg.Store.AuditRecordTime(ctx, first)
	if err != nil || !ok {
		return false, err
	}
	if p := a.cfg.Period; p > 0 && a.cfg.Now().UTC().Truncate(p).After(at.Truncate(p)) {
		return true, nil
	}
	if a.cfg.MaxBytes > 0 {
		if a.countedFrom != first {
			a.countedFrom, a.countedTo, a.counted = first, first-1, 0
		}
		// Counted in ranges of the key, and only until the cut is
		// reached: a backlog of millions of records is not read every
		// pass to learn that its first segment is full (that sum was
		// half of a background pass's CPU).
		for a.counted < a.cfg.MaxBytes && a.countedTo < headSeq {
			through := min(a.countedTo+countChunk, headSeq)
			b, err := a.cfg.Store.AuditRecordBytes(ctx, a.countedTo, through)
			if err != nil {
				return false, err
			}
			a.counted, a.countedTo = a.counted+b, through
		}
		return a.counted >= a.cfg.MaxBytes, nil
	}
	return false, nil
}

// countChunk is how many records one query of the size cut's count sums.
const countChunk = 4096

// Report is what one pass did.
type Report struct {
	Sealed, Archived, Pruned, Expired int
	ArchivedRecords, ArchivedBytes    int64
	Skipped                           bool // another process holds the lease
}

// Pass seals the open segment if it is due, archives every sealed segment
// not archived yet (written, then read back and checked), prunes archived
// segments older than RetainLive from the live database and expires
// archived segments older than RetainArchive, under the lease.
func (a *Archiver) Pass(ctx context.Context) (Report, error) {
	return a.pass(ctx, false, nil)
}

// Run is Pass now: the segment is sealed first (`audit archive run`
// after `audit seal`, or with sealNow).
func (a *Archiver) Run(ctx context.Context, sealNow bool) (Report, error) {
	return a.pass(ctx, sealNow, nil)
}

// BackgroundPass is Pass as serve's background loop runs it beside the
// request path: it archives at most one segment and prunes at most one,
// and paces its work (reading, hashing, encoding, reading back, deleting)
// to at most BackgroundShare of the time, pausing between chunks; what is
// left waits for the next pass. An operator's `audit archive run` (Pass)
// runs unpaced.
func (a *Archiver) BackgroundPass(ctx context.Context) (Report, error) {
	return a.pass(ctx, false, newPacer(BackgroundShare))
}

// BackgroundShare is the share of the wall time a background pass works:
// after each chunk of work it pauses nine times as long as the chunk
// took, so on a busy machine (a slower chunk) it backs off further. The
// pass costs 70–115 µs of CPU a record on two shared cores (each is
// decoded, hashed and re-encoded to check it when sealed, read back and
// before pruning), so a 64 MB segment (~150,000 records) takes a few
// minutes of wall time instead of a burst of seconds that requests wait
// behind, and the passes keep up with a trail that grows by 500–1,500
// records a second on average (docs/performance.md).
const BackgroundShare = 0.1

func (a *Archiver) pass(ctx context.Context, sealNow bool, p *pacer) (Report, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var r Report
	now := a.cfg.Now()
	if a.cfg.Holder != "" {
		ok, err := a.cfg.Store.AcquireAuditLease(ctx, a.cfg.Holder, now, now.Add(leaseTTL))
		if err != nil {
			return r, err
		}
		if !ok {
			r.Skipped = true
			return r, nil
		}
		if p != nil {
			p.renew = func(ctx context.Context) error {
				now := a.cfg.Now()
				ok, err := a.cfg.Store.AcquireAuditLease(ctx, a.cfg.Holder, now, now.Add(leaseTTL))
				if err == nil && !ok {
					err = errors.New("audit archive: the pass lost its lease to another process")
				}
				return err
			}
		}
	}
	due := sealNow
	if !due {
		var err error
		if due, err = a.due(ctx); err != nil {
			return r, err
		}
	}
	// What the pass seals it encodes as it checks it, for the archive
	// that follows.
	var sealed *segmentEncoder
	if a.bucket != nil {
		sealed = &segmentEncoder{}
	}
	// A due segment is cut at MaxBytes, so a backlog (a trail that grew
	// while archiving was off, or faster than the passes) becomes
	// segments of the configured size: a background pass seals one, an
	// operator's pass as many as are due. An operator's seal (sealNow)
	// closes everything up to the head, as `audit seal` does.
	limit := a.cfg.MaxBytes
	if sealNow {
		limit = 0
	}
	for due && a.cfg.Key != nil {
		seg, err := a.seal(ctx, p, sealed, limit)
		if err != nil {
			return r, err
		}
		if seg == nil {
			break
		}
		r.Sealed++
		if p != nil || limit == 0 {
			break
		}
		if due, err = a.due(ctx); err != nil {
			return r, err
		}
	}
	if a.bucket == nil {
		return r, nil
	}
	segs, err := a.cfg.Store.AuditSegments(ctx)
	if err != nil {
		return r, err
	}
	for _, seg := range segs {
		if seg.ArchivedAt != nil {
			continue
		}
		if p != nil && r.Archived > 0 {
			break // one a background pass
		}
		var w *segmentEncoder
		if sealed != nil && sealed.n > 0 && sealed.n == seg.LastSeq-seg.FirstSeq+1 && sealed.first == seg.FirstSeq {
			w, sealed = sealed, nil
		}
		size, err := a.archive(ctx, seg, p, w)
		if err != nil {
			return r, err
		}
		r.Archived++
		r.ArchivedRecords += seg.LastSeq - seg.FirstSeq + 1
		r.ArchivedBytes += size
		t := a.cfg.Now()
		seg.ArchivedAt, seg.ArchiveURL, seg.ArchiveBytes = &t, a.cfg.URL, size
		seg.ArchiveObject, _ = objectNames(seg.Segment)
	}
	if a.cfg.RetainLive >= 0 { // 0: prune as soon as archived
		for _, seg := range segs {
			if seg.PrunedAt != nil {
				continue
			}
			if seg.ArchivedAt == nil || seg.LastAt.After(now.Add(-a.cfg.RetainLive)) {
				break // in order: the live trail stays one chain
			}
			if p != nil && r.Pruned > 0 {
				break // one a background pass
			}
			// Read back once more right before the records go.
			if _, err := a.readSegment(ctx, seg, p, nil); err != nil {
				return r, fmt.Errorf("audit archive: segment %d not pruned: %w", seg.Segment, err)
			}
			if err := a.cfg.Store.PruneAuditSegment(ctx, seg.Segment, a.cfg.Now(), p.between(ctx)); err != nil {
				return r, err
			}
			t := a.cfg.Now()
			seg.PrunedAt = &t
			r.Pruned++
			a.cfg.Log.Info("audit segment pruned from the live database", "segment", seg.Segment, "first_seq", seg.FirstSeq, "last_seq", seg.LastSeq)
		}
	}
	if a.cfg.RetainArchive > 0 {
		for _, seg := range segs {
			if seg.PrunedAt == nil || !seg.LastAt.Before(now.Add(-a.cfg.RetainArchive)) {
				break
			}
			data, sealName := objectNames(seg.Segment)
			if err := a.cfg.Store.SetAuditSettings(ctx, map[string]string{settingExpiredThrough: strconv.FormatInt(seg.Segment, 10)}); err != nil {
				return r, err
			}
			names := []string{data, sealName}
			if seg.ArchiveObject != "" && seg.ArchiveObject != data {
				names = append(names, seg.ArchiveObject)
			}
			for _, name := range names {
				if err := a.bucket.Delete(ctx, name); err != nil && !isNotFound(err) {
					return r, fmt.Errorf("audit archive: expire segment %d: %w", seg.Segment, err)
				}
			}
			if err := a.cfg.Store.ForgetAuditSegment(ctx, seg.Segment); err != nil {
				return r, err
			}
			r.Expired++
			a.cfg.Log.Info("audit segment expired from the archive", "segment", seg.Segment, "last_at", seg.LastAt)
		}
	}
	return r, nil
}

// encodeSegment reads the segment's records from the live trail into the
// archive form (EncodeRecords: columnar, zstd), checking the chain as it
// reads: exactly the bytes the hashes cover come back out of it. Given
// sealed (the same pass's seal encoded the records as it read and checked
// them), it finishes that instead of reading and checking them again.
// Either way it holds the columns, never the segment's records.
func (a *Archiver) encodeSegment(ctx context.Context, seg *audit.Segment, p *pacer, sealed *segmentEncoder) ([]byte, error) {
	if sealed != nil {
		return sealed.finish(ctx, p, &a.zstd)
	}
	w := &audit.Walker{Want: seg.FirstSeq, Prev: seg.PrevHead}
	enc := newSegmentEncoder(seg.FirstSeq)
	err := a.scanRows(ctx, seg.FirstSeq, seg.LastSeq, seg.PrevHead, p, func(row *novamed.AuditRow) error {
		rec, err := w.Next(row)
		if err != nil {
			return err
		}
		enc.add(row.Record, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit archive: segment %d: %w", seg.Segment, err)
	}
	if w.Want != seg.LastSeq+1 || w.Prev != seg.Head {
		return nil, fmt.Errorf("audit archive: segment %d: the live records do not reach its sealed head", seg.Segment)
	}
	return enc.finish(ctx, p, &a.zstd)
}

// archive writes a sealed segment and its seal, reads both back, checks
// them and marks the segment archived.
func (a *Archiver) archive(ctx context.Context, seg *audit.Segment, p *pacer, sealed *segmentEncoder) (int64, error) {
	data, err := a.encodeSegment(ctx, seg, p, sealed)
	if err != nil {
		return 0, err
	}
	sealJSON, err := json.Marshal(&seg.Seal)
	if err != nil {
		return 0, err
	}
	dataName, sealName := objectNames(seg.Segment)
	if err := a.bucket.WriteAll(ctx, dataName, data, &blob.WriterOptions{ContentType: "application/zstd"}); err != nil {
		return 0, fmt.Errorf("audit archive: write segment %d: %w", seg.Segment, err)
	}
	if err := a.bucket.WriteAll(ctx, sealName, sealJSON, &blob.WriterOptions{ContentType: "application/json"}); err != nil {
		return 0, fmt.Errorf("audit archive: write seal %d: %w", seg.Segment, err)
	}
	back, err := a.bucket.ReadAll(ctx, dataName)
	if err != nil {
		return 0, fmt.Errorf("audit archive: read back segment %d: %w", seg.Segment, err)
	}
	if !bytes.Equal(back, data) {
		return 0, fmt.Errorf("audit archive: segment %d read back differs from what was written", seg.Segment)
	}
	seg.ArchiveObject = dataName
	if _, err := a.readSegment(ctx, seg, p, nil); err != nil {
		return 0, fmt.Errorf("audit archive: read back segment %d: %w", seg.Segment, err)
	}
	if err := a.cfg.Store.MarkAuditSegmentArchived(ctx, seg.Segment, a.cfg.URL, dataName, int64(len(data)), a.cfg.Now()); err != nil {
		return 0, err
	}
	a.cfg.Log.Info("audit segment archived", "segment", seg.Segment, "records", seg.LastSeq-seg.FirstSeq+1, "bytes", len(data))
	return int64(len(data)), nil
}

// readSegment reads segment seg from the archive and checks it: its seal
// object must be seg's seal and signed by the configured key, and its
// records must run FirstSeq..LastSeq from PrevHead to Head. fn, when set,
// gets every record (with Hash and PrevHash).
func (a *Archiver) readSegment(ctx context.Context, seg *audit.Segment, p *pacer, fn func(*novamed.AuditRecord) error) (int64, error) {
	if a.bucket == nil {
		return 0, errors.New("no audit archive is configured (--audit-archive)")
	}
	dataName, sealName := objectNames(seg.Segment)
	if seg.ArchiveObject != "" { // format 1 segments keep their name
		dataName = seg.ArchiveObject
	}
	raw, err := a.bucket.ReadAll(ctx, sealName)
	if err != nil {
		if isNotFound(err) {
			return 0, &SegmentError{Segment: seg.Segment, Reason: fmt.Sprintf("missing from the archive (records %d–%d): its seal %s is not there", seg.FirstSeq, seg.LastSeq, sealName)}
		}
		return 0, err
	}
	stored, err := audit.ParseSeal(raw)
	if err != nil {
		return 0, &SegmentError{Segment: seg.Segment, Reason: "its seal in the archive is unreadable (edited)"}
	}
	if stored.Segment != seg.Segment {
		return 0, &SegmentError{Segment: seg.Segment, Reason: fmt.Sprintf("the archive holds segment %d's seal under its name (reordered)", stored.Segment)}
	}
	if a.cfg.Public == nil {
		return 0, errors.New("no checkpoint key to check seals with (give --checkpoint-key-file or --checkpoint-public-key)")
	}
	if err := stored.Check(a.cfg.Public); err != nil {
		return 0, &SegmentError{Segment: seg.Segment, Reason: err.Error()}
	}
	if *stored != seg.Seal {
		return 0, &SegmentError{Segment: seg.Segment, Reason: "its seal in the archive differs from the database's (edited)"}
	}
	data, err := a.bucket.ReadAll(ctx, dataName)
	if err != nil {
		if isNotFound(err) {
			return 0, &SegmentError{Segment: seg.Segment, Reason: fmt.Sprintf("missing from the archive (records %d–%d): %s is not there", seg.FirstSeq, seg.LastSeq, dataName)}
		}
		return 0, err
	}
	return walkSegment(ctx, seg, data, p, &a.zstd, fn)
}

// walkSegment checks an archived segment's records against its seal,
// a record at a time as they are decoded (none is kept).
func walkSegment(ctx context.Context, seg *audit.Segment, data []byte, p *pacer, z *zstdCoders, fn func(*novamed.AuditRecord) error) (int64, error) {
	w := &audit.Walker{Want: seg.FirstSeq, Prev: seg.PrevHead}
	var walkErr error // what the walk found (decodeRecords returns it as it is)
	_, err := decodeRecords(ctx, data, p, z, func(line []byte) error {
		walkErr = walkRecord(ctx, seg, w, line, p, fn)
		return walkErr
	})
	if walkErr != nil {
		return w.N, walkErr
	}
	if err != nil && ctx.Err() != nil {
		return w.N, err
	}
	if err != nil {
		return w.N, &SegmentError{Segment: seg.Segment, Reason: "its records are not readable (edited or truncated)"}
	}
	if w.Want != seg.LastSeq+1 {
		return w.N, &SegmentError{Segment: seg.Segment, Reason: fmt.Sprintf("ends at record %d, not at its sealed last record %d (records removed)", w.Want-1, seg.LastSeq)}
	}
	if w.Prev != seg.Head {
		return w.N, &SegmentError{Segment: seg.Segment, Reason: "its records do not hash to its sealed head (a record was edited)"}
	}
	return w.N, nil
}

// walkRecord checks an archived segment's next record and hands it to fn.
func walkRecord(ctx context.Context, seg *audit.Segment, w *audit.Walker, line []byte, p *pacer, fn func(*novamed.AuditRecord) error) error {
	if err := p.step(ctx); err != nil {
		return err
	}
	rec, err := audit.Decode(&novamed.AuditRow{Seq: w.Want, Record: line})
	if err != nil {
		return &SegmentError{Segment: seg.Segment, Reason: err.Error()}
	}
	row := &novamed.AuditRow{Seq: rec.Seq, At: rec.Time, Record: line, PrevHash: rec.PrevHash, Hash: audit.Link(w.Prev, line)}
	if rec.Format >= 2 {
		row.PrevHash = w.Prev
	}
	rec.PrevHash, rec.Hash = row.PrevHash, row.Hash // as Decode(row) gives them
	if rec, err = w.NextDecoded(row, rec); err != nil {
		var broken *audit.BrokenError
		if errors.As(err, &broken) {
			return &SegmentError{Segment: seg.Segment, Reason: broken.Error()}
		}
		return err
	}
	if rec.Seq > seg.LastSeq {
		return &SegmentError{Segment: seg.Segment, Reason: fmt.Sprintf("holds record %d, past its sealed last record %d (edited)", rec.Seq, seg.LastSeq)}
	}
	if fn != nil {
		return fn(rec)
	}
	return nil
}

// SegmentError names an archived segment that fails verification.
type SegmentError struct {
	Segment int64
	Reason  string
}

func (e *SegmentError) Error() string {
	return fmt.Sprintf("audit archive: segment %d %s", e.Segment, e.Reason)
}

func isNotFound(err error) bool {
	return err != nil && gcerrors.Code(err) == gcerrors.NotFound
}
